"""The emulator's frontend (FE) HTTP side: Stream Load redirects, label state, the transaction interface."""

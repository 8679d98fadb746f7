"""The emulator's backend (BE) side: Stream Load bodies decoded, staged and applied; transaction loads."""

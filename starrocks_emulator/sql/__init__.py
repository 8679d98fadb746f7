"""The emulator's query port (StarRocks' MySQL protocol, FE `query_port`): SQL parsed by sqlglot, run by DuckDB."""

"""Readers behind the built-in ingest stages; DuckDB does the heavy lifting."""

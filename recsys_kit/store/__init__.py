"""The DuckDB results file: schema with migrations, writes in one transaction, read-only SQL."""

from recsys_kit.store.results import RESULTS_FILE, ResultStore

__all__ = ["RESULTS_FILE", "ResultStore"]

"""The DuckDB results file: schema with migrations, writes in one transaction, read-only SQL."""

from recsys_kit.store.results import DEFAULT_RESULTS, RESULTS_FILE, ResultStore, resume_command

__all__ = ["DEFAULT_RESULTS", "RESULTS_FILE", "ResultStore", "resume_command"]

"""Where results go when neither a recipe nor an option says: the names alone, so that the
command line can show its defaults without importing DuckDB."""

from pathlib import Path

#: The results file's name in a recipe's ``output.dir``.
RESULTS_FILE = "results.duckdb"
#: Where `recsys-kit run --resume` and the other commands look when --results is not given:
#: the results file of the default ``output.dir``, ``runs``.
DEFAULT_RESULTS = Path("runs") / RESULTS_FILE

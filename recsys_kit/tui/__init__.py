"""Terminal UI over a results file: runs, a run, a user's recommendations, compare, SQL.

Textual is imported only inside :func:`run_tui`, so importing this package (or the headless
:mod:`recsys_kit.tui.queries`) stays fast and free of Textual.
"""

from __future__ import annotations

import sys
from pathlib import Path


def run_tui(results: Path) -> None:
    """Open the TUI on ``results`` (a DuckDB results file; it need not exist yet).

    Exits with the app's return code when it is not zero (Textual sets 1 on a crash).
    """
    from recsys_kit.tui.app import RecsysApp

    app = RecsysApp(Path(results))
    app.run()
    if app.return_code:
        sys.exit(app.return_code)

"""Messages the screens post; the app turns them into navigation (one place for all of them)."""

from __future__ import annotations

from textual.message import Message


class RunChosen(Message):
    """Open the run screen of ``run_id``."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id


class UserRequested(Message):
    """Open the user screen: ``user_id`` under ``run_id`` (None: the run's first user)."""

    def __init__(self, run_id: str, user_id: str | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.user_id = user_id


class CompareRequested(Message):
    """Open the compare screen for runs ``a`` and ``b``."""

    def __init__(self, a: str, b: str) -> None:
        super().__init__()
        self.a = a
        self.b = b


class SweepRequested(Message):
    """Open the sweep screen of ``sweep_id``."""

    def __init__(self, sweep_id: str) -> None:
        super().__init__()
        self.sweep_id = sweep_id

"""An Input that remembers what was submitted; up/down walk back and forth through it."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.widgets import Input


class HistoryInput(Input):
    """Single-line input with shell-like history (up: older, down: newer)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "older", "Older", show=False),
        Binding("down", "newer", "Newer", show=False),
    ]

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.history: list[str] = []
        self._index: int | None = None
        self._draft = ""

    def remember(self, text: str) -> None:
        """Add ``text`` to the history (not twice in a row) and reset the walk."""
        if text.strip() and (not self.history or self.history[-1] != text):
            self.history.append(text)
        self._index = None

    def action_older(self) -> None:
        """Show the previous entry."""
        if not self.history:
            return
        if self._index is None:
            self._draft, self._index = self.value, len(self.history)
        self._index = max(self._index - 1, 0)
        self._show(self.history[self._index])

    def action_newer(self) -> None:
        """Show the next entry, then what was being typed."""
        if self._index is None:
            return
        self._index += 1
        if self._index >= len(self.history):
            self._index = None
            self._show(self._draft)
        else:
            self._show(self.history[self._index])

    def _show(self, text: str) -> None:
        self.value = text
        self.cursor_position = len(text)

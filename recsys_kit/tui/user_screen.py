"""One user under one run: history, top-K with the held-out item marked, and the "why"."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Label, Static

from recsys_kit.tui.queries import ReadError, UserView

if TYPE_CHECKING:
    from recsys_kit.tui.app import RecsysApp

BAR = 12


def _label(item_id: str, title: str | None) -> str:
    return f"{item_id} · {title}" if title else item_id


#: What each method's weight means, as the "why" panel says it.
METHOD_WEIGHTS = {"attention": "attention weight",
                  "occlusion": "score drop when removed (occlusion)"}


def explanation_text(view: UserView, rank: int) -> Text:
    """The history items behind recommendation ``rank``, with weight bars and the method."""
    method = view.explanation_method
    rows = view.explanations.get(rank)
    if method is None:
        return Text("No explanations stored for this run (output.explain).", style="dim")
    if not view.explanations:
        more = (": occlusion explains the first output.explain_users users"
                if method == "occlusion" else "")
        return Text(f"No {method} explanation stored for this user{more}.", style="dim")
    if not rows:
        return Text(f"No {method} explanation stored for #{rank}.", style="dim")
    top = max((w for _, _, w in rows if math.isfinite(w)), default=0.0) or 1.0
    meaning = METHOD_WEIGHTS.get(method, f"{method} weight")
    out = Text(f"why #{rank}: history items by {meaning}\n", style="bold")
    for item, title, weight in rows:
        filled = min(max(round(BAR * weight / top), 0), BAR) if math.isfinite(weight) else 0
        out.append("█" * filled + "░" * (BAR - filled), style="cyan")
        out.append(f" {weight:.2f} {_label(item, title)}\n")
    out.rstrip()
    return out


class UserScreen(Screen[None]):
    """Jump to a user by id; n / p walk through the run's users."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("slash", "find", "Find"),
        Binding("n", "step(1)", "Next"),
        Binding("p", "step(-1)", "Prev"),
    ]

    def __init__(self, run_id: str, user_id: str | None = None) -> None:
        super().__init__()
        self.run_id = run_id
        self.user_id = user_id
        self.view: UserView | None = None

    @property
    def tui(self) -> RecsysApp:
        """The app, typed."""
        return cast("RecsysApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="user-bar"):
            yield Label("user", id="user-label")
            yield Input(placeholder="user id, Enter", id="user-id")
            yield Static(id="user-summary")
        with Horizontal(id="user-panes"):
            with Vertical(id="history-pane"):
                yield Label("history", id="history-label", classes="pane-title")
                yield DataTable(id="history", cursor_type="row", zebra_stripes=True)
            with Vertical(id="recs-pane"):
                yield Label("top-K", id="recs-label", classes="pane-title")
                yield DataTable(id="recs", cursor_type="row", zebra_stripes=True)
                yield Static(id="why")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "user"
        user = self.user_id
        try:
            if user is None:
                user = self.tui.reader.first_user(self.run_id)
        except ReadError as exc:
            self._summary(Text(str(exc), style="red"))
            return
        if user is None:
            self._summary(Text("This run has no users: no recommendations and no dataset.",
                               style="yellow"))
            return
        self.load(user)
        self.query_one("#recs", DataTable).focus()

    def _summary(self, text: Text | str) -> None:
        self.query_one("#user-summary", Static).update(text)

    def load(self, user_id: str) -> bool:
        """Show ``user_id``; keep the current user and explain when it is unknown."""
        try:
            view = self.tui.reader.user(self.run_id, user_id)
            hint = [] if view else self.tui.reader.sample_users(self.run_id)
        except ReadError as exc:
            self._summary(Text(str(exc), style="red"))
            return False
        if view is None:
            self._summary(Text(f"No user '{user_id}' in this run (users look like "
                               f"{', '.join(hint)}).", style="yellow"))
            return False
        self.view, self.user_id = view, user_id
        self.sub_title = f"user {user_id} · {view.run_name}"
        self.query_one("#user-id", Input).value = user_id
        self._fill(view)
        return True

    def _columns(self) -> tuple[DataTable, DataTable]:
        """(Re)make both tables' columns so that the item column fills its pane."""
        # Panes split 9:11 (app.tcss); each column takes 2 of padding, the scrollbar 1 and the
        # border 1: at 80 columns items get 22 and 24 characters, the highlighted one all in #why.
        width = self.app.size.width
        left = width * 9 // 20
        history, recs = self.query_one("#history", DataTable), self.query_one("#recs", DataTable)
        history.clear(columns=True)
        history.add_column("#", key="pos", width=2)
        history.add_column("item", key="item", width=max(left - 2 - 5 - 6 - 1, 10))
        history.add_column("split", key="split", width=5)
        recs.clear(columns=True)
        recs.add_column("#", key="rank", width=2)
        recs.add_column("item", key="item", width=max(width - left - 2 - 7 - 1 - 8 - 2, 10))
        recs.add_column(Text("score", justify="right"), key="score", width=7)
        recs.add_column("", key="mark", width=1)
        return history, recs

    def on_resize(self) -> None:
        if self.view is not None:
            self._fill(self.view)

    def _fill(self, view: UserView) -> None:
        tests = {t.item_id for t in view.test_items}
        history, recs = self._columns()
        for h in view.history:  # Text: ids and titles are data, never markup
            history.add_row(Text(str(h.position)), Text(_label(h.item_id, h.title)),
                            Text(h.split, style="bold" if h.split == "valid" else "dim"))
        if view.history:
            history.move_cursor(row=len(view.history) - 1, animate=False)
        self.query_one("#history-label", Label).update(f"history ({len(view.history)} items)")
        for r in view.recommendations:
            hit = r.item_id in tests
            style = "bold green" if hit else ""
            recs.add_row(Text(str(r.rank), style=style),
                         Text(_label(r.item_id, r.title), style=style),
                         Text(f"{r.score:.3f}", style=style, justify="right"),
                         Text("◀" if hit else "", style=style), key=str(r.rank))
        top = len(view.recommendations)
        self.query_one("#recs-label", Label).update(
            f"top-{top}" if top else "no recommendations")
        rank = view.test_rank()
        held = ", ".join(_label(t.item_id, t.title) for t in view.test_items)
        sep = ": "
        if not top:
            where, sep = "no recommendations stored for this user", " · test item: "
        elif view.test_items:
            where = f"test item at rank {rank} of {top}" if rank else \
                f"test item not in the top {top}"
        else:
            where = "no test item"
        self._summary(Text.assemble((where, "bold green" if rank else "yellow"),
                                    (sep if held else "", "dim"), held))
        if top:
            self._why(view.recommendations[0].rank)
        else:
            self.query_one("#why", Static).update("")

    def _why(self, rank: int) -> None:
        if self.view is not None:  # the whole title of the highlighted item, then why
            shown = next((r for r in self.view.recommendations if r.rank == rank), None)
            head = Text(f"#{rank} {_label(shown.item_id, shown.title)}\n" if shown else "",
                        style="bold")
            self.query_one("#why", Static).update(head + explanation_text(self.view, rank))

    @on(DataTable.RowHighlighted, "#recs")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self._why(int(event.row_key.value))

    @on(Input.Submitted, "#user-id")
    def _jump(self, event: Input.Submitted) -> None:
        if event.value.strip() and self.load(event.value.strip()):
            self.query_one("#recs", DataTable).focus()

    def action_back(self) -> None:
        """Leave the user id box (restoring the shown id), else go back a screen."""
        box = self.query_one("#user-id", Input)
        if self.focused is box:
            box.value = self.user_id or ""
            self.query_one("#recs", DataTable).focus()
        else:
            self.app.pop_screen()

    def action_find(self) -> None:
        """Focus the user id box."""
        box = self.query_one("#user-id", Input)
        box.focus()
        box.select_all()

    def action_step(self, step: int) -> None:
        """Next or previous user of the run (its dataset's users, recommended to or not)."""
        if self.user_id is None:
            return
        try:
            user = self.tui.reader.neighbour_user(self.run_id, self.user_id, step)
        except ReadError as exc:
            self.notify(str(exc), severity="warning", markup=False)
            return
        if user is not None:
            self.load(user)

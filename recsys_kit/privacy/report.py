"""What ``recsys-kit forget`` prints: where each user was, what remains, what to do next."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from recsys_kit.privacy.erasure import ErasureResult, UserErasure


def _trained(user: UserErasure) -> str:
    runs = ", ".join(f"{r} (DP, ε ≤ {user.private_runs[r]:g})" if r in user.private_runs else r
                     for r in user.trained_runs)
    return (f"runs trained on this user's data: {runs}. Their weights still carry it (DP runs "
            "bound how much): retrain them without the user, and delete the old runs' "
            "checkpoints.")


def print_erasure(result: ErasureResult, out: Console, err: Console) -> bool:
    """Print the erasure; return True when something may still hold a user."""
    verb = "would remove" if result.dry_run else "removed"
    unsure = False
    for user in result.users:
        table = Table("place", "rows", title=f"user {escape(user.user_ref)}: {verb} "
                      f"{user.rows_removed:,} rows", title_justify="left")
        for place, n in user.places.items():
            table.add_row(escape(place), f"{n:,}")
        out.print(table if user.places else f"user {escape(user.user_ref)}: no trace found in "
                  f"{escape(str(result.results))} or its folder", highlight=False)
        if user.trained_runs:
            out.print(escape(_trained(user)), highlight=False)
        if user.remaining:
            unsure = True
            err.print(f"[bold red]still present:[/] these files are in a format forget cannot "
                      f"rewrite and hold the user's id: {escape(', '.join(user.remaining))}. "
                      "Remove the user from them by hand (or delete them).", highlight=False)
    if result.sources:
        out.print(escape(f"the input files still hold the user(s): {', '.join(result.sources)}. "
                         "Remove them there too; meanwhile runs writing to this output folder "
                         "leave them out at ingest (the erasure is recorded in `erasures`)."),
                  highlight=False)
    if result.running:
        err.print(escape(f"warning: run(s) {', '.join(result.running)} are running and may "
                         "write the user again: run forget again once they end."),
                  highlight=False)
    if result.dry_run:
        out.print("dry run: nothing was changed.")
    return unsure

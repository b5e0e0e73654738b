"""The ``files`` ingest stage."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from recsys_kit.builtin.ingest import FilesConfig
from recsys_kit.ingest.tables import ingest, read_interactions

if TYPE_CHECKING:
    from recsys_kit.runner.context import DataContext


class FilesIngest:
    """Reads interactions (and optionally items) from CSV/TSV, Parquet or JSON lines files."""

    def __init__(self, config: FilesConfig) -> None:
        self.config = config

    def inputs(self) -> list[Path]:
        """The files this stage reads."""
        sources = [self.config.interactions, self.config.items]
        return [Path(s.path).expanduser() for s in sources if s is not None]

    def run(self, ctx: DataContext) -> None:
        """Create ``interactions`` (and ``items``) in ``ctx.con``."""
        cfg = self.config
        ingest(ctx, lambda: read_interactions(ctx, cfg.interactions, cfg.on_bad_rows),
               cfg.filters, cfg.items, cfg.on_bad_rows)

"""The ``synthetic`` ingest stage."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recsys_kit.builtin.ingest import SyntheticConfig

if TYPE_CHECKING:
    from recsys_kit.runner.context import DataContext


TOPIC_WORDS = {
    "space": ["galaxy", "orbit", "comet", "nebula", "rocket", "planet"],
    "ocean": ["reef", "tide", "whale", "harbor", "coral", "current"],
    "cooking": ["recipe", "kitchen", "spice", "bread", "sauce", "oven"],
    "music": ["melody", "guitar", "rhythm", "chorus", "piano", "drum"],
    "garden": ["flower", "seed", "orchard", "blossom", "herb", "soil"],
    "history": ["empire", "castle", "dynasty", "relic", "chronicle", "war"],
    "sports": ["stadium", "league", "sprint", "goal", "champion", "match"],
    "travel": ["journey", "passport", "island", "voyage", "road", "map"],
    "technology": ["robot", "circuit", "code", "network", "laser", "chip"],
    "mystery": ["detective", "clue", "secret", "shadow", "cipher", "alibi"],
    "wildlife": ["wolf", "eagle", "forest", "safari", "tiger", "nest"],
    "art": ["canvas", "sculpture", "portrait", "gallery", "palette", "mural"],
}
ADJECTIVES = ["Silent", "Golden", "Hidden", "Brave", "Ancient", "Bright", "Wild", "Lost", "Quiet",
              "Grand", "Little", "Crimson", "Distant", "Secret", "Endless", "Frozen"]
NOUNS = ["Tales", "Guide", "Stories", "Handbook", "Chronicles", "Journal", "Atlas", "Notes"]
SERIES = 5  # items per series: runs of consecutive items of a topic that users follow in order


def _titles(topic: np.ndarray, rank: np.ndarray, n_topics: int) -> tuple[list[str], list[str]]:
    """Titles (a topic word, a series name and a part number) and genres (topic names)."""
    extra = [(f"topic{k + 1}", [f"{w}{k + 1}" for w in ("theme", "motif", "idea", "form")])
             for k in range(len(TOPIC_WORDS), n_topics)]
    topics = [*TOPIC_WORDS.items(), *extra]
    titles, genres = [], []
    for t, r in zip(topic.tolist(), rank.tolist(), strict=True):
        name, words = topics[t]
        s = r // SERIES
        titles.append(f"{ADJECTIVES[(s * 7 + t) % len(ADJECTIVES)]} {words[s % len(words)].title()}"
                      f" {NOUNS[(s + t) % len(NOUNS)]} {s + 1}, part {r % SERIES + 1}")
        genres.append(name)
    return titles, genres


def generate(cfg: SyntheticConfig) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """Synthetic sequences with topic, popularity, Markov and series (next-item) structure.

    Items are grouped by topic; within a topic, popularity is Zipf over the item's rank, and
    ranks form series of ``SERIES`` items. Each user has a taste over topics. At each step a user
    stays in the topic or, with chance ``drift``, moves along a fixed topic-transition matrix
    mixed with their taste; they take the series' next item with chance ``follow``, else a
    popular item of the topic (retrying up to 3 times to avoid items already seen).
    """
    import numpy as np

    rng = np.random.default_rng(cfg.seed)
    n, k, m = cfg.n_users, cfg.n_topics, cfg.n_items
    topic = np.sort(np.arange(m) % k)
    start, size = np.searchsorted(topic, np.arange(k)), np.bincount(topic, minlength=k)
    rank = np.arange(m) - start[topic]
    pop = 1.0 / (rank + 1.0) ** cfg.zipf
    cum = np.cumsum(pop / np.bincount(topic, weights=pop)[topic])  # topic t spans (t, t + 1]
    nxt = np.where(rank + 1 < size[topic], np.arange(m) + 1, start[topic])
    trans = rng.dirichlet(np.full(k, 0.3), size=k) + 1e-9
    np.fill_diagonal(trans, 0.0 if k > 1 else 1.0)
    trans /= trans.sum(axis=1, keepdims=True)
    taste = rng.dirichlet(np.full(k, cfg.taste), size=n)
    lengths = rng.integers(cfg.min_len, cfg.max_len + 1, size=n)

    def pick(probs: np.ndarray) -> np.ndarray:
        return (probs.cumsum(axis=1) < rng.random((len(probs), 1))).sum(axis=1).clip(0, k - 1)

    def popular(t: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(cum, t + rng.random(len(t)), side="right")
        return np.clip(idx, start[t], start[t] + size[t] - 1)

    seq = np.empty((n, cfg.max_len), dtype=np.int64)
    cur = pick(taste)
    seq[:, 0] = popular(cur)
    for step in range(1, cfg.max_len):
        move = rng.random(n) < cfg.drift
        cur = np.where(move, pick(0.5 * trans[cur] + 0.5 * taste), cur)
        item = np.where(~move & (rng.random(n) < cfg.follow), nxt[seq[:, step - 1]], popular(cur))
        for _ in range(3):
            seen = (seq[:, :step] == item[:, None]).any(axis=1)
            item[seen] = popular(cur[seen])
        seq[:, step] = item
    label = rng.permutation(m) + 1
    keep = np.arange(cfg.max_len)[None, :] < lengths[:, None]
    rows = {"user_id": np.repeat(np.arange(1, n + 1), lengths), "item_id": label[seq[keep]],
            "ts": np.broadcast_to(np.arange(cfg.max_len, dtype=np.float64), seq.shape)[keep],
            "row_no": np.arange(int(lengths.sum()), dtype=np.int64)}
    titles, genres = _titles(topic, rank, k)
    return rows, {"item_id": [str(x) for x in label], "title": titles, "genres": genres}


class SyntheticIngest:
    """Generates topic-structured sequences (deterministic for a seed), with item titles."""

    def __init__(self, config: SyntheticConfig) -> None:
        self.config = config

    def inputs(self) -> list[Path]:
        """Nothing is read: the data depends only on the params."""
        return []

    def run(self, ctx: DataContext) -> None:
        """Create ``interactions`` and ``items`` (item_id, title, genres)."""
        import numpy as np

        rows, items = generate(self.config)
        con = ctx.con
        con.register("_ingest_synth", rows)
        con.execute("CREATE OR REPLACE TABLE interactions AS SELECT CAST(user_id AS VARCHAR) AS "
                    "user_id, CAST(item_id AS VARCHAR) AS item_id, ts, CAST(NULL AS DOUBLE) AS "
                    "rating, CAST(NULL AS DOUBLE) AS weight, row_no FROM _ingest_synth "
                    "ORDER BY row_no")
        con.unregister("_ingest_synth")
        con.register("_ingest_synth", {k: np.array(v, dtype=object) for k, v in items.items()})
        con.execute("CREATE OR REPLACE TABLE items AS SELECT CAST(item_id AS VARCHAR) AS item_id, "
                    "CAST(title AS VARCHAR) AS title, CAST(genres AS VARCHAR) AS genres "
                    "FROM _ingest_synth ORDER BY CAST(item_id AS BIGINT)")
        con.unregister("_ingest_synth")
        cfg = self.config
        ctx.report("ingest", f"synthetic: {len(rows['user_id'])} interactions, {cfg.n_users} users,"
                   f" {cfg.n_items} items in {cfg.n_topics} topics")

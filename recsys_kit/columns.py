"""Canonical table names and split labels shared by every stage.

Column names are fixed too (as RecTools fixes them): interactions have ``user_id, item_id, ts``
and optional ``rating, weight``, plus ``row_no`` (original row order, which breaks ties in
``ts``); items have ``item_id`` plus side columns; recommendations have
``user_id, rank, item_id, score``.
"""

#: Table an ingest stage must create: user_id, item_id VARCHAR; ts, rating, weight DOUBLE;
#: row_no BIGINT (original row order, used to break ties in ts).
INTERACTIONS = "interactions"
#: Optional table an ingest stage may create: item_id VARCHAR plus side columns.
ITEMS = "items"
#: Table a split stage must create: the interactions plus ``split`` TINYINT.
SPLIT_INTERACTIONS = "split_interactions"

TRAIN, VALID, TEST = 0, 1, 2
SPLIT_NAMES = {TRAIN: "train", VALID: "valid", TEST: "test"}

#: Column names of the tables above and of ``recommendations``.
USER_ID, ITEM_ID, TS = "user_id", "item_id", "ts"
RATING, WEIGHT, ROW_NO = "rating", "weight", "row_no"
SPLIT, RANK, SCORE = "split", "rank", "score"

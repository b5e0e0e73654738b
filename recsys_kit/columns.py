"""Canonical column and table names shared by every stage (as RecTools fixes them)."""

USER_ID = "user_id"
ITEM_ID = "item_id"
TS = "ts"
RATING = "rating"
WEIGHT = "weight"
ROW_NO = "row_no"
SPLIT = "split"
RANK = "rank"
SCORE = "score"

#: Table an ingest stage must create: user_id, item_id VARCHAR; ts, rating, weight DOUBLE;
#: row_no BIGINT (original row order, used to break ties in ts).
INTERACTIONS = "interactions"
#: Optional table an ingest stage may create: item_id VARCHAR plus side columns.
ITEMS = "items"
#: Table a split stage must create: the interactions plus ``split`` TINYINT.
SPLIT_INTERACTIONS = "split_interactions"

TRAIN, VALID, TEST = 0, 1, 2
SPLIT_NAMES = {TRAIN: "train", VALID: "valid", TEST: "test"}

-- recsys-kit results schema, version 3 (forward-only: applied to files at version 2).
-- Documented column by column in docs/results.md.

-- Serving: feedback on a served run's recommendations (click, purchase, skip, rating), sent
-- to `POST /feedback` or `recsys-kit feedback`. `event_id` makes storing an event idempotent
-- (a retried request or a replayed journal entry stores it once). A recipe can append these
-- events to its interactions (`data.feedback`) so that a retrain learns from them.
CREATE TABLE IF NOT EXISTS feedback (
    event_id VARCHAR PRIMARY KEY,
    run_id VARCHAR NOT NULL,
    user_id VARCHAR NOT NULL,
    item_id VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    value DOUBLE,
    ts TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    source VARCHAR NOT NULL
);

-- Sweeps (`recsys-kit sweep`): one row per sweep, and on each trial's run the sweep it belongs
-- to, its trial number and the params it set, so that a sweep's runs can be grouped and a
-- metric plotted against a parameter.
CREATE TABLE IF NOT EXISTS sweeps (
    sweep_id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    method VARCHAR NOT NULL,
    space JSON NOT NULL,
    n_trials INTEGER NOT NULL,
    metric VARCHAR NOT NULL,
    direction VARCHAR NOT NULL,
    recipe JSON NOT NULL,
    recipe_source VARCHAR,
    status VARCHAR NOT NULL,
    started_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP,
    best_run_id VARCHAR
);
ALTER TABLE runs ADD COLUMN IF NOT EXISTS sweep_id VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS trial INTEGER;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS trial_params JSON;

-- Privacy (issue 11): the pseudonym key a file's user ids were made with (its identifier, an
-- HMAC of a fixed label, never the key), and the audit of erasures (`recsys-kit forget`).
CREATE TABLE IF NOT EXISTS pseudonym_keys (
    key_id VARCHAR NOT NULL,
    pseudonym_length INTEGER NOT NULL,
    key_source VARCHAR NOT NULL,
    recorded_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS erasures (
    erasure_id VARCHAR PRIMARY KEY,
    erased_at TIMESTAMP NOT NULL,
    user_ref VARCHAR NOT NULL,
    rows_removed BIGINT NOT NULL,
    trained_runs JSON NOT NULL,
    remaining JSON NOT NULL
);
CREATE TABLE IF NOT EXISTS erasure_places (
    erasure_id VARCHAR NOT NULL,
    place VARCHAR NOT NULL,
    rows_removed BIGINT NOT NULL
);

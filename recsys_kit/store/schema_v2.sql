-- recsys-kit results schema, version 2 (forward-only: applied to files at version 1).
-- Documented column by column in docs/results.md.

-- Run lifecycle: which process owns a running run, and when it last showed it is alive,
-- so that a run whose process vanished (kill -9, power loss) is detected as `lost`;
-- `attempts` counts starts (a resumed run has 2 or more).
ALTER TABLE runs ADD COLUMN IF NOT EXISTS pid INTEGER;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS host VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS heartbeat_at TIMESTAMP;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS attempts INTEGER DEFAULT 1;

-- Explanations from more than one method (target-attention weights, occlusion, ...).
ALTER TABLE explanations ADD COLUMN IF NOT EXISTS method VARCHAR DEFAULT 'attention';

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

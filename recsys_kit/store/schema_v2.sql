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

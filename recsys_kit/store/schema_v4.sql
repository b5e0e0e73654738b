-- recsys-kit results schema, version 4 (forward-only: applied to files at version 3).
-- Documented column by column in docs/results.md.

-- Distributed training (issue 10): how many processes trained the run's latest attempt
-- (`--nproc`, torchrun's WORLD_SIZE): `train.batch_size` is the global batch, so the steps
-- are one process's, but dropout draws and float summation order follow the count.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS processes INTEGER DEFAULT 1;

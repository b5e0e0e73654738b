"""Sweeps: many runs of one recipe over a search space (a grid, or an Optuna study), each an
ordinary run tagged with the sweep's id, run in parallel processes, resumable."""

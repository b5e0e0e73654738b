"""Training: the loop (AdamW, validation, early stopping, checkpoints)."""

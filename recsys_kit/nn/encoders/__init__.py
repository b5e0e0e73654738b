"""Encoders: user behaviour (SASRec, BERT4Rec, baselines) and items (ids, text, categories)."""

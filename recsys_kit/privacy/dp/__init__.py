"""Differentially private training: DP-SGD through Opacus, at the user level.

``per_sample`` computes every user's own gradient with ``torch.func`` (the item table is tied
to the output layer, which Opacus's per-layer hooks cannot see); ``training`` clips and noises
them with Opacus's ``DPOptimizer``, samples users by Poisson sampling and keeps the accounts.
"""

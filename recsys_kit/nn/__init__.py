"""PyTorch parts: model assembly, batching, training loop and ranking."""

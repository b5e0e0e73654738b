"""The runner: run context, data stages with their cache, training and evaluation."""

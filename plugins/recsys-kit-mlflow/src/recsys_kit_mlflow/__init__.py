"""recsys-kit-mlflow: every recsys-kit run logged to MLflow, through the lifecycle hooks only.

Installed, it is active whenever ``MLFLOW_TRACKING_URI`` is set: each run becomes an MLflow
run (params: the flattened effective recipe; metrics: per epoch and final; artifacts: the
best checkpoint and the recipe) in the experiment named by ``MLFLOW_EXPERIMENT_NAME`` or, by
default, the recipe's ``name``.
"""

__version__ = "0.1.0"

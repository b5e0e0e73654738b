"""Serving a trained run: load it, recommend, explain, answer HTTP, take feedback.

- ``bundle``: what a run saves so that it can be loaded without its training data;
- ``locate``: finding a run's files (by id in a results file, or by folder);
- ``loading`` / ``recommender``: :func:`load_run` and the :class:`LoadedRun` it returns;
- ``scoring``, ``new_items``, ``explain``: ranking, items unseen in training, the "why";
- ``feedback``, ``feedback_source``, ``feedback_ingest``: events in, and back into a recipe;
- ``http`` / ``server``: the FastAPI app and ``recsys-kit serve`` (the ``serve`` extra).

Importing this package is cheap (no torch): the recipe's ``data.feedback`` model lives here.
"""

"""Evaluation beyond the built-in stages' own code: what an evaluator hands back
(:mod:`.result`) and receives (:mod:`.context`), beyond-accuracy metrics
(:mod:`.beyond_accuracy`) and paired statistics between runs (:mod:`.paired`,
:mod:`.compare_runs`). Nothing here imports torch."""

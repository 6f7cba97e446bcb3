"""k-fold cross-validation: K runs of `run()` under one directory (runner.py), the out-of-fold summary
(summary.py); the folds themselves are cut by `fieldtune.datasets_builders.folds`."""

from fieldtune.cv.runner import CVResult, run_cv

__all__ = ["CVResult", "run_cv"]

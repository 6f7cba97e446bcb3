"""How sure a score is: confidence.py (bootstrap intervals of test metrics, paired differences of two runs). It
asks the Targets objects what a resample scores, so it sits above `fieldtune.targets` (whose metrics.py holds
the scikit-learn-backed `evaluate` modules)."""

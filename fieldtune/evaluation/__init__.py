"""Scores and how sure they are: metrics.py (scikit-learn-backed `evaluate` modules), confidence.py (bootstrap
intervals, paired differences of two runs)."""

"""Per-label score cut-offs for label sets, tuned on held-out data (a label with too few positives keeps
one shared cut-off)."""

from __future__ import annotations

import numpy as np

from fieldtune.targets.arrays import logit, sigmoid

# A label with fewer validation positives than this keeps the shared threshold: with a handful of positives
# its own F1-best cut-off fits those few examples and moves far from where new positives lie. Chosen on
# MaintIE's validation split alone (tune on one half, score the other, 20 random halvings): 5 per half
# (10 on the whole split) beat 1 and 3 per half for the transformer, the baseline and their mix (macro-F1
# of the mix 0.659 against 0.637 tuning every label); benchmarks/RESULTS.md, issue 34.
MIN_POSITIVES_TO_TUNE = 10


def _best_cut(scores: np.ndarray, references: np.ndarray) -> float:
    """The score cut-off with the best F1 of `references` (0/1) over `scores`, midway (in logit space)
    between the lowest score it keeps and the highest score below it, not at the edge."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, cuts = precision_recall_curve(references, scores)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    cut = float(cuts[int(np.argmax(f1[:-1]))])
    below = scores[scores < cut]
    if below.size:
        cut = float(sigmoid((logit(cut) + logit(float(below.max()))) / 2))
    return round(cut, 5)


def shared_threshold(scores: np.ndarray, references: np.ndarray) -> float:
    """One cut-off for every label: the best micro-F1 over all (example, label) decisions pooled; 0.5
    without any positive."""
    if references.sum() == 0:
        return 0.5
    return _best_cut(np.asarray(scores).reshape(-1), np.asarray(references).reshape(-1))


def too_few_to_tune(references: np.ndarray, min_positives: int = MIN_POSITIVES_TO_TUNE) -> list[int]:
    """The labels (column indices) with fewer positives than `min_positives` in `references`."""
    return [int(j) for j in np.flatnonzero(np.asarray(references).sum(axis=0) < min_positives)]


def tune_thresholds(
    scores: np.ndarray, references: np.ndarray, min_positives: int = MIN_POSITIVES_TO_TUNE
) -> list[float]:
    """Per label, a score cut-off that maximises that label's F1 on held-out data; a label with fewer than
    `min_positives` positives there keeps the shared cut-off (`shared_threshold`): too few to tune on.

    Every cut-off between the lowest score the best F1 keeps and the highest score below it gives that F1;
    the one midway between them (in logit space) is taken, not the edge. A validation split that separates
    a label perfectly would otherwise put its threshold at its lowest positive's score (seen: 0.97-0.99 on
    cargo_tags), and test positives just below it were missed (macro-F1 0.979 against 1.0 at 0.5)."""
    rare = set(too_few_to_tune(references, min_positives))
    shared = shared_threshold(scores, references) if rare else 0.5
    return [
        shared if j in rare else _best_cut(scores[:, j], references[:, j]) for j in range(references.shape[1])
    ]

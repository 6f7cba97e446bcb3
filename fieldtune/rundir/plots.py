"""Plots of a run: confusion matrix, predicted-vs-true (regression), learning curves, image samples."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix  # noqa: E402

from fieldtune.rundir.fonts import fonts_for  # noqa: E402
from fieldtune.rundir.layout import atomic_write_bytes  # noqa: E402


def _save(fig: plt.Figure, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def plot_confusion_matrix(
    y_true: Sequence[int], y_pred: Sequence[int], label_names: Sequence[str], path: Path
) -> Path:
    """Row-normalised confusion matrix (recall per class on the diagonal), counts in the title."""
    labels = list(range(len(label_names)))
    cm = confusion_matrix(y_true, y_pred, labels=labels, normalize="true")
    size = max(4.0, 0.45 * len(labels) + 2)
    with fonts_for(label_names):  # Chinese label names: a font that has their glyphs
        fig, ax = plt.subplots(figsize=(size + 1, size))
        ConfusionMatrixDisplay(np.nan_to_num(cm), display_labels=list(label_names)).plot(
            ax=ax,
            cmap="Blues",
            values_format=".2f",
            include_values=len(labels) <= 25,
            colorbar=True,
            xticks_rotation=45,
            im_kw={"vmin": 0.0, "vmax": 1.0},  # shares of a row: the full scale, so runs compare by eye
        )
        ax.set_title(f"Confusion matrix (test, n={len(y_true)}, rows normalised)")
        return _save(fig, path)


def plot_predicted_vs_true(y_true: Sequence[float], y_pred: Sequence[float], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(y_true, y_pred, s=10, alpha=0.6)
    lo, hi = float(min(np.min(y_true), np.min(y_pred))), float(max(np.max(y_true), np.max(y_pred)))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="perfect")
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.set_title(f"Predicted vs true (test, n={len(y_true)})")
    ax.legend()
    return _save(fig, path)


def plot_label_scores(per_label: dict[str, dict], path: Path) -> Path:
    """Multi-label: F1 per label, and its confusion counts (true positives, false positives, false negatives)."""
    names = list(per_label)
    with fonts_for(names):
        y = np.arange(len(names))
        fig, (f1_ax, count_ax) = plt.subplots(
            1, 2, figsize=(10, max(3.0, 0.4 * len(names) + 1.5)), sharey=True
        )
        f1_ax.barh(y, [per_label[n]["f1"] for n in names], color="tab:blue")
        f1_ax.set(xlim=(0, 1), xlabel="F1", yticks=y, yticklabels=names, title="F1 per label")
        left = np.zeros(len(names))
        for key, colour in (("tp", "tab:green"), ("fp", "tab:orange"), ("fn", "tab:red")):
            counts = np.array([per_label[n][key] for n in names], dtype=float)
            count_ax.barh(y, counts, left=left, color=colour, label=key.upper())
            left += counts
        count_ax.set(xlabel="test examples", title="Confusion counts per label")
        count_ax.legend(loc="lower right")
        f1_ax.invert_yaxis()
        return _save(fig, path)


def _kept_epoch(evals: list[dict], kept_step: int | None) -> float | None:
    return next((h["epoch"] for h in evals if kept_step is not None and h.get("step") == kept_step), None)


def plot_learning_curves(
    log_history: list[dict],
    primary_metric: str,
    path: Path,
    kept_step: int | None = None,
    metric_range: tuple[float, float] | None = None,
) -> Path:
    """Training and validation loss per epoch, and the validation primary metric.

    `kept_step`: the step of the evaluation whose weights the run restored (`load_best_model_at_end`),
    marked on both panels. `metric_range`: the metric's whole scale (classes: 0-1), so one epoch at 1.000
    is not drawn on a 0.96-1.04 axis. Runs shorter than `logging_steps` log no per-step loss: the Trainer's
    mean training loss of each `train()` call is drawn instead, as a marker at its last epoch.
    """
    train = [(h["epoch"], h["loss"]) for h in log_history if "loss" in h and "epoch" in h]
    means = [(h["epoch"], h["train_loss"]) for h in log_history if "train_loss" in h and "epoch" in h]
    evals = [h for h in log_history if "eval_loss" in h]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    if train:
        axes[0].plot(*zip(*train, strict=True), ".-", label="train loss")  # dots: one report is a point
    elif means:
        axes[0].plot(*zip(*means, strict=True), "s", color="tab:blue", label="train loss (mean of the run)")
    if evals:
        axes[0].plot(
            [h["epoch"] for h in evals], [h["eval_loss"] for h in evals], "o-", label="validation loss"
        )
        key = f"eval_{primary_metric}"
        points = [(h["epoch"], h[key]) for h in evals if key in h]
        if points:
            axes[1].plot(*zip(*points, strict=True), "o-", color="tab:green")
        kept = _kept_epoch(evals, kept_step)
        if kept is not None:
            for ax in axes:
                ax.axvline(kept, color="tab:red", ls="--", lw=1, label=f"restored best (epoch {kept:g})")
            axes[1].legend(loc="lower right")
    if metric_range is not None:
        low, high = metric_range
        axes[1].set_ylim(low - 0.02 * (high - low), high + 0.02 * (high - low))
    last = max([h.get("epoch", 0) for h in log_history] + [1])
    for ax in axes:
        ax.set_xlim(0, last * 1.05)
        ax.set_xlabel("epoch")
    axes[0].set_title("Loss")
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend()
    axes[1].set_title(f"Validation {primary_metric}" if evals else "No validation split")
    return _save(fig, path)


def sample_indices(labels: Sequence[str], n: int) -> list[int]:
    """Up to `n` indices, taken in turn from each label (in order of first appearance), grouped by label:
    the first `n` rows of a test split sorted by class showed only the first few classes."""
    queues: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        queues.setdefault(label, []).append(i)
    picked: list[int] = []
    while len(picked) < min(n, len(labels)):
        for queue in queues.values():
            if queue and len(picked) < n:
                picked.append(queue.pop(0))
    order = {label: k for k, label in enumerate(queues)}
    return sorted(picked, key=lambda i: (order[labels[i]], i))


def _short(label: str, limit: int = 24) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def plot_image_samples(
    images: Sequence, true: Sequence[str], pred: Sequence[str], path: Path, cols: int = 6
) -> Path:
    """A grid of test images titled `true / predicted` (red when wrong; label sets: true, then predicted)."""
    n = len(images)
    with fonts_for([*true, *pred]):
        rows = max(1, -(-n // cols))
        fig, axes = plt.subplots(rows, cols, figsize=(2.2 * cols, 2.5 * rows), squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for ax, img, t, p in zip(axes.flat, images, true, pred, strict=False):
            ax.imshow(img)
            if ";" in t + p or not (t and p):  # label sets: true on the first line, predicted on the second
                sets = [", ".join(x.split(";")) if x else "(none)" for x in (t, p)]
                title, size = "\n".join(sets), 6
            elif len(t) + len(p) > 20:  # one line would run into its neighbours' titles
                title, size = f"{_short(t)} /\n{_short(p)}", 7
            else:
                title, size = f"{t} / {p}", 8
            ax.set_title(title, fontsize=size, color="black" if t == p else "red")
        fig.suptitle("test samples: true / predicted (red: wrong)")
        fig.tight_layout()
        return _save(fig, path)

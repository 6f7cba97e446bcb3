"""What the run's plots show (issue 33, item 8): every class in samples.png, titles that fit, the restored
best epoch marked, a training loss even on short runs, and a metric axis on the metric's own scale."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from PIL import Image

from fieldtune.rundir import plots
from fieldtune.rundir.plots import plot_image_samples, plot_learning_curves, sample_indices
from fieldtune.rundir.results import restored_step
from fieldtune.tasks.table import TASKS


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions draw, kept open instead of written."""
    kept = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: kept.append(fig) or path)
    yield kept
    for fig in kept:
        plots.plt.close(fig)


def test_samples_show_every_class_of_a_test_split_sorted_by_class():
    labels = ["granite"] * 10 + ["limestone"] * 10 + ["sandstone"] * 10 + ["shale"] * 10
    picked = sample_indices(labels, 24)
    assert len(picked) == 24
    assert {labels[i] for i in picked} == {"granite", "limestone", "sandstone", "shale"}  # shale was missing
    assert [labels[i] for i in picked] == sorted(labels[i] for i in picked)  # grouped by class
    assert sample_indices(["a", "b", "b"], 24) == [0, 1, 2]  # fewer rows than the grid: all of them


def test_long_sample_titles_wrap_instead_of_running_into_each_other(figures, tmp_path):
    images = [Image.new("RGB", (8, 8))] * 3
    true = ["limestone_fossil", "granite", "limestone_fossil"]
    pred = ["limestone_fossil", "granite", "granite"]
    plot_image_samples(images, true, pred, tmp_path / "s.png")
    titles = [ax.get_title() for ax in figures[0].axes[:3]]
    assert titles[0] == "limestone_fossil /\nlimestone_fossil" and titles[1] == "granite / granite"
    assert figures[0].axes[2].title.get_color() == "red"


LOG = [
    {"loss": 1.0, "epoch": 0.5, "step": 5},
    {"eval_loss": 0.9, "eval_f1_macro": 0.7, "epoch": 1.0, "step": 10},
    {"eval_loss": 0.5, "eval_f1_macro": 0.9, "epoch": 2.0, "step": 20},
    {"eval_loss": 0.6, "eval_f1_macro": 0.8, "epoch": 3.0, "step": 30},
    {"train_loss": 0.7, "epoch": 3.0, "step": 30},
]


def test_learning_curves_mark_the_restored_best_epoch(figures, tmp_path):
    plot_learning_curves(LOG, "f1_macro", tmp_path / "c.png", kept_step=20, metric_range=(0.0, 1.0))
    loss_ax, metric_ax = figures[0].axes[:2]
    for ax in (loss_ax, metric_ax):
        marks = [line for line in ax.get_lines() if "restored best" in str(line.get_label())]
        assert len(marks) == 1 and list(marks[0].get_xdata()) == [2.0, 2.0]
    assert "restored best (epoch 2)" in [t.get_text() for t in metric_ax.get_legend().get_texts()]


def test_learning_curves_of_a_short_run_keep_a_training_loss_and_the_metric_scale(figures, tmp_path):
    """A one-epoch probe logged no per-step loss and drew its F1 of 1.000 on a 0.96-1.04 axis."""
    log = [{"eval_loss": 0.01, "eval_f1_macro": 1.0, "epoch": 1.0, "step": 4},
           {"train_loss": 0.3, "epoch": 1.0, "step": 4}]  # fmt: skip
    plot_learning_curves(log, "f1_macro", tmp_path / "c.png", kept_step=None, metric_range=(0.0, 1.0))
    loss_ax, metric_ax = figures[0].axes[:2]
    assert "train loss (mean of the run)" in [line.get_label() for line in loss_ax.get_lines()]
    low, high = metric_ax.get_ylim()
    assert low <= 0.0 and 1.0 <= high < 1.1
    assert not [line for line in metric_ax.get_lines() if "restored" in str(line.get_label())]


def test_restored_step_is_the_best_evaluation_unless_weights_were_averaged():
    task = TASKS["text-classification"]
    trainer = SimpleNamespace(
        args=SimpleNamespace(load_best_model_at_end=True), state=SimpleNamespace(log_history=LOG)
    )
    assert restored_step(trainer, task) == 20
    trainer.weight_averaging = SimpleNamespace(applied=True)
    assert restored_step(trainer, task) is None
    trainer = SimpleNamespace(
        args=SimpleNamespace(load_best_model_at_end=False), state=SimpleNamespace(log_history=LOG)
    )
    assert restored_step(trainer, task) is None


def test_a_single_training_loss_report_is_drawn_as_a_visible_point(figures, tmp_path):
    """The demo's image run logs one training loss (step 10 of 18): a line through one point draws nothing."""
    log = [
        {"loss": 0.4, "epoch": 1.11, "step": 10},
        {"eval_loss": 0.01, "eval_f1_macro": 1.0, "epoch": 2.0, "step": 18},
    ]
    plot_learning_curves(log, "f1_macro", tmp_path / "c.png")
    [train] = [line for line in figures[0].axes[0].get_lines() if line.get_label() == "train loss"]
    assert train.get_marker() not in (None, "None", "", " ")

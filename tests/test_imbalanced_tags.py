"""Label sets with heavy imbalance and small data (issue 34): bounded loss weights for rare labels, shared
thresholds for labels with too few validation positives, a minimum number of optimizer steps, and the
TF-IDF baseline as a guard that says when the run is clearly below it."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import yaml

from fieldtune.config import TrainingConfig, config_from_dict
from fieldtune.targets import Tags
from fieldtune.targets.class_weights import class_weight_tensor
from fieldtune.targets.thresholds import shared_threshold, too_few_to_tune, tune_thresholds
from fieldtune.tasks.table import get_task
from tests.test_multilabel import TAGS, vocab_words


def rare_tag_rows(words: list[str], n: int = 240, rare: int = 4, seed: int = 0) -> list[dict]:
    """`write_tagged`'s notes plus a tag `fragile` on only `rare` of them (its own trigger word)."""
    rng = random.Random(seed)
    triggers = dict(zip((*TAGS, "fragile"), words[:4], strict=True))
    rows = []
    for i in range(n):
        tags = sorted(t for t in TAGS if rng.random() < 0.4) + (["fragile"] if i < rare else [])
        note = rng.sample(words[4:40], 5) + [triggers[t] for t in tags]
        rng.shuffle(note)
        rows.append({"note": " ".join(note), "tags": tags})
    return rows


def test_balanced_sqrt_bounds_the_weight_of_a_label_with_2_positives_in_800():
    labels = [[0] for _ in range(400)] + [[] for _ in range(398)] + [[1], [1]]  # label 1: 2 of 800
    balanced = class_weight_tensor("balanced", labels, ["common", "rare"])
    bounded = class_weight_tensor("balanced_sqrt", labels, ["common", "rare"])
    assert balanced[1].item() == pytest.approx(399.0)  # the explicit choice still means what it did
    assert bounded[1].item() == pytest.approx(399.0**0.5) and bounded[1].item() < 25
    assert bounded[0].item() == pytest.approx(1.0)  # 400 of 800: no reweighting
    # single-label classes: the square root of n / (k * count)
    classes = class_weight_tensor("balanced_sqrt", [0] * 90 + [1] * 10, ["a", "b"])
    assert classes.tolist() == pytest.approx([(100 / 180) ** 0.5, (100 / 20) ** 0.5])


def test_balanced_sqrt_is_a_valid_recipe_value():
    config = config_from_dict({"task": "text-multilabel", "model": {"name_or_path": "m"},
                               "training": {"class_weights": "balanced_sqrt"}})  # fmt: skip
    assert config.training.class_weights == "balanced_sqrt"


def test_a_label_with_too_few_validation_positives_keeps_the_shared_threshold():
    rng = np.random.default_rng(0)
    refs = np.zeros((300, 3), dtype=np.int64)
    refs[:, :2] = rng.integers(0, 2, size=(300, 2))
    refs[:3, 2] = 1  # 3 positives: its own F1-best cut-off would fit those three
    scores = np.where(refs == 1, 0.6, 0.3) + rng.normal(0, 0.05, size=refs.shape)
    scores[:3, 2] = 0.97  # the rare label's positives score high: its own cut-off would sit near 0.9
    thresholds = tune_thresholds(scores, refs)
    shared = shared_threshold(scores, refs)
    assert too_few_to_tune(refs) == [2]
    assert thresholds[2] == shared and 0.3 < shared < 0.6
    assert tune_thresholds(scores, refs, min_positives=1)[2] > 0.8  # what tuning it alone would give
    assert thresholds[0] != shared or thresholds[1] != shared  # labels with enough positives are tuned
    decision = Tags().calibrate(np.log(scores / (1 - scores)), refs)
    assert decision["fieldtune_untuned_thresholds"]["labels"] == [2]
    assert decision["fieldtune_thresholds"][2] == pytest.approx(shared, abs=1e-4)


def test_min_steps_raises_the_epochs_of_small_data_only():
    from fieldtune.trainers.arguments import build_training_args, epochs_for

    small = TrainingConfig(num_train_epochs=1, min_steps=50, per_device_train_batch_size=16)
    assert epochs_for(small, train_size=100) == 8  # 7 steps per epoch: 8 epochs give 56 >= 50
    assert epochs_for(small, train_size=100, world_size=2) == 13  # 4 steps per epoch on each of 2
    assert epochs_for(small, train_size=10_000) == 1  # 625 steps per epoch already: unchanged
    assert epochs_for(TrainingConfig(num_train_epochs=1), train_size=100) == 1  # no min_steps: as given
    capped = TrainingConfig(num_train_epochs=1, min_steps=50, extra={"max_steps": 5})
    assert epochs_for(capped, train_size=100) == 1  # max_steps rules
    accumulated = TrainingConfig(num_train_epochs=1, min_steps=50, gradient_accumulation_steps=4)
    assert epochs_for(accumulated, train_size=100) == 25  # 7 batches -> 2 optimizer steps per epoch
    args = build_training_args(small, "out", get_task("text-multilabel"), False, "fp32", True, train_size=100)
    assert args.num_train_epochs == 8


@pytest.fixture(scope="module")
def rare_tags(tiny_bert, tmp_path_factory):
    path = tmp_path_factory.mktemp("rare") / "notes.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rare_tag_rows(vocab_words(tiny_bert) * 2)))
    return path


def guard_config(tiny_bert, data, **training):
    return {
        "task": "text-multilabel", "name": "rare", "model": {"name_or_path": str(tiny_bert), "max_length": 32},
        "data": {"builder": "text_table", "path": str(data), "text_columns": ["note"], "label_column": "tags"},
        "training": {"num_train_epochs": 1, "per_device_train_batch_size": 16, "learning_rate": 1e-6,
                     "seed": 0, "precision": "fp32", **training},
    }  # fmt: skip


def test_the_guard_compares_the_run_with_the_baseline_on_validation(tiny_bert, rare_tags):
    from fieldtune.baselines.guard import baseline_check, baseline_line
    from fieldtune.datasets_builders import build_dataset

    config = config_from_dict(guard_config(tiny_bert, rare_tags, class_weights="balanced_sqrt"))
    task = get_task("text-multilabel")
    dd = build_dataset(config.data, task.name)
    names = dd["train"].features["label"].feature.names
    refs = Tags.references(dd["validation"]["label"], len(names))
    perfect = np.where(refs == 1, 5.0, -5.0)
    ok = baseline_check(config, task, dd, names, None, perfect, None)
    assert ok["metric"] == "f1_macro" and ok["run"] >= ok["baseline"] and not ok["below"]
    assert baseline_line({"baseline_check": ok}) is None
    assert "class weights balanced" in ok["baseline_model"]  # the baseline's own weighting, named
    wrong = baseline_check(config, task, dd, names, None, -perfect, None)
    assert wrong["below"] and wrong["run"] < wrong["baseline"] - 0.5  # the trigger words: TF-IDF finds them
    assert "Below the baseline: validation f1_macro" in baseline_line({"baseline_check": wrong})
    config.baseline.guard = False
    assert baseline_check(config, task, dd, names, None, -perfect, None) is None


@pytest.fixture(scope="module")
def weak_run(tiny_bert, rare_tags, tmp_path_factory):
    """`fieldtune train` of a run that cannot learn (learning rate 1e-6) with min_steps, from the CLI."""
    from fieldtune.cli import main

    folder = tmp_path_factory.mktemp("weak")
    recipe = folder / "rare.yaml"
    recipe.write_text(yaml.safe_dump(guard_config(tiny_bert, rare_tags, min_steps=25)))
    capture = pytest.MonkeyPatch()
    lines: list[str] = []
    capture.setattr("builtins.print", lambda *a, **k: lines.append(" ".join(map(str, a))))
    try:
        assert main(["train", str(recipe), "--output-dir", str(folder / "run")]) == 0
    finally:
        capture.undo()
    return folder / "run", lines


@pytest.mark.slow
def test_a_run_below_its_baseline_says_so_at_the_end(weak_run):
    run_dir, lines = weak_run
    check = json.loads((run_dir / "eval_results.json").read_text())["baseline_check"]
    assert check["below"] and check["split"] == "validation"
    assert lines[-1].startswith("Below the baseline: validation f1_macro")


@pytest.mark.slow
def test_min_steps_gives_a_small_run_its_steps(weak_run):
    run_dir, _ = weak_run
    state = json.loads(max((run_dir / "checkpoints").glob("checkpoint-*/trainer_state.json")).read_text())
    assert state["global_step"] >= 25 and state["num_train_epochs"] >= 2  # 1 epoch asked, ~10 steps each


@pytest.mark.slow
def test_the_card_names_the_labels_too_rare_to_tune(weak_run):
    run_dir, _ = weak_run
    results = json.loads((run_dir / "eval_results.json").read_text())
    untuned = results["untuned_thresholds"]
    assert "fragile" in untuned["labels"] and untuned["min_positives"] == 10
    assert results["thresholds"]["fragile"] == pytest.approx(untuned["shared"], abs=1e-4)
    card = (run_dir / "README.md").read_text()
    assert "Too few validation positives to tune" in card and "fragile" in card


def test_the_guard_scores_a_regression_baseline_in_real_units():
    """Regression trains on standardised targets: the baseline's RMSE is compared in the data's units."""
    from datasets import Dataset, DatasetDict

    from fieldtune.baselines.guard import baseline_check
    from fieldtune.tasks.scoring import standardise

    rng = random.Random(0)
    words = ["pallet", "crate", "drum", "box", "bag", "roll"]

    def split(n: int) -> Dataset:
        rows = [rng.sample(words, 3) for _ in range(n)]
        return Dataset.from_dict({"text": [" ".join(r) for r in rows],
                                  "label": [100.0 * words.index(r[0]) + 1000.0 for r in rows]})  # fmt: skip

    raw = DatasetDict(train=split(120), validation=split(40), test=split(10))
    scaled, scale = standardise(raw)
    config = config_from_dict({"task": "text-regression", "model": {"name_or_path": "m"}})
    task = get_task("text-regression")
    in_real = baseline_check(config, task, raw, None, {"rmse": 50.0})
    from_scaled = baseline_check(config, task, scaled, None, {"rmse": 50.0}, target_scale=scale)
    assert from_scaled["baseline"] == pytest.approx(in_real["baseline"], rel=1e-3)
    assert in_real["below"] == (in_real["baseline"] * 1.02 < 50.0)

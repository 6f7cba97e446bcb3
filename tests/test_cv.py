"""k-fold cross-validation (`fieldtune train --cv K`) on the tiny BERT and generated order notes: folds
disjoint and stratified, every training row predicted once out of fold, a CV stopped in its second fold
resumes without retraining the first and gives the same summary."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fieldtune.config import config_from_dict
from fieldtune.datasets_builders import build_dataset
from fieldtune.datasets_builders.folds import fold_ids, fold_split, pooled
from fieldtune.errors import DataError


def cv_config(model: Path, data: Path, folds: int = 3, **training):
    return config_from_dict({
        "task": "text-classification",
        "model": {"name_or_path": str(model), "max_length": 32},
        "data": {"path": str(data), "text_columns": ["note"], "label_column": "demand_level", "seed": 5},
        "training": {"max_steps": 4, "per_device_train_batch_size": 16, "learning_rate": 3e-3, "seed": 1,
                     "save_strategy": "steps", "save_steps": 2, "eval_strategy": "steps", "eval_steps": 2,
                     "logging_steps": 2, **training},
        "cv": {"folds": folds},
    })  # fmt: skip


def test_folds_are_disjoint_stratified_seeded_and_leave_test_alone(tiny_bert, demand_csv):
    config = cv_config(tiny_bert, demand_csv, folds=4)
    dd = build_dataset(config.data, config.task)
    rows = pooled(dd)
    ids = fold_ids(rows, 4, seed=5)
    assert sorted(Counter(ids)) == [0, 1, 2, 3] and len(ids) == len(rows)
    assert (fold_ids(rows, 4, seed=5) == ids).all() and not (fold_ids(rows, 4, seed=6) == ids).all()
    labels = np.asarray(rows["label"])
    for c in set(labels):  # each class spread over the folds as evenly as its count allows
        per_fold = Counter(ids[labels == c])
        assert max(per_fold.values()) - min(per_fold.get(f, 0) for f in range(4)) <= 1
    seen = []
    for fold in range(4):
        split = fold_split(dd, 4, fold, seed=5)
        assert list(split["test"]["text"]) == list(dd["test"]["text"])  # test untouched
        held, kept = np.flatnonzero(ids == fold), np.flatnonzero(ids != fold)
        texts = rows["text"]
        assert list(split["validation"]["text"]) == [texts[i] for i in held]  # the fold validates ...
        assert list(split["train"]["text"]) == [texts[i] for i in kept]  # ... and only the others train
        seen += list(held)
    assert sorted(seen) == list(range(len(rows)))  # every pooled row validates exactly once


def test_more_folds_than_the_rarest_class_is_refused(tiny_bert, demand_csv):
    config = cv_config(tiny_bert, demand_csv)
    rows = pooled(build_dataset(config.data, config.task))
    fewest = min(Counter(rows["label"]).values())
    with pytest.raises(DataError, match=f"use at most {fewest} folds"):
        fold_ids(rows, fewest + 1, seed=5)


def test_tag_folds_keep_every_label_in_every_fold():
    from datasets import ClassLabel, Dataset, Features, Sequence, Value

    rng = np.random.default_rng(0)
    tags = [sorted(set(rng.choice(4, size=rng.integers(1, 3), replace=False).tolist())) for _ in range(80)]
    features = Features({"text": Value("string"), "label": Sequence(ClassLabel(names=list("abcd")))})
    rows = Dataset.from_dict({"text": [str(i) for i in range(80)], "label": tags}, features=features)
    ids = fold_ids(rows, 4, seed=0)
    for fold in range(4):
        held = [t for t, f in zip(tags, ids, strict=True) if f == fold]
        assert {label for t in held for label in t} == {0, 1, 2, 3}


class StopInFold:
    """A TrainerCallback that raises at step 3 (after checkpoint-2) of the `fold`-th training it sees (a killed CV)."""

    def __init__(self, fold: int) -> None:
        self.fold, self.trainings = fold, 0

    def __getattr__(self, name):  # every other TrainerCallback event: nothing
        if name.startswith("on_"):
            return lambda *a, **k: None
        raise AttributeError(name)

    def on_train_begin(self, args, state, control, **kw):
        self.trainings += 1

    def on_step_end(self, args, state, control, **kw):
        if self.trainings == self.fold + 1 and state.global_step >= 3:
            raise KeyboardInterrupt("stopped in the middle of a fold")


class CountTrainings(StopInFold):
    def __init__(self) -> None:
        super().__init__(fold=-1)


@pytest.mark.slow
def test_cv_writes_oof_and_summary_and_a_killed_cv_resumes(tiny_bert, demand_csv, tmp_path):
    from fieldtune.cv import run_cv

    config = cv_config(tiny_bert, demand_csv, folds=3)
    whole = run_cv(config, output_dir=tmp_path / "whole")
    assert whole.trained == [0, 1, 2]
    cv_dir = whole.cv_dir
    oof = pd.read_csv(cv_dir / "oof_predictions.csv")
    rows = pooled(build_dataset(config.data, config.task))
    assert sorted(oof["row"]) == list(range(len(rows)))  # every training row exactly once
    assert list(oof["text"]) == list(rows["text"])
    probs = oof.filter(like="prob_").to_numpy()
    assert np.allclose(probs.sum(1), 1, atol=1e-4)
    summary = json.loads((cv_dir / "cv_results.json").read_text())
    acc = summary["metrics"]["accuracy"]
    assert len(acc["folds"]) == 3 and acc["mean"] == pytest.approx(np.mean(acc["folds"]))
    assert acc["sd"] == pytest.approx(np.std(acc["folds"], ddof=1))
    assert acc["ci95"][0] <= acc["mean"] <= acc["ci95"][1]
    for fold in range(3):  # each fold's score is its model on its own held-out rows
        held = oof[oof["fold"] == fold]
        assert acc["folds"][fold] == pytest.approx((held["predicted"] == held["label"]).mean())
    assert (cv_dir / "plots" / "cv_folds.png").is_file() and not (cv_dir / ".incomplete").exists()
    for fold in range(3):
        assert (cv_dir / f"fold-{fold}" / "model" / "config.json").is_file()

    stop = StopInFold(fold=1)
    with pytest.raises(KeyboardInterrupt):
        run_cv(config, output_dir=tmp_path / "killed", callbacks=[stop])
    killed = tmp_path / "killed"
    assert (killed / ".incomplete").exists() and (killed / "fold-0" / "eval_results.json").is_file()
    assert any((killed / "fold-1" / "checkpoints").glob("checkpoint-*"))
    fold0 = (killed / "fold-0" / "eval_results.json").stat().st_mtime_ns
    count = CountTrainings()
    again = run_cv(config, output_dir=killed, resume=True, callbacks=[count])
    assert again.trained == [1, 2] and count.trainings == 2  # fold 0 was not trained again
    assert (killed / "fold-0" / "eval_results.json").stat().st_mtime_ns == fold0
    resumed = json.loads((killed / "cv_results.json").read_text())
    assert resumed["metrics"] == summary["metrics"]
    again_oof = pd.read_csv(killed / "oof_predictions.csv")
    assert list(again_oof["row"]) == list(oof["row"]) and list(again_oof["fold"]) == list(oof["fold"])
    assert np.allclose(again_oof.filter(like="prob_").to_numpy(), probs, atol=1e-5)  # the same fold models


def test_a_fold_run_validates_on_its_fold(tiny_bert, demand_csv):
    config = cv_config(tiny_bert, demand_csv, folds=3)
    one = dataclasses.replace(config, cv=dataclasses.replace(config.cv, fold=1))
    assert one.cv.fold == 1


@pytest.mark.slow
def test_the_ensemble_is_the_mean_of_the_fold_probabilities_and_scores_test_once(
    tiny_bert, demand_csv, tmp_path
):
    from fieldtune.cv import run_cv
    from fieldtune.inference.evaluate import evaluate_model
    from fieldtune.inference.load import load_for_inference, predict_logits, text_batches
    from fieldtune.leaderboard import build_leaderboard, entry_from_run
    from fieldtune.targets.arrays import softmax

    config = cv_config(tiny_bert, demand_csv, folds=3, learning_rate=1e-2)
    result = run_cv(config, output_dir=tmp_path / "cv")
    cv_dir = result.cv_dir
    texts = ["urgent: 40 pallets of frozen fish tomorrow", "a small box of pens", "maybe next month"]
    ensemble = load_for_inference(cv_dir)
    mixed = softmax(predict_logits(ensemble, text_batches(ensemble, texts)))
    folds = [load_for_inference(cv_dir / f"fold-{i}") for i in range(3)]
    each = [softmax(predict_logits(f, text_batches(f, texts))) for f in folds]
    assert np.allclose(mixed, np.mean(each, axis=0), atol=1e-6)
    assert not np.allclose(each[0], each[1], atol=1e-4)  # three different models were averaged

    results = json.loads((cv_dir / "eval_results.json").read_text())
    assert results == result.results and results["split"] == "test" and results["cv"]["final"] == "ensemble"
    assert results["cv"]["metrics"]["accuracy"]["mean"] == result.summary["metrics"]["accuracy"]["mean"]
    test = build_dataset(config.data, config.task)["test"]
    assert len(pd.read_csv(cv_dir / "predictions.csv")) == len(test) == results["num_test_examples"]
    again = evaluate_model(str(cv_dir), None, "test")  # `fieldtune evaluate CV_DIR`: the same model
    assert again["metrics"]["accuracy"] == pytest.approx(results["metrics"]["accuracy"])
    entry = entry_from_run(cv_dir)  # the leaderboard reads the CV directory like a run
    assert entry.metrics["accuracy"] == results["metrics"]["accuracy"]
    f1 = result.summary["metrics"]["f1_macro"]  # the primary metric's CV mean ± sd beside the test figure
    assert entry.cv == (f1["mean"], f1["sd"], 3) and entry_from_run(cv_dir / "fold-0").cv is None
    _, text = build_leaderboard([cv_dir, cv_dir / "fold-0"], [], tmp_path / "board")
    assert "CV mean ± sd" in text and f"{f1['mean']:.4f} ± {f1['sd']:.4f} (3-fold)" in text
    board = pd.read_csv(tmp_path / "board" / "leaderboard.csv")
    assert board.set_index("model").loc[str(cv_dir), "cv_mean"] == pytest.approx(f1["mean"])


@pytest.mark.slow
def test_refit_trains_on_every_pooled_row_for_the_mean_best_epoch(tiny_bert, demand_csv, tmp_path):
    import math

    from fieldtune.cv import run_cv
    from fieldtune.cv.final import refit_config
    from fieldtune.datasets_builders.folds import cv_split
    from fieldtune.inference.load import load_for_inference

    config = cv_config(tiny_bert, demand_csv, folds=2)
    config = dataclasses.replace(config, cv=dataclasses.replace(config.cv, final="refit"))
    result = run_cv(config, output_dir=tmp_path / "cv")
    cv_dir = result.cv_dir
    epochs = np.mean([f["best_epoch"] for f in result.summary["per_fold"]])
    assert result.results["cv"]["refit_epochs"] == pytest.approx(epochs, abs=1e-3)
    dd = build_dataset(config.data, config.task)
    union = cv_split(dd, refit_config(config, epochs).cv, seed=5)
    assert set(union) == {"train", "test"} and list(union["train"]["text"]) == list(pooled(dd)["text"])
    states = sorted((cv_dir / "refit" / "checkpoints").glob("checkpoint-*/trainer_state.json"))
    state = json.loads(states[-1].read_text())
    assert state["max_steps"] == math.ceil(epochs * math.ceil(len(pooled(dd)) / 16))  # batches of the union
    assert not any("eval_loss" in h for h in state["log_history"])  # no validation split to evaluate
    loaded = load_for_inference(cv_dir)  # the CV directory's model is the refit
    assert loaded.model_dir == cv_dir / "model" and not hasattr(loaded.model, "folds")
    assert result.results["cv"]["final"] == "refit" and (cv_dir / "predictions.csv").is_file()


@pytest.mark.slow
def test_sweep_with_cv_chooses_by_the_cv_mean_and_best_yaml_says_so(tiny_bert, demand_csv, tmp_path):
    import yaml

    from fieldtune.cli import main

    config = cv_config(tiny_bert, demand_csv, folds=2)
    recipe = tmp_path / "recipe.yaml"
    tree = config.to_dict()
    tree["cv"] = {}  # the folds come from --cv
    recipe.write_text(yaml.safe_dump(tree))
    sweep = tmp_path / "sweep"
    argv = ["sweep", str(recipe), "--grid", "training.learning_rate=0.01,0.00001", "--cv", "2"]
    assert main([*argv, "--output-dir", str(sweep)]) == 0
    means = {}
    for trial in sorted(p for p in sweep.iterdir() if (p / "cv_results.json").is_file()):
        summary = json.loads((trial / "cv_results.json").read_text())
        assert summary["folds"] == 2 and (trial / "fold-1" / "eval_results.json").is_file()
        means[trial.name] = summary["metrics"]["f1_macro"]["mean"]
    assert len(means) == 2
    text = (sweep / "best.yaml").read_text()
    header = [line[2:] for line in text.splitlines() if line.startswith("# ")]
    how = "chosen by the 2-fold CV mean of validation f1_macro (the held-out folds), a paired test over the "
    first, second = sorted(means)  # grid order: lr 0.01, then 1e-05
    assert header[2].startswith(f"{first} {means[first]:.4f}: the first")
    chosen = header[3].rsplit(": ", 1)[1].split(" ")[0]  # "...: <name> is best so far"
    assert (
        header[0].startswith(f"{how}") and f": {chosen} {means[chosen]:.4f}; test never chose it" in header[0]
    )
    # the later trial wins only with a better mean that the paired test over out-of-fold rows confirms
    assert (chosen == second) == ("better" in header[3] and means[second] > means[first]), header
    assert yaml.safe_load(text)["cv"]["folds"] == 2  # `fieldtune train best.yaml` cross-validates the winner


class StopAtStep(StopInFold):
    """Stops the first fold at step `step` (1: before its first checkpoint, 3: after the one at step 2)."""

    def __init__(self, step: int) -> None:
        super().__init__(fold=0)
        self.step = step

    def on_step_end(self, args, state, control, **kw):
        if state.global_step >= self.step:
            raise KeyboardInterrupt("stopped in the first fold")


def test_a_failed_overwrite_gives_the_old_cv_back_until_a_fold_has_a_checkpoint(
    tiny_bert, demand_csv, tmp_path
):
    """`--cv K --overwrite` on an existing CV directory deleted it straight away; now, as for one run, it is
    moved aside and comes back byte-identical when the new CV stops before its first fold checkpoint."""
    from fieldtune.config import save_config
    from fieldtune.cv import run_cv
    from tests.test_bad_inputs import _snapshot

    config = cv_config(tiny_bert, demand_csv, folds=3)
    old = tmp_path / "cv"
    (old / "fold-0" / "model").mkdir(parents=True)
    save_config(config, old / "config.yaml")
    (old / "cv_results.json").write_text('{"metrics": {}}')
    (old / "fold-0" / "model" / "config.json").write_text("{}")
    before = _snapshot(old)
    with pytest.raises(KeyboardInterrupt):
        run_cv(config, output_dir=old, overwrite=True, callbacks=[StopAtStep(1)])
    assert _snapshot(old) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cv"]  # no moved-aside folder left beside it

    with pytest.raises(KeyboardInterrupt):  # past fold 0's checkpoint at step 2: the new CV is kept
        run_cv(config, output_dir=old, overwrite=True, callbacks=[StopAtStep(3)])
    assert not (old / "cv_results.json").exists() and (old / ".incomplete").exists()
    assert any((old / "fold-0" / "checkpoints").glob("checkpoint-*"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cv"]

"""The sweep's bookkeeping without training: grid values typed by the schema, trial names, who runs which
trial (claims, twins, dead workers' trials re-enqueued under their run name), the study's identity."""

from __future__ import annotations

import socket

import optuna
import pytest
import yaml

from fieldtune.errors import ConfigError
from fieldtune.sweep.space import grid_points, load_recipe, parse_grid, point_names
from fieldtune.sweep.study import (
    RUN_NAME,
    WORKER,
    Manifest,
    counted,
    duplicate_of,
    enqueue_missing_points,
    recover_dead_trials,
)


@pytest.fixture
def recipe(tmp_path, tiny_bert):
    path = tmp_path / "r.yaml"
    path.write_text(
        yaml.safe_dump({"task": "text-classification", "model": {"name_or_path": str(tiny_bert)}})
    )
    return load_recipe(path, ["--training.seed=3"])


def test_grid_values_are_typed_by_the_schema_and_named_safely(recipe):
    grid = parse_grid(
        ["model.name_or_path=org/bert-a,/models/bert-a/", "training.learning_rate=3e-4,1e-3"], recipe
    )
    assert grid["training.learning_rate"] == [
        0.0003,
        0.001,
    ]  # YAML reads `3e-4` as a string; the field as a float
    points = grid_points(grid)
    names = point_names(points)
    assert len(set(names)) == 4 and all("/" not in n and " " not in n for n in names)
    assert names[0].startswith(
        "bert-a_learning_rate-0.0003-"
    )  # two models ending alike: a hash tells them apart
    assert recipe.config(points[0]).training.seed == 3  # the recipe's overrides reach every trial


def test_a_hub_cache_snapshot_in_a_grid_is_named_by_its_model():
    snapshot = (
        "/root/.cache/huggingface/hub/models--sentence-transformers--all-mpnet-base-v2/snapshots/e8c3b32"
    )
    points = [
        {"model.name_or_path": snapshot},
        {"model.name_or_path": "sentence-transformers/all-MiniLM-L6-v2"},
    ]
    assert point_names(points) == ["all-mpnet-base-v2", "all-MiniLM-L6-v2"]  # was e8c3b32


def test_grid_key_also_overridden_is_refused(recipe):
    with pytest.raises(ConfigError, match="also set by --training.seed"):
        parse_grid(["training.seed=1,2"], recipe)


def _study():
    return optuna.create_study(storage=optuna.storages.InMemoryStorage())


def test_twins_yield_to_the_first_and_missing_points_are_enqueued_once(tmp_path):
    study = _study()
    points, names = [{"x": 1}, {"x": 2}], ["a", "b"]
    for _ in range(2):  # two hosts enqueueing the grid at once
        study.enqueue_trial(points[0], user_attrs={RUN_NAME: "a"})
    enqueue_missing_points(study, points, names, tmp_path / "lock")
    assert sorted(t.user_attrs[RUN_NAME] for t in study.trials) == ["a", "a", "b"]
    first, second = study.trials[0], study.trials[1]
    assert duplicate_of(study, first, "a") is None and duplicate_of(study, second, "a") == 0
    assert counted(study) == 3


def test_a_dead_local_workers_trial_is_retried_under_its_run_name(tmp_path):
    study = _study()
    study.enqueue_trial({"x": 1}, user_attrs={RUN_NAME: "a"})
    trial = study.ask()
    trial.suggest_int("x", 0, 2)
    dead = {"host": socket.gethostname(), "pid": 2**22 + 7, "started": 0.0}  # no such process
    trial.set_user_attr(WORKER, dead)
    other_host = study.ask()
    other_host.set_user_attr(WORKER, {**dead, "host": "elsewhere"})  # left to the database's heartbeat
    other_host.set_user_attr(RUN_NAME, "b")
    assert recover_dead_trials(study, tmp_path / "lock") == ["a"]
    states = {t.number: t.state.name for t in study.trials}
    assert states == {0: "FAIL", 1: "RUNNING", 2: "WAITING"}
    retry = study.trials[2]
    assert retry.user_attrs[RUN_NAME] == "a" and retry.system_attrs["fixed_params"] == {"x": 1}
    assert recover_dead_trials(study, tmp_path / "lock") == []  # a second worker does not enqueue it again


def test_study_identity_follows_recipe_and_grid_not_the_trial_count():
    a = Manifest("r.yaml", {"name": "r", "task": "t"}, {"x": [1, 2]}, None, None)
    assert (
        a.study_name
        == Manifest("other/r.yaml", {"name": "r", "task": "t"}, {"x": [1, 2]}, None, None).study_name
    )
    assert (
        a.study_name != Manifest("r.yaml", {"name": "r", "task": "t"}, {"x": [1, 3]}, None, None).study_name
    )


def test_a_trial_s_results_are_read_by_run_directory(tmp_path):
    from fieldtune.errors import RunDirError
    from fieldtune.rundir.layout import INCOMPLETE
    from fieldtune.sweep.trial import finished_results

    run = tmp_path / "trial-0"
    run.mkdir()
    (run / "eval_results.json").write_text('{"validation_metrics": {"accuracy": 0.5}}')
    assert finished_results(run) == {"validation_metrics": {"accuracy": 0.5}}
    (run / INCOMPLETE).touch()
    assert finished_results(run) is None  # a trial that died mid-run has not finished
    (run / INCOMPLETE).unlink()
    (run / "eval_results.json").write_text('{"validation_metrics": ')  # damaged: one line naming it
    with pytest.raises(RunDirError, match=r"eval_results.json cannot be read \(not valid JSON\)"):
        finished_results(run)

"""Bad cross-validation inputs (`fieldtune train --cv K`, the `cv:` section) through the CLI: one line,
exit 2, nothing written. Same table machinery as `tests/test_bad_inputs.py`."""

from __future__ import annotations

import json

import pytest

from fieldtune.config import load_config, save_config
from tests import test_bad_inputs as table
from tests.test_bad_inputs import Case, Ctx, _recipe, _train

tiny_vit = table.tiny_vit  # module fixture, found by name


def c_one_fold(ctx: Ctx) -> list[str]:
    return _train(ctx, None, "--cv", "1")


def c_more_folds_than_the_rarest_class(ctx: Ctx) -> list[str]:
    return _train(ctx, None, "--cv", "40")


def c_fold_without_folds(ctx: Ctx) -> list[str]:
    return _train(ctx, None, "--cv.fold=1")


def c_fold_out_of_range(ctx: Ctx) -> list[str]:
    return _train(ctx, None, "--cv.folds=3", "--cv.fold=3")


def c_unknown_final(ctx: Ctx) -> list[str]:
    return _train(ctx, None, "--cv", "3", "--cv.final=stack")


def c_cv_with_processes(ctx: Ctx) -> list[str]:
    return _train(ctx, None, "--cv", "3", "--num-processes", "2")


def c_workers_without_cv(ctx: Ctx) -> list[str]:
    return _train(ctx, None, "--workers", "2")


def c_cv_with_no_workers(ctx: Ctx) -> list[str]:
    return _train(ctx, None, "--cv", "3", "--workers", "0")


def c_cv_of_the_baseline_method(ctx: Ctx) -> list[str]:
    return _train(ctx, None, "--cv", "3", "--method.name=baseline")


def c_sweep_with_one_fold(ctx: Ctx) -> list[str]:
    return ["sweep", str(_recipe(ctx)), "--grid", "method.name=full,lora", "--cv", "1"]


def c_sweep_of_a_one_fold_recipe(ctx: Ctx) -> list[str]:
    return ["sweep", str(_recipe(ctx)), "--grid", "method.name=full,lora", "--cv.folds=3", "--cv.fold=1"]


def c_resume_with_other_folds(ctx: Ctx) -> list[str]:
    """A 3-fold CV directory (its config.yaml), resumed as a 4-fold CV."""
    recipe = _recipe(ctx)
    ctx.run_dir.mkdir()
    save_config(load_config(recipe, ["--cv.folds=3"]), ctx.run_dir / "config.yaml")
    (ctx.run_dir / ".incomplete").touch()
    return _train(ctx, recipe, "--cv", "4", "--resume")


def _finished_cv(ctx: Ctx) -> None:
    """A finished CV directory with cv.final: ensemble (its files, no model/)."""
    recipe = _recipe(ctx)
    ctx.run_dir.mkdir()
    save_config(load_config(recipe, ["--cv.folds=2"]), ctx.run_dir / "config.yaml")
    for name in ("eval_results.json", "cv_results.json"):
        (ctx.run_dir / name).write_text(json.dumps({"task": "text-classification", "metrics": {}}))
    for fold in range(2):
        (ctx.run_dir / f"fold-{fold}").mkdir()


def c_export_a_fold_ensemble_without_fold_models(ctx: Ctx) -> list[str]:
    """A CV directory whose fold folders hold no model: the fold named (a whole ensemble exports as one graph)."""
    _finished_cv(ctx)
    return ["export", str(ctx.run_dir), "--format", "onnx", "--out", str(ctx.tmp / "onnx")]


def c_push_a_cv_with_an_unfinished_fold(ctx: Ctx) -> list[str]:
    """A CV directory whose fold folders hold no finished run: refused before anything is uploaded."""
    _finished_cv(ctx)
    return ["push", str(ctx.run_dir), "--repo-id", "someone/cv"]


def c_evaluate_a_cv_on_validation(ctx: Ctx) -> list[str]:
    """The folds trained on the validation rows: no held-out validation split to score."""
    _finished_cv(ctx)
    return ["evaluate", str(ctx.run_dir), "--split", "validation"]


def c_evaluate_a_cv_on_train(ctx: Ctx) -> list[str]:
    _finished_cv(ctx)
    return ["evaluate", str(ctx.run_dir), "--split", "train"]


CASES = [
    Case("cv-one-fold", c_one_fold, ("cv.folds", "1", "2 or more"), subprocess=True),
    Case("cv-more-folds-than-rarest-class", c_more_folds_than_the_rarest_class, ("cv.folds 40", "class", "use at most")),
    Case("cv-fold-without-folds", c_fold_without_folds, ("cv.fold: 1", "needs `cv.folds`")),
    Case("cv-fold-out-of-range", c_fold_out_of_range, ("cv.fold: 3", "below `cv.folds: 3`")),
    Case("cv-unknown-final", c_unknown_final, ("cv.final", "'stack'", "ensemble", "refit")),
    Case("cv-with-processes", c_cv_with_processes, ("Cross-validation", "--num-processes", "--cv.fold")),
    Case("workers-without-cv", c_workers_without_cv, ("--workers 2", "cross-validation", "--cv K")),
    Case("cv-with-no-workers", c_cv_with_no_workers, ("--workers 0", "1 or more")),
    Case("cv-of-the-baseline-method", c_cv_of_the_baseline_method, ("method.name: baseline", "not supported")),
    Case("sweep-with-one-fold", c_sweep_with_one_fold, ("cv.folds", "1", "2 or more")),
    Case("sweep-of-a-one-fold-recipe", c_sweep_of_a_one_fold_recipe, ("cv.fold: 1", "one fold", "--cv K")),
    Case("export-a-fold-ensemble-without-fold-models", c_export_a_fold_ensemble_without_fold_models, ("fold-0", "no model/ or config.json"), existing=True),
    Case("push-a-cv-with-an-unfinished-fold", c_push_a_cv_with_an_unfinished_fold, ("fold-0", "no eval_results.json", "finished"), existing=True),
    Case("evaluate-a-cv-on-validation", c_evaluate_a_cv_on_validation, ("--split validation", "cross-validation", "no held-out validation split", "cv_results.json", "oof_predictions.csv"), existing=True),
    Case("evaluate-a-cv-on-train", c_evaluate_a_cv_on_train, ("--split train", "no held-out train split", "--split test"), existing=True),
    Case("cv-resume-with-other-folds", c_resume_with_other_folds, ("--resume", "cv.folds 3", "same recipe"), existing=True),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_cv_input_is_one_line_exit_2(
    case: Case, tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    table.run_case(case, Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch), capsys)

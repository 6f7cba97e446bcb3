"""Bad inputs that could lose or corrupt a user's files (issue 17, items 1-5): `--overwrite` that fails,
`--resume` on a folder that is not a run, output paths of the wrong kind, read-only folders, a full disk,
corrupted run directories. The same table machinery as `tests/test_bad_inputs.py` (`Case`, `run_case`):
one line, exit 2, and the run directory (or the user's file at its place) byte-identical."""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from fieldtune.cli import main
from tests import test_bad_inputs as table
from tests.helpers import write_demand_csv
from tests.test_bad_inputs import Case, Ctx, _fake_run, _plain_folder, _recipe, _snapshot, _train

tiny_vit = table.tiny_vit  # module fixtures, found by name


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory: pytest.TempPathFactory, tiny_bert: Path) -> Path:
    """The tiny BERT with an untrained 3-class head (the demand levels): a model folder predict can use."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    folder = tmp_path_factory.mktemp("tiny-classifier")
    labels = ["low", "medium", "high"]
    config = BertConfig.from_pretrained(tiny_bert, num_labels=3, id2label=dict(enumerate(labels)))
    config.label2id = {name: i for i, name in enumerate(labels)}
    torch.manual_seed(0)
    BertForSequenceClassification(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(folder)
    return folder


def _classifier(ctx: Ctx) -> Path:
    return ctx.request.getfixturevalue("tiny_classifier")


def _real_run(ctx: Ctx) -> Path:
    """A finished run directory with a loadable model (the tiny classifier), shaped like training writes it."""
    orders = write_demand_csv(ctx.tmp / "orders.csv", n=30)
    shutil.copytree(_classifier(ctx), ctx.run_dir / "model")
    config = {
        "task": "text-classification",
        "model": {"name_or_path": str(ctx.bert)},
        "data": {"path": str(orders), "text_columns": ["note"], "label_column": "demand_level"},
    }
    (ctx.run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    (ctx.run_dir / "eval_results.json").write_text(json.dumps({"task": "text-classification"}))
    return ctx.run_dir


def _missing_packages(ctx: Ctx, *modules: str) -> None:
    """Make `modules` look uninstalled to the preflight (they may be installed on a developer's machine)."""
    import fieldtune.config.packages

    real = fieldtune.config.packages._installed
    ctx.monkeypatch.setattr(fieldtune.config.packages, "_installed", lambda m: m not in modules and real(m))


def _disk_full(ctx: Ctx) -> None:
    """Every fsync (the last step of each atomic write) fails as on a full disk."""

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    ctx.monkeypatch.setattr(os, "fsync", full)


def _read_only(ctx: Ctx, folder: Path) -> None:
    """`folder` is not writable (simulated: the tests run as root, who may write anywhere)."""
    import fieldtune.rundir.layout

    real = fieldtune.rundir.layout._writable
    ctx.monkeypatch.setattr(
        fieldtune.rundir.layout, "_writable", lambda f: Path(f).absolute() != folder.absolute() and real(f)
    )


# --------------------------------------------------------------------------- 1. --overwrite that fails


def s_overwrite_optim_missing(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    _missing_packages(ctx, "bitsandbytes")
    return _train(ctx, None, "--overwrite", "--training.optim=adamw_bnb_8bit")


def s_overwrite_report_to_missing(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    _missing_packages(ctx, "wandb")
    return _train(ctx, None, "--overwrite", "--training.report_to=[wandb]")


def s_overwrite_disk_full(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    _disk_full(ctx)  # the new run fails at its first write (config.yaml), after the old one was moved aside
    return _train(ctx, None, "--overwrite")


def s_overwrite_fails_in_training(ctx: Ctx) -> list[str]:
    from transformers import Trainer

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", "checkpoints")

    _fake_run(ctx.run_dir)
    ctx.monkeypatch.setattr(Trainer, "training_step", full)  # after the Trainer started, before a checkpoint
    return _train(ctx, None, "--overwrite")


# --------------------------------------------------------------------------- 2. --resume on a non-run


def s_resume_non_run_folder(ctx: Ctx) -> list[str]:
    _plain_folder(ctx.run_dir)
    (ctx.run_dir / "README.md").write_text("# my notes\n")
    return _train(ctx, None, "--resume")


def s_resume_empty_folder(ctx: Ctx) -> list[str]:
    ctx.run_dir.mkdir()
    return _train(ctx, None, "--resume")


# --------------------------------------------------------------------------- 4. file-system failures


def s_output_dir_is_file(ctx: Ctx) -> list[str]:
    ctx.run_dir.write_text("a file where the run would go\n")
    return _train(ctx)


def s_output_dir_parent_is_file(ctx: Ctx) -> list[str]:
    ctx.run_dir.write_text("a file where a folder is needed\n")
    return ["train", str(_recipe(ctx)), "--output-dir", str(ctx.run_dir / "sub")]


def s_output_dir_read_only(ctx: Ctx) -> list[str]:
    _read_only(ctx, ctx.tmp)
    return _train(ctx)


def s_overwrite_read_only_parent(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    _read_only(ctx, ctx.tmp)  # the old run could be neither moved aside nor replaced
    return _train(ctx, None, "--overwrite")


def s_predict_output_is_folder(ctx: Ctx) -> list[str]:
    _plain_folder(ctx.run_dir)
    return ["predict", str(_classifier(ctx)), "--input", "two pallets", "--output", str(ctx.run_dir)]


def s_predict_output_parent_is_file(ctx: Ctx) -> list[str]:
    ctx.run_dir.write_text("not a folder\n")
    out = ctx.run_dir / "preds.csv"
    return ["predict", str(_classifier(ctx)), "--input", "two pallets", "--output", str(out)]


def s_predict_output_read_only(ctx: Ctx) -> list[str]:
    _plain_folder(ctx.run_dir)
    _read_only(ctx, ctx.run_dir)
    out = ctx.run_dir / "preds.csv"
    return ["predict", str(_classifier(ctx)), "--input", "two pallets", "--output", str(out)]


def s_predict_output_disk_full(ctx: Ctx) -> list[str]:
    _plain_folder(ctx.run_dir)  # must hold no half-written predictions afterwards
    _disk_full(ctx)
    out = ctx.run_dir / "preds.csv"
    return ["predict", str(_classifier(ctx)), "--input", "two pallets", "--output", str(out)]


def s_evaluate_output_is_folder(ctx: Ctx) -> list[str]:
    _real_run(ctx)
    return ["evaluate", str(ctx.run_dir), "--output", str(ctx.run_dir / "model")]


def s_evaluate_output_disk_full(ctx: Ctx) -> list[str]:
    _real_run(ctx)
    _disk_full(ctx)
    return ["evaluate", str(ctx.run_dir), "--output", str(ctx.run_dir / "new_results.json")]


def s_evaluate_output_is_data(ctx: Ctx) -> list[str]:
    _real_run(ctx)
    data = shutil.copy(ctx.tmp / "orders.csv", ctx.run_dir / "new_orders.csv")
    return ["evaluate", str(ctx.run_dir), "--data", str(data), "--output", str(data), "--overwrite"]


def s_evaluate_output_exists(ctx: Ctx) -> list[str]:
    _real_run(ctx)
    (ctx.run_dir / "my_results.json").write_text('{"accuracy": 0.9, "note": "last quarter"}\n')
    return ["evaluate", str(ctx.run_dir), "--output", str(ctx.run_dir / "my_results.json")]


def s_evaluate_overwrite_without_output(ctx: Ctx) -> list[str]:
    _real_run(ctx)
    return ["evaluate", str(ctx.run_dir), "--overwrite"]


def s_evaluate_run_with_relative_data(ctx: Ctx) -> list[str]:
    """A run made before data paths were recorded absolute, evaluated from another folder (issue 33)."""
    _real_run(ctx)
    config = yaml.safe_load((ctx.run_dir / "config.yaml").read_text())
    config["data"]["path"] = "notes/orders.csv"  # relative to where it was trained, not to ctx.tmp
    (ctx.run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    return ["evaluate", str(ctx.run_dir)]


def s_export_out_is_file(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    return ["export", str(ctx.run_dir), "--merge", "--out", str(ctx.run_dir / "README.md")]


def s_export_out_parent_is_file(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    return ["export", str(ctx.run_dir), "--merge", "--out", str(ctx.run_dir / "README.md" / "merged")]


def s_pull_out_is_file(ctx: Ctx) -> list[str]:
    ctx.run_dir.write_text("a file\n")
    return ["pull", "field-org/demand-bert", "--out", str(ctx.run_dir)]


def s_leaderboard_output_is_file(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    return ["leaderboard", str(ctx.run_dir), "--output", str(ctx.run_dir / "README.md")]


def s_leaderboard_output_holds_a_board(ctx: Ctx) -> list[str]:
    from tests.leaderboard.conftest import eval_results

    _fake_run(ctx.run_dir)
    (ctx.run_dir / "eval_results.json").write_text(json.dumps(eval_results("tiny")))  # a board would be drawn
    (ctx.run_dir / "boards").mkdir()
    (ctx.run_dir / "boards" / "leaderboard.md").write_text("# our hand-made board\n")
    return ["leaderboard", str(ctx.run_dir), "--output", str(ctx.run_dir / "boards")]


def s_data_out_parent_is_file(ctx: Ctx) -> list[str]:
    ctx.run_dir.write_text("a file\n")
    return ["data", "logistics_demand", "--out", str(ctx.run_dir / "orders.csv")]


def s_data_out_read_only(ctx: Ctx) -> list[str]:
    _plain_folder(ctx.run_dir)
    _read_only(ctx, ctx.run_dir)
    return ["data", "geology_images", "--out", str(ctx.run_dir / "rocks"), "--num-samples", "8"]


# --------------------------------------------------------------------------- 5. corrupted run directories


def s_evaluate_config_not_yaml(ctx: Ctx) -> list[str]:
    _real_run(ctx)
    (ctx.run_dir / "config.yaml").write_text("data: [path: x\n")
    return ["evaluate", str(ctx.run_dir)]


def s_predict_config_not_utf8(ctx: Ctx) -> list[str]:
    _real_run(ctx)
    (ctx.run_dir / "config.yaml").write_bytes(b"data: {text_columns: [\xff\xfe]}\n")
    return ["predict", str(ctx.run_dir), "--input", "two pallets"]


def s_evaluate_config_not_a_mapping(ctx: Ctx) -> list[str]:
    _real_run(ctx)
    (ctx.run_dir / "config.yaml").write_text("- just\n- a list\n")
    return ["evaluate", str(ctx.run_dir)]


def s_push_eval_results_not_a_mapping(ctx: Ctx) -> list[str]:
    _fake_run(ctx.run_dir)
    (ctx.run_dir / "eval_results.json").write_text("[1, 2]\n")
    return ["push", str(ctx.run_dir), "--repo-id", "field-org/demand-bert"]


def s_truncated_weights(ctx: Ctx) -> list[str]:
    _real_run(ctx)
    weights = ctx.run_dir / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:2000])
    return ["predict", str(ctx.run_dir), "--input", "two pallets"]


def s_corrupted_backbone(ctx: Ctx) -> list[str]:
    backbone = ctx.tmp / "broken-bert"
    shutil.copytree(ctx.bert, backbone)
    (backbone / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{not json")
    return _train(ctx, None, f"--model.name_or_path={backbone}")


def s_model_config_not_json(ctx: Ctx) -> list[str]:
    backbone = ctx.tmp / "broken-bert"
    shutil.copytree(ctx.bert, backbone)
    (backbone / "config.json").write_text('{"model_type": "bert",')
    return _train(ctx, None, f"--model.name_or_path={backbone}")


CASES = [
    # 1. --overwrite: the old run stays byte-identical when the new one cannot start
    Case("overwrite-optim-package-missing", s_overwrite_optim_missing, ("training.optim", "bitsandbytes", "pip install bitsandbytes"), existing=True),
    Case("overwrite-report-to-package-missing", s_overwrite_report_to_missing, ("training.report_to", "wandb", "pip install wandb"), existing=True),
    Case("overwrite-disk-full", s_overwrite_disk_full, ("config.yaml", "disk is full", "free some space"), existing=True),
    Case("overwrite-fails-in-training", s_overwrite_fails_in_training, ("checkpoints", "disk is full"), existing=True),
    Case("overwrite-read-only-parent", s_overwrite_read_only_parent, ("not writable", "choose a location"), existing=True),
    # 2. --resume on a folder that is not a run
    Case("resume-non-run-folder", s_resume_non_run_folder, ("--resume", "not a fieldtune run directory", "config.yaml"), existing=True, subprocess=True),
    Case("resume-empty-folder", s_resume_empty_folder, ("--resume", "not a fieldtune run directory", "config.yaml")),
    # 4. file-system failures
    Case("output-dir-is-file", s_output_dir_is_file, ("run", "is a file", "folder"), existing=True, subprocess=True),
    Case("output-dir-parent-is-file", s_output_dir_parent_is_file, ("run/sub", "is a file, not a folder"), existing=True),
    Case("output-dir-read-only", s_output_dir_read_only, ("not writable", "choose a location")),
    Case("predict-output-is-folder", s_predict_output_is_folder, ("--output", "is a folder", "file"), existing=True),
    Case("predict-output-parent-is-file", s_predict_output_parent_is_file, ("--output", "is a file, not a folder"), existing=True),
    Case("predict-output-read-only", s_predict_output_read_only, ("--output", "not writable"), existing=True),
    Case("predict-output-disk-full", s_predict_output_disk_full, ("preds.csv", "disk is full"), existing=True),
    Case("evaluate-run-with-relative-data", s_evaluate_run_with_relative_data, ("notes/orders.csv", "relative", "--data"), existing=True),
    Case("evaluate-output-is-folder", s_evaluate_output_is_folder, ("--output", "is a folder", "file"), existing=True),
    Case("evaluate-output-disk-full", s_evaluate_output_disk_full, ("new_results.json", "disk is full"), existing=True),
    Case("evaluate-output-is-data", s_evaluate_output_is_data, ("--output", "new_orders.csv", "is the input the command reads", "another file"), existing=True),
    Case("evaluate-output-exists", s_evaluate_output_exists, ("--output", "my_results.json", "already exists", "--overwrite"), existing=True),
    Case("evaluate-overwrite-without-output", s_evaluate_overwrite_without_output, ("--overwrite", "--output FILE.json"), existing=True),
    Case("export-out-is-file", s_export_out_is_file, ("--out", "README.md", "is a file"), existing=True),
    Case("export-out-parent-is-file", s_export_out_parent_is_file, ("--out", "is a file, not a folder"), existing=True),
    Case("pull-out-is-file", s_pull_out_is_file, ("--out", "is a file", "folder"), existing=True),
    Case("leaderboard-output-is-file", s_leaderboard_output_is_file, ("--output", "README.md", "is a file"), existing=True),
    Case("leaderboard-output-holds-a-board", s_leaderboard_output_holds_a_board, ("--output", "leaderboard.md", "--overwrite"), existing=True),
    Case("data-out-parent-is-file", s_data_out_parent_is_file, ("--out", "is a file, not a folder"), existing=True),
    Case("data-out-read-only", s_data_out_read_only, ("--out", "not writable"), existing=True),
    # 5. corrupted run directories and backbones
    Case("evaluate-config-not-yaml", s_evaluate_config_not_yaml, ("run/config.yaml", "not valid YAML"), existing=True),
    Case("predict-config-not-utf8", s_predict_config_not_utf8, ("run/config.yaml", "UTF-8"), existing=True),
    Case("evaluate-config-not-a-mapping", s_evaluate_config_not_a_mapping, ("run/config.yaml", "mapping"), existing=True),
    Case("push-eval-results-not-a-mapping", s_push_eval_results_not_a_mapping, ("run/eval_results.json", "not a fieldtune results file"), existing=True),
    Case("truncated-weights", s_truncated_weights, ("run/model/model.safetensors", "re-train or re-download"), existing=True),
    Case("corrupted-backbone", s_corrupted_backbone, ("broken-bert/model.safetensors", "re-download")),
    Case("model-config-not-json", s_model_config_not_json, ("broken-bert/config.json", "fix or re-download")),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_file_safety_is_one_line_exit_2(
    case: Case, tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    table.run_case(case, Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch), capsys)


def test_failed_overwrite_restores_the_old_run_and_a_good_one_replaces_it(
    tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    """A real finished run; an overwrite interrupted mid-training gives it back byte-identical, with no
    temp folder left beside it; then an overwrite that finishes replaces it, again leaving nothing beside."""
    from transformers import Trainer

    monkeypatch.chdir(tmp_path)
    ctx = Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch)
    recipe = _recipe(ctx)
    assert main(_train(ctx, recipe)) == 0
    before = _snapshot(ctx.run_dir)
    siblings = sorted(p.name for p in tmp_path.iterdir())

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(Trainer, "training_step", interrupted)
        assert main(_train(ctx, recipe, "--overwrite", "--training.seed=7")) == 130
    assert _snapshot(ctx.run_dir) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == siblings

    assert main(_train(ctx, recipe, "--overwrite", "--training.seed=7")) == 0
    assert yaml.safe_load((ctx.run_dir / "config.yaml").read_text())["training"]["seed"] == 7
    assert not (ctx.run_dir / ".incomplete").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == siblings  # the replaced run is gone


def test_leaderboard_overwrite_replaces_the_board(tmp_path, tiny_bert, tiny_vit, request, monkeypatch):
    ctx = Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch)
    argv = s_leaderboard_output_holds_a_board(ctx)
    assert main([*argv, "--overwrite"]) == 0
    assert "tiny" in (ctx.run_dir / "boards" / "leaderboard.md").read_text()


def test_tilde_in_an_output_flag_is_the_home_folder(tmp_path, tiny_bert, tiny_vit, request, monkeypatch):
    """`--output=~/preds.csv` (no shell expands a `~` after `=`) writes into the home folder; it created a
    folder named `~` in the working directory."""
    ctx = Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch)
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    assert main(["predict", str(_classifier(ctx)), "--text", "two pallets", "--output=~/preds.csv"]) == 0
    assert main(["data", "logistics_demand", "--out", "~/data/orders.csv", "--num-samples", "20"]) == 0
    assert sorted(p.relative_to(tmp_path).as_posix() for p in (tmp_path / "home").rglob("*.csv")) == [
        "home/data/orders.csv",
        "home/preds.csv",
    ]
    assert not (tmp_path / "~").exists()


def test_predict_output_in_a_new_folder(tmp_path, tiny_bert, tiny_vit, request, monkeypatch):
    """`--output new/sub/preds.csv` makes its folders (it failed after the model loaded, although the check
    before had let it through); a prediction that fails before its first row leaves no folder behind."""
    import fieldtune.inference.batch_predict as batch_predict

    ctx = Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch)
    predict = ["predict", str(_classifier(ctx)), "--text", "two pallets", "--output"]
    assert main([*predict, str(tmp_path / "new" / "sub" / "preds.csv")]) == 0
    assert (tmp_path / "new" / "sub" / "preds.csv").read_text().startswith("text,label,score\n")

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(batch_predict, "batch_logits", full)
    assert main([*predict, str(tmp_path / "other" / "sub" / "preds.csv")]) == 2
    assert not (tmp_path / "other").exists()

"""The command line: one-line errors with exit code 2 and no traceback; --debug shows it; recipes validate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fieldtune.cli import main
from fieldtune.config import load_config

REPO = Path(__file__).resolve().parents[1]
RECIPES = sorted(
    (REPO / "configs").glob("[!ab]*/*.yaml")
)  # accelerate/ and benchmarks/ hold other kinds of YAML


def test_user_error_is_one_line_exit_2_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: text-classification\nmodel: {name_or_path: x}\ntraining: {learnin_rate: 0.1}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "fieldtune", "train", str(bad)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0, proc.stderr
    assert "Traceback" not in proc.stderr and "learning_rate" in proc.stderr
    debug = subprocess.run(
        [sys.executable, "-m", "fieldtune", "--debug", "train", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert debug.returncode != 0 and "Traceback" in debug.stderr


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["train", "missing.yaml"], "does not exist"),
        (["evaluate", "no/such/run/dir"], "does not exist"),
        (["predict", "nowhere", "--input", "x"], "does not exist"),
        (["export", "nowhere", "--out", "o"], "--merge"),
        (["push", "nowhere", "--repo-id", "not a repo"], "repo"),
        (["leaderboard"], "run directories"),
        (["frobnicate"], "invalid choice"),
        (["train"], "required"),
    ],
)
def test_error_messages(argv, match, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert match in err and err.count("\n") == 1, err


def test_missing_model_path_is_one_line(tmp_path, capsys, demand_csv):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"task: text-classification\nmodel: {{name_or_path: ./no-such-model}}\ndata: {{path: {demand_csv}, text_columns: [note], label_column: demand_level}}\n"
    )
    assert main(["train", str(cfg), "--output-dir", str(tmp_path / "run")]) == 2
    assert "no-such-model" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # nothing half-written


def test_wrong_model_type_for_task(tmp_path, capsys, demand_csv):
    from transformers import ViTConfig, ViTModel

    vit = tmp_path / "vit"
    ViTModel(
        ViTConfig(
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=16,
            image_size=32,
            patch_size=8,
        )
    ).save_pretrained(vit)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"task: text-classification\nmodel: {{name_or_path: {vit}}}\ndata: {{path: {demand_csv}, text_columns: [note], label_column: demand_level}}\n"
    )
    assert main(["train", str(cfg), "--output-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "cannot" in err.lower() or "tokenizer" in err.lower()
    assert not (tmp_path / "run").exists()


def test_lora_target_that_does_not_exist(tiny_bert, tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"task: text-classification\nmodel: {{name_or_path: {tiny_bert}}}\ndata: {{builder: logistics_demand, num_samples: 60}}\nmethod: {{name: lora, target_modules: [q_proj]}}\n"
    )
    assert main(["train", str(cfg), "--output-dir", str(tmp_path / "run")]) == 2
    assert "q_proj" in capsys.readouterr().err


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_recipe_validates(recipe):
    config = load_config(recipe)
    assert config.model.name_or_path and config.name == recipe.stem


@pytest.fixture(scope="module")
def tiny_backbones(tmp_path_factory):
    from tests.test_train_vision import tiny_vision

    return {f: tiny_vision(tmp_path_factory.mktemp(f), f) for f in ("vit", "resnet")}


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory):
    from fieldtune.datasets_builders.geology_images import generate_geology_images

    return generate_geology_images(tmp_path_factory.mktemp("photos") / "rocks", 48, seed=1)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_recipe_runs_on_a_tiny_model(
    recipe, tiny_bert, tiny_cjk_bert, tiny_backbones, hs_table, photo_folder, tmp_path
):
    """Each shipped recipe, its backbone swapped for a tiny one of the same family and its data for
    generated data of the same shape, trains two steps and writes a run."""
    from fieldtune.tasks.table import get_task
    from fieldtune.training.run import run

    config = load_config(recipe)
    if get_task(config.task).modality == "image":
        family = "resnet" if "resnet" in config.model.name_or_path else "vit"
        overrides = [f"--model.name_or_path={tiny_backbones[family]}", "--data.image_size=32"]
        if config.data.path:
            overrides.append(f"--data.path={photo_folder}")
    elif recipe.stem.endswith("_zh") or config.data.language == "zh":  # Chinese: a character vocabulary
        from tests.helpers_zh import make_hs_table_zh

        overrides = [f"--model.name_or_path={tiny_cjk_bert}"]
        if config.data.builder == "hs_codes":
            overrides.append(f"--data.path={make_hs_table_zh(tmp_path / 'hs_zh')}")
    else:
        # the tiny BERT's word vocabulary is the plain demand notes' (a real model's has the goods and handling
        # words): its coverage check would stop on HS descriptions and tagged notes
        overrides = [f"--model.name_or_path={tiny_bert}", "--data.allow_unknown_tokens=true"]
        if config.data.builder == "hs_codes":
            overrides.append(f"--data.path={hs_table}")
    overrides += ["--training.max_steps=2", "--data.num_samples=64", "--method.probe_epochs=1"]
    config = load_config(recipe, overrides)
    result = run(config, output_dir=tmp_path / recipe.stem)
    assert (result.run_dir / "eval_results.json").is_file()


def test_help_names_every_command_in_full_and_the_override_syntax(capsys):
    """`fieldtune --help` cut the export line mid-sentence (no ONNX); `train --help` never said how to
    override a recipe key (issue 33)."""
    from fieldtune.cli import build_parser

    text = " ".join(build_parser().format_help().split())
    export = text.split(" export ", 1)[1].split(" push ", 1)[0]
    assert "--format onnx" in export and not export.rstrip().endswith(","), export
    for command in ("train", "baseline", "sweep", "demo"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--section.key=value" in " ".join(capsys.readouterr().out.split()), command

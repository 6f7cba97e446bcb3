"""A recipe mistake is reported before torch or transformers is imported (seconds, not a model load)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Runs the CLI in a fresh interpreter, then reports which heavy libraries it had imported by the error.
PROBE = """
import sys
from fieldtune.cli import main
rc = main(sys.argv[1:])
heavy = [m for m in ("torch", "transformers", "datasets", "pandas") if m in sys.modules]
print("IMPORTED=" + ",".join(heavy))
sys.exit(rc)
"""


def _cli(tmp_path: Path, recipe: str) -> subprocess.CompletedProcess:
    path = tmp_path / "bad.yaml"
    path.write_text(recipe)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-c", PROBE, "train", str(path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )


def test_misspelt_training_key_fails_before_torch_is_imported(tmp_path):
    proc = _cli(
        tmp_path,
        "task: text-classification\nmodel: {name_or_path: bert-base-uncased}\n"
        "training: {num_train_epoch: 2}\n",
    )
    assert proc.returncode == 2, proc.stderr
    assert "`training.num_train_epoch`; did you mean `num_train_epochs`?" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert (
        proc.stdout.strip().splitlines()[-1] == "IMPORTED="
    )  # none of torch, transformers, datasets, pandas


def test_valid_pass_through_key_and_yaml_no_are_read_without_torch(tmp_path):
    # `save_strategy: no` (YAML False) is a string field: read as "no" from the source, not from the class;
    # the run then fails on the model, after validation, which is the first step that may load torch.
    proc = _cli(
        tmp_path,
        "task: text-classification\nmodel: {name_or_path: bert-base-uncased}\n"
        "training: {save_strategy: no, max_grad_norm: 1.0}\nmethod: {name: nope}\n",
    )
    assert proc.returncode == 2 and "`method.name`" in proc.stderr, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "IMPORTED="


def test_training_fields_read_from_source_match_the_dataclass():
    from fieldtune.config.training_fields import _from_class, training_fields

    assert training_fields() == _from_class()
    assert training_fields()["save_strategy"].string_default
    assert not training_fields()["max_grad_norm"].string_default


# Loads a recipe and runs the preflight in a fresh interpreter; prints the heavy libraries it had imported.
PREFLIGHT_PROBE = """
import sys
from pathlib import Path
from fieldtune.config import load_config
from fieldtune.training.preflight import preflight
import fieldtune.modeling.checkpoint
config = load_config(sys.argv[1])
preflight(config, Path(sys.argv[2]), model=False)
print("IMPORTED=" + ",".join(m for m in ("torch", "datasets") if m in sys.modules))
"""


def test_config_loading_and_the_preflight_do_not_import_torch(tmp_path):
    # the model folder is plain JSON files: this test process never builds a model either
    model = tmp_path / "tiny_bert"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "bert", "max_position_embeddings": 128}')
    (model / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nore\n")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(
        f"task: text-classification\nmodel: {{name_or_path: {model}, max_length: 64}}\n"
        "data: {builder: logistics_demand, num_samples: 60}\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", PREFLIGHT_PROBE, str(recipe), str(tmp_path / "run")],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "IMPORTED="  # neither torch nor datasets

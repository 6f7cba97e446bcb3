"""Batch prediction that scales (issue 14): memory flat in the input size, an interrupted prediction resumes
to exactly the rows of an uninterrupted one, undecodable images become rows with an `error`, and image
decoding in worker processes keeps the input order. ONNX-vs-PyTorch predict parity: tests/test_onnx_export.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fieldtune.cli import main
from fieldtune.inference import batch_predict, predict_output
from tests import test_bad_inputs_files as files

tiny_classifier = files.tiny_classifier  # a module fixture, found by name: the 3-class text model
REPO = Path(__file__).resolve().parents[1]
LABELS = ["low", "medium", "high"]


@pytest.fixture(scope="module")
def image_model(tmp_path_factory) -> Path:
    """A tiny ViT reading 64x64 inputs: a decoded image is 48 KiB of float pixels, 2,000 of them 96 MiB."""
    import torch
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessor

    folder = tmp_path_factory.mktemp("image-model")
    torch.manual_seed(0)
    config = ViTConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, image_size=64,
        patch_size=16, num_labels=3, id2label=dict(enumerate(LABELS)), label2id={n: i for i, n in enumerate(LABELS)},
    )  # fmt: skip
    ViTForImageClassification(config).save_pretrained(folder)
    ViTImageProcessor(size={"height": 64, "width": 64}).save_pretrained(folder)
    return folder


def _table(path: Path, n: int, wide: int = 0) -> Path:
    """`n` orders; `wide` characters of other columns per row (what a load-everything reader would hold)."""
    rng = np.random.default_rng(n)
    words = np.array(["pallets", "cement", "frozen", "fish", "urgent", "dock", "water", "steel", "rice"])
    texts = [f"{i} " + " ".join(rng.choice(words, 4)) for i in range(n)]
    frame = pd.DataFrame({"order_id": range(n), "text": texts})
    if wide:
        frame["remarks"] = ["x" * wide] * n
    frame.to_csv(path, index=False)
    return path


def _images(folder: Path, n: int, broken: tuple[int, ...] = ()) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for i in range(n):
        sub = folder / f"batch{i % 3}"
        sub.mkdir(parents=True, exist_ok=True)
        if i in broken:
            (sub / f"img{i:05d}.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
        else:
            Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)).save(sub / f"img{i:05d}.png")
    return folder


def _driver(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "tests.predict_driver", *args], capture_output=True, text=True,
                          timeout=300, cwd=REPO, env=env)  # fmt: skip


@pytest.mark.slow
def test_memory_is_flat_in_the_input_size(tiny_classifier, image_model, tmp_path):
    """Peak RSS after 20,000 rows (20 MiB of CSV) / 2,000 images stays within a few MiB of the peak after
    2,000 rows / 200 images. Reading the whole table, as predict did before, grew it by 193 MiB here;
    decoding every image first would hold 96 MiB of pixels."""
    runs = [
        tiny_classifier, _table(tmp_path / "small.csv", 2_000, 1_000), _table(tmp_path / "large.csv", 20_000, 1_000),
        image_model, _images(tmp_path / "few", 200), _images(tmp_path / "many", 2_000),
    ]  # fmt: skip
    proc = _driver("rss", str(tmp_path), *map(str, runs))
    assert proc.returncode == 0, proc.stderr
    peaks = json.loads(proc.stdout.splitlines()[-1])
    for kind, unit in (("0", "row/s"), ("1", "img/s")):
        small, large = peaks[f"{kind}-small"], peaks[f"{kind}-large"]
        assert large["rows"] == 10 * small["rows"]
        growth_mib = (large["peak_kib"] - small["peak_kib"]) / 1024
        assert growth_mib < 16, f"{unit}: peak RSS grew {growth_mib:.0f} MiB from 10x the input"
        assert (
            f"Predicting: {large['rows']}/{large['rows']}" in proc.stderr and unit in proc.stderr
        )  # rate, ETA
    assert len(pd.read_csv(tmp_path / "0-large.csv")) == 20_000


@pytest.mark.slow
def test_killed_prediction_resumes_to_the_same_rows(tiny_classifier, tmp_path):
    source = _table(tmp_path / "orders.csv", 600)
    whole = tmp_path / "whole.csv"
    assert main(["predict", str(tiny_classifier), "--input", str(source), "--output", str(whole)]) == 0
    out = tmp_path / "preds.csv"
    proc = _driver("torn:230", str(tiny_classifier), str(source), str(out))
    assert proc.returncode == -9, proc.stderr  # SIGKILL, half-way through writing a batch
    partial, checkpoint = predict_output.partial_of(out), predict_output.checkpoint_of(out)
    assert not out.exists() and partial.is_file()
    state = json.loads(checkpoint.read_text())
    assert state["rows"] == 200 and partial.stat().st_size > state["bytes"]  # rows past the checkpoint, torn
    assert not partial.read_bytes().endswith(b"\n")
    assert (
        main(["predict", str(tiny_classifier), "--input", str(source), "--output", str(out), "--resume"]) == 0
    )
    assert out.read_bytes() == whole.read_bytes()
    assert not partial.exists() and not checkpoint.exists()


def test_interrupted_image_prediction_resumes_with_errors_in_rows(image_model, tmp_path, monkeypatch):
    """Ctrl-C after two committed chunks keeps them; --resume finishes the file exactly as one run does; a
    file that is not an image is a row with an `error` and empty predictions, in JSONL as in CSV."""
    folder = _images(tmp_path / "photos", 40, broken=(7, 33))
    whole = tmp_path / "whole.jsonl"
    assert (
        main(
            ["predict", str(image_model), "--input", str(folder), "--output", str(whole), "--batch-size", "8"]
        )
        == 0
    )
    rows = [json.loads(line) for line in whole.read_text().splitlines()]
    assert len(rows) == 40 and list(rows[0]) == ["file", "label", "score", "error"]
    bad = [r for r in rows if r["error"]]
    assert sorted(Path(r["file"]).name for r in bad) == ["img00007.png", "img00033.png"]
    assert all(r["label"] is None and r["score"] is None and "cannot decode" in r["error"] for r in bad)
    assert [r["file"] for r in rows] == sorted(r["file"] for r in rows)

    out = tmp_path / "preds.jsonl"
    commits = []
    real_commit = predict_output.PredictionFile.commit

    def commit(self):
        real_commit(self)
        commits.append(self.rows)
        if len(commits) == 2:
            raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(predict_output.PredictionFile, "commit", commit)
        m.setattr(
            batch_predict.PredictRequest, "__init__", _small_chunks(batch_predict.PredictRequest.__init__)
        )
        with pytest.raises(KeyboardInterrupt):
            batch_predict.predict(
                batch_predict.PredictRequest(str(image_model), input=str(folder), output=out, batch_size=8)
            )
    assert commits == [16, 32] and not out.exists()
    argv = ["predict", str(image_model), "--input", str(folder), "--output", str(out), "--batch-size", "8"]
    assert main([*argv, "--resume", "--num-workers", "2"]) == 0  # workers hand batches back in input order
    assert out.read_bytes() == whole.read_bytes()


def _small_chunks(init):
    def small(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.chunk_size = 16

    return small


def test_stdout_and_text_inputs(tiny_classifier, tmp_path, capsys):
    """No --output: the same CSV on stdout; a .txt and a JSONL table stream like a CSV."""
    (tmp_path / "notes.txt").write_text("2 pallets of cement\n\n5 crates of fish\n")
    pd.DataFrame({"text": ["2 pallets of cement", "5 crates of fish"]}).to_json(
        tmp_path / "notes.jsonl", orient="records", lines=True
    )
    outputs = []
    for name in ("notes.txt", "notes.jsonl"):
        assert main(["predict", str(tiny_classifier), "--input", str(tmp_path / name), "--top-k", "2"]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    frame = pd.read_csv(__import__("io").StringIO(outputs[0]))
    assert list(frame.columns) == ["text", "label", "score", "label_2", "score_2"] and len(frame) == 2

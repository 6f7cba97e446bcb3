"""Real runs through the Hub: push (CLI and at the end of training), pull back byte-identical, the same
predictions; plain transformers / peft load what was pushed (through olah, without fieldtune); the token
never lands in a file; leaderboards from Hub model cards and from a benchmark spec."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from huggingface_hub import ModelCard, snapshot_download

from fieldtune.cli import main
from fieldtune.config import config_from_dict
from fieldtune.inference.evaluate import evaluate_model
from fieldtune.inference.load import load_for_inference, predict_logits, text_batches
from fieldtune.training.run import run
from tests import hub_fixtures
from tests.hub_fixtures import FAKE_TOKEN
from tests.hub_server import USER

hub_env, hub_server, olah_server = hub_fixtures.hub_env, hub_fixtures.hub_server, hub_fixtures.olah_server
pytestmark = pytest.mark.slow
TEXTS = [
    "Please book a full truckload of cement bags. Customer: a national retailer.",
    "a few boxes of LED bulbs, no rush",
]


def unique(name: str) -> str:
    return f"{USER}/{name}-{uuid.uuid4().hex[:8]}"


def train(tiny_bert, out: Path, method: str = "full", hub: dict | None = None):
    cfg = config_from_dict(
        {"task": "text-classification", "name": out.name, "model": {"name_or_path": str(tiny_bert), "max_length": 48},
         "data": {"builder": "logistics_demand", "num_samples": 90}, "method": {"name": method, "lora_r": 4},
         "training": {"num_train_epochs": 1, "learning_rate": 5e-3}, "hub": hub or {}}
    )  # fmt: skip
    return run(cfg, output_dir=out)


@pytest.fixture(scope="module")
def runs(tiny_bert, tmp_path_factory):
    root = tmp_path_factory.mktemp("hubruns")
    return {m: train(tiny_bert, root / m, m).run_dir for m in ("full", "lora")}


def all_files(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and ".cache" not in p.parts
    }


@pytest.mark.parametrize("method", ["full", "lora"])
def test_push_pull_round_trip(runs, method, hub_env, tmp_path, capsys):
    run_dir, repo = runs[method], unique(f"demand-{method}")
    assert main(["push", str(run_dir), "--repo-id", repo, "--private"]) == 0
    assert main(["pull", repo, "--out", str(tmp_path / "pulled")]) == 0
    pulled = all_files(tmp_path / "pulled")
    for name, data in all_files(run_dir / "model").items():
        if name != "README.md":  # the run's model card replaces peft's stub README
            assert pulled[name] == data, name
    assert pulled["README.md"] == (run_dir / "README.md").read_bytes()
    assert pulled["eval_results.json"] == (run_dir / "eval_results.json").read_bytes()
    assert "fieldtune_config.yaml" in pulled and "plots/confusion_matrix.png" in pulled
    local = load_for_inference(run_dir)
    remote = load_for_inference(repo)  # a Hub id goes through the same loader
    assert (
        predict_logits(local, text_batches(local, TEXTS))
        == predict_logits(remote, text_batches(remote, TEXTS))
    ).all()
    card = ModelCard.load(tmp_path / "pulled" / "README.md")
    assert {"library_name", "pipeline_tag", "datasets", "metrics"} <= set(
        card.data.to_dict()
    )  # base_model: Hub ids only
    assert card.data.eval_results and card.data.eval_results[0].dataset_split == "test"


def test_push_merged(runs, hub_env, tmp_path):
    repo = unique("demand-merged")
    assert main(["push", str(runs["lora"]), "--repo-id", repo, "--merge"]) == 0
    folder = snapshot_download(repo, local_dir=tmp_path / "m")
    assert (Path(folder) / "model.safetensors").is_file() and not (
        Path(folder) / "adapter_config.json"
    ).exists()


def test_push_at_end_of_training_and_no_token_anywhere(tiny_bert, hub_env, hub_server, tmp_path):
    repo = unique("trained-and-pushed")
    result = train(tiny_bert, tmp_path / "pushed", "lora", hub={"push": True, "repo_id": repo})
    info = snapshot_download(repo, local_dir=tmp_path / "dl")
    assert (Path(info) / "adapter_model.safetensors").is_file()
    token = FAKE_TOKEN.encode()
    written = [p for p in result.run_dir.rglob("*") if p.is_file()] + [
        p for p in Path(info).rglob("*") if p.is_file()
    ]
    assert written and not [p for p in written if token in p.read_bytes()]
    assert token not in hub_server.received_bytes()
    assert FAKE_TOKEN in {t for t in hub_server.token_log if t}  # it was sent, as a header only


def test_olah_serves_what_was_pushed_to_plain_transformers(runs, olah_server, tmp_path):
    """Mirror the pushed files into an independent Hub server and load them without fieldtune."""
    pulled = tmp_path / "files"
    for name, data in all_files(runs["full"] / "model").items():
        (pulled / name).parent.mkdir(parents=True, exist_ok=True)
        (pulled / name).write_bytes(data)
    (pulled / "README.md").write_bytes((runs["full"] / "README.md").read_bytes())
    repo = unique("olah-demand")
    sha = olah_server.mirror(repo, pulled)
    code = f"""
import os, sys
os.environ["HF_ENDPOINT"] = {olah_server.endpoint!r}; os.environ["HF_HUB_OFFLINE"] = "0"; os.environ["HF_HOME"] = {str(tmp_path / "home")!r}
from transformers import pipeline
from huggingface_hub import ModelCard
clf = pipeline("text-classification", model={repo!r}, revision={sha!r})
print(clf({TEXTS[0]!r})[0]["label"])
assert ModelCard.load({repo!r}).data.eval_results
assert not any(m.startswith("fieldtune") for m in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    local = load_for_inference(runs["full"])
    expected = local.label_names[predict_logits(local, text_batches(local, TEXTS[:1])).argmax(-1)[0]]
    assert out.stdout.strip().splitlines()[-1] == expected


def test_leaderboard_from_hub_cards_and_local_runs(runs, hub_env, tmp_path, capsys):
    repo = unique("lb")
    assert main(["push", str(runs["full"]), "--repo-id", repo]) == 0
    assert main(["leaderboard", str(runs["lora"]), "--hub", repo, "--output", str(tmp_path / "lb")]) == 0
    text = capsys.readouterr().out
    assert repo in text and str(runs["lora"]) in text
    for ext in ("csv", "md", "png", "html"):
        assert (tmp_path / "lb" / f"leaderboard.{ext}").is_file()
    assert (
        main(
            [
                "leaderboard",
                str(runs["full"]),
                "--output",
                str(tmp_path / "lb2"),
                "--push-to",
                unique("board"),
            ]
        )
        == 0
    )


def test_benchmark_evaluates_every_model_on_the_same_split_and_caches(runs, tmp_path, capsys, monkeypatch):
    spec = tmp_path / "bench.yaml"
    spec.write_text(
        "name: demand_bench\ntask: text-classification\ndataset: {builder: logistics_demand, num_samples: 90, seed: 3}\nsplit: test\nprimary_metric: f1_macro\n"
    )
    argv = [
        "leaderboard",
        str(runs["full"]),
        str(runs["lora"]),
        "--benchmark",
        str(spec),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--output",
        str(tmp_path / "out"),
    ]
    assert main(argv) == 0
    rows = (tmp_path / "out" / "leaderboard.csv").read_text().splitlines()
    assert len(rows) == 3 and all("demand_bench" in r for r in rows[1:])
    import fieldtune.inference.evaluate as evaluation

    monkeypatch.setattr(evaluation, "evaluate_model", lambda *a, **k: pytest.fail("cache miss"))
    assert main([*argv, "--overwrite"]) == 0  # served from the cache (the board written above is replaced)


def test_evaluate_a_plain_transformers_model_from_the_hub(tiny_bert, hub_env, tmp_path):
    """A classifier fieldtune did not make: labels in its config, no eval_results, no fieldtune files."""
    from huggingface_hub import HfApi
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    labels = ["high", "low", "medium"]
    model = AutoModelForSequenceClassification.from_pretrained(
        tiny_bert,
        num_labels=3,
        id2label=dict(enumerate(labels)),
        label2id={n: i for i, n in enumerate(labels)},
    )
    model.save_pretrained(tmp_path / "plain")
    AutoTokenizer.from_pretrained(tiny_bert).save_pretrained(tmp_path / "plain")
    repo = unique("plain-bert")
    HfApi().create_repo(repo)
    HfApi().upload_folder(repo_id=repo, folder_path=tmp_path / "plain")
    data = tmp_path / "d.csv"
    from tests.helpers import write_demand_csv

    write_demand_csv(data, n=60)
    results = evaluate_model(
        repo, str(data), "all", data_overrides={"text_columns": ["note"], "label_column": "demand_level"}
    )
    assert results["num_test_examples"] == 60 and 0 <= results["metrics"]["accuracy"] <= 1
    assert json.dumps(results)

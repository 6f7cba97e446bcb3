"""fieldtune.hub.repos against the test Hub server (push / pull) and olah (an independent read-only Hub)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard, constants

from fieldtune.errors import ConfigError, HubError
from fieldtune.hub.repos import check_repo_id, is_hub_id, pull, push_folder_as_dataset, push_run
from tests import hub_fixtures
from tests.hub_fixtures import FAKE_TOKEN, use_hub_endpoint
from tests.hub_server import USER, HubServer

# pytest finds fixtures by name in the module (tests/conftest.py is not ours to edit); assigned rather than
# imported so that ruff's F811 does not flag every test that takes them as arguments.
hub_env, hub_server, olah_server = hub_fixtures.hub_env, hub_fixtures.hub_server, hub_fixtures.olah_server

CARD = """---
library_name: transformers
tags: [fieldtune, text-classification]
model-index:
- name: tiny-run
  results:
  - task: {type: text-classification}
    dataset: {type: csv, name: shipments, split: test}
    metrics:
    - {type: accuracy, value: 0.75}
---
# tiny-run
"""


def unique(name: str) -> str:
    return f"{USER}/{name}-{uuid.uuid4().hex[:8]}"


def make_run(root: Path):
    """A run directory shaped like `fieldtune train` writes it, with a tiny BERT; returns (run_dir, model)."""
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=99,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        num_labels=3,
        id2label={0: "low", 1: "mid", 2: "high"},
        label2id={"low": 0, "mid": 1, "high": 2},
    )
    model = BertForSequenceClassification(config).eval()
    run = root / "runs" / "tiny-run"
    model.save_pretrained(run / "model")
    (run / "eval_results.json").write_text(
        json.dumps(
            {"task": "text-classification", "metrics": {"accuracy": 0.75}, "primary_metric": "accuracy"}
        )
    )
    (run / "config.yaml").write_text("task: text-classification\nmodel:\n  name: tiny\n")
    (run / "plots").mkdir()
    (run / "plots" / "confusion_matrix.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (run / "README.md").write_text(CARD)
    (run / "predictions.csv").write_text("text,label,prediction\nbox,low,low\n")
    (run / "logs").mkdir()
    (run / "logs" / "events.out").write_bytes(b"not pushed")
    return run, model


def expected_repo_files(run: Path) -> dict[str, bytes]:
    files = {p.relative_to(run / "model").as_posix(): p.read_bytes() for p in (run / "model").iterdir()}
    files.update(
        {
            "eval_results.json": (run / "eval_results.json").read_bytes(),
            "fieldtune_config.yaml": (run / "config.yaml").read_bytes(),
            "plots/confusion_matrix.png": (run / "plots" / "confusion_matrix.png").read_bytes(),
            "README.md": (run / "README.md").read_bytes(),
            "predictions.csv": (run / "predictions.csv").read_bytes(),
        }
    )
    return files


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and ".cache" not in p.relative_to(folder).parts
    }


@pytest.fixture(scope="module")
def run_and_model(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("run"))


# --- validation without a server -----------------------------------------------------------------------------


def test_check_repo_id_accepts_namespace_name():
    check_repo_id("my-org/cargo_bert.v2", "hub.repo_id")


@pytest.mark.parametrize("bad", ["cargo-bert", "a/b/c", "my org/x", "org/x.git", "org--x/y", "", "/x"])
def test_check_repo_id_names_key_and_value(bad):
    with pytest.raises(ConfigError) as err:
        check_repo_id(bad, "hub.repo_id")
    message = str(err.value)
    assert "hub.repo_id" in message and repr(bad) in message and "namespace/name" in message
    assert "\n" not in message


def test_is_hub_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "demo").mkdir(parents=True)
    assert is_hub_id("my-org/cargo-bert")
    assert not is_hub_id("runs/demo")  # an existing local folder wins
    assert not is_hub_id("./runs/demo") and not is_hub_id("cargo-bert") and not is_hub_id("a/b/c")


# --- push / pull against the test Hub -------------------------------------------------------------------------


def test_push_run_then_pull_is_byte_identical(hub_env, hub_server, run_and_model, tmp_path):
    run, _ = run_and_model
    repo_id = unique("tiny-run")
    url = push_run(run, repo_id, include_predictions=True)
    repo = hub_server.repo(repo_id)
    assert url.endswith(f"{repo_id}/commit/{repo.branches['main']}")
    assert len(repo.commits) == 2  # the Hub's initial .gitattributes commit, then exactly one upload commit
    expected = expected_repo_files(run)
    assert set(repo.resolve("main").files) == {
        *expected,
        ".gitattributes",
    }  # logs/ and config.yaml name are not
    assert repo.resolve("main").files["model.safetensors"].lfs

    out = pull(repo_id, out=tmp_path / "pulled")
    assert out == (tmp_path / "pulled").resolve()
    pulled = folder_bytes(out)
    assert {k: pulled[k] for k in expected} == expected
    assert folder_bytes(pull(repo_id)) == pulled  # the cache snapshot has the same bytes
    assert ModelCard.load(repo_id).data.eval_results[0].metric_value == 0.75
    assert FAKE_TOKEN in hub_server.token_log  # the token from HF_TOKEN was sent


def test_predictions_stay_local_unless_asked(hub_env, hub_server, run_and_model):
    """predictions.csv holds the raw test texts: a plain push leaves it out, the run directory keeps it."""
    run, _ = run_and_model
    repo_id = unique("no-predictions")
    push_run(run, repo_id)
    pushed = set(hub_server.repo(repo_id).resolve("main").files)
    assert "predictions.csv" not in pushed
    assert pushed == (set(expected_repo_files(run)) - {"predictions.csv"}) | {".gitattributes"}
    assert (run / "predictions.csv").is_file()


def test_push_private_to_branch_with_other_model_dir(hub_env, hub_server, run_and_model, tmp_path):
    run, model = run_and_model
    merged = tmp_path / "merged"
    model.save_pretrained(merged)
    (merged / "extra.txt").write_text("merged export")
    repo_id = unique("branch")
    push_run(run, repo_id, private=True, revision="v2", model_dir=merged, commit_message="merged weights")
    repo = hub_server.repo(repo_id)
    assert repo.private
    assert "extra.txt" in repo.resolve("v2").files and "extra.txt" not in repo.resolve("main").files
    assert repo.resolve("v2").message == "merged weights"
    assert (pull(repo_id, revision="v2", out=tmp_path / "v2") / "extra.txt").read_text() == "merged export"


def test_push_without_token_says_how_to_log_in(hub_env, hub_server, run_and_model, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    seen = len(hub_server.requests)
    with pytest.raises(HubError, match=r"HF_TOKEN.*hf auth login"):
        push_run(run_and_model[0], unique("no-token"))
    assert len(hub_server.requests) == seen  # failed before any request


def test_push_rejects_bad_repo_id_and_incomplete_runs(hub_env, run_and_model, tmp_path):
    run, _ = run_and_model
    with pytest.raises(HubError, match="namespace/name"):
        push_run(run, "no-namespace")
    (tmp_path / "empty-run").mkdir()
    with pytest.raises(HubError, match="model"):
        push_run(tmp_path / "empty-run", unique("x"))
    with pytest.raises(HubError, match="eval_results.json"):
        push_run(tmp_path / "empty-run", unique("x"), model_dir=run / "model")


def test_http_errors_become_one_line_hub_errors_without_the_token(run_and_model, monkeypatch, tmp_path):
    server = HubServer(accepted_tokens={"hf_someoneElsesToken"}).start()
    try:
        use_hub_endpoint(monkeypatch, server.endpoint, tmp_path / "hf_home")
        with pytest.raises(HubError) as err:
            push_run(run_and_model[0], unique("refused"))
    finally:
        server.stop()
    message = str(err.value)
    assert "401" in message and "token" in message and "\n" not in message
    assert FAKE_TOKEN not in message
    with pytest.raises(HubError, match="unreachable.*HF_ENDPOINT"):  # the same endpoint, now closed
        push_run(run_and_model[0], unique("closed"))


def test_pull_errors(hub_env, hub_server, monkeypatch, tmp_path):
    with pytest.raises(HubError, match="not found"):
        pull(unique("missing"))
    repo_id = unique("pull-errors")
    hub_server.store.create("model", repo_id, private=False)
    with pytest.raises(HubError, match="Revision 'nope' does not exist"):
        pull(repo_id, revision="nope")
    with pytest.raises(HubError, match="namespace/name"):
        pull("a/b/c")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubError, match="HF_HUB_OFFLINE"):
        pull(repo_id, out=tmp_path / "offline")


def test_push_folder_as_dataset(hub_env, hub_server, tmp_path):
    board = tmp_path / "board"
    (board / "plots").mkdir(parents=True)
    (board / "leaderboard.csv").write_text("rank,model,accuracy\n1,a,0.9\n")
    (board / "plots" / "leaderboard.png").write_bytes(b"\x89PNG" + bytes(64))
    repo_id = unique("board")
    url = push_folder_as_dataset(board, repo_id, private=True)
    repo = hub_server.repo(repo_id, "dataset")
    assert f"/datasets/{repo_id}/commit/" in url and repo.private
    assert repo.resolve("main").files["plots/leaderboard.png"].data == b"\x89PNG" + bytes(64)
    with pytest.raises(HubError, match="missing or empty"):
        push_folder_as_dataset(tmp_path / "nothing", repo_id)


def test_token_is_never_uploaded(hub_env, hub_server, run_and_model, tmp_path):
    push_run(run_and_model[0], unique("scan"))
    leaky, _ = make_run(tmp_path)
    (leaky / "config.yaml").write_text(f"hub:\n  token: {FAKE_TOKEN}\n")
    with pytest.raises(HubError, match="contains your Hugging Face token") as err:
        push_run(leaky, unique("leaky"))
    assert FAKE_TOKEN not in str(err.value)
    received = hub_server.received_bytes()
    assert received, "the server saw no uploads"
    assert [label for label, data in received if FAKE_TOKEN.encode() in data] == []


# --- olah: push through the test server, serve the result from an independent Hub, load with plain transformers --


def test_pushed_run_loads_from_olah_with_plain_transformers(
    hub_env, olah_server, run_and_model, monkeypatch, tmp_path
):
    from transformers import AutoModelForSequenceClassification

    run, model = run_and_model
    repo_id = unique("olah")
    push_run(run, repo_id)
    sha = olah_server.mirror(repo_id, pull(repo_id, out=tmp_path / "pulled"))

    use_hub_endpoint(monkeypatch, olah_server.endpoint, tmp_path / "olah_home")
    # At a commit sha, not `main`: offline olah answers a file missing from a mirror at a branch name with 401
    # RepoNotFound, and from_pretrained first probes for adapter_config.json (see OlahServer.mirror).
    loaded = AutoModelForSequenceClassification.from_pretrained(repo_id, revision=sha).eval()
    assert loaded.config.id2label == {0: "low", 1: "mid", 2: "high"}
    input_ids = torch.tensor([[2, 15, 37, 3], [2, 8, 3, 0]])
    with torch.no_grad():
        torch.testing.assert_close(loaded(input_ids=input_ids).logits, model(input_ids=input_ids).logits)
    assert ModelCard.load(repo_id).data.eval_results[0].metric_value == 0.75

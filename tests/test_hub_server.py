"""The test Hub server against the real huggingface_hub client (and transformers' push_to_hub)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx2
import pytest
import torch
from huggingface_hub import HfApi, ModelCard, hf_hub_download, snapshot_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RepositoryNotFoundError
from safetensors.torch import save_file

from tests import hub_fixtures
from tests.hub_fixtures import FAKE_TOKEN
from tests.hub_server import USER

# pytest finds fixtures by name in the module; assigned rather than imported so ruff's F811 stays quiet.
hub_env, hub_server = hub_fixtures.hub_env, hub_fixtures.hub_server

README = """---
license: apache-2.0
library_name: transformers
tags: [fieldtune]
model-index:
- name: tiny-bert
  results:
  - task: {type: text-classification, name: Text Classification}
    dataset: {type: shipments, name: Shipment notes, split: test}
    metrics:
    - {type: accuracy, value: 0.91, name: Accuracy}
    - {type: f1, value: 0.88, name: F1 macro}
---
# tiny-bert

A card.
"""


def unique(name: str) -> str:
    return f"{USER}/{name}-{uuid.uuid4().hex[:8]}"


def make_folder(root: Path) -> Path:
    root.mkdir(parents=True)
    save_file({"w": torch.arange(12, dtype=torch.float32).reshape(3, 4)}, str(root / "model.safetensors"))
    (root / "README.md").write_text(README)
    (root / "config.json").write_text('{"model_type": "bert"}\n')
    (root / "plots").mkdir()
    (root / "plots" / "notes.txt").write_bytes(bytes(range(256)))
    (root / "empty.txt").write_bytes(b"")
    return root


def tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and ".cache" not in p.parts
    }


def test_folder_round_trip_is_byte_identical(hub_env, hub_server, tmp_path):
    api = HfApi()
    repo_id = unique("roundtrip")
    folder = make_folder(tmp_path / "src")
    url = api.create_repo(repo_id)
    assert url.repo_id == repo_id
    info = api.upload_folder(folder_path=folder, repo_id=repo_id, commit_message="first")
    assert info.oid == hub_server.repo(repo_id).branches["main"]

    # The weights went through the LFS batch path (xet is off), text files as regular git blobs.
    files = hub_server.repo(repo_id).resolve("main").files
    assert files["model.safetensors"].lfs and not files["config.json"].lfs

    local = Path(snapshot_download(repo_id))
    assert tree(local) == {**tree(folder), ".gitattributes": files[".gitattributes"].data}
    out = Path(snapshot_download(repo_id, local_dir=tmp_path / "out"))
    assert tree(out) == tree(local)
    assert Path(hf_hub_download(repo_id, "plots/notes.txt")).read_bytes() == bytes(range(256))

    assert sorted(api.list_repo_files(repo_id)) == sorted([*tree(folder), ".gitattributes"])
    assert api.repo_exists(repo_id) and not api.repo_exists(unique("missing"))
    assert api.file_exists(repo_id, "config.json") and not api.file_exists(repo_id, "nope.txt")
    model = api.model_info(repo_id, files_metadata=True)
    assert model.sha == info.oid and model.card_data["library_name"] == "transformers"
    assert {s.rfilename for s in model.siblings} == set(tree(local))

    results = ModelCard.load(repo_id).data.eval_results
    assert {(r.metric_type, r.metric_value) for r in results} == {("accuracy", 0.91), ("f1", 0.88)}
    assert results[0].dataset_split == "test"
    assert FAKE_TOKEN in hub_server.token_log


def test_revisions_and_commit_shas(hub_env, tmp_path):
    api = HfApi()
    repo_id = unique("revisions")
    api.create_repo(repo_id)
    first = api.upload_file(path_or_fileobj=b"v1", path_in_repo="weights.txt", repo_id=repo_id)
    second = api.upload_file(path_or_fileobj=b"v2", path_in_repo="weights.txt", repo_id=repo_id)
    assert first.oid != second.oid
    assert Path(hf_hub_download(repo_id, "weights.txt", revision=first.oid)).read_bytes() == b"v1"
    assert Path(hf_hub_download(repo_id, "weights.txt")).read_bytes() == b"v2"
    assert api.model_info(repo_id, revision=first.oid).sha == first.oid

    api.create_branch(repo_id, branch="experiment")
    api.upload_file(path_or_fileobj=b"v3", path_in_repo="weights.txt", repo_id=repo_id, revision="experiment")
    assert Path(hf_hub_download(repo_id, "weights.txt", revision="experiment")).read_bytes() == b"v3"
    assert Path(hf_hub_download(repo_id, "weights.txt", revision="main")).read_bytes() == b"v2"
    assert {b.name for b in api.list_repo_refs(repo_id).branches} == {"main", "experiment"}
    assert [c.commit_id for c in api.list_repo_commits(repo_id)][:2] == [second.oid, first.oid]

    # Same content again: the client sees the oid from preupload and skips the commit.
    again = api.upload_file(path_or_fileobj=b"v2", path_in_repo="weights.txt", repo_id=repo_id)
    assert again.oid == second.oid


def test_create_conflict_private_and_auth(hub_env, hub_server, monkeypatch):
    api = HfApi()
    repo_id = unique("private")
    api.create_repo(repo_id, private=True)
    with pytest.raises(HfHubHTTPError) as conflict:
        api.create_repo(repo_id)
    assert conflict.value.response.status_code == 409
    api.create_repo(repo_id, exist_ok=True)
    api.upload_file(path_or_fileobj=b"secret", path_in_repo="a.txt", repo_id=repo_id)
    assert api.model_info(repo_id).private is True
    assert api.whoami()["name"] == USER

    monkeypatch.delenv("HF_TOKEN")
    anonymous = HfApi()
    assert not anonymous.repo_exists(repo_id)
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(repo_id, "a.txt", cache_dir=str(hub_env.hf_home / "anon"))
    with pytest.raises(HfHubHTTPError) as unauthorized:
        anonymous.create_repo(unique("anon"))
    assert unauthorized.value.response.status_code == 401
    assert hub_server.token_log[-1] is None


def test_dataset_repo(hub_env, hub_server, tmp_path):
    api = HfApi()
    repo_id = unique("leaderboard")
    (tmp_path / "board").mkdir()
    (tmp_path / "board" / "leaderboard.csv").write_text("model,accuracy\na,0.9\n")
    (tmp_path / "board" / "data.parquet").write_bytes(b"PAR1" + bytes(100) + b"PAR1")
    api.create_repo(repo_id, repo_type="dataset")
    api.upload_folder(folder_path=tmp_path / "board", repo_id=repo_id, repo_type="dataset")
    assert hub_server.repo(repo_id, "dataset") is not None and hub_server.repo(repo_id) is None
    local = Path(snapshot_download(repo_id, repo_type="dataset"))
    assert (local / "leaderboard.csv").read_text() == "model,accuracy\na,0.9\n"
    assert (local / "data.parquet").read_bytes() == (tmp_path / "board" / "data.parquet").read_bytes()
    assert api.dataset_info(repo_id).id == repo_id
    assert set(api.list_repo_files(repo_id, repo_type="dataset")) == {
        ".gitattributes",
        "leaderboard.csv",
        "data.parquet",
    }


def test_keep_alive_survives_errors(hub_env, hub_server):
    """404 HEADs and ignored request bodies must not garble the next request on the same connection."""
    api = HfApi()
    repo_id = unique("keepalive")
    api.create_repo(repo_id)
    for i in range(3):
        with pytest.raises(EntryNotFoundError):
            hf_hub_download(repo_id, f"missing-{i}.txt")
        api.upload_file(path_or_fileobj=f"{i}".encode(), path_in_repo=f"f{i}.txt", repo_id=repo_id)
        assert not api.file_exists(repo_id, f"missing-{i}.txt")
    assert len(api.list_repo_files(repo_id)) == 4
    with httpx2.Client() as client:  # raw keep-alive: error HEAD without body, then a normal GET
        assert client.head(f"{hub_server.endpoint}/{repo_id}/resolve/main/nope").status_code == 404
        assert client.get(f"{hub_server.endpoint}/{repo_id}/resolve/main/f1.txt").content == b"1"
        assert (
            client.post(f"{hub_server.endpoint}/api/validate-yaml", content=b"x" * 70_000).status_code == 200
        )
        assert client.get(f"{hub_server.endpoint}/api/models/{repo_id}").json()["id"] == repo_id


def test_transformers_push_to_hub(hub_env, hub_server, tmp_path):
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    config = BertConfig(
        vocab_size=99, hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37
    )
    model = BertForSequenceClassification(config)
    repo_id = unique("pushed")
    model.push_to_hub(repo_id)
    files = hub_server.repo(repo_id).resolve("main").files
    assert {"config.json", "model.safetensors"} <= set(files) and files["model.safetensors"].lfs

    trainer_repo = unique("trainer")
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        push_to_hub=True,
        hub_model_id=trainer_repo,
        report_to=[],
        use_cpu=True,
    )
    trainer = Trainer(model=model, args=args)
    trainer.push_to_hub(commit_message="end of training", blocking=True)
    assert "model.safetensors" in hub_server.repo(trainer_repo).resolve("main").files
    assert FAKE_TOKEN in hub_server.token_log

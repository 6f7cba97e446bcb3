"""Without `HF_HUB_OFFLINE=1` and without a Hub: a local or packaged model never asks the Hub, and a Hub id
costs one short probe, not five retries per file (issue 33, item 2)."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import uuid
import warnings

import pytest
from huggingface_hub import HfApi, constants, snapshot_download

from fieldtune.errors import ModelError
from fieldtune.modeling import create, hub_access
from fieldtune.modeling.create import load_model_config
from tests import hub_fixtures
from tests.hub_fixtures import use_hub_endpoint
from tests.hub_server import USER
from tests.test_train_text import text_config

hub_env, hub_server = hub_fixtures.hub_env, hub_fixtures.hub_server
PACKAGED_ID = "fieldtune-test/tiny-bert"


def closed_port_endpoint() -> str:
    """An endpoint nobody listens on: every connection is refused, as on a machine without network."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def restore_offline_flag(monkeypatch):
    """`check_hub_model` may switch the process offline: undo it after the test."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", constants.HF_HUB_OFFLINE)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    hub_access.hub_unreachable.cache_clear()
    yield
    hub_access.hub_unreachable.cache_clear()


@pytest.mark.slow
def test_packaged_model_trains_and_saves_without_a_hub_request(
    tiny_bert, hub_env, hub_server, restore_offline_flag, monkeypatch, tmp_path
):
    """A Hub id shipped in a package (as MiniLM is) resolves locally; peft's save used to ask the Hub for
    the base's config.json (and warn "Could not find a config file" when it could not)."""
    from fieldtune.training.run import run

    package = tmp_path / "site" / "tiny_packaged_bert"
    shutil.copytree(tiny_bert, package / "model")
    (package / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setitem(create.PACKAGED_MODELS, PACKAGED_ID, ("tiny_packaged_bert", "model"))
    before = len(hub_server.requests)
    config = text_config(tiny_bert, model={"name_or_path": PACKAGED_ID}, method={"name": "lora", "lora_r": 4},
                         training={"num_train_epochs": 1})  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run(config, output_dir=tmp_path / "run")
    assert (result.run_dir / "model" / "adapter_config.json").is_file()
    assert [f"{r.method} {r.path}" for r in hub_server.requests[before:]] == []
    assert not [w for w in caught if "config file" in str(w.message) or "remote file" in str(w.message)]


def test_unreachable_hub_and_uncached_model_is_one_error_without_retries(
    restore_offline_flag, monkeypatch, tmp_path, caplog
):
    use_hub_endpoint(monkeypatch, closed_port_endpoint(), tmp_path / "hf_home", token=None)
    caplog.set_level(logging.WARNING)
    with pytest.raises(ModelError) as err:
        load_model_config("bert-base-uncased")
    message = str(err.value)
    assert "could not be fetched" in message and "cannot be reached" in message
    assert "local model folder" in message and "all-MiniLM-L6-v2" in message
    assert "\n" not in message
    assert not [r for r in caplog.records if "Retry" in r.getMessage()]
    assert constants.HF_HUB_OFFLINE is False  # nothing to fall back on: the mode is left as it was


@pytest.mark.slow
def test_unreachable_hub_and_cached_model_goes_offline_once_and_trains(
    tiny_bert, hub_env, restore_offline_flag, monkeypatch, caplog, tmp_path
):
    repo = f"{USER}/cached-{uuid.uuid4().hex[:8]}"
    api = HfApi(endpoint=hub_env.endpoint)
    api.create_repo(repo)
    api.upload_folder(folder_path=str(tiny_bert), repo_id=repo)
    snapshot_download(repo)  # into the test's HF cache, as an earlier online run would have
    use_hub_endpoint(monkeypatch, closed_port_endpoint(), hub_env.hf_home, token=None)
    caplog.set_level(logging.WARNING)
    config = load_model_config(repo)
    assert config.model_type == "bert"
    assert constants.HF_HUB_OFFLINE is True  # the rest of the run reads the cache, no per-file retries
    assert not [r for r in caplog.records if "Retry" in r.getMessage()]
    assert [r.getMessage() for r in caplog.records if "cannot be reached" in r.getMessage()]

    # the run goes on from the cache; peft's vocabulary lookup on each LoRA checkpoint ("Could not find a
    # config file in <Hub id>", as the base is named by its Hub id) is not made
    from fieldtune.training.run import run

    config = text_config(tiny_bert, model={"name_or_path": repo}, method={"name": "lora", "lora_r": 4},
                         training={"num_train_epochs": 2})  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run(config, output_dir=tmp_path / "run")
    assert len(list((result.run_dir / "checkpoints").glob("checkpoint-*"))) == 2
    assert not [w for w in caught if "config file" in str(w.message)], [str(w.message) for w in caught]
    assert not [r for r in caplog.records if "Retry" in r.getMessage()]


@pytest.mark.slow
def test_a_model_in_the_hub_cache_is_named_by_its_hub_id(
    tiny_bert, restore_offline_flag, monkeypatch, tmp_path, demand_csv
):
    """Offline, a Hub model is loaded from the cache by its id or by its snapshot folder: either way the run is
    named after the model (not the recipe's own model, not the snapshot's commit hash) and eval_results.json,
    the card and the leaderboard record the Hub id, never the cache path."""
    from huggingface_hub import ModelCard

    from fieldtune.config import load_config
    from fieldtune.leaderboard.collect import entry_from_run
    from fieldtune.training.run import run

    use_hub_endpoint(monkeypatch, closed_port_endpoint(), tmp_path / "hf_home", token=None)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    repo, revision = "acme/tiny-encoder", "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "hf_home" / "hub" / "models--acme--tiny-encoder" / "snapshots" / revision
    shutil.copytree(tiny_bert, snapshot)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text(revision)
    recipe = tmp_path / "orders_minilm_full.yaml"
    recipe.write_text(
        "model: {name_or_path: sentence-transformers/all-MiniLM-L6-v2, max_length: 32}\n"
        f"data: {{path: {demand_csv}, text_columns: [note], label_column: demand_level}}\n"
        "method: {name: full}\ntraining: {max_steps: 1, per_device_train_batch_size: 16}\n"
    )
    assert load_config(recipe, [f"--model.name_or_path={repo}"]).name == "orders_tiny-encoder_full"
    config = load_config(recipe, [f"--model.name_or_path={snapshot}"])
    assert config.name == "orders_tiny-encoder_full"  # was orders_0123456789abcdef..._full

    result = run(config, output_dir=tmp_path / "run")
    results = json.loads((result.run_dir / "eval_results.json").read_text())
    assert results["base_model"] == repo
    card = ModelCard.load(result.run_dir / "README.md")
    assert card.data.base_model == repo and "snapshots" not in card.content
    entry = entry_from_run(result.run_dir)
    assert entry.base_model == repo

"""Domain-adaptive continued pre-training (`pretraining:`, issue 35): a masked-LM phase on the train split's
texts (plus unlabelled ones) adapts the encoder, the classifier starts from it; validation and test texts
are never seen; off (epochs 0) changes nothing; --resume reuses a finished phase."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from safetensors.torch import load_file

from fieldtune.datasets_builders import build_dataset
from fieldtune.trainers import pretraining
from fieldtune.training.run import run
from tests.test_train_text import text_config

PRE = {"epochs": 2, "learning_rate": 5e-3}
LAYER0 = "encoder.layer.0.attention.self.query.weight"  # frozen by `freeze` with one trainable layer


def _config(model, pre=None, **sections):
    training = {"num_train_epochs": 1, "learning_rate": 5e-3, **sections.pop("training", {})}
    extra = {"pretraining": pre} if pre is not None else {}
    data = {"num_samples": 90, **sections.pop("data", {})}
    return text_config(model, data=data, training=training, **extra, **sections)


def _weights(folder):
    return load_file(str(folder / "model.safetensors"))


def _digest(folder):
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()
    }


def _killed(*args, **kwargs):
    """The fine-tuning stage dies (after the pretraining phase): what a crash leaves behind."""
    raise RuntimeError("killed")


@pytest.fixture(scope="module")
def adapted(tiny_bert, demand_csv, tmp_path_factory):
    """A freeze run (top layer + head train) after the masked-LM phase: layer 0 is the phase's."""
    table = {
        "builder": "text_table",
        "path": str(demand_csv),
        "text_columns": ["note"],
        "label_column": "demand_level",
    }
    config = _config(tiny_bert, PRE, method={"name": "freeze", "trainable_layers": 1}, data=table)
    return run(config, output_dir=tmp_path_factory.mktemp("runs") / "adapted")


def test_the_phase_changes_the_encoder_and_the_classifier_starts_from_it(adapted, tiny_bert):
    original = _weights(tiny_bert)
    encoder = _weights(adapted.run_dir / "pretraining" / "encoder")
    saved = _weights(adapted.run_dir / "model")
    assert not torch.equal(encoder[LAYER0], original[LAYER0])  # masked LM moved the encoder
    assert torch.equal(saved["bert." + LAYER0], encoder[LAYER0])  # frozen in fine-tuning: the phase's weights
    # what the masked-LM class leaves out (BERT's pooler) is the checkpoint's, not a fresh draw
    assert torch.equal(encoder["pooler.dense.weight"], original["pooler.dense.weight"])
    summary = adapted.results["pretraining"]
    assert summary["fresh_lm_head"] is True  # the tiny BERT ships no LM head, as sentence-transformers models
    assert summary["train_texts"] > 0 and summary["extra_texts"] == 0 and summary["steps"] > 0
    assert adapted.results["base_model"] == str(tiny_bert)  # the card and results name the checkpoint
    assert not (adapted.run_dir / "pretraining" / "checkpoints").exists()  # optimizer states dropped
    # the model the phase made rebuilt with the run's data mapping: predict reads the same columns
    assert json.loads((adapted.run_dir / "model" / "config.json").read_text())["fieldtune_text_columns"] == [
        "note"
    ]
    card = (adapted.run_dir / "README.md").read_text()
    assert "domain-adaptive pretraining" in card


def test_only_train_and_extra_texts_reach_the_masked_lm(tiny_bert, tmp_path, monkeypatch):
    config = _config(tiny_bert, {**PRE, "epochs": 1})
    dd = build_dataset(config.data, config.task)  # the same seeded split the run trains on
    train = list(dd["train"]["text"])
    held_out = (set(dd["validation"]["text"]) | set(dd["test"]["text"])) - set(train)
    test_text = sorted(set(dd["test"]["text"]) - set(train))[0]
    extra = tmp_path / "headings.txt"  # one of the test texts among them: left out
    extra.write_text(f"frozen fish fillets\n\n  live cattle for breeding  \n{test_text}\n", encoding="utf-8")
    seen: list[str] = []
    encode = pretraining.encode_batch

    def spy(tokenizer, texts, limit):
        seen.extend(texts)
        return encode(tokenizer, texts, limit)

    monkeypatch.setattr(pretraining, "encode_batch", spy)
    config.pretraining.extra_texts = str(extra)
    result = run(config, output_dir=tmp_path / "run")
    assert seen == train + ["frozen fish fillets", "live cattle for breeding"]
    assert held_out and not held_out & set(seen)
    assert result.results["pretraining"]["extra_texts"] == 2
    assert result.results["pretraining"]["extra_texts_file"] == "headings.txt"


def test_epochs_zero_is_todays_run(tiny_bert, tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the pretraining phase ran with epochs 0")

    plain = run(_config(tiny_bert), output_dir=tmp_path / "plain")
    monkeypatch.setattr("fieldtune.training.run.pretrain", never)
    off = run(_config(tiny_bert, {"epochs": 0}), output_dir=tmp_path / "off")
    assert off.results["metrics"] == plain.results["metrics"]
    assert "pretraining" not in off.results and not (off.run_dir / "pretraining").exists()
    assert _weights(off.run_dir / "model").keys() == _weights(plain.run_dir / "model").keys()


def test_resume_reuses_a_finished_phase(tiny_bert, tmp_path, monkeypatch):
    """A run that failed after the phase keeps its folder; --resume trains the classifier from the same
    encoder without a second phase, to the uninterrupted run's scores."""
    whole = run(_config(tiny_bert, PRE), output_dir=tmp_path / "whole")

    config = _config(tiny_bert, PRE)
    with monkeypatch.context() as m:
        m.setattr("fieldtune.training.run._trainer", _killed)
        with pytest.raises(RuntimeError, match="killed"):
            run(config, output_dir=tmp_path / "resumed")
    encoder = tmp_path / "resumed" / "pretraining" / "encoder"
    assert encoder.is_dir() and (tmp_path / "resumed" / ".incomplete").exists()  # kept: worth resuming
    before = _digest(encoder)

    def again(*args, **kwargs):
        raise AssertionError("a finished pretraining phase ran again")

    monkeypatch.setattr(pretraining.MaskedLMTrainer, "train", again)
    resumed = run(config, output_dir=tmp_path / "resumed", resume=True)
    assert _digest(encoder) == before
    timeless = lambda summary: {k: v for k, v in summary.items() if k != "runtime_s"}  # noqa: E731
    assert timeless(resumed.results["pretraining"]) == timeless(whole.results["pretraining"])
    for key in ("accuracy", "f1_macro"):
        assert resumed.results["metrics"][key] == pytest.approx(whole.results["metrics"][key], abs=1e-6)
    recorded = json.loads((tmp_path / "resumed" / "pretraining" / "pretraining.json").read_text())
    assert recorded["summary"] == resumed.results["pretraining"]


def test_resume_with_other_pretraining_settings_is_refused(tiny_bert, tmp_path, monkeypatch):
    from fieldtune.errors import ConfigError

    config = _config(tiny_bert, {**PRE, "epochs": 1})
    monkeypatch.setattr("fieldtune.training.run._trainer", _killed)
    with pytest.raises(RuntimeError, match="killed"):
        run(config, output_dir=tmp_path / "run")
    saved = (tmp_path / "run" / "config.yaml").read_bytes()
    changed = _config(tiny_bert, {**PRE, "epochs": 1, "learning_rate": 1e-4})
    with pytest.raises(ConfigError, match="learning_rate"):
        run(changed, output_dir=tmp_path / "run", resume=True)
    assert (tmp_path / "run" / "config.yaml").read_bytes() == saved  # refused before anything is written


def test_lora_after_the_phase_saves_merged_weights(tiny_bert, tmp_path):
    """A LoRA adapter's base would be the original checkpoint, not the adapted encoder: the run saves the
    merged model, whose frozen layers are the phase's."""
    config = _config(tiny_bert, {**PRE, "epochs": 1}, method={"name": "lora", "lora_r": 4})
    result = run(config, output_dir=tmp_path / "run")
    model = result.run_dir / "model"
    assert not (model / "adapter_config.json").exists() and (model / "model.safetensors").is_file()
    encoder = _weights(result.run_dir / "pretraining" / "encoder")
    saved = _weights(model)
    name = "encoder.layer.0.attention.output.LayerNorm.weight"  # not a LoRA target: the phase's weights
    assert torch.equal(saved["bert." + name], encoder[name])
    assert not torch.equal(encoder[name], _weights(tiny_bert)[name])

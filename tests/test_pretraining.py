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


def _tiny_mlm(kind: str):
    """A random masked-LM model of the families the phase meets: BERT (`cls`), MPNet (`lm_head`, the seeded
    base model's family) and DistilBERT (a head of four parts)."""
    import transformers

    small = {"vocab_size": 60, "hidden_size": 16, "num_attention_heads": 2, "intermediate_size": 32}
    if kind == "distilbert":
        config = transformers.DistilBertConfig(vocab_size=60, dim=16, n_heads=2, hidden_dim=32, n_layers=2)
    else:
        config = getattr(transformers, f"{kind.capitalize() if kind == 'bert' else 'MPNet'}Config")(
            num_hidden_layers=2, **small
        )
    torch.manual_seed(0)
    return getattr(transformers, f"{type(config).__name__[: -len('Config')]}ForMaskedLM")(config)


@pytest.mark.parametrize("kind", ["bert", "mpnet"])
def test_the_head_scores_masked_positions_only_with_the_models_own_loss_and_gradients(kind, tmp_path):
    from transformers import TrainingArguments

    model = _tiny_mlm(kind).eval()  # no dropout: both paths see the same network (gradients still flow)
    head = pretraining.masked_lm_head(model)
    assert head is not None
    torch.manual_seed(1)
    ids = torch.randint(5, 60, (4, 12))
    labels = torch.full_like(ids, -100)
    where = torch.rand(ids.shape) < 0.2
    labels[where] = ids[where]
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    args = TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True)
    trainer = pretraining.MaskedLMTrainer(model=model, args=args)
    seen = []
    hook = head.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[:-1]))
    for items in (None, where.sum()):  # a plain mean, and the Trainer's count of the step's masked tokens
        model.zero_grad()
        loss = trainer.compute_loss(model, dict(inputs), num_items_in_batch=items)
        loss.backward()
        ours = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
        model.zero_grad()
        kwargs = {"num_items_in_batch": items} if items is not None else {}
        reference = model(**inputs, **kwargs).loss
        reference.backward()
        assert torch.allclose(loss, reference, atol=1e-6), (loss, reference)
        for name, p in model.named_parameters():
            if p.grad is not None:
                assert torch.allclose(ours[name], p.grad, atol=1e-6), name
    hook.remove()
    assert seen[0] == (int(where.sum()),)  # the masked rows only; the model's own call saw all 48 positions
    assert seen[1] == (4, 12)

    # bf16 mixed precision (accelerate wraps the model's forward with it) reaches the parts called directly
    bf16 = pretraining.MaskedLMTrainer(
        model=model, args=TrainingArguments(**{**args.to_dict(), "bf16": True})
    )
    dtypes = []
    hook = head.register_forward_hook(lambda m, args, out: dtypes.append(out.dtype))
    bf16.compute_loss(bf16.model, dict(inputs))
    hook.remove()
    assert dtypes == [torch.bfloat16]


def test_a_head_of_several_parts_takes_the_models_own_path():
    assert pretraining.masked_lm_head(_tiny_mlm("distilbert")) is None

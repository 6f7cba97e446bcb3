"""The quality methods of the training section (issue 18): label smoothing (with class weights, label sets),
R-Drop, weight averaging (SWA / EMA, kept across --resume). Each test shows the method changes what it
should: the loss equals its formula on a known batch, the final weights equal the average of the
snapshots recorded here. Tiny models: a linear head over random features (`HeadModel`), a few steps."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers import TrainerCallback, TrainingArguments

from fieldtune.config import WeightAveragingConfig, config_from_dict
from fieldtune.trainers.base import FieldTrainer
from fieldtune.trainers.vision import FeatureDataset, HeadModel

LOGITS = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.3, -0.7], [-1.2, 2.2, 0.4], [0.0, 0.0, 1.5]])
CLASSES = torch.tensor([0, 2, 1, 2])


def _trainer(tmp_path, model: nn.Module | None = None, **options) -> FieldTrainer:
    args = TrainingArguments(output_dir=str(tmp_path / "out"), use_cpu=True, report_to="none")
    return FieldTrainer(model=model or HeadModel(nn.Linear(3, 3), 3), args=args, **options)


class _Fixed(nn.Module):
    """Returns the logits it is given: the loss of a known batch, whatever the trainer does around it."""

    def forward(self, features, labels=None):
        return {"logits": features}


def _loss(tmp_path, logits, labels, **options) -> float:
    trainer = _trainer(tmp_path, _Fixed(), **options)
    return trainer.compute_loss(_Fixed().train(), {"features": logits, "labels": labels}).item()


def _smoothed_ce(logits, labels, eps, w=None):
    """torch's definition: -sum_c w_c q_c log p_c with q = (1 - eps) one-hot + eps / C, / sum_i w_yi."""
    w = torch.ones(logits.shape[1]) if w is None else w
    logp = logits.log_softmax(-1)
    q = nn.functional.one_hot(labels, logits.shape[1]) * (1 - eps) + eps / logits.shape[1]
    return (-(q * w * logp).sum(-1).sum() / w[labels].sum()).item()


@pytest.mark.parametrize("weights", [None, torch.tensor([1.0, 3.0, 0.5])])
def test_label_smoothing_is_the_formula_with_and_without_class_weights(tmp_path, weights):
    got = _loss(tmp_path, LOGITS, CLASSES, class_weights=weights, label_smoothing=0.2)
    assert got == pytest.approx(_smoothed_ce(LOGITS, CLASSES, 0.2, weights), rel=1e-5)
    assert got != pytest.approx(_smoothed_ce(LOGITS, CLASSES, 0.0, weights), rel=1e-3)  # it changed
    if weights is None:  # the same as transformers' own LabelSmoother on the unweighted path
        from transformers.trainer_pt_utils import LabelSmoother

        hf = LabelSmoother(epsilon=0.2)({"logits": LOGITS}, CLASSES).item()
        assert got == pytest.approx(hf, rel=1e-5)


def test_label_smoothing_of_label_sets_moves_targets_towards_one_half(tmp_path):
    tags = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0], [0.0, 1.0, 0.0]])
    pos_weight = torch.tensor([2.0, 1.0, 0.5])
    got = _loss(tmp_path, LOGITS, tags, class_weights=pos_weight, label_smoothing=0.1)
    t = tags * 0.9 + 0.05
    sig = torch.sigmoid(LOGITS)
    expected = -(pos_weight * t * sig.log() + (1 - t) * (1 - sig).log()).mean().item()
    assert got == pytest.approx(expected, rel=1e-5)


def test_label_smoothing_reaches_the_trainer_from_the_recipe_not_transformers():
    config = config_from_dict(
        {"model": {"name_or_path": "m"}, "training": {"label_smoothing_factor": 0.1, "r_drop": 2}}
    )
    options = FieldTrainer.run_options(config, None)
    assert options["label_smoothing"] == 0.1 and options["r_drop"] == 2
    assert "label_smoothing_factor" not in config.training.extra  # fieldtune's loss, not LabelSmoother


# --------------------------------------------------------------------------- R-Drop


def _dropout_head(p: float) -> HeadModel:
    torch.manual_seed(0)
    return HeadModel(nn.Sequential(nn.Dropout(p), nn.Linear(3, 3)), 3)


def _kl(a, b):  # KL(p_a || p_b), batch mean
    pa, pb = a.softmax(-1), b.softmax(-1)
    return (pa * (pa.log() - pb.log())).sum(-1).mean()


def test_r_drop_without_dropout_is_plain_cross_entropy(tmp_path):
    model = _dropout_head(0.0).train()
    trainer = _trainer(tmp_path, model, r_drop=4.0)
    got = trainer.compute_loss(model, {"features": LOGITS, "labels": CLASSES}).item()
    plain = nn.functional.cross_entropy(model.head(LOGITS), CLASSES).item()
    assert got == pytest.approx(plain, rel=1e-6)


def test_r_drop_adds_the_symmetric_kl_of_two_dropout_passes(tmp_path):
    model = _dropout_head(0.5).train()
    trainer = _trainer(tmp_path, model, r_drop=4.0)
    torch.manual_seed(1)
    got = trainer.compute_loss(model, {"features": LOGITS, "labels": CLASSES}).item()
    torch.manual_seed(1)  # the same two dropout masks, by hand
    a, b = model.head(LOGITS), model.head(LOGITS)
    ce = (nn.functional.cross_entropy(a, CLASSES) + nn.functional.cross_entropy(b, CLASSES)) / 2
    kl = (_kl(a, b) + _kl(b, a)) / 2
    assert kl.item() > 1e-3
    assert got == pytest.approx((ce + 4.0 * kl).item(), rel=1e-5)
    model.eval()  # evaluation: one pass, no KL
    got = trainer.compute_loss(model, {"features": LOGITS, "labels": CLASSES}).item()
    assert got == pytest.approx(nn.functional.cross_entropy(model.head(LOGITS), CLASSES).item(), rel=1e-6)


# --------------------------------------------------------------------------- weight averaging


class _Record(TrainerCallback):
    """The trainable weights after every optimizer step (before any callback's on_train_end)."""

    def __init__(self):
        self.steps: dict[int, dict[str, torch.Tensor]] = {}

    def on_step_end(self, args, state, control, model=None, **kwargs):
        self.steps[state.global_step] = {
            n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad
        }


def _features(n: int = 48) -> FeatureDataset:
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 3, (n,), generator=g)
    return FeatureDataset(
        torch.randn(n, 6, generator=g) + nn.functional.one_hot(labels, 6), labels.tolist(), 3
    )


def _fit(tmp_path, averaging: WeightAveragingConfig | None, resume: str | None = None, **args):
    """Train a linear head (the second of two layers; the first frozen) for 12 steps, 3 epochs."""
    torch.manual_seed(0)
    head = nn.Sequential(nn.Linear(6, 6), nn.Linear(6, 3))
    head[0].requires_grad_(False)
    model = HeadModel(head, 3)
    frozen = head[0].weight.detach().clone()
    record = _Record()
    options = {"num_train_epochs": 3, "per_device_train_batch_size": 12, "learning_rate": 0.5}
    trainer = FieldTrainer(
        model=model,
        args=TrainingArguments(
            output_dir=str(tmp_path),
            use_cpu=True,
            report_to="none",
            save_strategy="epoch",
            **options,
            **args,
        ),  # fmt: skip
        train_dataset=_features(),
        callbacks=[record],
        weight_averaging=averaging,
    )
    trainer.train(resume_from_checkpoint=resume)
    assert torch.equal(head[0].weight, frozen)  # frozen parts are neither trained nor averaged
    return {n: p.detach() for n, p in model.named_parameters() if p.requires_grad}, record.steps


def _mean(snapshots: list[dict]) -> dict:
    return {n: torch.stack([s[n] for s in snapshots]).mean(0) for n in snapshots[0]}


def _assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for n in a:
        torch.testing.assert_close(a[n], b[n], rtol=1e-5, atol=1e-6)


def test_weight_averaging_makes_the_mean_of_the_snapshots_the_model(tmp_path):
    plain, steps = _fit(tmp_path / "off", None)
    _assert_same(plain, steps[12])  # averaging off: the last step's weights, as before
    every_epoch, steps = _fit(tmp_path / "epochs", WeightAveragingConfig(start=0.5))
    _assert_same(every_epoch, _mean([steps[8], steps[12]]))  # epochs end at 4, 8, 12; from step 6 on
    every_3, steps = _fit(tmp_path / "steps", WeightAveragingConfig(start=0.5, every_steps=3))
    _assert_same(every_3, _mean([steps[6], steps[9], steps[12]]))
    assert (every_3["head.1.weight"] - plain["head.1.weight"]).abs().max() > 1e-3


def test_ema_follows_its_decay(tmp_path):
    ema, steps = _fit(tmp_path, WeightAveragingConfig(start=0.75, every_steps=1, ema_decay=0.5))
    expected = steps[9]
    for step in (10, 11, 12):
        expected = {n: 0.5 * expected[n] + 0.5 * steps[step][n] for n in expected}
    _assert_same(ema, expected)


def test_resume_continues_the_average_from_the_checkpoint(tmp_path):
    import shutil

    from fieldtune.errors import RunDirError

    averaging = WeightAveragingConfig(start=0.25, every_steps=2)
    whole, _ = _fit(tmp_path / "whole", averaging)
    checkpoint = tmp_path / "whole" / "checkpoint-8"  # holds the average of steps 4, 6, 8
    assert (checkpoint / "weight_average.pt").is_file()
    resumed, _ = _fit(tmp_path / "again", averaging, resume=str(checkpoint))
    _assert_same(resumed, whole)
    # a checkpoint past the start without its average cannot continue it: one line, nothing trained
    shutil.copytree(checkpoint, tmp_path / "bare" / "checkpoint-8")
    (tmp_path / "bare" / "checkpoint-8" / "weight_average.pt").unlink()
    with pytest.raises(RunDirError, match="without a weight average.*--overwrite"):
        _fit(tmp_path / "bare", averaging, resume=str(tmp_path / "bare" / "checkpoint-8"))


def test_a_lora_run_saves_the_averaged_adapter_that_plain_peft_loads(tiny_bert, tmp_path):
    """All three methods in one tiny LoRA run: model/ holds the mean of the recorded adapter + head weights."""
    from peft import AutoPeftModelForSequenceClassification
    from transformers import AutoConfig

    from fieldtune.training.run import run
    from tests.test_train_text import text_config

    config = text_config(
        tiny_bert,
        method={"name": "lora", "lora_r": 4},
        model={"dropout": 0.1},
        training={
            "learning_rate": 5e-3, "class_weights": "balanced", "label_smoothing_factor": 0.1, "r_drop": 1.0,
            "weight_averaging": {"start": 0.5, "every_steps": 1},
        },
    )  # fmt: skip
    record = _Record()
    result = run(config, output_dir=tmp_path / "run", callbacks=[record])
    last = max(record.steps)
    averaged = _mean([record.steps[s] for s in record.steps if s >= -(-last // 2)])
    labels = AutoConfig.from_pretrained(result.run_dir / "model")  # plain peft, as tests/helpers.py loads it
    saved = dict(
        AutoPeftModelForSequenceClassification.from_pretrained(
            result.run_dir / "model", num_labels=labels.num_labels, id2label=labels.id2label
        ).named_parameters()
    )
    assert averaged and averaged.keys() <= saved.keys()
    _assert_same({n: saved[n].detach() for n in averaged}, averaged)
    assert any((record.steps[last][n] - averaged[n]).abs().max() > 1e-4 for n in averaged)


def test_the_feature_cached_probe_head_trains_with_label_smoothing(tmp_path, monkeypatch):
    from fieldtune.trainers import mixing
    from fieldtune.training.run import run
    from tests.test_train_vision import tiny_vision, vision_config

    seen: list[tuple[bool, float]] = []

    def spy(logits, labels, weight=None, smoothing=0.0):
        seen.append((torch.is_grad_enabled(), smoothing))  # with gradients: a training step
        return target_loss(logits, labels, weight, smoothing)

    target_loss = mixing.target_loss
    monkeypatch.setattr(mixing, "target_loss", spy)
    config = vision_config(
        tiny_vision(tmp_path / "vit", "vit"), "probe", training={"label_smoothing_factor": 0.2}
    )
    run(config, output_dir=tmp_path / "probe")
    # the head's training steps run in the inner trainer (the outer one only predicts, without gradients)
    assert (True, 0.2) in seen and {smoothing for _, smoothing in seen} == {0.2}


def test_validation_metrics_after_weight_averaging_are_those_of_the_average(tiny_bert, tmp_path):
    """Sweeps and recipes choose on `validation_metrics`: after averaging they must score the saved model,
    not the last (or best) weights that training evaluated."""
    import json

    from fieldtune.inference.evaluate import evaluate_model
    from fieldtune.training.run import run
    from tests.test_train_text import text_config

    config = text_config(
        tiny_bert,
        method={"name": "lora", "lora_r": 4},
        data={"validation_size": 0.25},
        training={"learning_rate": 5e-3, "weight_averaging": {"start": 0.3, "every_steps": 1}},
    )
    result = run(config, output_dir=tmp_path / "run")
    results = json.loads((result.run_dir / "eval_results.json").read_text())
    kept = results["validation_metrics"]
    logged = [h for h in json.loads(sorted((result.run_dir / "checkpoints").glob("*/trainer_state.json"))[-1]
              .read_text())["log_history"] if "eval_loss" in h]  # fmt: skip
    assert logged and all(abs(h["eval_loss"] - kept["loss"]) > 1e-6 for h in logged)
    again = evaluate_model(str(result.run_dir), None, split="validation")["metrics"]
    assert kept["accuracy"] == pytest.approx(again["accuracy"])
    assert kept["f1_macro"] == pytest.approx(again["f1_macro"])


@pytest.mark.parametrize("family", ["bert", "mobilenet", "mpnet"])
def test_layerwise_lr_puts_what_sits_above_the_blocks_with_the_head(family):
    """LLRD: the head and what the backbone puts on top of its block stack (BERT's pooler, MobileNetV2's
    last 1x1 convolution) train at the full rate; block i from the top at lr * decay**i; the embeddings /
    stem below the lowest block, and with them what the encoder shares among its blocks (MPNet's relative
    attention bias, registered after the layer list), not at the head's rate."""
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        MobileNetV2Config,
        MobileNetV2ForImageClassification,
        MPNetConfig,
        MPNetForSequenceClassification,
    )

    from fieldtune.trainers.base import layerwise_param_groups

    if family == "bert":
        config = BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                            intermediate_size=32, num_labels=3)  # fmt: skip
        model, blocks = BertForSequenceClassification(config), 3
        top, stem, above = "bert.encoder.layer.2.", ("bert.embeddings.",), ["bert.pooler."]
    elif family == "mpnet":
        config = MPNetConfig(vocab_size=50, hidden_size=16, num_hidden_layers=3, num_attention_heads=2,
                             intermediate_size=32, relative_attention_num_buckets=8, num_labels=3)  # fmt: skip
        model, blocks = MPNetForSequenceClassification(config), 3
        top, above = "mpnet.encoder.layer.2.", []
        stem = ("mpnet.embeddings.", "mpnet.encoder.relative_attention_bias.")
    else:
        config = MobileNetV2Config(depth_multiplier=0.25, image_size=32, num_labels=3)
        model = MobileNetV2ForImageClassification(config)
        blocks = len(model.mobilenet_v2.layer)
        top = f"mobilenet_v2.layer.{blocks - 1}."
        stem, above = ("mobilenet_v2.conv_stem.",), ["mobilenet_v2.conv_1x1."]
    lr, decay = 1e-3, 0.5
    rate_of = {
        id(p): group["lr"]
        for group in layerwise_param_groups(model, lr, decay, 0.01)
        for p in group["params"]
    }
    rates = {name: rate_of[id(p)] for name, p in model.named_parameters()}
    assert len(rates) == len(list(model.parameters()))  # every parameter in exactly one group
    for name, rate in rates.items():
        if name.startswith("classifier.") or any(name.startswith(a) for a in above):
            assert rate == pytest.approx(lr), name
        elif name.startswith(top):
            assert rate == pytest.approx(lr * decay), name
        elif name.startswith(stem):
            assert rate == pytest.approx(lr * decay ** (blocks + 1)), name
    assert any(name.startswith(stem[-1]) for name in rates)  # the shared bias is there, and was checked
    assert {round(r / lr, 6) for r in rates.values()} == {round(decay**d, 6) for d in range(blocks + 2)}

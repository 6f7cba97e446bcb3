"""Knowledge distillation (`distill:`, issue 35): a finished run (the teacher) predicts the student's training
rows once, and the student trains on (1 - alpha) x its hard-label loss + alpha x T^2 KL to the teacher's
softened probabilities. Tiny BERTs on generated order notes; the teacher differs from the student in seed
and `model.max_length` (it tokenises the raw texts itself)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainingArguments

import fieldtune.inference.load as load_module
from fieldtune.config import config_from_dict
from fieldtune.datasets_builders import build_dataset
from fieldtune.inference.load import load_for_inference, predict_logits, text_batches
from fieldtune.targets import TARGETS
from fieldtune.trainers.base import FieldTrainer
from fieldtune.trainers.distillation import Distillation
from fieldtune.trainers.vision import HeadModel
from fieldtune.training.run import run

pytestmark = pytest.mark.slow
DATA = {"builder": "logistics_demand", "num_samples": 120, "seed": 0}


def _config(model_dir, name: str, max_length: int = 32, **sections):
    training = {"num_train_epochs": 2, "per_device_train_batch_size": 16, "learning_rate": 1e-3, "seed": 0}
    training.update(sections.pop("training", {}))
    return config_from_dict(
        {"task": "text-classification", "name": name, "model": {"name_or_path": str(model_dir), "max_length": max_length},
         "data": DATA, "training": training, "baseline": {"guard": False}, **sections}
    )  # fmt: skip


@pytest.fixture(scope="module")
def teacher(tiny_bert, tmp_path_factory):
    """A finished run of another seed and `max_length` than the students."""
    out = tmp_path_factory.mktemp("runs") / "teacher"
    config = _config(tiny_bert, "teacher", max_length=48, training={"num_train_epochs": 3, "seed": 7})
    return run(config, output_dir=out).run_dir


def _train_texts() -> list[str]:
    return list(build_dataset(config_from_dict({"model": {"name_or_path": "m"}, "data": DATA}).data,
                              "text-classification")["train"]["text"])  # fmt: skip


def _probabilities(ref, texts, max_length: int) -> np.ndarray:
    loaded = load_for_inference(ref)
    return torch.tensor(predict_logits(loaded, text_batches(loaded, texts, max_length))).softmax(-1).numpy()


# --------------------------------------------------------------------------- (1) soft targets


def test_teacher_predicts_each_training_row_once_and_its_logits_are_its_predictions(
    teacher, tiny_bert, tmp_path, monkeypatch
):
    from fieldtune.trainers import distillation

    rows_seen, columns = [], {}
    real_batch_logits, real_add = load_module.batch_logits, distillation.add_teacher_logits

    def counting(loaded, batch):
        rows_seen.append(len(batch["input_ids"]))
        return real_batch_logits(loaded, batch)

    def keeping(prepared, *args, **kwargs):
        record = real_add(prepared, *args, **kwargs)
        columns["train"] = prepared.dataset["train"]
        return record

    monkeypatch.setattr(load_module, "batch_logits", counting)
    monkeypatch.setattr(distillation, "add_teacher_logits", keeping)
    config = _config(
        tiny_bert, "student", distill={"teacher": str(teacher)}, training={"num_train_epochs": 3}
    )
    result = run(config, output_dir=tmp_path / "student")

    train = columns["train"]
    assert sum(rows_seen) == len(train) == result.results["distill"]["rows"]  # once per row, not per epoch
    # the teacher's own probabilities, from plain transformers with the teacher's tokenizer and max_length
    tokenizer = AutoTokenizer.from_pretrained(teacher / "model")
    model = AutoModelForSequenceClassification.from_pretrained(teacher / "model").eval()
    with torch.no_grad():
        enc = tokenizer(
            list(train["text"]), truncation=True, max_length=48, padding=True, return_tensors="pt"
        )
        expected = model(**enc).logits.softmax(-1).numpy()
    soft = torch.tensor(train["teacher_logits"]).softmax(-1).numpy()
    np.testing.assert_allclose(soft, expected, atol=1e-5)
    assert result.results["distill"]["teacher"] == str(teacher)
    assert result.results["distill"]["alpha"] == 0.5
    card = (result.run_dir / "README.md").read_text()
    assert f"Distilled from the fieldtune run `{teacher}`" in card
    assert "distill" not in result.run_dir.joinpath("model", "config.json").read_text()  # plain model files


# --------------------------------------------------------------------------- (2) the loss


LOGITS = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.3, -0.7], [-1.2, 2.2, 0.4], [0.0, 0.0, 1.5]])
TEACHER = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.5, 1.0], [0.0, 3.0, 0.0], [-1.0, 0.2, 2.0]])
CLASSES = torch.tensor([0, 2, 1, 2])


def _loss(tmp_path, batch: dict, train: bool = True, **options) -> torch.Tensor:
    torch.manual_seed(0)
    model = HeadModel(nn.Linear(3, 3), 3).train(train)
    args = TrainingArguments(output_dir=str(tmp_path / "out"), use_cpu=True, report_to="none")
    trainer = FieldTrainer(model=model, args=args, **options)
    return trainer.compute_loss(model, dict(batch)).detach()


@pytest.mark.parametrize(
    "options", [{}, {"label_smoothing": 0.1, "class_weights": torch.tensor([1.0, 2.0, 0.5])}]
)
def test_alpha_zero_is_exactly_the_plain_loss(tmp_path, options):
    plain = _loss(tmp_path, {"features": LOGITS, "labels": CLASSES}, **options)
    distilled = _loss(
        tmp_path, {"features": LOGITS, "labels": CLASSES, "teacher_logits": TEACHER},
        distill=Distillation(0.0, 2.0, TARGETS["classes"]), **options,
    )  # fmt: skip
    assert distilled.item() == plain.item()
    mixed = _loss(
        tmp_path, {"features": LOGITS, "labels": CLASSES, "teacher_logits": TEACHER},
        distill=Distillation(0.5, 2.0, TARGETS["classes"]), **options,
    )  # fmt: skip
    assert mixed.item() != pytest.approx(plain.item(), rel=1e-3)  # the teacher term counts once alpha > 0


def test_the_loss_is_hintons_formula_and_evaluation_sees_no_teacher(tmp_path):
    alpha, t = 0.7, 3.0
    batch = {"features": LOGITS, "labels": CLASSES, "teacher_logits": TEACHER}
    got = _loss(tmp_path, batch, distill=Distillation(alpha, t, TARGETS["classes"]))
    torch.manual_seed(0)
    student = nn.Linear(3, 3)(LOGITS).detach()
    p_teacher = (TEACHER / t).softmax(-1)
    kl = (p_teacher * (p_teacher.log() - (student / t).log_softmax(-1))).sum(-1).mean()
    expected = (1 - alpha) * nn.functional.cross_entropy(student, CLASSES) + alpha * t**2 * kl
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    evaluated = _loss(tmp_path, batch, train=False, distill=Distillation(alpha, t, TARGETS["classes"]))
    assert evaluated.item() == pytest.approx(nn.functional.cross_entropy(student, CLASSES).item(), rel=1e-6)


# --------------------------------------------------------------------------- (3) the effect


def test_a_distilled_student_moves_towards_its_teacher(teacher, tiny_bert, tmp_path):
    """Same seed, steps and data; the distilled student's predicted distribution on the training rows is
    closer (KL) to the teacher's than the one trained on the hard labels alone."""
    texts = _train_texts()
    p_teacher = _probabilities(teacher, texts, 48)

    def kl_to_teacher(distill: dict | None) -> float:
        sections = {"distill": distill} if distill else {}
        name = "distilled" if distill else "plain"
        student = run(_config(tiny_bert, name, **sections), output_dir=tmp_path / name).run_dir
        p_student = _probabilities(student, texts, 32)
        return float((p_teacher * (np.log(p_teacher) - np.log(p_student))).sum(-1).mean())

    plain = kl_to_teacher(None)
    distilled = kl_to_teacher({"teacher": str(teacher), "alpha": 0.9, "temperature": 2.0})
    assert distilled < 0.8 * plain, (distilled, plain)

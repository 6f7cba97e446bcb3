"""What every kind of target answers, and its defaults: the flow asks these instead of naming a kind.

Attributes are rules (which recipe options fit, how labels batch, how views average); methods turn a
model's outputs into predictions, scores and rows. Torch is imported lazily, only by the methods that build
tensors, so the task table stays importable without it (`fieldtune.training.preflight` is torch-free).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fieldtune.targets.draws import Draws


class Targets:
    name: str = ""  # "classes" | "tags" | "values": how files that store the kind name it
    label_dtype = "long"  # the dtype of a batch's labels
    named = True  # labels have names (a ClassLabel); False: a number, one output "value"
    label_sets = False  # several labels per example (multi-hot): `data.label_columns`, label-set parsing
    scaled = False  # standardised for training, the scale folded back into the head after it
    calibrates = False  # per-label thresholds are tuned on the validation split after training
    lower_is_better: tuple[str, ...] = ()  # the metrics of this kind where smaller is better
    metric_range: tuple[float, float] | None = (0.0, 1.0)  # the learning-curve plot's metric axis
    plot = "confusion_matrix"  # the test plot `rundir.results` draws
    # recipe options that fit this kind (config/rules.py asks; the error names the option)
    class_weights = True
    label_smoothing = True
    r_drop = False  # compares two predicted class distributions
    distillation = False  # `distill.teacher`: a teacher's softened class distribution (`soft_target_loss`)
    baseline_ensemble = True  # probabilities (or each label's odds) to mix with the TF-IDF baseline's
    baseline_classifiers: tuple[str, ...] = ("linear_svc", "logistic_regression")
    # the metrics a bootstrap resample can score (`fieldtune.evaluation.confidence` gives each an interval), best first
    interval_metrics: tuple[str, ...] = ()
    # the ONNX folder's README: the Python line that reads the graph's `logits`
    onnx_decoding = "labels = [config['id2label'][str(i)] for i in logits.argmax(-1)]"
    # a fold ensemble's ONNX graph: the name of its second output, what `averaged_tensors` averages
    ensemble_output = "probabilities"
    fold_score = ".softmax(-1)"  # the card's fold-averaging snippet: what each fold's logits become

    @staticmethod
    def references(labels: Any, num_labels: int) -> np.ndarray:
        """The dataset's labels as `evaluate` compares them: class ids or numbers, as given."""
        return np.asarray(labels)

    @staticmethod
    def read_column(values: Sequence[str]) -> list[Any]:
        """A `predictions.csv` column (read as strings) as `draws` takes it: labels and label sets as written."""
        return list(values)

    def draws(
        self,
        labels: Sequence[Any],
        predicted: Sequence[Any],
        label_names: Sequence[str] | None = None,
        hits: dict[str, np.ndarray] | None = None,
    ) -> Draws:
        """A function from resample weights to this kind's metrics on every resample (`fieldtune.evaluation.confidence`)."""
        raise NotImplementedError

    def label_tensor(self, labels: Sequence[Any], num_labels: int | None = None) -> Any:
        """A batch's labels as the loss takes them (class ids: long; numbers: float32)."""
        import torch

        return torch.as_tensor(np.asarray(labels), dtype=getattr(torch, self.label_dtype))

    def label_names_in(self, config: Any) -> list[str] | None:
        """A saved model's label names, read from its config (None: a number has none)."""
        return [config.id2label[i] for i in range(config.num_labels)] if self.named else None

    def head_labels(self, label_names: list[str] | None) -> dict[str, Any]:
        """The model config's label fields for a fresh head."""
        names = label_names or []
        return {
            "num_labels": len(names),
            "id2label": dict(enumerate(names)),
            "label2id": {n: i for i, n in enumerate(names)},
        }

    def soft_target_loss(self, student: Any, teacher: Any, temperature: float) -> Any:
        """The distillation term against a teacher's logits (kinds with `distillation` only)."""
        raise NotImplementedError(f"{self.name} targets have no distillation loss")

    # test-time views: each view's logits -> the quantity averaged, and its mean -> logits again (tensors)
    @staticmethod
    def view_scores(logits: Any) -> Any:
        return logits.float().softmax(-1)

    @staticmethod
    def view_logits(mean: Any) -> Any:
        return mean.log()  # softmax and argmax read the averaged probabilities

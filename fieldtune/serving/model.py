"""The model `fieldtune serve` answers with: loaded as `predict` loads it, decoded as `predict` decodes.

Texts go through `text_batches` (the run's text normalisation, its tokenizer limit), images through
`image_to_pixels` and the evaluation collator (the run's resize, crop and normalisation), logits through
`batch_logits` (test-time views) and `prediction_rows` (thresholds, label sets, regression units): the
same functions `fieldtune predict` runs, so a served prediction is the row `predict --top-k <all labels>`
writes for the same input.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np

from fieldtune.errors import DataError
from fieldtune.inference.batch_predict import model_fingerprint, prediction_rows
from fieldtune.inference.load import Loaded, batch_logits, load_for_inference, text_batches
from fieldtune.inference.onnx import OnnxModel
from fieldtune.rundir.reader import RESULTS_FILE, RunDirectory
from fieldtune.serving.batching import length_groups


class ServedModel:
    """A loaded model with the calls the server makes; `calls` counts model calls (batches), `inputs` the
    inputs they held, `forwards` the forward passes of text calls (texts grouped by length)."""

    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded
        self.version = model_fingerprint(loaded.model_dir) or loaded.revision or "unknown"
        self.top_k = len(loaded.label_names or [0])  # every label's score
        self.calls = self.inputs = self.forwards = 0
        self._lock = threading.Lock()
        self._spec = self._collate = None
        if self.reads_files:
            from fieldtune.inputs.image_spec import resolve_image_spec
            from fieldtune.inputs.images import make_image_collator

            self._spec = resolve_image_spec(loaded.processor, None)
            self._collate = make_image_collator(self._spec, None, train=False)

    @classmethod
    def load(cls, ref: str, revision: str | None = None, test_time: str | None = None) -> ServedModel:
        return cls(load_for_inference(ref, revision, test_time=test_time))

    @property
    def modality(self) -> str:
        return self.loaded.task.modality

    @property
    def reads_files(self) -> bool:
        """Inputs are image files (uploads or base64), decoded to pixels; else texts."""
        return self.loaded.task.inputs.files

    @property
    def request_field(self) -> str:
        return self.loaded.task.inputs.request_field

    def decode_image(self, data: bytes) -> np.ndarray:
        """Bytes of an image file -> uint8 pixels (3, S, S), as `predict` decodes a file."""
        from fieldtune.inputs.images import image_to_pixels

        try:
            return image_to_pixels(bytes(data), self._spec)
        except Exception as e:  # PIL raises many types for a bad file
            raise DataError(
                f"cannot decode the image ({type(e).__name__}); send a JPEG, PNG or WebP file"
            ) from None

    def predict(self, items: list[Any]) -> list[dict]:
        """One model call over texts (str) or decoded images (pixels): one predict row per item."""
        with self._lock:  # one model call at a time, whichever thread asks
            self.calls += 1
            self.inputs += len(items)
            if self.reads_files:
                pixels = self._collate([{"pixel_values": p} for p in items])["pixel_values"]
                logits = batch_logits(self.loaded, {"pixel_values": pixels})
            else:
                logits = self._text_logits(list(items))
        return prediction_rows(self.loaded, logits, self.top_k)

    def _text_logits(self, texts: list[str]) -> np.ndarray:
        """Texts of similar length share a forward pass padded to their own longest (`length_groups`): one
        long text does not pad every short one to its length. Each text's logits are those of any batch
        it is in (padding is masked), returned in the request order."""
        (batch,) = text_batches(self.loaded, texts, batch_size=len(texts))
        mask = batch.get("attention_mask")
        groups = length_groups(mask.sum(1).tolist()) if mask is not None else [list(range(len(texts)))]
        self.forwards += len(groups)
        if len(groups) == 1:
            return batch_logits(self.loaded, batch)
        logits: list[Any] = [None] * len(texts)
        for group in groups:
            (part,) = text_batches(self.loaded, [texts[i] for i in group], batch_size=len(group))
            for i, row in zip(group, batch_logits(self.loaded, part), strict=True):
                logits[i] = row
        return np.stack(logits)

    def metadata(self) -> dict:
        loaded = self.loaded
        return {
            "model": loaded.source,
            "version": self.version,
            "revision": loaded.revision,
            "task": loaded.task.name,
            "inputs": self.modality,
            "labels": loaded.label_names,
            "metrics": metrics_of(loaded),
            "precision": precision_of(loaded.model),
            "runtime": runtime_of(loaded.model),
            "test_time": loaded.test_time,
        }


def metrics_of(loaded: Loaded) -> dict | None:
    """The test metrics in eval_results.json: the run's, or one saved beside the model (a Hub snapshot)."""
    run = RunDirectory.at(loaded.source)
    candidates = [run.path / RESULTS_FILE] if run is not None else []
    if loaded.model_dir is not None:
        candidates += [loaded.model_dir / RESULTS_FILE, loaded.model_dir / "export_report.json"]
    for path in candidates:
        try:
            metrics = json.loads(Path(path).read_text(encoding="utf-8")).get("metrics")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(metrics, dict):
            return metrics
    return None


def _inner(model: Any) -> Any:
    return getattr(model, "model", model) if not isinstance(model, OnnxModel) else model


def precision_of(model: Any) -> str:
    """int8 for a quantised ONNX export, else the weights' dtype (float32 when there is none to read)."""
    inner = _inner(model)
    if isinstance(inner, OnnxModel):
        return inner.quantize or "float32"
    params = getattr(inner, "parameters", None)
    first = next(iter(params()), None) if callable(params) else None
    return str(first.dtype).removeprefix("torch.") if first is not None else "float32"


def runtime_of(model: Any) -> str:
    inner = _inner(model)
    if isinstance(inner, OnnxModel):
        import onnxruntime

        return f"onnxruntime {onnxruntime.__version__}"
    import torch

    if isinstance(inner, torch.nn.Module):
        return f"torch {torch.__version__}"
    return type(inner).__module__.split(".")[0]

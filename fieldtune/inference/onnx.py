"""Running an exported ONNX folder (`fieldtune export --format onnx`) with onnxruntime.

The folder holds `model.onnx`, the tokenizer or image processor and config.json (id2label, fieldtune's
keys), so it loads into the same `Loaded` as a PyTorch model: `OnnxModel` is called like a transformers
model (`model(**batch).logits`), and `predict_logits`, test-time views and metrics need no second path.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from fieldtune.errors import ModelError

ONNX_FILE = "model.onnx"
CONFIG_KEY = "fieldtune_onnx"  # config.json: how the folder was exported (opset, quantize, params)


def is_onnx_folder(model_dir: Path) -> bool:
    return (model_dir / ONNX_FILE).is_file()


def inference_session(path: Path) -> Any:
    """An onnxruntime CPU session; a file it cannot read is a one-line ModelError."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelError(
            f"{path} is an ONNX model but onnxruntime is not installed; pip install 'fieldtune[onnx]'."
        ) from None
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: ORT warns about every unused initializer otherwise
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own pybind exception types
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelError(f"onnxruntime cannot load {path}: {first}; export the run again.") from None


class OnnxModel:
    """An onnxruntime session behind the call signature of a transformers classifier."""

    def __init__(self, path: Path, config: Any) -> None:
        self.path = path
        self.config = config
        self.session = inference_session(path)
        self.input_names = [i.name for i in self.session.get_inputs()]
        info = getattr(config, CONFIG_KEY, None) or {}
        self.total_params = int(info.get("total_params", 0))
        self.quantize = info.get("quantize")

    def __call__(self, **batch: Any) -> SimpleNamespace:
        feed = {}
        for name in self.input_names:
            value = batch[name]
            value = value.cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
            feed[name] = value.astype(np.int64) if value.dtype.kind in "iub" else value.astype(np.float32)
        (logits,) = self.session.run(["logits"], feed)
        return SimpleNamespace(logits=torch.from_numpy(np.ascontiguousarray(logits)))

    def eval(self) -> OnnxModel:
        return self

    def parameters(self) -> Any:
        return iter(())  # an ORT session has no torch parameters; `total_params` comes from config.json


def load_onnx_model(model_dir: Path) -> tuple[OnnxModel, Any]:
    """The session and the transformers config (id2label, fieldtune keys) of an exported folder."""
    from transformers import AutoConfig

    import fieldtune.modeling.pooling  # noqa: F401  (a mean-pooled model's config class, registered)

    try:
        config = AutoConfig.from_pretrained(model_dir)
    except (OSError, ValueError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelError(f"Cannot read {model_dir}/config.json: {first}; export the run again.") from None
    return OnnxModel(model_dir / ONNX_FILE, config), config

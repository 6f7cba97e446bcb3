"""int8 quantisation of an exported ONNX graph, the kind chosen by the model's inputs
(`Modality.quantization`).

- dynamic (text): weights int8, activations quantised per batch at run time; what transformer matmuls
  gain from.
- static (images): onnxruntime's QDQ format, weights int8 per output channel, activations uint8 with
  ranges calibrated (min-max) on a few hundred training inputs (`CalibrationDataReader`), after
  onnxruntime's pre-processing (shape inference, graph optimisation) so convolutions, BatchNorm and
  their activations fuse before they are quantised.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fieldtune.errors import DataError, FieldtuneError, ModelError

CALIBRATION_EXAMPLES = 300  # inputs the static ranges are calibrated on


def needs_calibration(kind: str) -> bool:
    return kind == "static"


def int8_kind(preferred: str, fp32: Path) -> str:
    """The quantisation a graph gets: `preferred` (the task's inputs), except that static QDQ is kept for
    convolutional graphs. A vision transformer (more MatMul than Conv nodes: one patch convolution) lost 40
    accuracy points under static activation ranges (LayerNorm / softmax / GELU outputs), so it is
    quantised dynamically, as text transformers are."""
    if preferred != "static":
        return preferred
    import onnx

    ops = [node.op_type for node in onnx.load(str(fp32), load_external_data=False).graph.node]
    return "static" if ops.count("Conv") > ops.count("MatMul") + ops.count("Gemm") else "dynamic"


def quantize_int8(fp32: Path, int8: Path, kind: str, calibration: Iterable[dict] | None = None) -> None:
    """`fp32` -> `int8` by `kind` ("dynamic" | "static"; static reads model batches from `calibration`)."""
    try:
        if kind == "static":
            _static(fp32, int8, calibration or [])
        else:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    except FieldtuneError:
        raise
    except Exception as e:  # onnxruntime.quantization raises plain exceptions
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise ModelError(
            f"int8 quantisation of {fp32.name} failed ({first}); export without --quantize."
        ) from None


class _Batches:
    """onnxruntime's CalibrationDataReader over model batches (dicts of tensors), one feed per batch."""

    def __init__(self, batches: Iterable[dict], names: list[str]) -> None:
        self.batches, self.names, self._it = batches, names, None
        self.seen = 0

    def get_next(self) -> dict | None:
        if self._it is None:
            self._it = iter(self.batches)
        batch = next(self._it, None)
        if batch is None:
            return None
        feed = {}
        for name in self.names:
            value = batch[name]
            value = value.cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
            feed[name] = np.ascontiguousarray(
                value, dtype=np.int64 if value.dtype.kind in "iub" else np.float32
            )
        self.seen += len(next(iter(feed.values())))
        return feed

    def rewind(self) -> None:
        self._it = None


def _static(fp32: Path, int8: Path, calibration: Iterable[dict]) -> None:
    import onnxruntime as ort
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(_Batches, CalibrationDataReader):
        pass

    names = [i.name for i in ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"]).get_inputs()]
    reader = Reader(list(calibration), names)
    if not reader.batches:
        raise DataError("no calibration inputs: static int8 needs a few hundred images; pass --calibration.")
    with tempfile.TemporaryDirectory(dir=int8.parent) as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared), str(int8), reader, quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        )  # fmt: skip


def calibration_batches(loaded: Any, run: Path, calibration: str | None, batch_size: int = 32) -> list[dict]:
    """Up to `CALIBRATION_EXAMPLES` inputs as model batches: the images at `calibration` (a folder, glob
    or file, spread evenly over its sorted listing), else the start of the run's training split."""
    if calibration is not None:
        from fieldtune.inference.predict_inputs import ImageSource
        from fieldtune.inputs.prepare_images import image_batches_from_files

        files = list(ImageSource(calibration).files())
        if not files:
            raise DataError(
                f"--calibration {calibration}: no images found (a folder, a glob or an image file)."
            )
        step = max(1, len(files) // CALIBRATION_EXAMPLES)
        return list(image_batches_from_files(loaded, files[::step][:CALIBRATION_EXAMPLES], batch_size))
    from fieldtune.datasets_builders import build_dataset
    from fieldtune.inference.evaluate import data_config_for
    from fieldtune.inference.load import split_batches

    train = build_dataset(data_config_for(loaded, str(run), None), loaded.task.name)["train"]
    ds = train.shuffle(seed=0).select(range(min(CALIBRATION_EXAMPLES, len(train))))
    return list(split_batches(loaded, ds, batch_size=batch_size))

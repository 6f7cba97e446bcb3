"""`fieldtune export RUN --format onnx`: a finished run -> an ONNX folder whose outputs are checked.

torch.onnx (the dynamo exporter, onnxscript) writes the graph: its TorchScript predecessor traces
transformers' attention-mask code into constants and was 2e-2 off on padded text batches here. LoRA is
merged first and the MLP head is rebuilt by fieldtune's loader, so the exporter always sees a plain
nn.Module. Everything is written into a hidden sibling folder and renamed at the end, only after the
fp32 graph matched PyTorch within `PARITY_TOLERANCE` on the run's own test split.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fieldtune.baselines.ensemble import ENSEMBLE_NOTE, carry_ensemble, has_ensemble
from fieldtune.errors import FieldtuneError, ModelError, RunDirError
from fieldtune.inference.evaluate import data_config_for, evaluation_data, model_references, split_of
from fieldtune.inference.load import Loaded, load_for_inference, predict_logits, split_batches, thresholds_of
from fieldtune.inference.onnx import CONFIG_KEY, ONNX_FILE, OnnxModel
from fieldtune.inference.quantize import calibration_batches, int8_kind, needs_calibration, quantize_int8
from fieldtune.modeling.create import count_params
from fieldtune.rundir.layout import is_baseline_folder, write_json
from fieldtune.rundir.reader import RunDirectory
from fieldtune.rundir.saving import is_peft_model

PARITY_TOLERANCE = 1e-4  # max |logit difference| between PyTorch and the fp32 ONNX graph
FORMATS = ("onnx",)
QUANTIZE = ("int8",)
MIN_OPSET = 18  # the dynamo exporter's own opsets start here; older ones go through a lossy converter
log = logging.getLogger(__name__)


def max_opset() -> int:
    from torch.onnx import _constants

    return int(getattr(_constants, "ONNX_MAX_OPSET", 23))


def check_export_args(
    run: Path,
    out: Path,
    fmt: str,
    quantize: str | None,
    opset: int | None,
    check_data: str | None = None,
    calibration: str | None = None,
) -> None:
    """Everything that can be refused before a model is loaded."""
    if fmt not in FORMATS:
        raise FieldtuneError(f"--format {fmt}: unknown export format; use one of {', '.join(FORMATS)}.")
    if quantize is not None and quantize not in QUANTIZE:
        raise FieldtuneError(f"--quantize {quantize}: unknown; use one of {', '.join(QUANTIZE)}.")
    if opset is not None and not MIN_OPSET <= opset <= max_opset():
        raise FieldtuneError(
            f"--opset {opset}: the installed exporter (torch {torch.__version__}) writes opsets "
            f"{MIN_OPSET}-{max_opset()}; pick one of them or leave --opset out."
        )
    try:
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401  (the dynamo exporter writes its graphs)
    except ImportError as e:
        raise FieldtuneError(f"ONNX export needs {e.name}; pip install 'fieldtune[onnx]'.") from None
    if RunDirectory.at(run) is None:
        raise RunDirError(
            f"{run} is not a fieldtune run directory (no config.yaml); ONNX export checks the model on the "
            "run's test split, so pass the run directory."
        )
    RunDirectory(run).require_finished()
    if is_baseline_folder(run / "model"):
        raise RunDirError(
            f"{run} is a scikit-learn baseline, not a transformers model; there is no graph to export to ONNX "
            "(serve it with `fieldtune predict`, or load model/model.skops with skops)."
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FieldtuneError(f"--out {out} already exists and is not empty; choose a new folder.")
    if calibration is not None:
        _check_calibration(run, quantize, calibration)
    if check_data is not None and not Path(check_data).expanduser().exists():
        from fieldtune.hub.repos import is_hub_id

        if not is_hub_id(check_data):
            raise FieldtuneError(
                f"--check-data {check_data} does not exist; pass a data file, folder or Hub dataset id."
            )


def _check_calibration(run: Path, quantize: str | None, calibration: str) -> None:
    from fieldtune.tasks.table import TASKS

    if quantize is None:
        raise FieldtuneError("--calibration calibrates int8 quantisation; pass it with --quantize int8.")
    task = TASKS.get(str(RunDirectory(run).config.get("task")))
    if task is not None and not needs_calibration(task.inputs.quantization):
        raise FieldtuneError(
            f"--calibration: {run} is a {task.modality} model, quantised dynamically (no calibration); "
            "leave --calibration out."
        )
    if not Path(calibration).expanduser().exists() and not any(c in calibration for c in "*?["):
        raise FieldtuneError(
            f"--calibration {calibration} does not exist; pass a folder, glob or image file of training images."
        )


def export_onnx(
    run: Path,
    out: Path,
    quantize: str | None = None,
    opset: int | None = None,
    check_data: str | None = None,
    calibration: str | None = None,
) -> dict:
    """Export, check parity (and int8 metrics), then rename the finished folder to `out`; the report.

    `check_data` (a table, image folder or Hub dataset, labelled as the run's data): check and score on all
    of it instead of the run's test split. `calibration` (images): what static int8 calibrates on instead
    of the run's training split.
    """
    check_export_args(run, out, "onnx", quantize, opset, check_data, calibration)
    run_results = RunDirectory(run).read_results()
    loaded = load_for_inference(run, test_time="none", ensemble=False)  # the graph: the transformer alone
    views = load_for_inference(run).test_time if loaded.task.inputs.test_time_views else "none"
    if is_peft_model(loaded.model):
        loaded.model = loaded.model.merge_and_unload()  # LoRA folded into plain weights before tracing
    # a CV directory's fold ensemble: its folds and their average as one graph (`FoldGraph`)
    graph = loaded.model.exportable() if hasattr(loaded.model, "exportable") else loaded.model
    inputs, refs, (dataset, split) = check_inputs(loaded, run, check_data)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp"))
    try:
        fp32 = tmp / ("model_fp32.onnx" if quantize else ONNX_FILE)
        write_graph(loaded, inputs[0], fp32, opset or MIN_OPSET, graph)
        _, total = count_params(loaded.model)
        kind = int8_kind(loaded.task.inputs.quantization, fp32) if quantize else None  # by inputs and graph
        if calibration is not None and kind != "static":
            raise FieldtuneError(
                f"--calibration {calibration}: this model's graph is mostly matrix products (a vision "
                "transformer), which is quantised dynamically, with nothing to calibrate; leave --calibration out."
            )
        info = {
            "opset": opset or MIN_OPSET,
            "quantize": quantize,
            "quantization": kind,
            "total_params": total,
            "outputs": list(getattr(graph, "output_names", ["logits"])),
        }
        save_folder(loaded, tmp, info)
        carry_ensemble(run / "model", tmp)  # predict on the folder is the run's ensemble (parity: the graph)
        reference = predict_logits(loaded, inputs)
        onnx_fp32 = _as_onnx(loaded, fp32, "none")
        exported = predict_logits(onnx_fp32, inputs)
        diff = float(np.abs(exported - reference).max()) if len(reference) else 0.0
        if not diff <= PARITY_TOLERANCE:
            raise ModelError(
                f"ONNX export of {run} does not match PyTorch: max |logit difference| {diff:.2e} > "
                f"{PARITY_TOLERANCE:g} on {len(reference)} {split} examples of {dataset}; try another --opset."
            )
        report = {
            **{k: run_results.get(k) for k in ("task", "base_model", "method", "greater_is_better")},
            "source_run": str(run),
            "dataset": dataset,
            "split": split,
            "total_params": total,
            "format": "onnx",
            "opset": opset or MIN_OPSET,
            "quantize": quantize,
            "parity": {"max_abs_diff": diff, "tolerance": PARITY_TOLERANCE, "examples": len(reference)},
            "primary_metric": loaded.task.primary_metric,
            "outputs": info["outputs"],
            "metrics": {"fp32": _metrics(loaded, fp32, inputs, refs, views, exported)},
        }
        folds = getattr(loaded.model.config, "fieldtune_cv_folds", None)
        if folds:  # one graph of the K fold models; its scores are the CV directory's (the same average)
            report["cv_folds"] = folds
        if has_ensemble(run / "model"):  # the metrics above are the graph's; the run's scores are the mix
            report["ensemble"] = f"{ENSEMBLE_NOTE}; the run's own scores are in its eval_results.json"
        if quantize:
            int8 = tmp / ONNX_FILE
            batches = calibration_batches(loaded, run, calibration) if needs_calibration(kind) else None
            quantize_int8(fp32, int8, kind, batches)
            int8_logits = check_quantized(loaded, int8, inputs, reference.shape)
            report["metrics"]["int8"] = _metrics(loaded, int8, inputs, refs, views, int8_logits)
            report["parity"]["int8_max_abs_diff"] = float(np.abs(int8_logits - reference).max())
            report["quantization"] = {
                "kind": kind,
                "calibration": (calibration or "train split") if batches is not None else None,
                "calibration_examples": sum(len(next(iter(b.values()))) for b in batches or []),
                # int8 minus fp32 on the checked examples (the primary metric: accuracy change and the like)
                "change": _change(report["metrics"], loaded.task.primary_metric),
            }
            fp32.unlink()
        write_json(tmp / "export_report.json", report)
        (tmp / "README.md").write_text(folder_readme(loaded, out.name, report), encoding="utf-8")
        if out.exists():
            out.rmdir()  # checked empty above
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


def test_inputs(loaded: Loaded, run: Path) -> tuple[list[dict], np.ndarray]:
    """The run's test split (rebuilt from its config.yaml) as model batches, and its references."""
    inputs, refs, _ = check_inputs(loaded, run, None)
    return inputs, refs


def check_inputs(
    loaded: Loaded, run: Path, check_data: str | None
) -> tuple[list[dict], np.ndarray, tuple[str, str]]:
    """The examples the export is checked on: the run's test split (rebuilt from its config.yaml), or all
    of `check_data` read with the run's columns; as model batches, references and (dataset, split)."""
    from fieldtune.datasets_builders import build_dataset, dataset_name

    data, whole = evaluation_data(check_data, "test") if check_data is not None else (None, False)
    data_cfg = data_config_for(loaded, str(run), data)
    dd = build_dataset(data_cfg, loaded.task.name)
    split = "all" if whole else "test" if "test" in dd and len(dd["test"]) else "validation"
    ds = split_of(dd, split, check_data or str(run / "config.yaml"), whole=whole)
    refs = model_references(loaded, ds, check_data or str(run))
    batches = list(split_batches(loaded, ds, batch_size=32))
    if not batches:
        where = f"--check-data {check_data}" if check_data else f"{run}"
        raise RunDirError(f"{where} has no examples to check the export on.")
    return batches, refs, (dataset_name(data_cfg), split)


def write_graph(loaded: Loaded, sample: dict, path: Path, opset: int, model: Any = None) -> None:
    """torch.onnx.export of `model` (default: the loaded one) with the inputs' dynamic axes (batch; and
    sequence for text); its outputs are named by its `output_names` (default: `logits`)."""
    model = loaded.model if model is None else model
    outputs = list(getattr(model, "output_names", ["logits"]))  # a fold ensemble's: logits and the mean
    sample = {k: v for k, v in sample.items() if k != "labels"}
    if len(next(iter(sample.values()))) < 2:  # a batch of one would be specialised into the graph
        sample = {k: torch.cat([v, v]) for k, v in sample.items()}
    dims = dict(enumerate(torch.export.Dim(axis) for axis in loaded.task.inputs.onnx_axes))
    shapes = {k: dict(dims) for k in sample}
    arch = type(model).__name__
    if not log.isEnabledFor(logging.DEBUG):  # its registry warns that torchvision (unused here) is missing
        logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model, (), kwargs=sample, dynamic_shapes=shapes, input_names=list(sample),
                output_names=outputs, opset_version=opset, dynamo=True, external_data=False,
                verbose=False,
            )  # fmt: skip
        if program is None:
            raise RuntimeError("torch.onnx.export wrote nothing")
        program.save(str(path), external_data=False)
    except FieldtuneError:
        raise
    except Exception as e:  # the exporter raises many types (torch.export, onnxscript, ...)
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        raise ModelError(
            f"torch.onnx cannot export {arch} ({type(e).__name__}: {first}); this architecture is not "
            "supported by the installed exporter: use the PyTorch model (`fieldtune predict RUN`) or "
            "retrain on a supported backbone (BERT, ViT, ResNet)."
        ) from None


def save_folder(loaded: Loaded, folder: Path, info: dict) -> None:
    """config.json (id2label, fieldtune's keys, how it was exported) and the tokenizer / image processor."""
    config = loaded.model.config
    setattr(config, CONFIG_KEY, info)
    config.save_pretrained(folder)
    loaded.processor.save_pretrained(folder)


def check_quantized(loaded: Loaded, path: Path, inputs: list[dict], shape: tuple) -> np.ndarray:
    """The int8 graph must load in onnxruntime and give finite outputs of the fp32 graph's shape."""
    try:
        logits = predict_logits(_as_onnx(loaded, path, "none"), inputs)
    except FieldtuneError as e:
        raise ModelError(f"The int8 model fails its check: {e}; export without --quantize.") from None
    if logits.shape != shape or not np.isfinite(logits).all():
        raise ModelError(
            f"The int8 model fails its check: outputs of shape {logits.shape} (expected {shape}) or not "
            "finite; export without --quantize."
        )
    return logits


def _change(metrics: dict, metric: str) -> float | None:
    fp32, int8 = metrics["fp32"].get(metric), metrics["int8"].get(metric)
    return (
        float(int8) - float(fp32)
        if isinstance(fp32, (int, float)) and isinstance(int8, (int, float))
        else None
    )


def _as_onnx(loaded: Loaded, path: Path, views: str) -> Loaded:
    return Loaded(
        OnnxModel(path, loaded.model.config), loaded.processor, loaded.task, loaded.label_names,
        str(path), None, views,
    )  # fmt: skip


def _metrics(
    loaded: Loaded, path: Path, inputs: list[dict], refs: np.ndarray, views: str, logits: Any = None
) -> dict:
    """The run's test metrics from the ONNX graph, with the run's test-time views."""
    if logits is None or views != "none":
        logits = predict_logits(_as_onnx(loaded, path, views), inputs)
    metrics, _ = loaded.task.targets.evaluate(logits, refs, loaded.label_names, thresholds_of(loaded))
    return metrics


def _int8_note(report: dict) -> str:
    q = report.get("quantization")
    return f", int8 {q['kind']} quantisation" if q else ""


def _outputs_note(report: dict) -> str:
    if not report.get("cv_folds"):
        return "output `logits`"
    mean = report["outputs"][1]
    return (
        f"the {report['cv_folds']} fold models of a cross-validation in one graph, averaged: output `{mean}` "
        f"(their mean) and `logits` (the logits of that mean)"
    )


def folder_readme(loaded: Loaded, name: str, report: dict) -> str:
    metric = report["primary_metric"]
    scores = ", ".join(f"{k}: {v[metric]:.4f}" for k, v in report["metrics"].items() if metric in v)
    feed = loaded.task.inputs.onnx_feed.format(name=name)
    axes = " and ".join(f"{axis} axis" for axis in loaded.task.inputs.onnx_axes)
    output = loaded.task.targets.onnx_decoding
    return (
        f"# {name}: ONNX export of a fieldtune run\n\n"
        f"`model.onnx` (opset {report['opset']}{_int8_note(report)}) "
        f"with a dynamic {axes}; "
        f"{_outputs_note(report)}. Checked at export against PyTorch on {report['parity']['examples']} examples "
        f"({report['dataset']}, {report['split']} split) "
        f"(max |logit difference| {report['parity']['max_abs_diff']:.1e}); {metric}: {scores} "
        "(`export_report.json`).\n\n"
        "```python\nimport json\n\nimport numpy as np\nimport onnxruntime as ort\n\n"
        f'session = ort.InferenceSession("{name}/model.onnx")\n'
        f'config = json.load(open("{name}/config.json"))\n'
        f"{feed}"
        'logits = session.run(["logits"], feed)[0]\n'
        f"{output}\n```\n\n"
        "`fieldtune predict` / `fieldtune evaluate` run this folder too (with the test-time views in "
        "config.json's `fieldtune_test_time`).\n"
    )

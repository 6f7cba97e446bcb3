"""Loading a finished model (run directory, model folder or Hub id; full or LoRA adapter) and predicting."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError

from fieldtune import progress
from fieldtune.errors import FieldtuneError, ModelError, RunDirError
from fieldtune.inference.onnx import is_onnx_folder, load_onnx_model
from fieldtune.inputs import test_time as test_time_views
from fieldtune.modeling.checkpoint import require_processor_files, resolve_model_path, weights_error
from fieldtune.modeling.heads import restore_custom_head
from fieldtune.rundir.layout import fold_ensemble_dirs, is_baseline_folder, model_dir_of
from fieldtune.tasks.table import IMAGE, TASKS, TEXT, Task, task_of_model


@dataclass
class Loaded:
    model: Any
    processor: Any
    task: Task
    label_names: list[str] | None
    source: str
    revision: str | None = None
    test_time: str = "none"  # images: views averaged per prediction (`fieldtune.inputs.test_time`)
    model_dir: Path | None = None  # the local folder the weights came from (`predict --resume` checks it)


def locate_model(ref: str, revision: str | None = None) -> tuple[Path, str | None]:
    """Run dir / model dir -> its model folder; a Hub id -> a downloaded snapshot (and its commit)."""
    path = Path(ref).expanduser()
    if path.exists():
        from fieldtune.rundir.reader import RunDirectory

        run = RunDirectory.at(path)
        if run is not None:  # predict / evaluate / export / serve never load a dead or half-written run
            run.refuse_unfinished()
        return model_dir_of(path), None
    from fieldtune.hub.repos import is_hub_id, pull

    if not is_hub_id(ref):
        raise RunDirError(
            f"{ref} does not exist; pass a run directory, a model folder or a Hub id `namespace/name`."
        )
    folder = pull(ref, revision=revision)
    return folder, folder.name if len(folder.name) == 40 else revision


def task_of(config: Any) -> Task:
    task = task_of_model(config)
    if task is None:
        archs = " ".join(getattr(config, "architectures", None) or [])
        raise ModelError(
            f"Model architecture {archs} ({getattr(config, 'problem_type', None) or 'no problem_type'}) is not a "
            f"model fieldtune can run; it runs {', '.join(TASKS)}."
        )
    return task


def load_for_inference(
    ref: str | Path, revision: str | None = None, test_time: str | None = None, ensemble: bool = True
) -> Loaded:
    """Load a full model or an adapter (+ head) with its labels and its tokenizer / image processor.

    `test_time` (images) overrides the views the model was evaluated with in training. A folder with an
    `ensemble_baseline/` loads as the ensemble (`fieldtune.baselines.ensemble`); `ensemble=False` gives the
    transformer alone (what export traces).
    """
    from transformers import AutoConfig

    import fieldtune.modeling.pooling  # noqa: F401  (a mean-pooled model's classes, registered)

    folds = fold_ensemble_dirs(Path(str(ref)).expanduser())
    if folds:  # a cross-validation with `cv.final: ensemble`: its folds averaged (export: `exportable()`)
        return _fold_ensemble([load_for_inference(d, None, test_time, ensemble) for d in folds], str(ref))
    model_dir, resolved_revision = locate_model(str(ref), revision)
    is_adapter = (model_dir / "adapter_config.json").is_file()
    if is_baseline_folder(model_dir):  # `fieldtune baseline`: a scikit-learn pipeline behind the same call
        from fieldtune.baselines.tfidf import load_baseline

        model, processor, task, labels = load_baseline(model_dir)
        return Loaded(model, processor, task, labels, str(ref), resolved_revision)
    try:
        if is_onnx_folder(model_dir):  # `fieldtune export --format onnx`: run by onnxruntime
            model, config = load_onnx_model(model_dir)
            task = task_of(config)
            processor = _load_processor(model_dir, task)
            return _loaded(
                model, config, task, processor, str(ref), resolved_revision, test_time, model_dir, ensemble
            )
        if is_adapter:
            adapter = json.loads((model_dir / "adapter_config.json").read_text())
            base = resolve_model_path(adapter.get("base_model_name_or_path") or "")
            config = AutoConfig.from_pretrained(model_dir if (model_dir / "config.json").is_file() else base)
        else:
            config = AutoConfig.from_pretrained(model_dir)
        task = task_of(config)
        import transformers

        auto = getattr(transformers, task.auto_class)
        if is_adapter:
            from peft import PeftModel

            base_model = _base_at_run_size(auto, base, config)
            restore_custom_head(
                base_model, None
            )  # its trained weights come with the adapter (modules_to_save)
            model = PeftModel.from_pretrained(base_model, model_dir)
        else:
            model = auto.from_pretrained(model_dir)
            restore_custom_head(model, model_dir)
        processor = _load_processor(model_dir, task)
    except FieldtuneError:
        raise
    except SafetensorError as e:
        raise weights_error(model_dir, e, str(ref)) from None
    except (OSError, ValueError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        raise ModelError(
            f"Cannot load a model from {model_dir}: {first}; re-train or re-download the model."
        ) from None
    return _loaded(
        model, config, task, processor, str(ref), resolved_revision, test_time, model_dir, ensemble
    )


def _base_at_run_size(auto: Any, base: str, config: Any) -> Any:
    """An adapter's base model, its position embeddings resampled to the run's `data.image_size` as training
    did (built at the run's size, transformers would re-initialise them at random: a model that no longer
    gives the run's scores). The adapter file also holds the table (`rundir.saving`); older runs do not."""
    from transformers import AutoConfig

    from fieldtune.modeling.create import resize_position_embeddings
    from fieldtune.modeling.pooling import is_mean_pooled, mean_pooled_base

    if is_mean_pooled(config):  # as training built it: the base's own backbone under the mean-pooled head
        return mean_pooled_base(base, config)
    run_size = getattr(config, "image_size", None)
    native = (
        getattr(AutoConfig.from_pretrained(base), "image_size", None) if isinstance(run_size, int) else None
    )
    if not isinstance(native, int) or run_size == native:
        return auto.from_pretrained(base, config=config, ignore_mismatched_sizes=True)
    config.image_size = native
    try:
        model = auto.from_pretrained(base, config=config, ignore_mismatched_sizes=True)
        resize_position_embeddings(model, run_size)
    finally:
        config.image_size = run_size
    return model


def _loaded(
    model: Any,
    config: Any,
    task: Task,
    processor: Any,
    ref: str,
    revision: str | None,
    test_time: str | None,
    model_dir: Path,
    ensemble: bool = True,
) -> Loaded:
    model.eval()
    labels = task.targets.label_names_in(config)
    from fieldtune.baselines.ensemble import has_ensemble, with_ensemble

    if ensemble and has_ensemble(model_dir):  # the transformer and the TF-IDF baseline, one call
        model, processor = with_ensemble(model, processor, model_dir)
    views = (test_time or test_time_views.mode_of(model)) if task.inputs.test_time_views else "none"
    return Loaded(model, processor, task, labels, ref, revision, views, model_dir)


def _fold_ensemble(folds: list[Loaded], ref: str) -> Loaded:
    from fieldtune.inference.fold_ensemble import FoldEnsemble

    first = folds[0]
    model = FoldEnsemble([f.model for f in folds], first.task.targets)
    # no model_dir: K folders are not one model (`predict --resume` then cannot fingerprint it)
    return Loaded(model, first.processor, first.task, first.label_names, ref, None, first.test_time)


def _load_processor(model_dir: Path, task: Task) -> Any:
    require_processor_files(model_dir, task, where="The model folder")
    import transformers

    processor = getattr(transformers, task.inputs.processor_class).from_pretrained(model_dir)
    limit = _run_max_length(model_dir) if task.inputs.tokens else None
    if limit is not None:  # runs whose saved tokenizer kept the checkpoint's limit (e.g. 512)
        processor.model_max_length = min(limit, processor.model_max_length or limit)
    return processor


def _run_max_length(model_dir: Path) -> int | None:
    """`model.max_length` of the run this model folder belongs to: the tokens its texts were trained and
    tested on. None for a folder outside a run (a Hub snapshot, an export: their tokenizer carries it)."""
    from fieldtune.rundir.reader import RunDirectory

    run = RunDirectory.at(model_dir.parent)
    value = (run.config.get("model") or {}).get("max_length") if run is not None else None
    return value if isinstance(value, int) and value > 0 else None


def thresholds_of(loaded: Loaded) -> list[float] | None:
    """Per-label decision thresholds a multi-label run saved in the model's config (None: 0.5 / not tags)."""
    return getattr(loaded.model.config, "fieldtune_thresholds", None)


@torch.no_grad()
def batch_logits(loaded: Loaded, batch: dict) -> np.ndarray:
    """One prepared batch (a dict of tensors) -> its logits in real units, with the test-time views."""
    batch = {k: v for k, v in batch.items() if k != "labels"}
    if loaded.test_time != "none" and "pixel_values" in batch:
        logits = test_time_views.averaged_logits(
            lambda px: loaded.model(pixel_values=px).logits,
            batch["pixel_values"],
            loaded.test_time,
            targets=loaded.task.targets,
        )
    else:
        logits = loaded.model(**batch).logits
    return logits.float().cpu().numpy()


def predict_logits(loaded: Loaded, batches: Any, desc: str = "Predicting") -> np.ndarray:
    """Run the model over prepared batches (dicts of tensors); returns stacked logits in real units."""
    outs = []
    with progress.bar(total=getattr(batches, "examples", None), desc=desc, unit="ex") as pbar:
        for batch in batches:
            outs.append(batch_logits(loaded, batch))
            pbar.update(len(outs[-1]))
    return np.concatenate(outs) if outs else np.zeros((0, len(loaded.label_names or [0])))


def text_limit(tokenizer: Any, max_length: int = 512) -> int:
    """The tokens a text keeps at inference: `max_length`, or the tokenizer's own limit when lower."""
    return min(max_length, getattr(tokenizer, "model_max_length", max_length) or max_length)


def check_text_coverage(loaded: Loaded, texts: Sequence[str]) -> None:
    """Warn (one line) when the model's tokenizer cannot read these texts or truncates them, as training does."""
    from fieldtune.datasets_builders.normalize import CONFIG_KEY, normalize_text
    from fieldtune.inputs.coverage import sample_evenly, warn_coverage

    mode = getattr(loaded.model.config, CONFIG_KEY, None) or "none"  # measured on what the model is given
    sample = [normalize_text(t, mode) for t in sample_evenly(texts)]
    warn_coverage(loaded.processor, sample, text_limit(loaded.processor), loaded.source)


def text_batches(
    loaded: Loaded, texts: Sequence[str], max_length: int = 512, batch_size: int = 64
) -> progress.Batches:
    from fieldtune.datasets_builders.normalize import CONFIG_KEY, normalize_text

    tok = loaded.processor
    limit = text_limit(tok, max_length)
    mode = getattr(loaded.model.config, CONFIG_KEY, None) or "none"  # as the run's training texts
    batches = (
        tok(
            [normalize_text(t, mode) for t in texts[i : i + batch_size]],
            truncation=True,
            max_length=limit,
            padding=True,
            return_tensors="pt",
        )
        for i in range(0, len(texts), batch_size)
    )
    return progress.Batches(batches, len(texts))


def _text_split(loaded: Loaded, ds: Any, split: str | None, pool: Any, size: dict) -> progress.Batches:
    return text_batches(loaded, ds["text"], **size)  # tokenised as predict does (a split has no token cache)


def _image_split(loaded: Loaded, ds: Any, split: str | None, pool: Any, size: dict) -> progress.Batches:
    from fieldtune.inputs.prepare_images import cached_image_batches, image_batches

    if split is None:
        return image_batches(loaded, ds, **size)
    return cached_image_batches(loaded, split, ds, pool)


# How a builder's split becomes batches for each kind of input (`Task.inputs`, by name); a new `Modality` adds
# its row.
SPLIT_BATCHES = {TEXT.name: _text_split, IMAGE.name: _image_split}


def split_batches(loaded: Loaded, ds: Any, batch_size: int | None = None) -> progress.Batches:
    """A builder's split (its `text` or `image` column) as batches for the loaded model's inputs."""
    size = {"batch_size": batch_size} if batch_size else {}
    return SPLIT_BATCHES[loaded.task.inputs.name](loaded, ds, None, None, size)


def cached_split_batches(loaded: Loaded, split: str, ds: Any, pool: Any = None) -> progress.Batches:
    """`split_batches` for a split a training run prepared: images are read from the decoded-pixel cache it
    wrote (`split`: its name there; `pool`: a CV's `FoldRows`, `ds` being `pool.rows` at `pool.index[split]`),
    not decoded again. Text is tokenised as `split_batches` does."""
    return SPLIT_BATCHES[loaded.task.inputs.name](loaded, ds, split, pool, {})

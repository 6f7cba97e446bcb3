"""Images for training and inference: decode + resize once (cached), augment on tensors per step.

Image size, mean and std come from the checkpoint's image processor; nothing here hard-codes them.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from datasets import Dataset, DatasetDict

from fieldtune.config import RunConfig
from fieldtune.errors import DataError, ModelError
from fieldtune.inputs.image_spec import resize_processor, resolve_image_spec
from fieldtune.inputs.images import decode_and_resize, image_to_pixels, make_image_collator
from fieldtune.inputs.prepared import Prepared
from fieldtune.modeling.checkpoint import resolve_model_path
from fieldtune.progress import Batches
from fieldtune.tasks.scoring import label_names_of
from fieldtune.tasks.table import Task

if TYPE_CHECKING:
    from fieldtune.datasets_builders.folds import FoldRows


def load_image_processor(path: str, revision: str | None = None) -> Any:
    from transformers import AutoImageProcessor

    try:
        return AutoImageProcessor.from_pretrained(path, revision=revision)
    except (OSError, ValueError) as e:
        raise ModelError(
            f"Cannot load an image processor from {path!r} ({str(e).splitlines()[0][:120]}); "
            "a vision checkpoint needs preprocessor_config.json."
        ) from None


def prepare_images(task: Task, dd: DatasetDict, config: RunConfig, pool: FoldRows | None = None) -> Prepared:
    processor = load_image_processor(resolve_model_path(config.model.name_or_path), config.model.revision)
    spec = resolve_image_spec(processor, config.data.image_size)
    if config.data.image_size:  # the saved processor must preprocess as training does
        spec = resize_processor(processor, spec)
    pixels = decode_and_resize(dd, spec, pool=pool)
    num_labels = len(label_names_of(dd["train"].features["label"]) or [])  # label sets: multi-hot width
    labels = {"num_labels": num_labels, "targets": task.targets}
    train_collator = make_image_collator(spec, config.data.augment, train=True, **labels)
    eval_collator = make_image_collator(spec, None, train=False, **labels)
    return Prepared(dataset=pixels, collator=train_collator, processor=processor, eval_collator=eval_collator)


def image_files(source: str) -> list[Path]:
    """One image, every image under a folder (recursively, junk skipped), or a glob."""
    from fieldtune.datasets_builders.image_folder import image_files as images_under

    path = Path(source).expanduser()
    if path.is_file():
        files = [path]  # named explicitly: taken as is
    else:
        files = images_under([path] if path.is_dir() else glob.glob(source, recursive=True))
    if not files:
        raise DataError(
            f"--input {source}: no images found (a file, a folder or a glob like 'photos/*.jpg')."
        )
    return files


def image_batches_from_files(loaded: Any, files: Sequence[Path], batch_size: int = 32) -> Batches:
    return Batches(_file_batches(loaded, files, batch_size), len(files))


def _file_batches(loaded: Any, files: Sequence[Path], batch_size: int) -> Iterator[dict]:
    spec = resolve_image_spec(loaded.processor, None)
    collate = make_image_collator(spec, None, train=False)
    for i in range(0, len(files), batch_size):
        rows = []
        for f in files[i : i + batch_size]:
            try:
                rows.append({"pixel_values": image_to_pixels(f, spec)})
            except Exception as e:  # PIL raises many types for a bad file
                raise DataError(
                    f"Cannot decode image {f} ({type(e).__name__}); remove or fix the file."
                ) from None
        yield collate(rows)


def cached_image_batches(
    loaded: Any, split: str, ds: Dataset, pool: FoldRows | None = None, batch_size: int = 32
) -> Batches:
    """Evaluation batches of a split through `decode_and_resize`: the pixels a training run cached for it (the
    same split name, spec and rows) are read back instead of decoded again."""
    spec = resolve_image_spec(loaded.processor, None)
    pixels = decode_and_resize(DatasetDict({split: ds}), spec, pool=pool)[split]
    collate = make_image_collator(spec, None, train=False)

    def batches() -> Iterator[dict]:
        for i in range(0, len(pixels), batch_size):
            yield collate([{"pixel_values": x} for x in pixels[i : i + batch_size]["pixel_values"]])

    return Batches(batches(), len(pixels))


def image_batches(loaded: Any, ds: Dataset, batch_size: int = 32) -> Batches:
    """Batches of a builder's split (an `image` column) for evaluation."""
    return Batches(_split_batches(loaded, ds, batch_size), len(ds))


def _split_batches(loaded: Any, ds: Dataset, batch_size: int) -> Iterator[dict]:
    spec = resolve_image_spec(loaded.processor, None)
    collate = make_image_collator(spec, None, train=False)
    raw = ds.cast_column("image", type(ds.features["image"])(decode=False))
    for i in range(0, len(raw), batch_size):
        rows = [
            {"pixel_values": image_to_pixels(r["image"], spec)}
            for r in raw.select(range(i, min(i + batch_size, len(raw))))
        ]
        yield collate(rows)

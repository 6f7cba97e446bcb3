"""Image folders: one sub-folder per class (optionally inside train/validation/test), or a metadata file.

Accepted layouts under `data.path`:

```
path/<class>/**/*.jpg                      class folders (nested folders belong to the class)
path/train/<class>/..., path/test/<class>/  already split (validation|val|valid also accepted)
path/metadata.csv | metadata.jsonl          columns file_name,label (data.image_column / data.label_column);
                                           image-multilabel: a list per row (JSONL) or "a;b" (label_delimiter);
                                           image-regression: a number per row
```

Every image is decoded once here, so a corrupt file fails the build with its name instead of failing
training an hour later. Images that plain `PIL.Image.convert("RGB")` would get wrong (alpha, 16-bit,
palette with transparency) are converted here and stored as PNG bytes; every other image is stored by
path and turned into RGB when decoded (`datasets.Image(mode="RGB")`).
"""

from __future__ import annotations

import io
import logging
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from datasets import ClassLabel, Dataset, DatasetDict, DatasetInfo, Features, Sequence, Value
from datasets import Image as ImageFeature
from datasets.table import InMemoryTable
from PIL import Image, ImageOps

from fieldtune.config import DataConfig
from fieldtune.datasets_builders.hub_images import load_hub_images, looks_like_hub_id
from fieldtune.datasets_builders.image_metadata import (  # noqa: F401  (SPLIT_NAMES: part of this module's API)
    SPLIT_NAMES,
    class_rows,
    find_metadata,
    read_metadata,
    rel,
    tag_rows,
    value_rows,
)
from fieldtune.datasets_builders.registry import named_by_path, register_builder
from fieldtune.datasets_builders.splits import split_dataset
from fieldtune.errors import ConfigError, DataError
from fieldtune.tasks.table import IMAGE, TASKS, get_task

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm"}
)
JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini", "__macosx", ".ds_store", ".ipynb_checkpoints"})
# Modes whose plain `convert("RGB")` is right; these images are stored by path, not re-encoded.
_PATH_SAFE_MODES = frozenset({"RGB", "L", "1", "CMYK", "YCbCr", "P"})
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any PIL image to 8-bit RGB the way a person would expect to see it.

    Transparent pixels become white (not black, as `convert("RGB")` leaves them), 16-bit and 32-bit
    greyscale is scaled down instead of clipped, CMYK / palette / greyscale go through PIL.

    Args:
        image (`PIL.Image.Image`): the decoded image, any mode.

    Returns:
        `PIL.Image.Image`: an RGB image of the same size.

    Example:
        >>> to_rgb(Image.new("RGBA", (2, 2), (0, 0, 0, 0))).getpixel((0, 0))
        (255, 255, 255)
    """
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode.startswith("I") or mode == "F":
        arr = np.asarray(image).astype(np.float64)
        top = float(arr.max()) if arr.size else 0.0
        if mode == "F" and top <= 1.0:
            arr = arr * 255.0  # float images in [0, 1]
        elif mode.startswith("I;16") or 255 < top <= 65535:
            arr = arr / 257.0  # the full 16-bit range maps onto 0..255
        elif top > 65535:
            arr = arr * (255.0 / top)
        grey = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    return image.convert("RGB")


def _inspect_image(path: Path) -> tuple[bytes | None, str | None]:
    """Decode one file fully. Returns (PNG bytes when it needed our own RGB conversion, error)."""
    try:
        if path.stat().st_size == 0:
            return None, "empty file"
        with Image.open(path) as im:
            safe = im.mode in _PATH_SAFE_MODES and "transparency" not in im.info
            if safe:  # JPEG then decodes at 1/8 scale: still reads every byte, so truncation still shows
                im.draft(None, (1, 1))
            im.load()  # `Image.open` alone reads only the header and accepts truncated files
            if safe:
                return None, None
            rgb = to_rgb(ImageOps.exif_transpose(im))
    except Exception as exc:  # PIL raises many types (OSError, SyntaxError, ValueError, DecompressionBomb)
        reason = str(exc).split("\n")[0][:80] or type(exc).__name__
        return None, reason
    buf = io.BytesIO()
    rgb.save(buf, format="PNG")
    return buf.getvalue(), None


def _natural_key(name: str) -> tuple[int, float, str]:
    # "2" before "10" when class names are numbers; otherwise plain string order.
    try:
        return (0, float(name), name)
    except ValueError:
        return (1, 0.0, name)


def _is_junk(name: str) -> bool:
    return name.startswith(".") or name.lower() in JUNK_NAMES


class _Skipped(Counter):
    """Counts of entries left out while walking, reported once as a warning."""

    def report(self, root: Path) -> None:
        if sum(self.values()):
            parts = ", ".join(f"{n} {kind}" for kind, n in sorted(self.items()))
            logger.warning("%s: skipped %d entries (%s)", root, sum(self.values()), parts)


def iter_images(folder: Path, skipped: _Skipped) -> Iterator[Path]:
    """The image files under `folder` one at a time, in sorted path order, walking nested folders and
    leaving out junk. Lazy: `predict` on a folder of a million photos never holds their list."""
    with os.scandir(folder) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if _is_junk(entry.name):
            skipped["hidden or system folders" if entry.is_dir() else "hidden or system files"] += 1
        elif entry.is_dir():
            if not entry.is_symlink():  # as os.walk: a linked folder is not entered (it may loop)
                yield from iter_images(Path(entry.path), skipped)
        elif Path(entry.name).suffix.lower() not in IMAGE_EXTENSIONS:
            skipped["non-image files"] += 1
        else:
            yield Path(entry.path)


def _subdirs(folder: Path, skipped: _Skipped) -> list[Path]:
    out = []
    for entry in sorted(folder.iterdir()):
        if _is_junk(entry.name):
            skipped["hidden or system folders" if entry.is_dir() else "hidden or system files"] += 1
        elif entry.is_dir():
            out.append(entry)
    return out


def _scan_class_folders(folder: Path, subdirs: list[Path], skipped: _Skipped) -> dict[str, list[Path]]:
    classes = {sub.name: list(iter_images(sub, skipped)) for sub in subdirs}
    loose = [p for p in folder.iterdir() if p.is_file() and not _is_junk(p.name)]
    if loose:
        skipped["files outside class folders"] += len(loose)
    return classes


def _scan_folders(root: Path, skipped: _Skipped) -> dict[str, dict[str, list[Path]]]:
    """Return {split: {class: files}}; a single `train` split when the folder is not pre-split."""
    top = _subdirs(root, skipped)
    split_dirs = [d for d in top if d.name.lower() in SPLIT_NAMES]
    if not split_dirs:
        return {"train": _scan_class_folders(root, top, skipped)}
    names = [SPLIT_NAMES[d.name.lower()] for d in split_dirs]
    others = [d.name for d in top if d not in split_dirs]
    if "train" not in names:
        raise DataError(
            f"{root} has split folder(s) {', '.join(d.name for d in split_dirs)} but no train/ folder; "
            f"put the training images in {root}/train/<class>/."
        )
    if others:
        raise DataError(
            f"{root} mixes split folders with other folders ({', '.join(others[:5])}); move them into "
            "train/, validation/ or test/ (or remove them)."
        )
    dupes = [n for n, c in Counter(names).items() if c > 1]
    if dupes:
        raise DataError(
            f"{root} has several folders for the {dupes[0]} split; keep one of validation/, val/, valid/."
        )
    return {
        SPLIT_NAMES[d.name.lower()]: _scan_class_folders(d, _subdirs(d, skipped), skipped) for d in split_dirs
    }


def _check_decodes(files: list[Path], root: Path) -> dict[Path, bytes]:
    """Decode every image (threads: PIL releases the GIL); return the converted bytes per file."""
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        results = list(pool.map(_inspect_image, files))
    bad = [(f, err) for f, (_, err) in zip(files, results, strict=True) if err]
    if bad:
        shown = "; ".join(f"{rel(f, root)} ({err})" for f, err in bad[:5])
        raise DataError(
            f"{root}: {len(bad)} image(s) cannot be decoded: {shown}; remove or fix them and run again."
        )
    return {f: data for f, (data, _) in zip(files, results, strict=True) if data is not None}


def _check_class_sizes(classes: dict[str, list[Path]], root: Path) -> None:
    if not any(classes.values()):
        raise DataError(
            f"no images found in {root}; put them in one sub-folder per class (or list them in metadata.csv) "
            f"with extensions {', '.join(sorted(IMAGE_EXTENSIONS)[:6])}, ..."
        )
    if len(classes) < 2:
        only = next(iter(classes))
        raise DataError(f"{root} has a single class ({only}); a classifier needs at least two classes.")
    small = {c: len(f) for c, f in classes.items() if len(f) < 2}
    if small:
        shown = ", ".join(f"{c} ({n})" for c, n in sorted(small.items())[:5])
        raise DataError(
            f"{root}: class(es) with fewer than 2 training images: {shown}; add images or remove the folder."
        )


def _to_dataset(
    items: list[tuple[Path, int | list[int]]], label: Any, converted: dict[Path, bytes]
) -> Dataset:
    """(file, label id or label ids) rows, sorted by path, with `label` as the label feature."""
    rows = sorted(((str(p), y, p) for p, y in items), key=lambda r: r[0])
    features = Features({"image": ImageFeature(mode="RGB"), "label": label})
    # Built in Arrow directly: `Dataset.from_dict` would drop our converted bytes whenever the path
    # exists on disk (datasets.Image.encode_example keeps only the path then).
    table = pa.table(
        {
            "image": pa.array(
                [{"bytes": converted.get(p), "path": s} for s, _, p in rows], type=features["image"].pa_type
            ),
            "label": pa.array([y for _, y, _ in rows], type=features.arrow_schema.field("label").type),
        }
    )
    return Dataset(InMemoryTable(table), info=DatasetInfo(features=features))


def _class_files(meta: Path | None, root: Path, config: DataConfig) -> tuple[dict[str, list], Any]:
    """{split: [(file, class id)]} from class folders or a metadata file, and the ClassLabel."""
    skipped = _Skipped()
    splits = class_rows(read_metadata(meta, config), meta) if meta else _scan_folders(root, skipped)
    skipped.report(root)
    _check_class_sizes(splits.get("train", {}), root)
    names = sorted({c for classes in splits.values() for c in classes}, key=_natural_key)
    index = {n: i for i, n in enumerate(names)}
    items = {s: [(p, index[c]) for c, fs in classes.items() for p in fs] for s, classes in splits.items()}
    return items, ClassLabel(names=names)


def _needs_metadata(meta: Path | None, root: Path, what: str) -> Path:
    if meta is None:
        raise DataError(f"{root} has no metadata.csv / metadata.jsonl; {what}.")
    return meta


def _tag_files(meta: Path | None, root: Path, config: DataConfig) -> tuple[dict[str, list], Any]:
    """{split: [(file, label ids)]} from a metadata file, and the Sequence(ClassLabel)."""
    how = "a list in JSONL, or labels joined by data.label_delimiter"
    meta = _needs_metadata(
        meta, root, f"several labels per image are read from one (columns file_name and label: {how})"
    )
    items, names = tag_rows(read_metadata(meta, config, blank_labels=True), config, meta)
    return items, Sequence(ClassLabel(names=names))


def _value_files(meta: Path | None, root: Path, config: DataConfig) -> tuple[dict[str, list], Any]:
    """{split: [(file, number)]} from a metadata file, and the float32 feature."""
    what = "a number per image (e.g. an ore grade) is read from one (columns file_name and label)"
    return value_rows(read_metadata(_needs_metadata(meta, root, what), config), config, meta), Value(
        "float32"
    )


# How each kind of target (`Targets.name`) reads its labels: a new kind of target adds its reader here.
LABEL_FILES = {"classes": _class_files, "tags": _tag_files, "values": _value_files}


@register_builder("image_folder", dataset_name=named_by_path)
def build_image_folder(config: DataConfig, task: str) -> DatasetDict:
    """Read a folder of images into a `DatasetDict` with `train`, `validation` and `test` splits.

    Args:
        config (`DataConfig`): `path` (folder, a metadata.csv / metadata.jsonl file, or a Hub dataset id
            `namespace/name` with an Image column), `image_column` and
            `label_column` (metadata column names, default `file_name` / `label`), `validation_size`,
            `test_size` and `seed` (stratified splits carved from train when the folder has none).
        task (`str`): an image task: `image-classification` (one class per image: class folders or a
            metadata file) or `image-multilabel` (a label set per image from a metadata file: a JSON list in
            JSONL, or labels joined by `data.label_delimiter`; an empty set is allowed and counted) or
            `image-regression` (a number per image from a metadata file).

    Returns:
        `DatasetDict`: features `{"image": datasets.Image(mode="RGB"), "label": datasets.ClassLabel}`
        (`Sequence(ClassLabel)` for label sets, `Value("float32")` for numbers); names are sorted (numbers
        in numeric order).

    Raises:
        `DataError`: missing path, no images, one class only, a class with fewer than 2 images, a bad
            metadata file (a label that is not a number, for numbers), or images that cannot be decoded
            (the first 5 are named).

    Example:
        >>> dd = build_image_folder(DataConfig(builder="image_folder", path="photos/"), "image-classification")
        >>> dd["train"].features["label"].names
        ['barrel', 'crate']
    """
    if get_task(task).inputs is not IMAGE:  # the inputs this builder makes
        raise ConfigError(
            f"data.builder image_folder makes image data but task is {task!r}; set an image task "
            f"({', '.join(t.name for t in TASKS.values() if t.inputs is IMAGE)})."
        )
    kind = get_task(task).targets.name  # classes, label sets or numbers: which `LABEL_FILES` reads them
    if not config.path:
        raise DataError("data.path is empty; point it at a folder of class sub-folders or a metadata.csv.")
    # Absolute: the dataset stores file paths, and they must still resolve if the working folder changes.
    path = Path(config.path).expanduser().absolute()
    if not path.exists() and looks_like_hub_id(config.path):
        dd = load_hub_images(config.path, config, sort_key=_natural_key, kind=kind)
        return split_dataset(dd, config.validation_size, config.test_size, config.seed, source=config.path)
    if not path.exists():
        raise DataError(
            f"data.path {path} does not exist; check the path (relative paths start from the working folder)."
        )
    if path.is_file() and path.name.lower().endswith((".csv", ".jsonl")):
        meta: Path | None = path
        root = path.parent
    elif not path.is_dir():
        raise DataError(
            f"data.path {path} is not a folder; give the folder that holds one sub-folder per class."
        )
    else:
        root = path
        meta = find_metadata(root)

    items, label = LABEL_FILES[kind](meta, root, config)
    files = sorted({p for rows in items.values() for p, _ in rows})
    converted = _check_decodes(files, root)
    if converted:
        logger.info("%s: converted %d image(s) with alpha or 16-bit pixels to RGB", root, len(converted))
    logger.info("%s: %d images, %s", root, len(files), _describe(label))
    dd = DatasetDict({split: _to_dataset(rows, label, converted) for split, rows in items.items()})
    return split_dataset(dd, config.validation_size, config.test_size, config.seed, source=str(path))


def _describe(label: Any) -> str:
    names = getattr(label, "names", None) or getattr(getattr(label, "feature", None), "names", None)
    return f"{len(names)} labels" if names is not None else "a number each"


def iter_image_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Expand files and folders into the image files they hold (junk left out), lazily, for `predict`.

    Args:
        paths (`Iterable[str | Path]`): files or folders (a folder is walked in sorted path order).

    Returns:
        `Iterator[Path]`: image files, without hidden, system or non-image files.
    """
    skipped = _Skipped()
    for p in map(Path, paths):
        if p.is_dir():
            yield from iter_images(p, skipped)
        elif p.suffix.lower() in IMAGE_EXTENSIONS and not _is_junk(p.name):
            yield p


def image_files(paths: Iterable[str | Path]) -> list[Path]:
    """`iter_image_files`, sorted into a list."""
    return sorted(iter_image_files(paths))

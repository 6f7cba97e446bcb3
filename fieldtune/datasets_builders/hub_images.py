"""Image data from a Hub dataset id (`data.path: namespace/name`): an Image column and a label column."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from datasets import ClassLabel, DatasetDict, Image, Sequence, Value

from fieldtune.config import DataConfig
from fieldtune.datasets_builders.labels import numbers, tag_lists, tag_names
from fieldtune.datasets_builders.tables import load_hub_dataset
from fieldtune.errors import DataError

logger = logging.getLogger(__name__)


def looks_like_hub_id(path: str) -> bool:
    """`namespace/name` with nothing path-like about it (no leading ./ ~ /, no file extension)."""
    return bool(re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]*[A-Za-z0-9]", path)) and not re.search(
        r"\.(csv|jsonl|json|parquet|tsv|txt|jpe?g|png)$", path, re.IGNORECASE
    )


def load_hub_images(
    dataset_id: str, config: DataConfig, sort_key: Callable[[str], Any] | None = None, kind: str = "classes"
) -> DatasetDict:
    """Load `dataset_id` with `datasets`, keep its image and label columns as `image` (RGB) and `label`
    (a ClassLabel: an existing one is kept; strings become sorted class names). `kind` is the task's
    `Targets.name`: `tags`, the label column holds a label set per image (a list of ClassLabel ids or
    names, or a delimited string); `values`, a number per image (float32)."""
    dd = load_hub_dataset(dataset_id)
    features = next(iter(dd.values())).features
    image_column = config.image_column if config.image_column in features else None
    if image_column is None:
        found = [name for name, f in features.items() if isinstance(f, Image)]
        if len(found) != 1:
            raise DataError(
                f"Hub dataset {dataset_id} has {len(found) or 'no'} image column(s) ({', '.join(features)}); "
                "name the one to use with `data.image_column`."
            )
        image_column = found[0]
    label_column = config.label_column or "label"
    if label_column not in features:
        raise DataError(
            f"Hub dataset {dataset_id} has no column {label_column!r} (columns: {', '.join(features)}); "
            "set `data.label_column`."
        )
    dd = dd.select_columns([image_column, label_column])
    if image_column != "image":
        dd = dd.rename_column(image_column, "image")
    if label_column != "label":
        dd = dd.rename_column(label_column, "label")
    dd = dd.cast_column("image", Image(mode="RGB"))
    if kind in LABEL_READERS:
        return LABEL_READERS[kind](dd, config, dataset_id)
    if not isinstance(dd["train" if "train" in dd else next(iter(dd))].features["label"], ClassLabel):
        names = sorted({str(v) for ds in dd.values() for v in ds["label"]}, key=sort_key)
        dd = dd.cast_column("label", Value("string")).cast_column("label", ClassLabel(names=names))
    logger.info(
        "%s: %s images in %d classes",
        dataset_id,
        " / ".join(f"{k} {len(v)}" for k, v in dd.items()),
        dd[next(iter(dd))].features["label"].num_classes,
    )
    return dd


def _label_sets(dd: DatasetDict, config: DataConfig, dataset_id: str) -> DatasetDict:
    """A list-of-labels column as `Sequence(ClassLabel)` with train's sorted names (kept if it is one)."""
    feature = next(iter(dd.values())).features["label"]
    if isinstance(feature, Sequence) and isinstance(feature.feature, ClassLabel):
        return dd
    column = config.label_column or "label"
    sets = {
        s: tag_lists(ds["label"], f"{dataset_id} ({s})", column, config.label_delimiter)
        for s, ds in dd.items()
    }
    names = tag_names(sets, dataset_id)
    index = {n: i for i, n in enumerate(names)}
    label = Sequence(ClassLabel(names=names))
    out = {}
    for s, ds in dd.items():
        ids = [[index[t] for t in row] for row in sets[s]]
        out[s] = ds.remove_columns("label").add_column("label", ids, feature=label)
    logger.info(
        "%s: %s images, %d labels",
        dataset_id,
        " / ".join(f"{k} {len(v)}" for k, v in out.items()),
        len(names),
    )
    return DatasetDict(out)


def _values(dd: DatasetDict, config: DataConfig, dataset_id: str) -> DatasetDict:
    """A number per image: every cell checked (`labels.numbers`), the column cast to float32."""
    column = config.label_column or "label"
    for s, ds in dd.items():
        numbers(ds["label"], f"{dataset_id} ({s})", column)
    return dd.cast_column("label", Value("float32"))


# The kinds of target (`Targets.name`) whose labels are not class names, and how they are read.
LABEL_READERS: dict[str, Callable[[DatasetDict, DataConfig, str], DatasetDict]] = {
    "tags": _label_sets,
    "values": _values,
}

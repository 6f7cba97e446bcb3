"""`ImageSpec`: how images enter the model (input side, resize before the centre crop, mean, std, filter),
read from a transformers image processor, and the processor set back to a spec (`data.image_size`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image

logger = logging.getLogger(__name__)

DEFAULT_SIZE = 224


@dataclass(frozen=True)
class ImageSpec:
    """How images enter the model.

    Args:
        size (`int`): side of the square model input.
        mean (`tuple[float, float, float]`): per-channel mean on the [0, 1] scale.
        std (`tuple[float, float, float]`): per-channel standard deviation on the [0, 1] scale.
        resample (`int`, *optional*, defaults to `PIL.Image.Resampling.BILINEAR`): PIL filter for resizing.
        resize_size (`int`, *optional*): shorter side before the centre crop to `size` (e.g. 256 for a
            224 crop); defaults to `size`.
    """

    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resample: int = int(Image.Resampling.BILINEAR)
    resize_size: int | None = None

    def __post_init__(self) -> None:
        if self.resize_size is None:
            object.__setattr__(self, "resize_size", self.size)
        if self.resize_size < self.size:
            raise ValueError(f"resize_size {self.resize_size} is smaller than the crop size {self.size}")


def _three(value: Any, fallback: list[float]) -> tuple[float, float, float]:
    if value is None:
        value = fallback
    if isinstance(value, (int, float)):
        value = [value] * 3
    a, b, c = (float(v) for v in value)
    return (a, b, c)


def _edge(size: Any, key: str) -> int | None:
    if size is None:
        return None
    if isinstance(size, (int, float)):
        return int(size)
    value = size.get(key)
    return int(value) if value else None


def resolve_image_spec(image_processor: Any, override_size: int | None = None) -> ImageSpec:
    """Read input size, normalisation and resampling from a transformers image processor.

    Handles `size={"height", "width"}` (ViT), `size={"shortest_edge"}` + `crop_pct` (ConvNeXT, ResNet:
    resize to `size / crop_pct`, crop `size`), and `crop_size` (MobileNetV2, BEiT, CLIP: resize to
    `size`, crop `crop_size`). ImageNet statistics are used only when the processor has none.

    Args:
        image_processor (`BaseImageProcessor`, `Mapping` or `None`): e.g. from `AutoImageProcessor`, or its
            config dict; `None` gives the fallback (224, ImageNet mean/std).
        override_size (`int`, *optional*): model input side to use instead (`data.image_size`); the
            resize-to-crop ratio of the processor is kept.

    Returns:
        `ImageSpec`

    Example:
        >>> from transformers import ViTImageProcessor
        >>> resolve_image_spec(ViTImageProcessor(size={"height": 32, "width": 32})).size
        32
    """
    from transformers.utils.constants import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

    proc = image_processor

    def get(key: str) -> Any:
        return proc.get(key) if isinstance(proc, Mapping) else getattr(proc, key, None)

    size, crop = get("size"), get("crop_size")
    shortest, height, width = _edge(size, "shortest_edge"), _edge(size, "height"), _edge(size, "width")
    if crop is not None and get("do_center_crop") is not False and _edge(crop, "height"):
        target = _edge(crop, "height") or DEFAULT_SIZE
        resize = shortest or height or target
    elif shortest:
        target = shortest
        crop_pct = get("crop_pct")
        # ConvNeXT's rule: below 384 the image is resized to size / crop_pct and centre-cropped.
        resize = int(target / crop_pct) if crop_pct and target < 384 else target
    elif height:
        if width and width != height:
            logger.warning(
                "image processor size %sx%s is not square; using %d x %d", height, width, height, height
            )
        target = resize = height
    else:
        if proc is not None:
            logger.warning("image processor %s has no size; using %d", type(proc).__name__, DEFAULT_SIZE)
        target = resize = DEFAULT_SIZE
    if override_size:
        resize = max(override_size, round(override_size * resize / target))
        target = override_size
    normalise = get("do_normalize") is not False
    mean = _three(get("image_mean"), IMAGENET_DEFAULT_MEAN) if normalise else (0.0, 0.0, 0.0)
    std = _three(get("image_std"), IMAGENET_DEFAULT_STD) if normalise else (1.0, 1.0, 1.0)
    resample = get("resample")
    try:
        resample = int(resample) if resample is not None else int(Image.Resampling.BILINEAR)
    except (TypeError, ValueError):  # e.g. a torchvision InterpolationMode from a fast processor
        resample = int(Image.Resampling.BILINEAR)
    return ImageSpec(size=target, mean=mean, std=std, resample=resample, resize_size=max(resize, target))


def resize_processor(image_processor: Any, spec: ImageSpec) -> ImageSpec:
    """Set a transformers image processor to `spec`'s input size (`data.image_size`), in the processor's own
    terms: the resize before its centre crop (MobileNetV2: `shortest_edge`; BEiT: height and width), the
    crop, or `shortest_edge` with its `crop_pct` (ConvNeXT, ResNet). Returns the spec the processor now
    gives, which training then uses: the saved processor (fieldtune's loader, plain transformers)
    preprocesses exactly as training did, the zoom of its resize-then-crop included.
    """
    shortest = _edge(getattr(image_processor, "size", None), "shortest_edge")  # a dict or a SizeDict
    crops = getattr(image_processor, "do_center_crop", None) is not False
    if getattr(image_processor, "crop_size", None) and crops:
        square = {"height": spec.resize_size, "width": spec.resize_size}
        image_processor.size = {"shortest_edge": spec.resize_size} if shortest else square
        image_processor.crop_size = {"height": spec.size, "width": spec.size}
    elif shortest:
        image_processor.size = {"shortest_edge": spec.size}  # its crop_pct, if any, gives the resize
    else:
        image_processor.size = {"height": spec.size, "width": spec.size}
    return resolve_image_spec(image_processor)

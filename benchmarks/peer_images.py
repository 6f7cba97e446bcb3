"""The peer of `bench_images.py`: the transformers `run_image_classification.py` pattern as a plain
`Trainer` script. `set_transform` decodes every image and applies PIL transforms on the fly at every
step (RandomResizedCrop(scale 0.08-1) + horizontal flip + to-tensor + Normalize for training; Resize +
CenterCrop for testing), fp32, full fine-tuning, batch 8, lr 5e-5, AdamW, linear schedule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common import Timer, instrument, macro_f1_present


def random_resized_crop(img: Any, size: int, scale: tuple[float, float] = (0.08, 1.0)) -> Any:
    """torchvision's RandomResizedCrop (area in `scale`, aspect 3/4-4/3, 10 tries, then a centre crop),
    in PIL, drawing from torch's global generator as torchvision does."""
    import math

    import torch
    from PIL import Image

    w_img, h_img = img.size
    area = w_img * h_img
    log_ratio = (math.log(3 / 4), math.log(4 / 3))
    for _ in range(10):
        target = area * torch.empty(1).uniform_(*scale).item()
        aspect = math.exp(torch.empty(1).uniform_(*log_ratio).item())
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= w_img and 0 < h <= h_img:
            top = int(torch.randint(0, h_img - h + 1, (1,)))
            left = int(torch.randint(0, w_img - w + 1, (1,)))
            break
    else:
        in_ratio = w_img / h_img
        if in_ratio < 3 / 4:
            w, h = w_img, round(w_img / (3 / 4))
        elif in_ratio > 4 / 3:
            h, w = h_img, round(h_img * (4 / 3))
        else:
            w, h = w_img, h_img
        top, left = (h_img - h) // 2, (w_img - w) // 2
    return img.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + w, top + h))


def random_crop_flip(img: Any, size: int) -> Any:
    """RandomResizedCrop(size) then RandomHorizontalFlip(0.5), in torchvision's order of draws."""
    import torch
    from PIL import Image

    img = random_resized_crop(img, size)
    return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if torch.rand(1).item() < 0.5 else img


def resize_center_crop(img: Any, resize: int, size: int) -> Any:
    """torchvision Resize(resize) (shorter side) + CenterCrop(size), in PIL."""
    from PIL import Image

    w, h = img.size
    scale = resize / min(w, h)
    nw, nh = (resize, int(resize * h / w)) if w <= h else (int(resize * w / h), resize)
    if scale != 1:
        img = img.resize((nw, nh), Image.Resampling.BILINEAR)
    top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
    return img.crop((left, top, left + size, top + size))


def to_normalised_tensor(img: Any, mean: Any, std: Any) -> Any:
    """ToTensor + Normalize."""
    import numpy as np
    import torch

    x = torch.from_numpy(np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255.0)
    return (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)


def run_peer(config: Any, workdir: Path, epochs: float, workers: int = 0) -> dict[str, Any]:
    """`run_image_classification.py`'s pattern, on fieldtune's split of the same folder; `workers`:
    `--dataloader_num_workers` (the example's default is 0; on a GPU give it as many as fieldtune uses)."""
    import numpy as np
    import torch
    from transformers import AutoModelForImageClassification, Trainer, TrainingArguments, set_seed

    from fieldtune.datasets_builders import build_dataset
    from fieldtune.inputs.image_spec import resolve_image_spec
    from fieldtune.inputs.prepare_images import load_image_processor
    from fieldtune.modeling.create import resolve_model_path

    with Timer() as wall:
        set_seed(config.training.seed)
        dd = build_dataset(config.data, config.task)
        names = dd["train"].features["label"].names
        path = resolve_model_path(config.model.name_or_path)
        spec = resolve_image_spec(
            load_image_processor(path), config.data.image_size
        )  # fieldtune's input size

        def train_tf(batch: dict) -> dict:
            batch["pixel_values"] = [
                to_normalised_tensor(random_crop_flip(im.convert("RGB"), spec.size), spec.mean, spec.std)
                for im in batch["image"]
            ]
            return batch

        def eval_tf(batch: dict) -> dict:
            batch["pixel_values"] = [
                to_normalised_tensor(
                    resize_center_crop(im.convert("RGB"), spec.resize_size, spec.size), spec.mean, spec.std
                )
                for im in batch["image"]
            ]
            return batch

        def collate(rows: list[dict]) -> dict:
            return {
                "pixel_values": torch.stack([r["pixel_values"] for r in rows]),
                "labels": torch.tensor([r["label"] for r in rows]),
            }

        dd["train"].set_transform(train_tf)
        dd["test"].set_transform(eval_tf)
        model = AutoModelForImageClassification.from_pretrained(
            path,
            num_labels=len(names),
            id2label=dict(enumerate(names)),
            label2id={n: i for i, n in enumerate(names)},
            ignore_mismatched_sizes=True,
        )
        loop = (
            {"max_steps": config.training.extra["max_steps"]} if "max_steps" in config.training.extra else {}
        )
        args = TrainingArguments(
            output_dir=str(workdir / "peer"),
            num_train_epochs=epochs,
            seed=config.training.seed,
            remove_unused_columns=False,  # the example's setting: `image` feeds the transform
            use_cpu=not torch.cuda.is_available(),
            report_to="none",
            disable_tqdm=True,
            save_total_limit=2,
            dataloader_num_workers=workers,
            **loop,
        )
        trainer = Trainer(model=model, args=args, train_dataset=dd["train"], data_collator=collate)
        with instrument() as probe:
            out = trainer.train()
        pred = trainer.predict(dd["test"])
    accuracy, f1 = macro_f1_present(np.asarray(pred.label_ids), pred.predictions.argmax(-1))
    return {
        "method": "full (PIL on the fly)",
        "dataloader_workers": workers,
        "epochs": epochs,
        "batch_size": args.per_device_train_batch_size,
        "learning_rate": args.learning_rate,
        "backbone_samples": probe.samples,
        "head_only_samples": 0,
        "train_s": probe.train_s,
        "samples_per_s": probe.samples / probe.train_s if probe.train_s else None,
        "all_samples_per_s": probe.samples / probe.train_s if probe.train_s else None,
        "trainer_samples_per_s": out.metrics.get("train_samples_per_second"),
        "wall_s": wall.seconds,
        "accuracy": accuracy,
        "f1_macro": f1,
        "precision": "fp32",
        "rss_after_train_mb": probe.rss_after_train_mb,
    }

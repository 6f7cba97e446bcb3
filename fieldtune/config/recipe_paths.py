"""Where the relative paths of a recipe point, and the absolute paths a run directory records.

A relative `model.name_or_path` / `data.path` / `pretraining.extra_texts` written in a recipe file is
relative to that file's folder, so a recipe runs the same from any working folder; the recipes shipped
in the repository's `configs/` are relative to the repository root (where `models/` and `../shared/` are). A path given on the command
line (`--data.path=notes.csv`) is relative to the working folder, as any command-line path. A recipe
path found only from the working folder still works (recipes written before this rule); a value found
nowhere that does not look like a path stays a Hub id. A folder inside the Hugging Face cache
(`.../models--ORG--NAME/snapshots/REV`) is that Hub model: its id names the run and fills the card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[2]
SHIPPED = REPOSITORY / "configs"
# the keys that name a file or folder
PATH_KEYS = (
    ("model", "name_or_path"),
    ("data", "path"),
    ("distill", "teacher"),
    ("pretraining", "extra_texts"),
)


def recipe_base(recipe: Path) -> Path:
    """The folder a recipe's relative paths start from: the repository for shipped recipes, else its own."""
    recipe = recipe.resolve()
    return REPOSITORY if recipe.is_relative_to(SHIPPED) else recipe.parent


def looks_local(value: str, base: Path) -> bool:
    """A value that names a file or folder rather than a Hub id: `./x`, `../x`, `~/x`, `a/b/c`, or a
    `folder/name` whose first folder exists under `base` (`models/vit-tiny` beside a `models/` folder)."""
    if value.startswith((".", "/", "~")) or "\\" in value or value.count("/") > 1:
        return True
    head = value.split("/", 1)[0]
    return "/" in value and (base / head).is_dir()


def resolve_recipe_paths(data: Any, recipe: Path) -> Any:
    """The recipe tree with its relative path values made absolute against `recipe_base(recipe)`."""
    if not isinstance(data, dict):
        return data
    base = recipe_base(Path(recipe))
    out = dict(data)
    for section, key in PATH_KEYS:
        node = out.get(section)
        value = node.get(key) if isinstance(node, dict) else None
        if not isinstance(value, str) or not value or value.startswith("~") or Path(value).is_absolute():
            continue
        candidate = base / value
        if candidate.exists() or (not Path(value).exists() and looks_local(value, base)):
            out[section] = {**node, key: str(candidate.resolve())}
    return out


def absolute_if_local(value: str | None) -> str | None:
    """An existing local path as an absolute one (what a run directory records); anything else as is."""
    if not value:
        return value
    path = Path(value).expanduser()
    return str(path.resolve()) if path.exists() else value


def with_absolute_paths(tree: dict[str, Any]) -> dict[str, Any]:
    """A config tree (`RunConfig.to_dict()`) whose local paths are absolute: the run directory's
    `config.yaml`, read by `evaluate` / `predict` from any working folder."""
    out = dict(tree)
    for section, key in PATH_KEYS:
        node = out.get(section)
        if isinstance(node, dict) and isinstance(node.get(key), str):
            out[section] = {**node, key: absolute_if_local(node[key])}
    return out


def model_id(name_or_path: str) -> str:
    """The name a model is known by: the Hub id of a snapshot folder of the Hugging Face cache (a recipe or
    `--model.name_or_path` may point there, e.g. at a seeded cache), else the value as given.

    >>> model_id("/root/.cache/huggingface/hub/models--sentence-transformers--all-mpnet-base-v2/snapshots/e8c3b32")
    'sentence-transformers/all-mpnet-base-v2'
    """
    from huggingface_hub.file_download import repo_folder_name

    parts = Path(str(name_or_path)).expanduser().parts
    for i, folder in enumerate(parts[:-2]):  # a revision folder follows `snapshots`
        if folder.startswith("models--") and parts[i + 1] == "snapshots":
            repo_id = folder.removeprefix("models--").replace("--", "/")
            # the cache's own naming rule, from huggingface_hub: ORG/NAME -> models--ORG--NAME
            if repo_id.count("/") <= 1 and repo_folder_name(repo_id=repo_id, repo_type="model") == folder:
                return repo_id
    return name_or_path

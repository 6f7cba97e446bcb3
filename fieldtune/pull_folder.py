"""The `--out` folder of `fieldtune pull`: what may be replaced, and the replacement without a merge.

A pull writes the repo into a new hidden sibling folder, records what it wrote in a marker
(`.cache/huggingface/fieldtune-pull.json`: repo id, revision, and the size and modification time of each
file), and only then swaps it in. So a folder is either its old self or the complete new pull, never a mix,
and nothing is left behind when the download fails.

An existing non-empty `--out` is replaced only when it is an earlier pull of the same repo that nobody has
changed since (its marker names the repo and every file still has the size and time recorded), or when the
user passed `--overwrite`. The marker lives under `.cache/huggingface/`, beside huggingface_hub's own download
metadata, which `upload_folder` never uploads.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from fieldtune.errors import RunDirError, file_system_error

MARKER = Path(".cache") / "huggingface" / "fieldtune-pull.json"
_HF_META = Path(".cache") / "huggingface"


def _files(folder: Path) -> dict[str, list[int]]:
    """Every file under `folder` but the Hub client's metadata -> [size, mtime_ns]."""
    found = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if rel.parts[:2] == _HF_META.parts or p.is_dir():
            continue
        st = p.lstat()
        found[rel.as_posix()] = [st.st_size, st.st_mtime_ns]
    return found


def _pulled_repo(folder: Path) -> tuple[str | None, str]:
    """(the repo `folder` is an unchanged pull of, or None; why not, for the message)."""
    try:
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        repo_id, recorded = marker["repo_id"], marker["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None, "it is not an earlier `fieldtune pull`"
    found = _files(folder)
    changed = sorted(set(found) ^ set(recorded)) + sorted(
        p for p in set(found) & set(recorded) if found[p] != recorded[p]
    )
    if changed:
        return None, f"{changed[0]} was added or changed since it was pulled"
    return str(repo_id), f"it holds a pull of {repo_id}"


def check_pull_out(out: Path, repo_id: str, overwrite: bool) -> None:
    """Before any download: `out` is new, empty, an unchanged earlier pull of `repo_id`, or `overwrite`."""
    if not out.is_dir() or not any(out.iterdir()):
        return
    here = Path.cwd().resolve()
    if out == Path.home().resolve() or out == Path(out.anchor) or out == here or out in here.parents:
        # --overwrite replaces the whole folder: never the home folder, a root, or the one the user is in
        raise RunDirError(
            f"--out {out} is your home folder, a file-system root or holds the current folder; "
            "pull into a new folder."
        )
    pulled, why = _pulled_repo(out)
    if pulled == repo_id or overwrite:
        return
    raise RunDirError(
        f"--out {out} is not empty and {why}, so pulling {repo_id} would replace its files; "
        "pull into a new or empty folder, or pass --overwrite to replace the whole folder."
    )


def pull_into(out: Path, repo_id: str, revision: str | None, download: Callable[[Path], None]) -> None:
    """`download(tmp)` into a hidden sibling of `out`, mark it, then swap it in for `out` (old contents
    removed only once the new pull is complete; on any failure `out` is as it was and no sibling is left)."""
    missing = [p for p in out.parents if not p.exists()]  # nearest first; removed again on failure
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.pulling-"))
    except OSError as e:
        raise file_system_error(e, out) from None
    replaced = None
    try:
        download(tmp)
        marker = {"repo_id": repo_id, "revision": revision or "main", "files": _files(tmp)}
        (tmp / MARKER).parent.mkdir(parents=True, exist_ok=True)
        (tmp / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        if out.is_dir():
            replaced = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.replaced-"))
            os.replace(out, replaced)
        os.replace(tmp, out)
    except BaseException as e:
        if replaced is not None and not out.exists():
            os.replace(replaced, out)  # the old folder back, byte-identical
        elif replaced is not None:
            replaced.rmdir()  # moving the old folder aside failed: this is still empty
        shutil.rmtree(tmp, ignore_errors=True)
        for folder in missing:
            try:
                folder.rmdir()
            except OSError:
                break
        if isinstance(e, OSError):
            raise file_system_error(e, out) from None
        raise
    if replaced is not None:
        shutil.rmtree(replaced, ignore_errors=True)

"""The `--out` folder of `fieldtune pull`: what may be replaced, and the replacement without a merge.

A pull writes the repo into a hidden work folder inside `--out`, records what it wrote in a marker
(`.cache/huggingface/fieldtune-pull.json`: repo id, revision, and the size and modification time of each
file), and only then swaps it in for the folder's old entries. So a folder is the complete new pull, never a
mix of old and new, and a failed download leaves it as it was.

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
_PULLING, _REPLACED = ".fieldtune-pulling-", ".fieldtune-replaced-"  # hidden work folders inside --out


def _files(folder: Path) -> dict[str, list[int]]:
    """Every file under `folder` but the Hub client's metadata -> [size, mtime_ns]."""
    found = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if rel.parts[:2] == _HF_META.parts or rel.parts[0].startswith((_PULLING, _REPLACED)) or p.is_dir():
            continue  # the Hub client's metadata; a pull's work folder (one a killed pull left is not yours)
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
    pulled, why = _pulled_repo(out)
    if (pulled or "").casefold() == repo_id.casefold():  # Hub ids resolve in any case
        return
    if not overwrite:
        raise RunDirError(
            f"--out {out} is not empty and {why}, so pulling {repo_id} would replace its files; "
            "pull into a new or empty folder, or pass --overwrite to replace the whole folder."
        )
    here = Path.cwd().resolve()
    if out == Path.home().resolve() or out == Path(out.anchor) or out == here or out in here.parents:
        # --overwrite replaces everything in it: never the home folder, a root, or the one the user is in
        raise RunDirError(
            f"--out {out} is your home folder, a file-system root or holds the current folder; "
            "--overwrite would delete everything in it: pull into a new folder."
        )


def pull_into(out: Path, repo_id: str, revision: str | None, download: Callable[[Path], None]) -> None:
    """`download(tmp)` into a hidden folder inside `out`, mark it, then swap its entries in for the old ones
    (removed only once the new pull is complete). Inside `out`, not beside it: a mount point (a container
    volume) cannot be renamed, and every move stays on its file system. On any failure `out` is as it was,
    and a folder the pull created is removed."""
    made = [p for p in (out, *out.parents) if not p.exists()]  # nearest first
    try:
        out.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out, prefix=_PULLING))
    except OSError as e:
        raise file_system_error(e, out) from None
    old: Path | None = None
    moved_old: list[str] = []
    moved_new: list[str] = []
    try:
        download(tmp)
        marker = {"repo_id": repo_id, "revision": revision or "main", "files": _files(tmp)}
        (tmp / MARKER).parent.mkdir(parents=True, exist_ok=True)
        (tmp / MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
        old = Path(tempfile.mkdtemp(dir=out, prefix=_REPLACED))
        for entry in sorted(out.iterdir()):
            if entry not in (tmp, old):
                os.replace(entry, old / entry.name)
                moved_old.append(entry.name)
        for entry in sorted(tmp.iterdir()):
            os.replace(entry, out / entry.name)
            moved_new.append(entry.name)
    except BaseException as e:
        for name in moved_new:  # the old entries back, byte-identical
            _remove(out / name)
        for name in moved_old:
            os.replace(old / name, out / name)  # type: ignore[operator]
        for folder in (tmp, old):
            if folder is not None:
                shutil.rmtree(folder, ignore_errors=True)
        for folder in made:
            try:
                folder.rmdir()
            except OSError:
                break
        if isinstance(e, OSError):
            raise file_system_error(e, out) from None
        raise
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)

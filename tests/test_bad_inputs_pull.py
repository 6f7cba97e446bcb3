"""`fieldtune pull --out DIR` never merges into a user's folder (issue 29, item 1): a non-empty folder that is
not an unchanged earlier pull of the same repo is refused without --overwrite (one line, exit 2, the folder
byte-identical); a re-pull or --overwrite replaces the folder whole (no stale file left from before); a failed
pull leaves the folder as it was and no sibling behind. Against the local test Hub (tests/hub_server.py)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from fieldtune.cli import main
from fieldtune.hub.pull_folder import MARKER
from tests import hub_fixtures
from tests import test_bad_inputs as table
from tests.hub_server import USER
from tests.hub_store import Blob
from tests.test_bad_inputs import Case, Ctx, _snapshot

tiny_vit = table.tiny_vit  # module fixtures, found by name
hub_env, hub_server = hub_fixtures.hub_env, hub_fixtures.hub_server

CARD = b"---\nlibrary_name: transformers\n---\n# demand-bert\n"


def _repo(ctx: Ctx, files: dict[str, bytes] | None = None) -> str:
    """A model repo on the test Hub (README.md + config.json by default); returns its id."""
    ctx.request.getfixturevalue("hub_env")
    server = ctx.request.getfixturevalue("hub_server")
    repo_id = f"{USER}/demand-bert-{uuid.uuid4().hex[:8]}"
    repo = server.store.create("model", repo_id, private=False)
    files = files if files is not None else {"README.md": CARD, "config.json": b'{"model_type": "bert"}'}
    repo.commit("main", "upload", {path: Blob(data) for path, data in files.items()})
    return repo_id


def _pull(repo_id: str, out: Path, *extra: str) -> list[str]:
    return ["pull", repo_id, "--out", str(out), *extra]


def s_out_is_users_folder(ctx: Ctx) -> list[str]:
    ctx.run_dir.mkdir()
    (ctx.run_dir / "README.md").write_text("# my project notes\n")  # the model card would replace it
    (ctx.run_dir / "data.csv").write_text("text,label\nbox,low\n")
    return _pull(_repo(ctx), ctx.run_dir)


def s_out_is_pull_of_other_repo(ctx: Ctx) -> list[str]:
    other = _repo(ctx)
    assert main(_pull(other, ctx.run_dir)) == 0
    return _pull(_repo(ctx), ctx.run_dir)


def s_out_is_edited_pull(ctx: Ctx) -> list[str]:
    repo_id = _repo(ctx)
    assert main(_pull(repo_id, ctx.run_dir)) == 0
    (ctx.run_dir / "README.md").write_text("# my notes on this model\n")
    return _pull(repo_id, ctx.run_dir)


def s_out_pull_plus_users_file(ctx: Ctx) -> list[str]:
    repo_id = _repo(ctx)
    assert main(_pull(repo_id, ctx.run_dir)) == 0
    (ctx.run_dir / "eval_on_our_data.json").write_text("{}")
    return _pull(repo_id, ctx.run_dir)


def s_out_is_current_folder(ctx: Ctx) -> list[str]:
    (ctx.tmp / "notes.txt").write_text("mine\n")  # run_case works in ctx.tmp
    ctx.run_dir.mkdir()
    (ctx.run_dir / "notes.txt").write_text("mine too\n")
    return _pull(_repo(ctx), ctx.tmp, "--overwrite")


def s_overwrite_without_out(ctx: Ctx) -> list[str]:
    return ["pull", "field-org/demand-bert", "--overwrite"]


def s_failed_repull_keeps_the_folder(ctx: Ctx) -> list[str]:
    repo_id = _repo(ctx)
    assert main(_pull(repo_id, ctx.run_dir)) == 0
    return _pull(repo_id, ctx.run_dir, "--revision", "no-such-branch")


CASES = [
    Case("pull-out-is-users-folder", s_out_is_users_folder, ("--out", "not empty", "not an earlier `fieldtune pull`", "--overwrite"), existing=True, subprocess=True),
    Case("pull-out-is-pull-of-other-repo", s_out_is_pull_of_other_repo, ("--out", "not empty", "holds a pull of", "--overwrite"), existing=True),
    Case("pull-out-is-edited-pull", s_out_is_edited_pull, ("--out", "README.md was added or changed", "--overwrite"), existing=True),
    Case("pull-out-pull-plus-users-file", s_out_pull_plus_users_file, ("eval_on_our_data.json was added or changed", "--overwrite"), existing=True),
    Case("pull-out-is-current-folder", s_out_is_current_folder, ("--out", "holds the current folder", "new folder"), existing=True),
    Case("pull-overwrite-without-out", s_overwrite_without_out, ("--overwrite", "--out DIR only")),
    Case("pull-failed-repull-keeps-folder", s_failed_repull_keeps_the_folder, ("'no-such-branch'", "does not exist"), existing=True),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_pull_out_is_one_line_exit_2(
    case: Case, tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    table.run_case(case, Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch), capsys)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no sibling left


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and ".cache" not in p.relative_to(folder).parts
    }


def test_repull_replaces_the_earlier_pull_whole(hub_env, hub_server, tmp_path, monkeypatch):
    """A re-pull of the same repo at a new revision: the folder is the new revision exactly (a file the new
    revision dropped is gone, not left to be loaded), with the marker naming the repo; nothing beside it."""
    tmp_path = tmp_path / "work"  # hub_env keeps its cache in tmp_path/hf_home
    tmp_path.mkdir()
    monkeypatch.chdir(tmp_path)
    repo_id = f"{USER}/repull-{uuid.uuid4().hex[:8]}"
    repo = hub_server.store.create("model", repo_id, private=False)
    repo.commit("main", "v1", {"README.md": Blob(CARD), "adapter_config.json": Blob(b"{}")})
    out = tmp_path / "models" / "demand"
    assert main(_pull(repo_id, out)) == 0
    assert set(_files(out)) == {"README.md", "adapter_config.json"}
    assert (out / MARKER).is_file()

    repo.commit("main", "v2", {"README.md": Blob(b"# v2\n"), "config.json": Blob(b"{}")})
    assert main(_pull(repo_id, out)) == 0
    assert _files(out) == {"README.md": b"# v2\n", "config.json": b"{}"}
    assert sorted(p.name for p in out.parent.iterdir()) == ["demand"]
    monkeypatch.chdir(out)  # pulling again from inside the folder, as `--out .`
    assert main(_pull(repo_id, Path("."))) == 0
    assert _files(out) == {"README.md": b"# v2\n", "config.json": b"{}"}


def test_overwrite_replaces_a_users_folder_without_merging(hub_env, hub_server, tmp_path, monkeypatch):
    tmp_path = tmp_path / "work"  # hub_env keeps its cache in tmp_path/hf_home
    tmp_path.mkdir()
    monkeypatch.chdir(tmp_path)
    repo_id = f"{USER}/overwrite-{uuid.uuid4().hex[:8]}"
    hub_server.store.create("model", repo_id, private=False).commit("main", "up", {"README.md": Blob(CARD)})
    out = tmp_path / "demand"
    out.mkdir()
    (out / "README.md").write_text("# mine\n")
    (out / "notes.txt").write_text("mine\n")
    assert main(_pull(repo_id, out, "--overwrite")) == 0
    assert set(_files(out)) == {"README.md"} and (out / "README.md").read_bytes() == CARD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demand"]


def test_a_pull_that_fails_midway_leaves_nothing(hub_env, hub_server, tmp_path, monkeypatch, capsys):
    """The download breaks after some files: an earlier pull stays byte-identical, a new --out (and the
    parent folders the pull would have created) does not appear, and no hidden sibling is left."""
    import huggingface_hub._snapshot_download as snapshot

    tmp_path = tmp_path / "work"  # hub_env keeps its cache in tmp_path/hf_home
    tmp_path.mkdir()
    monkeypatch.chdir(tmp_path)
    repo_id = f"{USER}/midway-{uuid.uuid4().hex[:8]}"
    files = {"README.md": Blob(CARD), "config.json": Blob(b"{}"), "model.safetensors": Blob(b"x" * 64)}
    hub_server.store.create("model", repo_id, private=False).commit("main", "up", files)
    earlier = tmp_path / "earlier"
    assert main(_pull(repo_id, earlier)) == 0
    before = _snapshot(earlier)

    real = snapshot.hf_hub_download

    def breaks(*args: object, filename: str = "", **kwargs: object) -> str:
        if filename == "model.safetensors":
            raise OSError(28, "No space left on device")
        return real(*args, filename=filename, **kwargs)

    monkeypatch.setattr(snapshot, "hf_hub_download", breaks)
    capsys.readouterr()
    assert main(_pull(repo_id, earlier)) == 2
    assert "disk is full" in capsys.readouterr().err
    assert _snapshot(earlier) == before
    assert main(_pull(repo_id, tmp_path / "new" / "deeper")) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["earlier"]


def test_a_swap_that_fails_puts_the_old_pull_back(hub_env, hub_server, tmp_path, monkeypatch, capsys):
    """The new files are being moved in when a move fails (disk error): every old file is back, byte-identical,
    and no new file or work folder is left."""
    import os

    tmp_path = tmp_path / "work"
    tmp_path.mkdir()
    monkeypatch.chdir(tmp_path)
    repo_id = f"{USER}/swap-{uuid.uuid4().hex[:8]}"
    repo = hub_server.store.create("model", repo_id, private=False)
    repo.commit("main", "v1", {"README.md": Blob(CARD), "a.json": Blob(b"1"), "b.json": Blob(b"2")})
    out = tmp_path / "demand"
    assert main(_pull(repo_id, out)) == 0
    before = _snapshot(out)
    repo.commit("main", "v2", {"README.md": Blob(b"# v2\n"), "a.json": Blob(b"10"), "c.json": Blob(b"30")})

    real, moved_in = os.replace, []

    def fails_on_second_move_in(src: object, dst: object) -> None:
        if ".fieldtune-pulling-" in str(src) and Path(dst).parent == out:
            moved_in.append(src)
            if len(moved_in) == 2:
                raise OSError(5, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(os, "replace", fails_on_second_move_in)
    capsys.readouterr()
    assert main(_pull(repo_id, out)) == 2
    assert (
        capsys.readouterr().err
        == f"fieldtune: error: Cannot use {out}: Input/output error; check the path and its permissions.\n"
    )
    assert _snapshot(out) == before and len(moved_in) == 2

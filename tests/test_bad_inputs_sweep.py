"""Bad `fieldtune sweep` inputs (issue 13; issue 29: a --storage that is a user's file, another
application's database or in memory) through the CLI: one line, exit 2, nothing written. Same table
machinery as `tests/test_bad_inputs.py`; the sweep directory is `ctx.run_dir`."""

from __future__ import annotations

import pytest
import yaml

from tests import test_bad_inputs as table
from tests.test_bad_inputs import Case, Ctx, _recipe

tiny_vit = table.tiny_vit  # module fixture, found by name


def _sweep(ctx: Ctx, *extra: str) -> list[str]:
    return ["sweep", str(_recipe(ctx)), "--output-dir", str(ctx.run_dir), *extra]


def _space(ctx: Ctx, space: dict) -> str:
    path = ctx.tmp / "space.yaml"
    path.write_text(yaml.safe_dump(space))
    return str(path)


def s_grid_unknown_key(ctx: Ctx) -> list[str]:
    return _sweep(ctx, "--grid", "training.learnin_rate=1e-4,3e-4")


def s_grid_wrong_type(ctx: Ctx) -> list[str]:
    return _sweep(ctx, "--grid", "training.num_train_epochs=2,three")


def s_grid_empty(ctx: Ctx) -> list[str]:
    return _sweep(ctx, "--grid", "training.learning_rate=")


def s_no_grid(ctx: Ctx) -> list[str]:
    return _sweep(ctx)


def s_search_unknown_distribution(ctx: Ctx) -> list[str]:
    space = {"training.learning_rate": {"type": "loguniform", "low": 1e-5, "high": 1e-3}}
    return _sweep(ctx, "--search", _space(ctx, space), "--trials", "4")


def s_search_unknown_key(ctx: Ctx) -> list[str]:
    space = {"method.lora_rank": {"type": "int", "low": 4, "high": 16}}
    return _sweep(ctx, "--search", _space(ctx, space), "--trials", "4")


def s_search_without_trials(ctx: Ctx) -> list[str]:
    space = {"training.learning_rate": {"type": "float", "low": 1e-5, "high": 1e-3, "log": True}}
    return _sweep(ctx, "--search", _space(ctx, space))


def s_storage_missing_folder(ctx: Ctx) -> list[str]:
    return _sweep(
        ctx, "--grid", "method.name=full,lora", "--storage", f"sqlite:///{ctx.tmp}/no_such_dir/sweep.db"
    )


def s_storage_missing_driver(ctx: Ctx) -> list[str]:
    return _sweep(
        ctx, "--grid", "method.name=full,lora", "--storage", "postgresql://sweeper@db.invalid/studies"
    )


def s_storage_not_a_url(ctx: Ctx) -> list[str]:
    return _sweep(ctx, "--grid", "method.name=full,lora", "--storage", "my-study")


def s_another_sweep_in_dir(ctx: Ctx) -> list[str]:
    """A sweep directory made by another grid (its manifest and journal), then a different grid into it."""
    from fieldtune.sweep import prepare_sweep
    from fieldtune.sweep.study import open_storage, write_manifest

    _, manifest = prepare_sweep(_recipe(ctx), grid=["method.name=full,lora"], output_dir=ctx.run_dir)
    open_storage(None, ctx.run_dir)
    write_manifest(ctx.run_dir, manifest)
    return _sweep(ctx, "--grid", "training.learning_rate=1e-4,3e-4")


def s_validation_off(ctx: Ctx) -> list[str]:
    return _sweep(ctx, "--grid", "method.name=full,lora", "--data.validation_size=0")


def s_zero_workers(ctx: Ctx) -> list[str]:
    return _sweep(ctx, "--grid", "method.name=full,lora", "--workers", "0")


# a user's own files that a --storage may name (issue 29): they stay byte-identical
MINE = {
    "notes.journal": b"shipments to re-check\nall of dock 4\n",
    "binary.journal": bytes(range(256)),
    "orders.db": b"text,label\nbox,low\n",
}


def _mine(ctx: Ctx, name: str) -> str:
    folder = ctx.tmp / "mine"
    folder.mkdir(exist_ok=True)
    if name in MINE:
        (folder / name).write_bytes(MINE[name])
    return str(folder / name)


def _app_db(ctx: Ctx) -> str:
    """Another application's SQLite database (a `customers` table)."""
    import sqlite3

    path = _mine(ctx, "app.db")
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers (name) VALUES ('field-org')")
    conn.close()
    return path


def _storage(ctx: Ctx, url: str) -> list[str]:
    return _sweep(ctx, "--grid", "training.learning_rate=1e-4,2e-4", "--storage", url)


def s_storage_journal_is_notes(ctx: Ctx) -> list[str]:
    return _storage(ctx, _mine(ctx, "notes.journal"))


def s_storage_journal_is_binary(ctx: Ctx) -> list[str]:
    return _storage(ctx, _mine(ctx, "binary.journal"))


def s_storage_journal_is_folder(ctx: Ctx) -> list[str]:
    (ctx.tmp / "mine" / "old.journal").mkdir(parents=True)
    return _storage(ctx, str(ctx.tmp / "mine" / "old.journal"))


def s_storage_sqlite_memory(ctx: Ctx) -> list[str]:
    return _storage(ctx, "sqlite:///:memory:")


def s_storage_sqlite_no_database(ctx: Ctx) -> list[str]:
    return _storage(ctx, "sqlite://")


def s_storage_sqlite_memory_uri(ctx: Ctx) -> list[str]:
    return _storage(ctx, "sqlite:///file:sweep?mode=memory&cache=shared&uri=true")


def s_storage_sqlite_other_app(ctx: Ctx) -> list[str]:
    return _storage(ctx, f"sqlite:///{_app_db(ctx)}")


def s_storage_sqlite_not_a_database(ctx: Ctx) -> list[str]:
    return _storage(ctx, f"sqlite:///{_mine(ctx, 'orders.db')}")


CASES = [
    Case("storage-journal-is-users-file", s_storage_journal_is_notes, ("--storage", "notes.journal", "line 1", "not an Optuna journal", "new .journal path"), subprocess=True),
    Case("storage-journal-is-binary", s_storage_journal_is_binary, ("--storage", "binary.journal", "not an Optuna journal")),
    Case("storage-journal-is-folder", s_storage_journal_is_folder, ("--storage", "old.journal", "is a folder")),
    Case("storage-sqlite-memory", s_storage_sqlite_memory, ("--storage sqlite:///:memory:", "in-memory", "sqlite:///sweep.db")),
    Case("storage-sqlite-no-database", s_storage_sqlite_no_database, ("--storage sqlite://", "in-memory")),
    Case("storage-sqlite-memory-uri", s_storage_sqlite_memory_uri, ("mode=memory", "in-memory")),
    Case("storage-sqlite-other-app", s_storage_sqlite_other_app, ("app.db", "another application's database", "customers", "new .db path")),
    Case("storage-sqlite-not-a-database", s_storage_sqlite_not_a_database, ("orders.db", "not an SQLite database")),
    Case("grid-unknown-key", s_grid_unknown_key, ("--grid", "training.learnin_rate", "did you mean `learning_rate`"), subprocess=True),
    Case("grid-wrong-type", s_grid_wrong_type, ("--grid", "training.num_train_epochs", "'three'", "number")),
    Case("grid-empty", s_grid_empty, ("--grid training.learning_rate=", "empty", "V1,V2")),
    Case("no-grid", s_no_grid, ("grid is empty", "--grid section.key=V1,V2", "--search")),
    Case("search-unknown-distribution", s_search_unknown_distribution, ("training.learning_rate", "'loguniform'", "float, int, categorical")),
    Case("search-unknown-key", s_search_unknown_key, ("method.lora_rank", "did you mean `lora_r`")),
    Case("search-without-trials", s_search_without_trials, ("--search", "--trials N",)),
    Case("storage-missing-folder", s_storage_missing_folder, ("--storage", "no_such_dir", "does not exist")),
    Case("storage-missing-driver", s_storage_missing_driver, ("--storage", "postgresql://", "driver", "pip install")),
    Case("storage-not-a-url", s_storage_not_a_url, ("--storage", "'my-study'", "sqlite:///")),
    Case("another-sweep-in-dir", s_another_sweep_in_dir, ("run", "holds another sweep", "grid", "another --output-dir"), existing=True),
    Case("sweep-without-validation", s_validation_off, ("validation", "data.validation_size > 0")),
    Case("zero-workers", s_zero_workers, ("--workers 0", "1 or more")),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_sweep_input_is_one_line_exit_2(
    case: Case, tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    table.run_case(case, Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch), capsys)
    mine = tmp_path / "mine"
    for name, data in MINE.items():  # a user's file named as --storage: not one byte added
        assert not (mine / name).exists() or (mine / name).read_bytes() == data, name
    if (mine / "app.db").exists():
        import sqlite3

        conn = sqlite3.connect(mine / "app.db")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        conn.close()
        assert tables == {"customers"}  # no Optuna table added to another application's database


def test_optuna_storages_that_exist_are_accepted(tmp_path):
    """The checks above let through what Optuna wrote: a journal (also with a torn last line, as a crash leaves
    it), an Optuna SQLite database, an empty file; and a new path."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    from fieldtune.sweep.study import check_storage_url

    journal = tmp_path / "study.journal"
    optuna.create_study(
        storage=optuna.storages.JournalStorage(JournalFileBackend(str(journal))), study_name="a"
    )
    check_storage_url(str(journal))
    with open(journal, "ab") as f:
        f.write(b'{"op_code": 4, "worker')  # torn
    check_storage_url(str(journal))
    db = tmp_path / "sweep.db"
    optuna.create_study(storage=f"sqlite:///{db}", study_name="a")
    check_storage_url(f"sqlite:///{db}")
    (tmp_path / "empty.db").touch()
    (tmp_path / "empty.journal").touch()
    for url in (
        f"sqlite:///{tmp_path}/empty.db",
        str(tmp_path / "empty.journal"),
        f"sqlite:///{tmp_path}/new.db",
    ):
        check_storage_url(url)


def test_a_journal_under_tilde_is_in_the_home_folder(tmp_path, monkeypatch):
    """`--storage=~/s.journal` (no shell expands a `~` after `=`) is checked and written at the same place:
    the home folder, not a folder named `~` in the working directory."""
    from fieldtune.sweep.study import open_storage

    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    open_storage("~/s.journal", tmp_path / "sweep")
    assert (tmp_path / "home" / "s.journal").is_file() and not (tmp_path / "~").exists()

"""`--storage` is checked before anything writes to it: a sweep must survive its process, and a file the
user already has is written to only when it is an Optuna storage.

- `FILE.journal` that exists: every complete line is an Optuna journal record (a JSON object with `op_code`
  and `worker_id`; a torn last line is what a crash leaves, and Optuna skips it). An empty file is a new
  journal. Anything else (notes, a CSV, a binary file) is refused: Optuna would append a line to it.
- `sqlite:///PATH` that exists: an SQLite database that is empty or holds Optuna's tables (`studies`,
  `version_info`). Another application's database would get Optuna's tables added; a file that is not a
  database at all is refused before SQLite or Optuna touch it.
- An in-memory database (`sqlite://`, `sqlite:///:memory:`, `mode=memory`) is refused: the study would
  vanish with the process, no second worker could share it, and `--resume` by rerunning would start over.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fieldtune.errors import ConfigError

_JOURNAL_KEYS = ("op_code", "worker_id")
_OPTUNA_TABLES = {"studies", "version_info"}


def check_journal_file(url: str) -> None:
    path = Path(url).expanduser()
    if not path.exists():
        return
    if not path.is_file():
        raise ConfigError(f"--storage {url} is a folder; give the path of a .journal file.")
    with open(path, "rb") as f:
        for number, line in enumerate(f, start=1):
            if not line.endswith(b"\n") and not f.read(1):  # a torn last line: Optuna skips it too
                break
            if not _journal_record(line):
                raise ConfigError(
                    f"--storage {url}: line {number} is not an Optuna journal record, so this file is not a "
                    "sweep's journal; give a new .journal path (it is created) or the journal of this sweep."
                )


def _journal_record(line: bytes) -> bool:
    try:
        record = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return False
    return isinstance(record, dict) and all(k in record for k in _JOURNAL_KEYS)


def check_sqlite_url(url: str, parsed: Any) -> None:
    """`parsed`: sqlalchemy's URL of `url` (backend sqlite)."""
    database = parsed.database or ""
    query = {k: str(v) for k, v in parsed.query.items()}
    if database in ("", ":memory:") or database.startswith("file::memory:") or query.get("mode") == "memory":
        raise ConfigError(
            f"--storage {url} is an in-memory database: the study would be lost when this process ends and "
            "no other worker could join it; use sqlite:///sweep.db, a database server URL or FILE.journal, "
            "or leave --storage out (a journal in the sweep directory)."
        )
    if database.startswith("file:"):  # an SQLite URI filename (uri=true): its path, without the query
        database = database[len("file:") :].split("?", 1)[0]
    path = Path(database)  # as SQLite opens it: no `~` expansion
    folder = path.absolute().parent
    if not folder.is_dir():
        raise ConfigError(f"--storage {url}: the folder {folder} does not exist; create it or fix the path.")
    if not path.exists():
        return
    if not path.is_file():
        raise ConfigError(f"--storage {url}: {path} is a folder; give the path of a database file.")
    tables = _sqlite_tables(path)
    if tables is None:
        raise ConfigError(
            f"--storage {url}: {path} is not an SQLite database; give a new .db path (it is created) or "
            "this sweep's database."
        )
    if tables and not tables >= _OPTUNA_TABLES:
        raise ConfigError(
            f"--storage {url}: {path} is another application's database (tables: {', '.join(sorted(tables)[:5])}) "
            "and Optuna would add its own tables to it; give a new .db path for the sweep."
        )


def _sqlite_tables(path: Path) -> set[str] | None:
    """The table names of an SQLite file, opened read-only (None: not a database)."""
    import sqlite3
    from urllib.parse import quote

    if path.stat().st_size == 0:
        return set()  # SQLite's own empty database
    with open(path, "rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            return None
    try:
        conn = sqlite3.connect(f"file:{quote(str(path.absolute()))}?mode=ro", uri=True)
        try:
            return {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.DatabaseError:  # a damaged database
        return None

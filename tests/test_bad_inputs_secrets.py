"""No password or token in any message, log line, warning, traceback or file (issue 29): bad inputs that
quote a URL with credentials print it masked (`user:***@host`), through the table machinery of
`tests/test_bad_inputs.py`; the helper itself (`fieldtune.redact`) on every output path."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import warnings

import pytest

from fieldtune.redact import redact
from tests import test_bad_inputs as table
from tests.test_bad_inputs import REPO, Case, Ctx, _recipe

tiny_vit = table.tiny_vit  # module fixture, found by name
PASSWORD = "Hunter2-Secret"


def _sweep_storage(ctx: Ctx, url: str) -> list[str]:
    recipe = _recipe(ctx)
    return [
        "sweep",
        str(recipe),
        "--output-dir",
        str(ctx.run_dir),
        "--grid",
        "method.name=full,lora",
        "--storage",
        url,
    ]


def s_postgres_password(ctx: Ctx) -> list[str]:
    return _sweep_storage(ctx, f"postgresql://sweeper:{PASSWORD}@db.invalid/studies")


def s_mysql_password(ctx: Ctx) -> list[str]:
    return _sweep_storage(ctx, f"mysql://root:{PASSWORD}@db.invalid:3306/studies")


def s_sqlite_url_with_password_in_query(ctx: Ctx) -> list[str]:
    return _sweep_storage(ctx, f"sqlite:///{ctx.tmp}/no_such_dir/sweep.db?password={PASSWORD}")


def s_data_path_url_with_password(ctx: Ctx) -> list[str]:
    """The path goes through `Path`, which prints `https:/u:PASSWORD@...` (one slash)."""
    return table._text_with(ctx, f"--data.path=https://reader:{PASSWORD}@data.invalid/orders.csv")


CASES = [
    Case("storage-postgres-password", s_postgres_password, ("--storage", "postgresql://sweeper:***@db.invalid/studies", "driver")),
    Case("storage-mysql-password", s_mysql_password, ("--storage", "mysql://root:***@db.invalid:3306/studies")),
    Case("data-path-url-password", s_data_path_url_with_password, ("data.path", "reader:***@data.invalid")),
    Case("storage-query-password", s_sqlite_url_with_password_in_query, ("--storage", "password=***", "does not exist")),
]  # fmt: skip


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_secret_in_bad_input_is_masked(
    case: Case, tmp_path, tiny_bert, tiny_vit, request, monkeypatch, capsys
):
    table.run_case(case, Ctx(tmp_path, tiny_bert, tiny_vit, request, monkeypatch), capsys)


@pytest.mark.parametrize(
    "text, shown",
    [
        (f"postgresql://user:{PASSWORD}@host:5432/db", "postgresql://user:***@host:5432/db"),
        (
            f"mysql+pymysql://root:p@ss{PASSWORD}@host/db",
            "mysql+pymysql://root:***@host/db",
        ),  # an unescaped @
        (
            f"MLflow at http://alice:{PASSWORD}@127.0.0.1:5000 failed",
            "MLflow at http://alice:***@127.0.0.1:5000 failed",
        ),
        ("https://hf_abcdefghijklmnopqrstuvwx@huggingface.co/x", "https://***@huggingface.co/x"),
        ("the token hf_abcdefghijklmnopqrstuvwx12 was refused", "the token hf_*** was refused"),
        (f"host=db password={PASSWORD} user=x", "host=db password=*** user=x"),
        (f"http://h/x?access_token={PASSWORD}&b=1", "http://h/x?access_token=***&b=1"),
        (
            f"Data file https:/u:{PASSWORD}@h/x.csv does not exist",
            "Data file https:/u:***@h/x.csv does not exist",
        ),
        ("no token was found: set HF_TOKEN", "no token was found: set HF_TOKEN"),  # no secret: unchanged
        ("C:/Users/me/data:v2@home.csv", "C:/Users/me/data:v2@home.csv"),  # a drive letter is no scheme
        (
            "sqlite:///sweeps/sweep.db and http://host:8080/a/@b",
            "sqlite:///sweeps/sweep.db and http://host:8080/a/@b",
        ),
    ],
)
def test_redact_masks_passwords_and_tokens(text, shown):
    assert redact(text) == shown


def test_secret_environment_values_are_masked(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "0123456789abcdef0123456789abcdef01234567")
    assert redact("key 0123456789abcdef0123456789abcdef01234567 rejected") == "key *** rejected"


def test_every_output_path_is_redacted(monkeypatch, capsys, caplog):
    """A FieldtuneError, any library's log record (its traceback too) and a warning: masked once installed."""
    from fieldtune import redact as module
    from fieldtune.errors import ConfigError

    assert PASSWORD not in str(ConfigError(f"cannot open postgresql://u:{PASSWORD}@h/db"))
    module.install()
    url = f"postgresql://u:{PASSWORD}@h/db"
    with caplog.at_level(logging.INFO):
        logging.getLogger("sqlalchemy.engine").info("connecting to %s", url)
        try:
            raise RuntimeError(f"could not connect to {url}")
        except RuntimeError:
            logging.getLogger("optuna").exception("failed")
    assert caplog.records and PASSWORD not in caplog.text
    assert "u:***@h/db" in caplog.text and "could not connect to postgresql://u:***@h/db" in caplog.text
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        text = warnings.formatwarning(f"retrying {url}", UserWarning, "x.py", 1)
    assert PASSWORD not in text and "u:***@h" in text


def test_redacted_records_keep_the_arguments_a_formatter_reads():
    """uvicorn's access log unpacks `record.args` (`fieldtune serve` logs each request through it): once
    redaction is installed the line still formats, a token in the path masked; a secret only a non-string
    argument holds leaves the redacted message alone."""
    pytest.importorskip("uvicorn")
    from uvicorn.logging import AccessFormatter

    from fieldtune import redact as module

    module.install()
    formatter = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False)
    log = logging.getLogger("uvicorn.access")
    access = '%s - "%s %s HTTP/%s" %d'
    record = log.makeRecord(log.name, logging.INFO, "h11_impl.py", 1, access, ("127.0.0.1:5", "POST", "/predict", "1.1", 200), None)  # fmt: skip
    assert formatter.format(record) == '127.0.0.1:5 - "POST /predict HTTP/1.1" 200 OK'
    path = f"/predict?token={PASSWORD}"
    record = log.makeRecord(log.name, logging.INFO, "h11_impl.py", 1, access, ("127.0.0.1:5", "GET", path, "1.1", 404), None)  # fmt: skip
    assert formatter.format(record) == '127.0.0.1:5 - "GET /predict?token=*** HTTP/1.1" 404 Not Found'

    class Url:
        def __str__(self) -> str:
            return f"postgresql://u:{PASSWORD}@h/db"

    record = log.makeRecord("x", logging.INFO, "x.py", 1, "connecting to %s", (Url(),), None)
    assert record.args is None and record.getMessage() == "connecting to postgresql://u:***@h/db"


def test_debug_traceback_and_sweep_json_hold_no_password(tmp_path, tiny_bert):
    """`--debug` shows the traceback, masked; sweep.json keeps the storage URL masked as before."""
    from fieldtune.sweep.runner import _public_url

    assert _public_url(f"postgresql://u:{PASSWORD}@h/db") == "postgresql://u:***@h/db"
    ctx = Ctx(tmp_path, tiny_bert, tiny_bert, None, None)
    argv = _sweep_storage(ctx, f"postgresql://sweeper:{PASSWORD}@db.invalid/studies")
    proc = subprocess.run(
        [sys.executable, "-m", "fieldtune", *argv, "--debug"], capture_output=True, text=True, timeout=180,
        cwd=tmp_path, env={**__import__("os").environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert proc.returncode != 0 and "Traceback" in proc.stderr, proc.stderr
    assert PASSWORD not in proc.stderr + proc.stdout
    assert "sweeper:***@db.invalid" in proc.stderr
    assert not ctx.run_dir.exists() or PASSWORD not in json.dumps(
        [p.read_text(errors="replace") for p in ctx.run_dir.rglob("*") if p.is_file()]
    )


def test_push_prints_its_url_without_credentials(monkeypatch, capsys, tmp_path):
    """The commit URL is built from HF_ENDPOINT, which a self-hosted Hub may give with credentials."""
    import fieldtune.training.publish
    from fieldtune.cli import main

    url = f"https://pusher:{PASSWORD}@hub.internal/field-org/demand/commit/abc123"
    monkeypatch.setattr(fieldtune.training.publish, "publish", lambda *a, **k: url)
    assert main(["push", str(tmp_path), "--repo-id", "field-org/demand"]) == 0
    out = capsys.readouterr().out
    assert PASSWORD not in out and "pusher:***@hub.internal/field-org/demand/commit/abc123" in out

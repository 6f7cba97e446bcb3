"""Passwords and tokens out of everything fieldtune prints or writes: the one helper every path uses.

- `redact(text)`: `scheme://user:PASSWORD@host` -> `scheme://user:***@host` (as `sweep.json` keeps a storage
  URL, and sqlalchemy's `hide_password` renders it), a token used as the user of a URL, `password=` /
  `token=` / `api_key=` values (query strings, libpq DSNs), Hugging Face tokens (`hf_...`) and the value of
  any secret-named environment variable (`HF_TOKEN`, `WANDB_API_KEY`, `MLFLOW_TRACKING_PASSWORD`, ...).
- `FieldtuneError` redacts its message; `install()` (the CLI and sweep workers) redacts every log record,
  warning and traceback, whichever library emits it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import warnings
from typing import Any

MASK = "***"
# `scheme:/` too: a URL that went through `Path` lost one slash (`https:/user:pw@host`); a 2+ letter scheme
# keeps Windows drive letters out
_URL = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]+:/{1,3})([^\s'\"<>`]+)")
_KEY_VALUE = re.compile(
    r"(?i)\b((?:password|passwd|pwd|token|access_token|auth_token|api_key|apikey|secret|client_secret)=)"
    r"([^\s&;,'\"`)]+)"
)
_HF_TOKEN = re.compile(r"\b(hf_|api_org_)[A-Za-z0-9]{16,}\b")
_SECRET_ENV = re.compile(r"(TOKEN|PASSWORD|PASSWD|API_KEY|SECRET|ACCESS_KEY)$", re.IGNORECASE)
_MIN_ENV_SECRET = 6  # shorter values ("1", "true") would mask ordinary words


def _url(match: re.Match[str]) -> str:
    scheme, rest = match.group(1), match.group(2)
    at = rest.rfind("@")
    if at <= 0:
        return match.group(0)
    userinfo, host = rest[:at], rest[at:]
    user, colon, password = userinfo.partition(":")
    if colon and not re.fullmatch(r"\d*/.*", password):  # not `host:PORT/path/@x`; a password may hold / or @
        return f"{scheme}{user}:{MASK}{host}"
    if "/" not in userinfo and len(userinfo) >= 20:  # https://TOKEN@host: a token as the user name
        return f"{scheme}{MASK}{host}"
    return match.group(0)


def _env_secrets() -> list[str]:
    values = {v for k, v in os.environ.items() if _SECRET_ENV.search(k) and len(v) >= _MIN_ENV_SECRET}
    return sorted(values, key=len, reverse=True)  # a longer secret first: one may contain another


def redact(text: Any) -> str:
    """`text` with every password and token replaced by `***`."""
    text = str(text)
    for secret in _env_secrets():
        text = text.replace(secret, MASK)
    text = _URL.sub(_url, text)
    text = _KEY_VALUE.sub(lambda m: m.group(1) + MASK, text)
    return _HF_TOKEN.sub(lambda m: m.group(1) + MASK, text)


# --------------------------------------------------------------------------- every output path

_installed = False


def _redact_record(rec: logging.LogRecord, message: str) -> None:
    """Mask a record's secrets, keeping its arguments where a formatter reads them (uvicorn's access log
    unpacks `record.args`): each string argument redacted, if the message they give is the redacted one;
    else the redacted message alone (a secret inside a non-string argument)."""
    redacted = redact(message)
    if redacted == message:  # nothing to mask (nearly every record): left as it is
        return
    args = rec.args
    if isinstance(args, tuple):
        args = tuple(redact(a) if isinstance(a, str) else a for a in args)
    elif isinstance(args, dict):
        args = {k: redact(v) if isinstance(v, str) else v for k, v in args.items()}
    msg = redact(rec.msg) if isinstance(rec.msg, str) else rec.msg
    try:
        kept = (str(msg) % args if args else str(msg)) == redacted
    except Exception:  # a format the arguments do not fit once redacted
        kept = False
    rec.msg, rec.args = (msg, args) if kept else (redacted, None)


def install() -> None:
    """Redact every log record (any logger, any handler), warning and uncaught traceback of this process."""
    global _installed
    if _installed:
        return
    _installed = True
    make_record = logging.getLogRecordFactory()

    def record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        rec = make_record(*args, **kwargs)
        try:
            message = rec.getMessage()
        except Exception:  # a record whose arguments do not fit its format: left to logging to report
            return rec
        _redact_record(rec, message)
        if rec.exc_info and not rec.exc_text:  # the traceback a handler would format from exc_info
            rec.exc_text = redact(logging.Formatter().formatException(rec.exc_info))
        return rec

    logging.setLogRecordFactory(record)
    format_warning = warnings.formatwarning
    warnings.formatwarning = lambda *a, **k: redact(format_warning(*a, **k))
    hook, thread_hook = sys.excepthook, threading.excepthook

    def excepthook(kind: type[BaseException], value: BaseException, tb: Any) -> None:
        import traceback

        sys.stderr.write(redact("".join(traceback.format_exception(kind, value, tb))))

    def thread_excepthook(args: threading.ExceptHookArgs) -> None:
        import traceback

        if args.exc_type is SystemExit:  # as the default hook: a thread's sys.exit() is silent
            return

        name = args.thread.name if args.thread is not None else "?"
        text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
        sys.stderr.write(redact(f"Exception in thread {name}:\n{text}"))

    sys.excepthook = excepthook if hook is sys.__excepthook__ else hook
    threading.excepthook = thread_excepthook if thread_hook is threading.__excepthook__ else thread_hook

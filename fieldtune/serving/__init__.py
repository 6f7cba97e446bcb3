"""`fieldtune serve`: a model behind HTTP (FastAPI + uvicorn), requests batched together.

model.py (the loaded model, predict's decode path, metadata), batching.py (requests that arrive
together -> one model call in a worker thread), app.py (the routes, request parsing and one-line 4xx
errors), page.py (the page at `/` to try the model).
"""

from __future__ import annotations

from fieldtune.errors import FieldtuneError

INSTALL = "pip install 'fieldtune[serve]'"


def require_serving() -> None:
    """FastAPI, uvicorn and python-multipart are an optional extra: a one-line error naming the pip command."""
    import importlib.util

    missing = [m for m in ("fastapi", "uvicorn", "multipart") if importlib.util.find_spec(m) is None]
    if missing:
        names = ", ".join("python-multipart" if m == "multipart" else m for m in missing)
        raise FieldtuneError(f"fieldtune serve needs {names}, which is not installed; {INSTALL}.")

"""`fieldtune serve`: check the options, load the model once, run uvicorn on the app."""

from __future__ import annotations

import logging

from fieldtune.errors import FieldtuneError
from fieldtune.serving import require_serving

log = logging.getLogger("fieldtune.serve")


def check_options(host: str, port: int, max_batch: int, max_wait_ms: float, max_body_mb: float) -> None:
    """Refused before the model loads."""
    for flag, value, low in (("--port", port, 0), ("--max-batch", max_batch, 1), ("--max-wait-ms", max_wait_ms, 0)):  # fmt: skip
        if value < low:
            raise FieldtuneError(f"{flag} {value}: give {low} or more.")
    if port > 65535:
        raise FieldtuneError(f"--port {port}: give a port between 0 and 65535.")
    if not max_body_mb > 0:
        raise FieldtuneError(f"--max-body-mb {max_body_mb}: give a positive size.")
    if not host.strip():
        raise FieldtuneError("--host is empty; give an address such as 127.0.0.1.")
    _check_listen(host, port)


def _check_listen(host: str, port: int) -> None:
    """The address can be listened on, before the model loads (a taken port would otherwise be found after
    minutes of loading, and uvicorn exits with its own multi-line log)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise FieldtuneError(
            f"--host {host}: not an address of this machine ({e.strerror}); use 127.0.0.1 or 0.0.0.0."
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(
            socket.SOL_SOCKET, socket.SO_REUSEADDR, 1
        )  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            sock.bind(address)
        except OSError as e:
            raise FieldtuneError(
                f"Cannot listen on {host}:{port}: {e.strerror or e}; pick another --port or --host."
            ) from None


def serve(
    ref: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_batch: int = 32,
    max_wait_ms: float = 5.0,
    max_body_mb: float = 16.0,
    log_inputs: bool = False,
    revision: str | None = None,
    test_time: str | None = None,
) -> None:
    """Load `ref` (anything `predict` takes) and serve it until interrupted."""
    check_options(host, port, max_batch, max_wait_ms, max_body_mb)
    require_serving()
    import uvicorn

    from fieldtune.serving.app import ServeOptions, create_app
    from fieldtune.serving.model import ServedModel

    served = ServedModel.load(ref, revision, test_time)
    options = ServeOptions(max_batch, max_wait_ms, int(max_body_mb * (1 << 20)), log_inputs)
    app = create_app(served, options)
    if log_inputs:
        logging.getLogger("fieldtune.serve").setLevel(logging.INFO)
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("Serving on %s: reachable from other machines; there is no authentication.", host)
    config = uvicorn.Config(app, host=host, port=port, log_level="info", access_log=True, server_header=False)
    server = uvicorn.Server(config)
    try:
        server.run()
    except OSError as e:  # the port is taken, the address is not this machine's
        raise FieldtuneError(
            f"Cannot listen on {host}:{port}: {e.strerror or e}; pick another --port or --host."
        ) from None
    if getattr(server, "started", True) is False:
        raise FieldtuneError(
            f"Cannot listen on {host}:{port}; pick another --port or --host (see the log above)."
        )

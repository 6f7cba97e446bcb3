"""Serve a model over HTTP: fieldtune serve REF [--host 127.0.0.1] [--port 8000] [--max-batch 32] [--max-wait-ms 5]"""

from __future__ import annotations

import argparse

from fieldtune.commands import add_test_time_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "model", help="Run directory, model folder, ONNX export, CV or ensemble folder, or Hub id."
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="Address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 opens it to the network).",
    )
    p.add_argument(
        "--port", type=int, default=8000, help="Port to listen on (default 8000; 0: any free port)."
    )
    p.add_argument(
        "--max-batch",
        type=int,
        default=32,
        help="Most inputs in one model call, and in one request (default 32).",
    )
    p.add_argument(
        "--max-wait-ms",
        type=float,
        default=5.0,
        help="How long a request waits for others to share its model call (default 5 ms).",
    )
    p.add_argument("--max-body-mb", type=float, default=16.0, help="Largest request body (default 16 MiB).")
    p.add_argument(
        "--log-inputs", action="store_true", help="Log the texts of every request (off: only their number)."
    )
    p.add_argument("--revision", help="Hub revision of the model.")
    add_test_time_argument(p)


def main(args: argparse.Namespace) -> int:
    from fieldtune.serving.server import serve

    serve(
        args.model, args.host, args.port, args.max_batch, args.max_wait_ms, args.max_body_mb,
        args.log_inputs, args.revision, args.test_time,
    )  # fmt: skip
    return 0

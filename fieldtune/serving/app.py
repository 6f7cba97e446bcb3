"""The HTTP app of `fieldtune serve` (FastAPI): /predict, /health, /metadata, the page at /, OpenAPI docs.

A bad request gets a 4xx whose body is `{"error": "<one line>"}` (what is wrong and what to send) and
the server goes on serving. Bodies are read with a size limit before they are parsed. Input texts are
logged only when asked (`log_inputs`); otherwise a request is logged by its size alone.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from fieldtune.errors import FieldtuneError
from fieldtune.serving.batching import Batcher
from fieldtune.serving.model import ServedModel
from fieldtune.serving.page import page_html

log = logging.getLogger("fieldtune.serve")


@dataclass
class ServeOptions:
    max_batch: int = 32
    max_wait_ms: float = 5.0
    max_body_bytes: int = 16 << 20
    log_inputs: bool = False


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


_REQUEST_BODY = {  # what /predict reads, for the OpenAPI docs (the body is parsed by hand, with limits)
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "texts": {"type": "array", "items": {"type": "string"}},
                    "images": {"type": "array", "items": {"type": "string", "format": "base64"}},
                },
            },
            "examples": {"texts": {"value": {"texts": ["20 pallets of frozen fish, urgent"]}}},
        },
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {"images": {"type": "array", "items": {"type": "string", "format": "binary"}}},
            }
        },
    },
}


def create_app(served: ServedModel, options: ServeOptions) -> FastAPI:
    batcher = Batcher(served.predict, options.max_batch, options.max_wait_ms / 1000)

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # noqa: ANN202
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(
        title="fieldtune serve",
        description=f"{served.loaded.task.name} model {served.loaded.source} (version {served.version})",
        lifespan=lifespan,
    )
    app.state.batcher, app.state.served = batcher, served

    @app.exception_handler(BadRequest)
    async def bad_request(_: Request, e: BadRequest) -> JSONResponse:
        return JSONResponse({"error": str(e)}, status_code=e.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, e: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(e.detail)}, status_code=e.status_code)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(page_html(served.metadata()))

    @app.get("/health")
    async def health() -> dict:
        return {"status": "ok", "model": served.loaded.source, "version": served.version}

    @app.get("/metadata")
    async def metadata() -> dict:
        serving = {k: getattr(options, k) for k in ("max_batch", "max_wait_ms", "max_body_bytes")}
        return served.metadata() | {"serving": serving, "stats": batcher.stats.as_dict()}

    @app.post("/predict", openapi_extra={"requestBody": _REQUEST_BODY})
    async def predict(request: Request) -> dict:
        """Predict for every text or image of the request: the rows `fieldtune predict` writes."""
        items = await read_inputs(request, served, options)
        if served.reads_files:
            items = await run_in_threadpool(_decode_all, served, items)
        if options.log_inputs:
            log.info(
                "predict %d inputs: %s", len(items), served.request_field if served.reads_files else items
            )
        try:
            rows = await batcher.submit(items)
        except FieldtuneError as e:
            raise BadRequest(422, str(e)) from None
        except Exception as e:  # the model failed: one line, no input in it
            log.error("model call failed: %s", type(e).__name__)
            raise BadRequest(
                500, f"the model failed on this batch ({type(e).__name__}); see the server log"
            ) from None
        return {"model": served.loaded.source, "version": served.version, "predictions": rows}

    return app


def _decode_all(served: ServedModel, images: list[bytes]) -> list[Any]:
    pixels = []
    for i, data in enumerate(images):
        try:
            pixels.append(served.decode_image(data))
        except FieldtuneError as e:
            raise BadRequest(400, f"images[{i}]: {e}") from None
    return pixels


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it is over `limit` bytes (by its Content-Length, or as it comes)."""
    declared = request.headers.get("content-length")
    too_big = BadRequest(
        413, f"the request body is over the limit of {limit} bytes; send fewer or smaller inputs per request"
    )
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


async def read_inputs(request: Request, served: ServedModel, options: ServeOptions) -> list[Any]:
    """The request's texts (str) or images (bytes), checked: the model's field, a non-empty list, at most
    `max_batch` of them."""
    body = await read_body(request, options.max_body_bytes)
    kind = (request.headers.get("content-type") or "application/json").split(";")[0].strip().lower()
    field = served.request_field
    if kind == "multipart/form-data":
        items = await _uploads(request, body, field)
    else:  # JSON whatever the type says (`curl -d` sends application/x-www-form-urlencoded)
        items = _json_inputs(body, field, served.modality, served.reads_files)
    if not items:
        raise BadRequest(422, f"'{field}' is empty; send at least one input")
    if len(items) > options.max_batch:
        raise BadRequest(
            413,
            f"{len(items)} inputs in one request, over --max-batch {options.max_batch}; split the request",
        )
    return items


def _json_inputs(body: bytes, field: str, modality: str, files: bool) -> list[Any]:
    sample = "<base64>" if files else "..."  # a file travels base64-encoded in JSON
    example = f'{{"{field}": ["{sample}"]}}'
    try:
        data = json.loads(body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(400, f"the body is not valid JSON; send {example}") from None
    if not isinstance(data, dict):
        raise BadRequest(422, f"the body must be a JSON object; send {example}")
    other = sorted(set(data) - {field})
    if other or field not in data:
        wrong = f"field '{other[0]}' is not read" if other else f"no '{field}' field"
        raise BadRequest(422, f"{wrong}: this is a {modality} model; send {example}")
    values = data[field]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BadRequest(422, f"'{field}' must be a list of strings; send {example}")
    if not files:
        return values
    images = []
    for i, value in enumerate(values):
        encoded = value.split(",", 1)[1] if value.startswith("data:") else value  # a data: URL too
        try:
            images.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            raise BadRequest(400, f"images[{i}] is not base64; send each image file base64-encoded") from None
    return images


async def _uploads(request: Request, body: bytes, field: str) -> list[bytes]:
    """Multipart uploads: every part is a file under `images`."""
    from starlette.datastructures import UploadFile
    from starlette.requests import Request as StarletteRequest

    if field != "images":
        raise BadRequest(422, 'this is a text model; send JSON {"texts": ["..."]}, not uploads')
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await StarletteRequest(request.scope, receive).form(max_files=10_000, max_fields=100)
    except Exception as e:  # python-multipart / starlette parse errors
        first = (str(getattr(e, "message", "") or e).splitlines() or [type(e).__name__])[0][:120]
        raise BadRequest(400, f"cannot read the multipart body ({first}); upload files as 'images'") from None
    images = []
    for key, value in form.multi_items():
        if key != "images" or not isinstance(value, UploadFile):
            raise BadRequest(422, f"field '{key}' is not read; upload each image as a file field 'images'")
        images.append(await value.read())
    return images

"""`fieldtune serve` (issue 32): a real server in a subprocess on a free 127.0.0.1 port, driven by a plain
HTTP client. Its answers are `fieldtune predict`'s rows for the same inputs; requests arriving together
share model calls; bad requests get a one-line 4xx and the server keeps serving; input texts stay out of
the log. The page at `/` in Chromium: tests/test_serve_page.py."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from fieldtune.cli import main
from tests import test_bad_inputs_files as files
from tests import test_batch_predict as batch

tiny_classifier, image_model = files.tiny_classifier, batch.image_model  # module fixtures, found by name
REPO = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # no test binds anything else
TEXTS = ["20 pallets of frozen fish, urgent", "cement to the dock", "steel bars", "rice", "water " * 40]
SECRET = "zebra-quartz-7731 pallets"  # a text that must not reach the log without --log-inputs


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@contextmanager
def server(model: Path, *extra: str, log: Path):
    """`python -m fieldtune serve MODEL` on a free local port until the block ends; yields its base URL."""
    port = free_port()
    env = os.environ | {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable,
        "-m",
        "fieldtune",
        "serve",
        str(model),
        "--host",
        HOST,
        "--port",
        str(port),
        *extra,
    ]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    url = f"http://{HOST}:{port}"
    try:
        while True:  # until it answers (loading the model takes a while on a busy machine) or dies
            if proc.poll() is not None:
                raise AssertionError(f"the server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                if get(url + "/health")[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def get(url: str) -> tuple[int, dict | str]:
    with urllib.request.urlopen(url, timeout=60) as r:
        body = r.read().decode()
        return r.status, json.loads(body) if r.headers.get_content_type() == "application/json" else body


def post(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def post_json(url: str, payload: object) -> tuple[int, dict]:
    return post(url + "/predict", json.dumps(payload).encode())


def multipart(files: list[tuple[str, bytes]], field: str = "images") -> tuple[bytes, str]:
    boundary = "fieldtune-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode()
        + data
        + b"\r\n"
        for name, data in files
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def predicted(model: Path, source: Path, tmp: Path, top_k: int) -> pd.DataFrame:
    out = tmp / f"preds-{source.name}.csv"
    assert (
        main(["predict", str(model), "--input", str(source), "--output", str(out), "--top-k", str(top_k)])
        == 0
    )
    return pd.read_csv(out, keep_default_na=False)


def assert_same_rows(served: list[dict], expected: pd.DataFrame) -> None:
    """Identical labels, scores within 1e-5, every column predict writes (but its input and error ones)."""
    columns = [c for c in expected.columns if c not in ("text", "file", "error")]
    assert len(served) == len(expected)
    for row, (_, want) in zip(served, expected.iterrows(), strict=True):
        assert sorted(row) == sorted(columns)
        for c in columns:
            if c.startswith("score"):
                assert abs(float(row[c]) - float(want[c])) <= 1e-5, (c, row[c], want[c])
            else:
                assert str(row[c]) == str(want[c]), (c, row[c], want[c])


@pytest.fixture(scope="module")
def text_server(tiny_classifier, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve-text") / "server.log"
    with server(
        tiny_classifier, "--max-batch", "16", "--max-wait-ms", "200", "--max-body-mb", "0.25", log=log
    ) as url:
        yield url, log


@pytest.fixture(scope="module")
def image_server(image_model, tmp_path_factory):
    log = tmp_path_factory.mktemp("serve-image") / "server.log"
    with server(image_model, log=log) as url:
        yield url


def test_text_predictions_are_predicts_rows(text_server, tiny_classifier, tmp_path):
    url, log = text_server
    status, answer = post_json(url, {"texts": TEXTS})
    assert status == 200
    assert answer["version"] and answer["model"] == str(tiny_classifier)
    table = tmp_path / "orders.csv"
    pd.DataFrame({"text": TEXTS}).to_csv(table, index=False)
    assert_same_rows(answer["predictions"], predicted(tiny_classifier, table, tmp_path, top_k=3))
    # every label's score, adding up to one
    assert sum(answer["predictions"][0][k] for k in ("score", "score_2", "score_3")) == pytest.approx(
        1, abs=1e-4
    )


def test_image_predictions_are_predicts_rows(image_server, image_model, tmp_path):
    folder = batch._images(tmp_path / "photos", 5)
    paths = sorted(folder.rglob("*.png"))  # predict's order: the folder walked in sorted order
    expected = predicted(image_model, folder, tmp_path, top_k=3)
    assert [Path(f).name for f in expected["file"]] == [p.name for p in paths]
    encoded = [base64.b64encode(p.read_bytes()).decode() for p in paths]
    status, answer = post_json(image_server, {"images": encoded})
    assert status == 200
    assert_same_rows(answer["predictions"], expected)
    body, kind = multipart([(p.name, p.read_bytes()) for p in paths])
    status, uploaded = post(image_server + "/predict", body, kind)
    assert status == 200
    assert_same_rows(uploaded["predictions"], expected)


def test_concurrent_requests_share_model_calls(text_server):
    url, _ = text_server
    before = get(url + "/metadata")[1]["stats"]
    single = {t: post_json(url, {"texts": [t]})[1]["predictions"][0] for t in TEXTS[:4]}
    requests = [TEXTS[i % 4] for i in range(12)]
    with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(lambda t: post_json(url, {"texts": [t]}), requests))
    after = get(url + "/metadata")[1]["stats"]
    assert all(status == 200 for status, _ in answers)
    for text, (_, answer) in zip(requests, answers, strict=True):  # each request gets its own input's row
        assert answer["predictions"][0]["label"] == single[text]["label"]
        assert answer["predictions"][0]["score"] == pytest.approx(single[text]["score"], abs=1e-5)
    served = after["requests"] - before["requests"]
    calls = after["model_calls"] - before["model_calls"]
    assert served == len(requests) + 4
    assert calls < served  # the model saw fewer calls than there were requests
    assert after["largest_batch"] > 1


BAD_TEXT_REQUESTS = [  # (id, body, content type, status, words the one-line reason holds)
    ("wrong-field", b'{"text": ["x"]}', "application/json", 422, ("'text'", '{"texts"')),
    ("images-to-a-text-model", b'{"images": ["aGk="]}', "application/json", 422, ("'images'", "text model")),
    ("empty-list", b'{"texts": []}', "application/json", 422, ("empty", "at least one")),
    ("not-a-list", b'{"texts": "one"}', "application/json", 422, ("list of strings",)),
    ("not-json", b"texts=one", "application/x-www-form-urlencoded", 400, ("not valid JSON",)),
    ("over-max-batch", json.dumps({"texts": ["x"] * 17}).encode(), "application/json", 413, ("17 inputs", "--max-batch 16")),
    ("body-over-limit", json.dumps({"texts": ["pallets " * 40_000]}).encode(), "application/json", 413, ("over the limit", "bytes")),
    ("uploads-to-a-text-model", multipart([("a.png", b"x")])[0], multipart([])[1], 422, ("text model", "texts")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "kind", "status", "words"), [pytest.param(*r[1:], id=r[0]) for r in BAD_TEXT_REQUESTS]
)
def test_bad_text_request_is_a_one_line_4xx_and_serving_goes_on(text_server, body, kind, status, words):
    url, _ = text_server
    got, answer = post(url + "/predict", body, kind)
    assert got == status, answer
    assert set(answer) == {"error"} and "\n" not in answer["error"]
    for word in words:
        assert word in answer["error"]
    assert post_json(url, {"texts": ["steel bars"]})[0] == 200  # the next good request still works


@pytest.mark.parametrize(
    ("payload", "status", "words"),
    [
        pytest.param({"images": ["not base64!"]}, 400, ("images[0]", "not base64"), id="not-base64"),
        pytest.param({"images": [base64.b64encode(b"GIF89a broken").decode()]}, 400, ("images[0]", "cannot decode"), id="undecodable"),
        pytest.param({"texts": ["x"]}, 422, ("'texts'", "image model", '{"images"'), id="texts-to-an-image-model"),
    ],
)  # fmt: skip
def test_bad_image_request_is_a_one_line_4xx_and_serving_goes_on(
    image_server, tmp_path, payload, status, words
):
    got, answer = post_json(image_server, payload)
    assert got == status, answer
    assert set(answer) == {"error"} and all(word in answer["error"] for word in words)
    good = batch._images(tmp_path / "ok", 1)
    image = next(good.rglob("*.png")).read_bytes()
    assert post_json(image_server, {"images": [base64.b64encode(image).decode()]})[0] == 200


def test_health_metadata_docs_and_page(text_server, tiny_classifier):
    url, _ = text_server
    assert get(url + "/health")[1]["status"] == "ok"
    meta = get(url + "/metadata")[1]
    assert meta["task"] == "text-classification" and meta["labels"] == ["low", "medium", "high"]
    assert meta["precision"] == "float32" and meta["runtime"].startswith("torch")
    assert meta["serving"]["max_batch"] == 16
    spec = get(url + "/openapi.json")[1]
    assert {"/predict", "/health", "/metadata"} <= set(spec["paths"])
    assert "multipart/form-data" in spec["paths"]["/predict"]["post"]["requestBody"]["content"]
    assert get(url + "/docs")[0] == 200
    page = get(url + "/")[1]
    assert str(tiny_classifier) in page and 'id="text"' in page


def test_input_texts_stay_out_of_the_log(text_server):
    url, log = text_server
    assert post_json(url, {"texts": [SECRET]})[0] == 200
    assert post_json(url, {"texts": [SECRET] * 17})[0] == 413
    text = log.read_text()
    assert SECRET not in text
    # each request's access line, formatted (not a "Logging error" traceback per request)
    assert '"POST /predict HTTP/1.1" 200' in text and "Logging error" not in text


def test_log_inputs_logs_them(tiny_classifier, tmp_path):
    with server(tiny_classifier, "--log-inputs", log=tmp_path / "server.log") as url:
        assert post_json(url, {"texts": [SECRET]})[0] == 200
    assert SECRET in (tmp_path / "server.log").read_text()

"""`fieldtune serve` under load: dynamic batching (--max-batch 32) vs one input per model call (--max-batch 1).

One invocation, same model, same texts, same client: a server per setting is started in a subprocess
on a free 127.0.0.1 port (nothing else is bound), warmed up, then `--clients` threads (default 16) each
send single-text POST /predict requests over a kept-alive HTTP connection until `--requests` requests
are answered in all or `--max-seconds` pass (bounded in count and time). Both servers run side by side
and the load alternates between them in `--rounds` rounds, so the load of a shared machine falls on both.
Reported: requests/s, p50 / p95 latency, and the mean model batch from the server's /metadata counters.
The target of issue 32: batching >= 3x the requests/s of --max-batch 1.

Where the time goes (Linux: /proc): CPU ms per request of the server's event-loop thread (HTTP, JSON,
routing, the batching queue), of its other threads (the model call: tokenising, the forward pass,
decoding the rows) and of the client process. Then, with the servers stopped, the model alone in this
process (`ServedModel.predict`, the server's call, same torch threads): ms per text at batch 1 and at
the mean batch the batching server formed, on the same texts. With one model call at a time, the model
part of a request is the serial part, so that ratio bounds the requests/s ratio (Amdahl).

    nice -n 10 python benchmarks/bench_serve.py /tmp/bench/minilm-demo --json benchmarks/out/serve.json

MODEL is anything `fieldtune serve` takes (the demo MiniLM run: `fieldtune train
configs/demo/logistics_demand_minilm_lora.yaml`).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import ROOT, emit_json, machine_info, print_ratio, print_table, ratio  # noqa: E402

HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _request(conn: http.client.HTTPConnection, path: str, body: dict | None = None) -> dict:
    if body is None:
        conn.request("GET", path)
    else:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise RuntimeError(f"{path}: HTTP {response.status} {data[:200]!r}")
    return json.loads(data)


def _start(
    model: str, max_batch: int, max_wait_ms: float, log: Path, threads: int
) -> tuple[subprocess.Popen, int]:
    port = _free_port()
    cmd = [sys.executable, "-m", "fieldtune", "--quiet", "serve", model, "--host", HOST, "--port", str(port),
           "--max-batch", str(max_batch), "--max-wait-ms", str(max_wait_ms)]  # fmt: skip
    env = os.environ | {"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(threads)}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text()[-2000:]}")
        try:
            _request(http.client.HTTPConnection(HOST, port, timeout=5), "/health")
            return proc, port
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not start in 300 s")


def _thread_cpu(pid: int) -> dict[str, float] | None:
    """CPU seconds of each thread of process `pid` (None where there is no /proc)."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    out = {}
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            out[tid] = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    except OSError:
        return None
    return out


def _cpu_split(pid: int, before: dict | None, after: dict | None, client_s: float, done: int) -> dict:
    """CPU ms per request: the server's event-loop thread (its main thread), its other threads, the client."""
    split = {"client_cpu_ms": 1000 * client_s / max(1, done)}
    if before is not None and after is not None:
        spent = {t: after[t] - before.get(t, 0.0) for t in after}
        loop = spent.pop(str(pid), 0.0)
        split |= {"loop_cpu_ms": 1000 * loop / max(1, done), "model_cpu_ms": 1000 * sum(spent.values()) / max(1, done)}  # fmt: skip
    return split


def _load(
    port: int, texts: list[str], clients: int, requests: int, max_seconds: float, pid: int | None = None
) -> dict:
    """`clients` threads, one single-text request at a time each, until `requests` are done or time is up;
    with the server's `pid`, the CPU each side spent (`_cpu_split`)."""
    cpu_before, client_before = _thread_cpu(pid) if pid else None, time.process_time()
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(requests))
    stop_at = time.monotonic() + max_seconds

    def client(k: int) -> None:
        conn = http.client.HTTPConnection(HOST, port, timeout=600)  # a loaded machine: slow, not lost
        while time.monotonic() < stop_at:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            start = time.perf_counter()
            _request(conn, "/predict", {"texts": [texts[(i * 7 + k) % len(texts)]]})
            with lock:
                latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    result = {"requests": len(latencies), "seconds": seconds, "latencies_ms": [1000 * x for x in latencies]}
    if pid:
        client_s = time.process_time() - client_before
        result |= _cpu_split(pid, cpu_before, _thread_cpu(pid), client_s, len(latencies))
    return result


def _model_alone(model: str, texts: list[str], batch: int, threads: int, rounds: int = 8) -> dict:
    """ms per text of the server's model call in this process, wall-clock and CPU (the CPU of a loaded
    machine's other jobs stays out of it): single texts vs batches of `batch`, the same texts, alternated;
    the median of `rounds`. Also the batch as one call padded to its longest text (what the server did
    before it grouped a batch's texts by length), on the sampled texts and on the same batch with one text
    four notes long (`mixed_*`: lengths that spread)."""
    import random

    import torch

    from fieldtune.inference.load import batch_logits, text_batches
    from fieldtune.serving.model import ServedModel

    torch.set_num_threads(threads)
    served = ServedModel.load(model)
    rng = random.Random(0)
    served.predict(texts[:batch])  # warm-up
    ways = {
        "batch_1": lambda sample: [served.predict([text]) for text in sample],
        "batched": served.predict,
        "one_padded_call": lambda sample: batch_logits(
            served.loaded, next(text_batches(served.loaded, sample, batch_size=len(sample)))
        ),
    }
    ways |= {f"mixed_{name}": ways[name] for name in ("batched", "one_padded_call")}
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    for _ in range(rounds):
        sample = rng.sample(texts, batch)
        # lengths that spread: the same batch with one text four notes long
        mixed = [*sample[:-1], " ".join(rng.sample(texts, 4))]
        for name, way in ways.items():
            wall, cpu = time.perf_counter(), time.process_time()
            way(mixed if name.startswith("mixed") else sample)
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
    out: dict = {"batch": batch}
    for name, pairs in times.items():
        out[f"wall_ms_{name}"] = 1000 * statistics.median(w for w, _ in pairs) / batch
        out[f"cpu_ms_{name}"] = 1000 * statistics.median(c for _, c in pairs) / batch
    out["ceiling_wall"] = out["wall_ms_batch_1"] / out["wall_ms_batched"]
    out["ceiling_cpu"] = out["cpu_ms_batch_1"] / out["cpu_ms_batched"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="What `fieldtune serve` takes: the demo MiniLM run directory.")
    p.add_argument("--clients", type=int, default=16)
    p.add_argument("--requests", type=int, default=400, help="Requests per setting (after the warm-up).")
    p.add_argument("--max-seconds", type=float, default=120, help="Time limit of each setting's load.")
    p.add_argument("--rounds", type=int, default=4, help="Loads alternated between the two servers.")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads of each server (1: a shared machine's other jobs do not stall its kernels).",
    )
    p.add_argument("--max-wait-ms", type=float, default=5.0)
    p.add_argument("--json", help="Write the results here as JSON.")
    p.add_argument(
        "--no-model-alone",
        dest="model_alone",
        action="store_false",
        help="Skip timing the model alone after the loads (the ceiling of the ratio).",
    )
    args = p.parse_args(argv)
    from fieldtune.datasets_builders.logistics_demand import generate_logistics_demand

    texts = list(generate_logistics_demand(400, seed=11)["note"])
    result = {"model": args.model, "machine": machine_info(), "clients": args.clients, "server_threads": args.threads, "settings": {}}  # fmt: skip
    logs = Path(tempfile.mkdtemp(prefix="bench-serve-"))  # the servers' logs
    settings = (32, 1)
    servers = {
        b: _start(args.model, b, args.max_wait_ms, logs / f"serve-{b}.log", args.threads) for b in settings
    }
    try:
        for _, port in servers.values():  # warm-up: threads, allocator, caches
            _load(port, texts, args.clients, 2 * args.clients, 60)
        before = {b: _request(http.client.HTTPConnection(HOST, port, timeout=30), "/metadata")["stats"] for b, (_, port) in servers.items()}  # fmt: skip
        rounds: dict[int, list[dict]] = {b: [] for b in settings}
        for _ in range(args.rounds):  # alternated, so a shared machine's load falls on both settings alike
            for b, (_, port) in servers.items():
                rounds[b].append(
                    _load(
                        port,
                        texts,
                        args.clients,
                        args.requests // args.rounds,
                        args.max_seconds / args.rounds,
                        servers[b][0].pid,
                    )
                )
        after = {b: _request(http.client.HTTPConnection(HOST, port, timeout=30), "/metadata")["stats"] for b, (_, port) in servers.items()}  # fmt: skip
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            proc.wait(60)
    for b in settings:
        latencies = [ms for r in rounds[b] for ms in r.pop("latencies_ms")]
        q = statistics.quantiles(latencies, n=100)
        done, seconds = sum(r["requests"] for r in rounds[b]), sum(r["seconds"] for r in rounds[b])
        calls = after[b]["model_calls"] - before[b]["model_calls"]
        cpu = {  # CPU ms per request, weighted by each round's requests
            k: sum(r[k] * r["requests"] for r in rounds[b]) / max(1, done)
            for k in ("loop_cpu_ms", "model_cpu_ms", "client_cpu_ms")
            if all(k in r for r in rounds[b])
        }
        result["settings"][f"max_batch_{b}"] = {
            "requests": done, "seconds": seconds, "requests_per_s": done / seconds, "p50_ms": q[49],
            "p95_ms": q[94], "mean_batch": (after[b]["inputs"] - before[b]["inputs"]) / max(1, calls),
        } | cpu  # fmt: skip
    columns = ["requests", "requests/s", "p50 ms", "p95 ms", "mean batch"]
    columns += ["CPU ms/req: loop", "model", "client"]
    rows = [
        (name, [s["requests"], s["requests_per_s"], s["p50_ms"], s["p95_ms"], s["mean_batch"]]
         + [s.get(k) for k in ("loop_cpu_ms", "model_cpu_ms", "client_cpu_ms")])
        for name, s in result["settings"].items()
    ]  # fmt: skip
    print_table(
        f"fieldtune serve {args.model}: {args.clients} clients, single texts, 127.0.0.1", columns, rows
    )
    if args.model_alone:
        batch = max(2, round(result["settings"]["max_batch_32"]["mean_batch"]))
        alone = result["model_alone"] = _model_alone(args.model, texts, batch, args.threads)
        print_table(
            f"the model alone (ServedModel.predict in this process, {args.threads} torch thread(s), batch {batch})",
            ["batch 1", "batched", "ceiling of the ratio", "one padded call"],
            [(f"{unit} ms/text", [alone[f"{unit}_ms_batch_1"], alone[f"{unit}_ms_batched"], alone[f"ceiling_{unit}"],
                                  alone[f"{unit}_ms_one_padded_call"]]) for unit in ("wall", "cpu")],
        )  # fmt: skip
        print_table(
            "the same batches with one text four notes long: grouped by length (the server) vs one padded call",
            ["grouped", "one padded call"],
            [(f"{unit} ms/text", [alone[f"{unit}_ms_mixed_batched"], alone[f"{unit}_ms_mixed_one_padded_call"]])
             for unit in ("wall", "cpu")],
        )  # fmt: skip
    speedup = ratio(
        result["settings"]["max_batch_32"]["requests_per_s"],
        result["settings"]["max_batch_1"]["requests_per_s"],
    )
    print_ratio("speed-up --max-batch 32 / --max-batch 1", speedup, "requests/s")
    met = speedup is not None and speedup >= 3
    print(f"target (batching >= 3x requests/s): {'met' if met else 'MISSED'}")
    result["speedup"] = speedup
    emit_json(result, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

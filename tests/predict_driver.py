"""Test helper: `fieldtune predict` in a subprocess, for what only a fresh process can show.

python -m tests.predict_driver rss OUT_DIR MODEL SMALL LARGE [MODEL SMALL LARGE ...]  # peak RSS after each input
python -m tests.predict_driver torn:N MODEL INPUT OUTPUT       # SIGKILLed mid-write once N rows are written
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from pathlib import Path

from fieldtune.inference import predict_output
from fieldtune.inference.batch_predict import PredictRequest, predict
from fieldtune.inference.load import load_for_inference


def peak_kib() -> int:
    """The process's peak resident memory. Not getrusage's ru_maxrss: Linux carries that over an exec from
    the forking process (pytest, far bigger than this one); VmHWM starts afresh with the new program."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def rss(out_dir: str, *runs: str) -> None:
    peaks = {}
    for k in range(0, len(runs), 3):
        model, small, large = runs[k : k + 3]
        loaded = load_for_inference(model)  # once: the two predictions differ only in their input
        for name, source in (("small", small), ("large", large)):
            out = Path(out_dir) / f"{k}-{name}.csv"
            rows = predict(PredictRequest(model, input=source, output=out, chunk_size=500), loaded)
            peaks[f"{k // 3}-{name}"] = {"rows": rows, "peak_kib": peak_kib()}
    print(json.dumps(peaks))


def torn(after: int, model: str, source: str, output: str) -> None:
    original = predict_output.PredictionFile.write

    def write(self, frame, last_key):
        if (
            self.rows + self.pending >= after
        ):  # half of this batch's text reaches the disk, then the process dies
            text = frame.reindex(columns=self.columns).to_csv(index=False, header=False, lineterminator="\n")
            self._file.write(text[: len(text) // 2].encode("utf-8"))
            self._file.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        original(self, frame, last_key)

    predict_output.PredictionFile.write = write
    predict(PredictRequest(model, input=source, output=Path(output), batch_size=16, chunk_size=50))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")  # the progress lines, as the CLI logs them
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "rss":
        rss(*args)
    else:
        torn(int(mode.split(":")[1]), *args)

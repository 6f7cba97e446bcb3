"""Progress: tqdm bars under a terminal, plain log lines without one, nothing with --quiet."""

from __future__ import annotations

import fcntl
import io
import logging
import os
import pty
import re
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from fieldtune import progress

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def recipe(tiny_bert: Path, tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(
        f"task: text-classification\nmodel: {{name_or_path: {tiny_bert}}}\n"
        "data: {builder: logistics_demand, num_samples: 60}\nmethod: {name: full}\n"
        "training: {num_train_epochs: 1, per_device_train_batch_size: 8}\n"
    )
    return path


def _env(cache: Path) -> dict[str, str]:
    # its own cache: tokens cached by another test would skip the tokenising bar
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", FIELDTUNE_CACHE=str(cache))
    env.pop("HF_DATASETS_DISABLE_PROGRESS_BARS", None)  # as a user's shell has it
    return env


def _train_argv(recipe: Path, out: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "fieldtune", *flags, "train", str(recipe), "--output-dir", str(out)]


def _run_under_pty(argv: list[str], cache: Path) -> tuple[int, str]:
    """Run `argv` with stdin, stdout and stderr on a pseudo-terminal, as in a user's shell."""
    main, secondary = pty.openpty()
    # 40 rows x 120 columns: a new pty has size 0 x 0, where tqdm's dynamic width draws nothing
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen(
        argv, stdin=secondary, stdout=secondary, stderr=secondary, env=_env(cache), cwd=REPO
    )
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    return proc.wait(), b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.slow
def test_training_on_a_terminal_draws_tqdm_bars(recipe: Path, tmp_path: Path) -> None:
    rc, out = _run_under_pty(_train_argv(recipe, tmp_path / "run"), tmp_path / "cache")
    assert rc == 0, out[-2000:]
    assert "\r" in out  # bars are redrawn in place
    assert "it/s" in out  # the Trainer's own tqdm (steps per second)
    assert "Tokenising train" in out and "text/s" in out  # fieldtune's bars: rate
    assert "<" in out.split("Tokenising train")[-1].split("\n")[0]  # elapsed<remaining: the ETA
    assert "fieldtune.progress" not in out  # no log lines on a terminal


@pytest.mark.slow
def test_training_into_a_log_file_writes_plain_progress_lines(recipe: Path, tmp_path: Path) -> None:
    proc = subprocess.run(
        _train_argv(recipe, tmp_path / "run"),
        capture_output=True,
        text=True,
        env=_env(tmp_path / "cache"),
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "\r" not in proc.stdout + proc.stderr  # no carriage-return spam in a log
    lines = [line for line in proc.stderr.splitlines() if "fieldtune.progress" in line]
    assert any(re.search(r"Tokenising train: (\d+)/\1 \(100%\)", line) for line in lines), lines
    done = [line for line in lines if line.startswith("INFO fieldtune.progress: Training:")][-1]
    assert "(100%)" in done and "step/s" in done, done
    assert not any("it/s" in line for line in proc.stderr.splitlines() if "fieldtune.progress" not in line)


@pytest.mark.slow
def test_quiet_shows_neither_bars_nor_progress_lines(recipe: Path, tmp_path: Path) -> None:
    rc, out = _run_under_pty(_train_argv(recipe, tmp_path / "run", "--quiet"), tmp_path / "cache")
    assert rc == 0, out[-2000:]
    assert "\r\n" in out  # a terminal turns newlines into \r\n: a bar would leave a bare \r
    assert "\r" not in out.replace("\r\n", "\n")
    assert "it/s" not in out and "fieldtune.progress" not in out and "'loss'" not in out
    assert "test split" in out  # the results are still printed


# ----------------------------------------------------------------- the switch itself, in process


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_mode_follows_stderr_quiet_and_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert progress.mode() == "log"
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert progress.mode() == "bar"
    monkeypatch.setenv("RANK", "1")  # another process of a multi-process run
    assert progress.mode() == "off"
    monkeypatch.setenv("RANK", "0")
    progress.set_quiet(True)
    try:
        assert progress.mode() == "off"
    finally:
        progress.set_quiet(False)


def test_log_lines_come_periodically_with_rate_and_eta(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    monkeypatch.setattr(progress, "LOG_EVERY_S", 0.0)  # every update is "due"
    with (
        caplog.at_level(logging.INFO, logger="fieldtune.progress"),
        progress.bar(total=4, desc="Decoding train images", unit="img") as pbar,
    ):
        for _ in range(4):
            pbar.update(1)
    lines = [r.getMessage() for r in caplog.records if r.name == "fieldtune.progress"]
    assert lines[0].startswith("Decoding train images: 0/4")
    assert lines[-1].startswith("Decoding train images: 4/4 (100%)")
    assert len(lines) >= 5  # start, each update, end
    assert all("img/s" in line and "<" in line for line in lines)  # rate, elapsed<remaining
    assert sys.stderr.getvalue() == ""  # nothing drawn


def test_lazy_bar_shows_nothing_for_a_cached_step(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    with caplog.at_level(logging.INFO, logger="fieldtune.progress"), progress.LazyBar(10, "Tokenising train"):
        pass  # the map function never ran
    assert not [r for r in caplog.records if r.name == "fieldtune.progress"]

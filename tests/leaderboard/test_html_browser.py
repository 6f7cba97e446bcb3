"""Open leaderboard.html in a real headless Chromium and click the column headers.

Needs Debian's chromium and Playwright for Python (no Playwright-downloaded browser):
    apt-get install -y chromium
    pip install playwright        # do NOT run `playwright install`
Skipped, with the reason, when either is missing. Set FIELDTUNE_CHROMIUM to use another binary.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from fieldtune.leaderboard import group_and_rank, write_outputs
from fieldtune.leaderboard.collect import entry_from_results

from .conftest import eval_results

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str | None:
    candidates = [os.environ.get("FIELDTUNE_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")]
    return next((c for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)), None)


sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="Playwright for Python is not installed: `pip install playwright`",
    exc_type=ImportError,  # a broken install (e.g. greenlet) skips too, with the same hint
)
CHROMIUM = _chromium()
if CHROMIUM is None:
    pytest.skip(
        "Chromium not found at /usr/bin/chromium: `apt-get install -y chromium`", allow_module_level=True
    )


@pytest.fixture(scope="module")
def page():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page()
        finally:
            browser.close()


@pytest.fixture
def html_file(tmp_path) -> Path:
    # Trainable params 9 / 100 / 25: a text sort ("100" < "25" < "9") would differ from the numeric one.
    rows = [
        ("runs/mid", 0.80, 100),
        ("runs/best", 0.90, 9),
        ("runs/worst", 0.70, 25),
        ("runs/unscored", None, 5),
    ]
    entries = [entry_from_results(eval_results(m, f1=f1, trainable=t), source="run") for m, f1, t in rows]
    return write_outputs(group_and_rank(entries), tmp_path)["html"]


def models(page) -> list[str]:
    return page.eval_on_selector_all("#board-1 tbody tr", "rows => rows.map(r => r.cells[1].textContent)")


def ranks(page) -> list[str]:
    return page.eval_on_selector_all("#board-1 tbody tr", "rows => rows.map(r => r.dataset.rank)")


def test_rows_start_in_rank_order_and_headers_sort(page, html_file):
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(html_file.as_uri())
    assert ranks(page) == ["1", "2", "3", ""]
    assert models(page) == ["runs/best", "runs/mid", "runs/worst", "runs/unscored"]

    trainable = page.locator('#board-1 th[data-key="trainable_params"]')
    trainable.click()  # numeric ascending: 5, 9, 25, 100
    assert models(page) == ["runs/unscored", "runs/best", "runs/worst", "runs/mid"]
    assert trainable.get_attribute("aria-sort") == "ascending"
    trainable.click()  # toggles to descending
    assert models(page) == ["runs/mid", "runs/worst", "runs/best", "runs/unscored"]
    assert trainable.get_attribute("aria-sort") == "descending"

    f1 = page.locator('#board-1 th[data-key="f1_macro"]')
    f1.click()  # ascending; the row without a score stays last either way
    assert models(page) == ["runs/worst", "runs/mid", "runs/best", "runs/unscored"]
    f1.click()
    assert models(page) == ["runs/best", "runs/mid", "runs/worst", "runs/unscored"]
    assert trainable.get_attribute("aria-sort") is None  # only the active header shows a direction

    page.locator('#board-1 th[data-key="model"]').click()  # text sort
    assert models(page) == ["runs/best", "runs/mid", "runs/unscored", "runs/worst"]

    rank = page.locator('#board-1 th[data-key="rank"]')
    rank.click()  # back to rank order (ascending after another column was active)
    assert ranks(page) == ["1", "2", "3", ""]

    # Everything came from the file itself: no network request was made.
    assert requests and all(url.startswith(("file:", "data:")) for url in requests)
    assert page.locator("img").evaluate("img => img.complete && img.naturalWidth > 0")


def test_intervals_and_tie_marks_show_in_the_browser(page, tmp_path):
    from fieldtune.leaderboard import build_leaderboard

    from .test_ties import CLASSES, write_scored_run

    labels = [CLASSES[i % 3] for i in range(120)]
    near = list(labels)
    near[0] = "high" if labels[0] != "high" else "low"
    runs = [
        write_scored_run(tmp_path, "best", labels, labels),
        write_scored_run(tmp_path, "near", labels, near),
    ]
    build_leaderboard(runs, [], tmp_path / "lb")
    page.goto((tmp_path / "lb" / "leaderboard.html").as_uri())
    headers = page.eval_on_selector_all("#board-1 th", "hs => hs.map(h => h.dataset.key)")
    column = {key: i + 1 for i, key in enumerate(headers)}
    marks = page.eval_on_selector_all(
        f"#board-1 tbody td:nth-child({column['vs_leader']})", "cells => cells.map(c => c.textContent)"
    )
    intervals = page.eval_on_selector_all(
        f"#board-1 tbody td:nth-child({column['interval']})", "cells => cells.map(c => c.textContent)"
    )
    assert marks == ["#1", "tied with #1"]
    assert len(intervals) == 2 and all(len(text.split("-")) == 2 for text in intervals)
    assert page.locator("li.legend").count() == 1

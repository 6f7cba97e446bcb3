"""The page `fieldtune serve` shows at `/`, in a real headless Chromium: type a note (or choose a photo),
press Predict, see the labels and scores the API gives. Skipped, like tests/leaderboard/test_html_browser.py,
when Chromium or Playwright is missing."""

from __future__ import annotations

import base64

import pytest

from tests.leaderboard.test_html_browser import CHROMIUM, CHROMIUM_ARGS, sync_api
from tests.test_serve import batch, files, post_json, server

tiny_classifier, image_model = files.tiny_classifier, batch.image_model  # module fixtures, found by name


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def shown(page) -> dict[str, str]:
    page.wait_for_selector("#result:not([hidden]) tbody tr")
    cells = page.eval_on_selector_all(
        "#result tbody tr", "rows => rows.map(r => [r.cells[0].textContent, r.cells[1].textContent])"
    )
    return dict(cells)


def test_page_shows_a_text_prediction(browser, tiny_classifier, tmp_path):
    with server(tiny_classifier, log=tmp_path / "server.log") as url:
        page = browser.new_page()
        page.goto(url + "/")
        page.fill("#text", "20 pallets of frozen fish, urgent")
        page.click("#predict")
        row = shown(page)
        expected = post_json(url, {"texts": ["20 pallets of frozen fish, urgent"]})[1]["predictions"][0]
        assert row == {k: str(v) for k, v in expected.items()}
        assert {row["label"], row["label_2"], row["label_3"]} == {"low", "medium", "high"}
        page.close()


def test_page_shows_a_photo_prediction(browser, image_model, tmp_path):
    photo = next(batch._images(tmp_path / "photos", 1).rglob("*.png"))
    with server(image_model, log=tmp_path / "server.log") as url:
        page = browser.new_page()
        page.goto(url + "/")
        page.set_input_files("#image", str(photo))
        page.click("#predict")
        row = shown(page)
        encoded = base64.b64encode(photo.read_bytes()).decode()
        expected = post_json(url, {"images": [encoded]})[1]["predictions"][0]
        assert row == {k: str(v) for k, v in expected.items()}
        broken = tmp_path / "broken.png"
        broken.write_bytes(b"not an image")
        page.set_input_files("#image", str(broken))
        page.click("#predict")
        page.wait_for_selector("#error:not(:empty)")
        assert "cannot decode" in page.text_content("#error")
        assert page.is_hidden("#result")
        page.close()

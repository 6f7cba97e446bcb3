"""How `fieldtune serve` groups a batch's texts into forward passes (issue 32): texts of similar length share
one pass padded to their own longest, so one long text does not pad every short one to its length; the
predictions stay those of each text alone. In-process (`ServedModel`, no server); the batcher that forms
the batches from concurrent requests: tests/test_serve.py."""

from __future__ import annotations

from typing import Any

import pytest

from fieldtune.serving.batching import length_groups
from fieldtune.serving.model import ServedModel
from tests import test_bad_inputs_files as files

tiny_classifier = files.tiny_classifier  # module fixture, found by name
SHORT = ["steel bars", "rice", "cement to the dock", "fish", "water", "20 pallets"]
LONG = "frozen fish to dock four, urgent " * 8


@pytest.mark.parametrize(
    ("lengths", "groups"),
    [
        pytest.param([5, 5, 40, 5, 5, 5, 5], [[0, 1, 3, 4, 5, 6], [2]], id="one-long-text-alone"),
        pytest.param([12] * 8, [list(range(8))], id="equal-lengths-one-call"),
        pytest.param([20, 23, 21, 22], [[0, 2, 3, 1]], id="close-lengths-one-call"),
        pytest.param([7], [[0]], id="one-text"),
    ],
)
def test_length_groups_cut_where_the_padding_saved_outweighs_a_call(lengths, groups):
    assert length_groups(lengths) == groups


class _Recorder:
    """The loaded model, recording the (texts, padded length) of every forward pass."""

    def __init__(self, model: Any) -> None:
        self.model, self.shapes = model, []

    def __call__(self, **batch: Any) -> Any:
        self.shapes.append(tuple(batch["input_ids"].shape))
        return self.model(**batch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


@pytest.fixture(scope="module")
def served(tiny_classifier) -> ServedModel:
    return ServedModel.load(str(tiny_classifier))


def _recording(served: ServedModel) -> _Recorder:
    recorder = _Recorder(served.loaded.model)
    served.loaded.model = recorder
    return recorder


def test_a_long_text_gets_its_own_pass_and_every_prediction_stays(served, monkeypatch):
    texts = [*SHORT[:3], LONG, *SHORT[3:]]
    alone = [served.predict([t])[0] for t in texts]
    monkeypatch.setattr(served.loaded, "model", served.loaded.model)  # restored after the test
    recorder = _recording(served)
    rows = served.predict(texts)
    long_width = max(width for _, width in recorder.shapes)
    assert sorted(n for n, _ in recorder.shapes) == [1, len(SHORT)]  # the short texts share one pass
    short_width = next(width for n, width in recorder.shapes if n == len(SHORT))
    assert short_width < long_width / 3  # padded to the short texts' longest, not to the long one
    for row, want in zip(rows, alone, strict=True):  # in the request's order, as each text alone
        assert row["label"] == want["label"]
        for key in ("score", "score_2", "score_3"):
            assert row[key] == pytest.approx(want[key], abs=1e-5)


def test_texts_of_one_length_share_one_pass(served, monkeypatch):
    monkeypatch.setattr(served.loaded, "model", served.loaded.model)
    recorder = _recording(served)
    before = served.forwards
    rows = served.predict(["steel bars to the dock"] * 8)
    assert [n for n, _ in recorder.shapes] == [8] and served.forwards == before + 1
    assert len(rows) == 8 and len({r["label"] for r in rows}) == 1

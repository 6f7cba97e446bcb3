"""`fieldtune train --cv K --workers N`: the folds train in N spawned processes (none in the calling one),
give the summary of a CV trained in one process, and `--resume` with workers skips finished folds and
resumes the interrupted one."""

from __future__ import annotations

import json

import pytest

from tests.test_cv import StopInFold, cv_config
from tests.test_cv_caches import _metrics, _same_summary


@pytest.mark.slow
def test_two_workers_train_the_folds_elsewhere_and_a_killed_cv_resumes_with_them(
    tiny_bert, demand_csv, tmp_path, monkeypatch
):
    import fieldtune.training.run
    from fieldtune.cv import run_cv

    config = cv_config(tiny_bert, demand_csv, folds=3)
    one = run_cv(config, output_dir=tmp_path / "one")  # every fold in this process

    run, here = fieldtune.training.run.run, []
    monkeypatch.setattr(fieldtune.training.run, "run", lambda *a, **k: here.append(1) or run(*a, **k))
    two = run_cv(config, output_dir=tmp_path / "two", workers=2)
    assert two.trained == [0, 1, 2] and here == []  # trained in the two workers, none in this process
    _same_summary(_metrics(one.cv_dir), _metrics(two.cv_dir))

    with pytest.raises(KeyboardInterrupt):  # fold 0 finished, fold 1 stopped after its checkpoint-2
        run_cv(config, output_dir=tmp_path / "killed", callbacks=[StopInFold(fold=1)])
    killed = tmp_path / "killed"
    assert any((killed / "fold-1" / "checkpoints").glob("checkpoint-*"))
    fold0 = (killed / "fold-0" / "eval_results.json").stat().st_mtime_ns
    here.clear()
    again = run_cv(config, output_dir=killed, resume=True, workers=2)
    assert again.trained == [1, 2] and here == []
    assert (killed / "fold-0" / "eval_results.json").stat().st_mtime_ns == fold0  # not trained again
    state = json.loads(
        (killed / "fold-1" / "checkpoints" / "checkpoint-4" / "trainer_state.json").read_text()
    )
    assert state["global_step"] == 4
    _same_summary(_metrics(one.cv_dir), _metrics(killed))


@pytest.mark.slow
def test_two_probe_workers_extract_each_image_once_between_them(tmp_path, monkeypatch):
    """Two folds starting at once in two processes: the cache folder's lock lets the second take the
    features the first extracted, so the shards hold every pooled image once, and no test image."""
    import torch

    from fieldtune.cv import run_cv
    from fieldtune.datasets_builders import build_dataset
    from fieldtune.datasets_builders.folds import pooled
    from fieldtune.trainers.feature_cache import cache_dir
    from tests.test_cv_caches import _probe_cv
    from tests.test_train_vision import tiny_vision

    monkeypatch.setenv("FIELDTUNE_CACHE", str(tmp_path / "cache"))
    config = _probe_cv(tiny_vision(tmp_path / "vit", "vit"), folds=2)
    result = run_cv(config, output_dir=tmp_path / "cv", workers=2)
    assert result.trained == [0, 1]
    rows = [r for shard in cache_dir().glob("*/*.pt") for r in torch.load(shard, weights_only=True)["rows"]]
    assert len(rows) == len(set(rows)) == len(pooled(build_dataset(config.data, config.task)))

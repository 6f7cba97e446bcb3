"""The Hub's decentralized evaluation results: `.eval_results/<benchmark>.yaml` in a model repo.

Format: huggingface_hub's `EvalResultEntry` / `eval_result_entries_to_yaml` (huggingface_hub 2.4, which
follows https://huggingface.co/docs/hub/eval-results and hub-docs' `eval_results.yaml` spec): a YAML list
of `{dataset: {id, task_id}, value, date, source: {url, name}, notes}`. One value per entry, so a run writes
one entry per main metric (those with a bootstrap interval: the primary metric, accuracy, top-k), with
`task_id` the metric's name, `date` the time the run was scored, `source` the run's `eval_results.json` in
the repo, and `notes` the split, the test size and the 95% interval. The model card keeps its
`model-index` for older readers; the leaderboard reads both.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import yaml
from huggingface_hub import EvalResultEntry, eval_result_entries_to_yaml, parse_eval_result_entries

from fieldtune.errors import HubError

EVAL_RESULTS_DIR = ".eval_results"


def benchmark_file(dataset: str) -> str:
    """`.eval_results/<benchmark>.yaml` for a dataset name (a Hub id's `/` and odd characters become `_`)."""
    return f"{EVAL_RESULTS_DIR}/{re.sub(r'[^A-Za-z0-9_.-]+', '_', dataset).strip('._') or 'dataset'}.yaml"


def eval_result_entries(results: dict[str, Any], source_url: str, date: datetime) -> list[EvalResultEntry]:
    """One entry per metric with an interval (else the primary metric alone), from `eval_results.json` data."""
    metrics = {k: v for k, v in results["metrics"].items() if isinstance(v, (int, float))}
    intervals = (results.get("confidence_intervals") or {}).get("metrics") or {}
    names = [n for n in intervals if n in metrics] or [results["primary_metric"]]
    level = (results.get("confidence_intervals") or {}).get("level", 0.95)
    entries = []
    for name in names:
        ci = intervals.get(name)
        notes = f"{results.get('split', 'test')} split, n={results.get('num_test_examples')}"
        if ci:
            notes += f", {level:.0%} bootstrap interval [{ci[0]:.4f}, {ci[1]:.4f}]"
        notes += f"; fieldtune {results.get('task')}, method {results.get('method')}"
        entries.append(
            EvalResultEntry(
                dataset_id=str(results["dataset"]),
                task_id=name,
                value=round(float(metrics[name]), 6),
                date=date.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                source_url=source_url,
                source_name="fieldtune eval_results.json",
                notes=notes,
            )
        )
    return entries


def eval_results_file(results: dict[str, Any], source_url: str, date: datetime) -> tuple[str, bytes]:
    """(path in the repo, YAML bytes) of the run's `.eval_results` file."""
    data = eval_result_entries_to_yaml(eval_result_entries(results, source_url, date))
    return benchmark_file(str(results["dataset"])), yaml.safe_dump(data, sort_keys=False).encode("utf-8")


def read_eval_results(text: str, where: str) -> list[EvalResultEntry]:
    """Parse one `.eval_results/*.yaml` file; a malformed one is a one-line HubError naming it."""
    try:
        data = yaml.safe_load(text)
        if not isinstance(data, list):
            raise TypeError(f"a {type(data).__name__}, not a list of results")
        return parse_eval_result_entries(data)
    except (yaml.YAMLError, TypeError, KeyError, AttributeError, ValueError) as err:
        raise HubError(f"{where} is not a valid eval results file ({err}); fix or remove it.") from None


def fetch_eval_results(repo_id: str, revision: str | None) -> list[EvalResultEntry]:
    """Every `.eval_results/*.yaml` entry of a Hub model repo ([] when the repo's file list cannot be read:
    the files are optional, and the model card has already been read)."""
    import logging

    from huggingface_hub import HfApi, hf_hub_download
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    try:
        files = HfApi().list_repo_files(repo_id, revision=revision, repo_type="model")
    except (HfHubHTTPError, OfflineModeIsEnabled, OSError, ValueError) as err:
        logging.getLogger(__name__).warning("Cannot list %s (%s); reading its model card only", repo_id, err)
        return []
    entries = []
    for name in sorted(f for f in files if f.startswith(f"{EVAL_RESULTS_DIR}/") and f.endswith(".yaml")):
        where = f"{repo_id}/{name}"
        try:
            path = hf_hub_download(repo_id, name, revision=revision, repo_type="model")
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
        except (HfHubHTTPError, OSError, UnicodeDecodeError) as err:
            raise HubError(f"Cannot download {where} ({err}); check the repo and HF_ENDPOINT.") from None
        entries += read_eval_results(text, where)
    return entries

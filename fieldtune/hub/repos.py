"""Push run directories to, and pull models from, the Hugging Face Hub (or any Hub-compatible endpoint).

Everything goes through `huggingface_hub`; the endpoint comes from `HF_ENDPOINT`, the token from `HF_TOKEN` or
`hf auth login`. The token is only ever handed to `huggingface_hub`: it is never written, logged, or put in an
error message. Every failure a user can fix is a `HubError` (one line: what went wrong and what to do).

    >>> from fieldtune.hub.repos import push_run, pull
    >>> push_run(Path("runs/demo"), "my-org/cargo-bert", private=True)   # doctest: +SKIP
    'https://huggingface.co/my-org/cargo-bert/commit/...'
    >>> pull("my-org/cargo-bert", out=Path("models/cargo-bert"))          # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import huggingface_hub
from huggingface_hub import CommitOperationAdd, HfApi, constants, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import httpx as _httpx  # httpx or httpx2, whichever this huggingface_hub uses
from huggingface_hub.utils import validate_repo_id

from fieldtune.errors import ConfigError, HubError

# Run-directory files uploaded next to the model, as (path in run dir, path in repo).
RUN_FILES = (
    ("eval_results.json", "eval_results.json"),
    ("config.yaml", "fieldtune_config.yaml"),
    ("README.md", "README.md"),
)
# The test split's raw texts and labels: in-house data can be confidential, so pushed only when asked.
PREDICTIONS = "predictions.csv"
_SKIP_PARTS = {".git", ".cache", "__pycache__"}
_TEXT_SUFFIXES = {".json", ".yaml", ".yml", ".md", ".txt", ".csv", ".jinja", ".py", ".cfg", ".toml"}
_LOGIN_HINT = "set HF_TOKEN or run `hf auth login`"


def _repo_id_problem(repo_id: object) -> str | None:
    """Why `repo_id` is not a `namespace/name` Hub id, or None when it is one."""
    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        return "it needs exactly one '/'"
    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        return str(err).rstrip(".")
    return None


def check_repo_id(repo_id: str, key: str) -> None:
    """Raise a `ConfigError` naming `key` when `repo_id` is not a valid `namespace/name` Hub repo id.

    Args:
        repo_id (`str`): the value to check, e.g. `"my-org/cargo-bert"`.
        key (`str`): where the value came from, e.g. `"hub.repo_id"` or `"--repo-id"`.
    """
    problem = _repo_id_problem(repo_id)
    if problem is not None:
        raise ConfigError(
            f"`{key}` = {repo_id!r} is not a valid Hub repo id ({problem}); "
            "use `namespace/name`, e.g. `my-org/cargo-bert`."
        )


def _require_repo_id(repo_id: str) -> None:
    problem = _repo_id_problem(repo_id)
    if problem is not None:
        raise HubError(
            f"{repo_id!r} is not a valid Hub repo id ({problem}); use `namespace/name`, "
            "e.g. `my-org/cargo-bert`."
        )


def get_token() -> str | None:
    """The Hugging Face token from `HF_TOKEN` or `hf auth login`, or None when there is none."""
    return huggingface_hub.get_token()


def is_hub_id(ref: str) -> bool:
    """True when `ref` is not an existing local path and looks like a `namespace/name` Hub repo id."""
    return not Path(ref).expanduser().exists() and _repo_id_problem(ref) is None


def _require_token(repo_id: str) -> str:
    token = get_token()
    if not token:
        raise HubError(
            f"No Hugging Face token found, and pushing to {repo_id} needs one: {_LOGIN_HINT} "
            "(with write access)."
        )
    return token


def files_under(folder: Path, prefix: str = "") -> dict[str, Path]:
    return {
        prefix + p.relative_to(folder).as_posix(): p
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not _SKIP_PARTS.intersection(p.relative_to(folder).parts)
    }


def run_files(
    run_dir: Path, model_dir: Path | None = None, include_predictions: bool = False
) -> dict[str, Path]:
    """What `push_run` uploads: {path in repo: local file}. Run files win over same-named model files."""
    run_dir = Path(run_dir)
    model_dir = Path(model_dir) if model_dir is not None else run_dir / "model"
    if not model_dir.is_dir() or not any(model_dir.iterdir()):
        raise HubError(
            f"{model_dir} is missing or empty, so there is no model to push: train first "
            "(`fieldtune train CONFIG.yaml`) or point at the run directory that holds `model/`."
        )
    if not (run_dir / "eval_results.json").is_file():
        raise HubError(
            f"{run_dir / 'eval_results.json'} is missing, so {run_dir} is not a finished run: push the run "
            "directory that `fieldtune train` wrote, after training ended."
        )
    files = files_under(model_dir)
    if (run_dir / "plots").is_dir():
        files.update(files_under(run_dir / "plots", "plots/"))
    files.update({in_repo: run_dir / name for name, in_repo in RUN_FILES if (run_dir / name).is_file()})
    if include_predictions and (run_dir / PREDICTIONS).is_file():
        files[PREDICTIONS] = run_dir / PREDICTIONS
    return files


def _refuse_token_in_files(files: Iterable[Path], token: str) -> None:
    # A config or log copied into the run must never publish the credentials used to push it.
    needle = token.encode()
    for path in files:
        if path.suffix.lower() in _TEXT_SUFFIXES and needle in path.read_bytes():
            raise HubError(
                f"{path} contains your Hugging Face token; remove it from the file before pushing."
            )


def _http_error(err: HfHubHTTPError, action: str, repo_id: str, token: str | None) -> HubError:
    status = err.response.status_code if err.response is not None else None
    where = f"{repo_id} on {constants.ENDPOINT}"
    if (status == 401 and not isinstance(err, RepositoryNotFoundError)) or status == 403:
        access = f"write access to `{repo_id.split('/')[0]}`" if action.startswith("push") else "read access"
        fix = f"check that the token is valid and has {access} ({_LOGIN_HINT})"
    elif isinstance(err, RepositoryNotFoundError):
        fix = f"check the repo id; if the repo is private, {_LOGIN_HINT} with a token that can read it"
    elif status == 412:
        fix = "the repo changed while pushing; push again"
    elif status is not None and status >= 500:
        fix = "the Hub had a server error; retry later, and check HF_ENDPOINT if you use a self-hosted Hub"
    else:
        fix = "check the repo id, the revision and HF_ENDPOINT"
    server_says = f" (server: {err.server_message.strip()})" if getattr(err, "server_message", None) else ""
    message = f"Could not {action} {where}: HTTP {status or 'error'}{server_says}; {fix}."
    return HubError(message.replace(token, "***") if token else message)


def _connection_error(err: Exception, action: str, repo_id: str) -> HubError:
    if isinstance(err, OfflineModeIsEnabled) or constants.HF_HUB_OFFLINE:
        return HubError(
            f"Cannot {action} {repo_id}: offline mode is on (HF_HUB_OFFLINE=1); unset it and retry."
        )
    return HubError(
        f"Cannot {action} {repo_id}: {constants.ENDPOINT} is unreachable ({type(err).__name__}); "
        "check the network connection and HF_ENDPOINT."
    )


def _eval_results_operation(run_dir: Path, repo_id: str, revision: str | None) -> CommitOperationAdd | None:
    """The Hub's own results format, `.eval_results/<benchmark>.yaml`, from the run's eval_results.json
    (None when that file lacks what the format needs: a dataset, metrics and the primary metric's value)."""
    from datetime import datetime, timezone

    from fieldtune.errors import FieldtuneError
    from fieldtune.hub.eval_results import eval_results_file
    from fieldtune.rundir.reader import RESULTS_FILE, RunDirectory

    results_path = run_dir / RESULTS_FILE
    try:
        results = RunDirectory(run_dir).read_results()
    except FieldtuneError:  # `publish` has read it already; an unreadable one gets no results file
        return None
    metrics = results.get("metrics") if isinstance(results, dict) else None
    if (
        not isinstance(metrics, dict)
        or not results.get("dataset")
        or results.get("primary_metric") not in metrics
    ):
        return None
    scored = datetime.fromtimestamp(results_path.stat().st_mtime, tz=timezone.utc)
    source = f"{constants.ENDPOINT}/{repo_id}/blob/{revision or constants.DEFAULT_REVISION}/eval_results.json"
    path, data = eval_results_file(results, source, scored)
    return CommitOperationAdd(path_in_repo=path, path_or_fileobj=data)


def push_run(
    run_dir: Path,
    repo_id: str,
    private: bool = False,
    revision: str | None = None,
    model_dir: Path | None = None,
    commit_message: str | None = None,
    include_predictions: bool = False,
    files: dict[str, Path] | None = None,
) -> str:
    """Upload a run directory to a Hub model repo in one commit; returns the commit URL.

    The repo gets the model folder's files at its root, plus `eval_results.json`, `.eval_results/<dataset>.yaml`
    (the Hub's own results format, `fieldtune.hub.eval_results`), `README.md` (the model card),
    `config.yaml` as `fieldtune_config.yaml`, `plots/*`, and `predictions.csv` only with `include_predictions`.

    Args:
        run_dir (`Path`): the run directory (`runs/<name>`).
        repo_id (`str`): `namespace/name`; the repo is created if missing.
        private (`bool`, *optional*, defaults to `False`): create the repo private (an existing repo keeps its
            visibility).
        revision (`str`, *optional*): branch to push to, created from `main` if missing; default `main`.
        model_dir (`Path`, *optional*): the model folder to upload; default `run_dir / "model"` (e.g. pass a merged
            export instead).
        commit_message (`str`, *optional*): default `"Upload fieldtune run <name>"`.
        include_predictions (`bool`, *optional*, defaults to `False`): also upload `predictions.csv`, which
            holds the test split's raw inputs and labels.
        files (`dict`, *optional*): {path in repo: local file} to upload instead of `run_files` (a CV
            directory's folds: `fieldtune.hub.cv_files`).
    """
    _require_repo_id(repo_id)
    run_dir = Path(run_dir)
    files = run_files(run_dir, model_dir, include_predictions) if files is None else files
    token = _require_token(repo_id)
    _refuse_token_in_files(files.values(), token)
    api = HfApi(token=token)
    operations = [
        CommitOperationAdd(path_in_repo=in_repo, path_or_fileobj=str(local))
        for in_repo, local in files.items()
    ]
    eval_results = _eval_results_operation(run_dir, repo_id, revision)
    operations += [eval_results] if eval_results is not None else []
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        if revision not in (None, constants.DEFAULT_REVISION):
            api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
        info = api.create_commit(
            repo_id,
            operations,
            repo_type="model",
            revision=revision,
            commit_message=commit_message or f"Upload fieldtune run {run_dir.resolve().name}",
        )
    except HfHubHTTPError as err:
        raise _http_error(err, "push to", repo_id, token) from err
    except (OfflineModeIsEnabled, _httpx.TransportError) as err:
        raise _connection_error(err, "push to", repo_id) from err
    return info.commit_url


def push_folder_as_dataset(folder: Path, repo_id: str, private: bool = False) -> str:
    """Upload every file of `folder` (e.g. a rendered leaderboard) to a Hub dataset repo; returns the commit URL."""
    _require_repo_id(repo_id)
    folder = Path(folder)
    if not folder.is_dir() or not any(folder.iterdir()):
        raise HubError(
            f"{folder} is missing or empty: render the leaderboard there first "
            "(`fieldtune leaderboard ... --output DIR`)."
        )
    token = _require_token(repo_id)
    files = files_under(folder)
    _refuse_token_in_files(files.values(), token)
    api = HfApi(token=token)
    operations = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(f)) for p, f in files.items()]
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        info = api.create_commit(
            repo_id,
            operations,
            repo_type="dataset",
            commit_message=f"Upload {folder.resolve().name} with fieldtune",
        )
    except HfHubHTTPError as err:
        raise _http_error(err, "push to dataset", repo_id, token) from err
    except (OfflineModeIsEnabled, _httpx.TransportError) as err:
        raise _connection_error(err, "push to dataset", repo_id) from err
    return info.commit_url


def pull(repo_id: str, revision: str | None = None, out: Path | None = None, overwrite: bool = False) -> Path:
    """Download a Hub model repo; returns the local folder (`out`, or the snapshot in the HF cache).

    Args:
        repo_id (`str`): `namespace/name`.
        revision (`str`, *optional*): branch, tag or commit sha; default `main`.
        out (`Path`, *optional*): folder to download into; default: the Hugging Face cache. A non-empty folder
            that is not an unchanged earlier pull of `repo_id` is refused (`fieldtune.hub.pull_folder`).
        overwrite (`bool`, *optional*, defaults to `False`): replace a non-empty `out` whatever it holds.
    """
    _require_repo_id(repo_id)
    if out is None:
        return _download(repo_id, revision, None)
    from fieldtune.hub.pull_folder import check_pull_out, pull_into

    out = Path(out).resolve()  # a link to a folder: the folder is what gets replaced, not the link
    check_pull_out(out, repo_id, overwrite)
    pull_into(out, repo_id, revision, lambda tmp: _download(repo_id, revision, tmp))
    return out


def _download(repo_id: str, revision: str | None, local_dir: Path | None) -> Path:
    try:
        path = snapshot_download(
            repo_id, revision=revision, local_dir=str(local_dir) if local_dir is not None else None
        )
    except RevisionNotFoundError as err:
        raise HubError(
            f"Revision {revision or 'main'!r} does not exist in {repo_id} on {constants.ENDPOINT}: "
            "check the branch, tag or commit sha."
        ) from err
    except (RepositoryNotFoundError, GatedRepoError) as err:
        raise HubError(
            f"Repo {repo_id} was not found on {constants.ENDPOINT} (or it is private or gated): check "
            f"the id; for a private repo, {_LOGIN_HINT} with a token that can read it."
        ) from err
    except HfHubHTTPError as err:
        raise _http_error(err, "pull", repo_id, get_token()) from err
    except LocalEntryNotFoundError as err:
        if constants.HF_HUB_OFFLINE:
            raise HubError(
                f"Cannot pull {repo_id}: offline mode is on (HF_HUB_OFFLINE=1) and it is not in the "
                "local cache; unset HF_HUB_OFFLINE and retry."
            ) from err
        raise HubError(
            f"Cannot pull {repo_id}: {constants.ENDPOINT} is unreachable and the repo is not in the "
            "local cache; check the network connection and HF_ENDPOINT."
        ) from err
    except (OfflineModeIsEnabled, _httpx.TransportError) as err:
        raise _connection_error(err, "pull", repo_id) from err
    return Path(path)

"""Pytest fixtures for Hub push / pull tests against local servers (no internet).

pytest finds fixtures by name in a test module, so bring them in there (tests/conftest.py is not theirs to edit);
assigning rather than importing keeps ruff's F811 quiet on every test that takes them as arguments:

    from tests import hub_fixtures
    hub_env, hub_server = hub_fixtures.hub_env, hub_fixtures.hub_server

- `hub_server` (session): the in-memory Hub of `tests/hub_server.py` on 127.0.0.1, a free port.
- `hub_env` (function): points `huggingface_hub` (and transformers / datasets / evaluate, which read the same
  settings) at `hub_server` with the fake token `FAKE_TOKEN`, online, without xet, with a fresh cache.
- `olah_server` (session): olah (read-only Hub mirror, PyPI) serving git repos from a tmp dir; skipped when the
  olah virtualenv is missing (`FIELDTUNE_OLAH_VENV`, default `<repo>/.venv-olah`). `olah_env` is `hub_env`
  for it.

Why constants are patched too: huggingface_hub copies HF_ENDPOINT, HF_HUB_OFFLINE, HF_HUB_DISABLE_XET, HF_HOME...
into `huggingface_hub.constants` at import time, and the module-level `HfApi()` behind `huggingface_hub.create_repo`,
`model_info`, ... keeps the endpoint it saw then; transformers caches its own `HfApi` on first use
(`transformers.utils.hub._hf_api`). Tests run with HF_HUB_OFFLINE=1, so setting the environment alone would leave
the client offline and aimed at huggingface.co. `use_hub_endpoint` lists every value it patches.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.hub_server import HubServer

FAKE_TOKEN = "hf_fieldtuneFAKEtoken0123456789"
REPO_ROOT = Path(__file__).resolve().parent.parent
OLAH_VENV_ENV = "FIELDTUNE_OLAH_VENV"


@dataclass
class HubEnv:
    endpoint: str
    token: str | None
    hf_home: Path
    cache_dir: Path


def use_hub_endpoint(
    monkeypatch: pytest.MonkeyPatch, endpoint: str, hf_home: Path, token: str | None = FAKE_TOKEN
) -> HubEnv:
    """Point the HF stack at `endpoint`, online, no xet, fresh cache under `hf_home`, token from HF_TOKEN."""
    from huggingface_hub import constants, hf_api

    cache = hf_home / "hub"
    cache.mkdir(parents=True, exist_ok=True)
    env = {
        "HF_ENDPOINT": endpoint,
        "HF_HUB_OFFLINE": "0",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": str(cache),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in (
        "TRANSFORMERS_OFFLINE",
        "HF_DATASETS_OFFLINE",
        "HUGGING_FACE_HUB_TOKEN",
        "HF_OIDC_RESOURCE",
        "HUGGINGFACE_HUB_CACHE",
        "HF_TOKEN_PATH",
    ):
        monkeypatch.delenv(key, raising=False)
    if token is None:
        monkeypatch.delenv("HF_TOKEN", raising=False)
    else:
        monkeypatch.setenv("HF_TOKEN", token)

    host = urlsplit(endpoint).hostname
    patches = {
        "ENDPOINT": endpoint,
        "HUGGINGFACE_CO_URL_TEMPLATE": endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_URL_HOSTS": constants.HF_URL_HOSTS | {host},  # hosts the client forwards auth to on redirects
        "HF_HUB_OFFLINE": False,  # read by huggingface_hub.is_offline_mode(), which transformers calls too
        "HF_HUB_DISABLE_XET": True,  # else uploads go through hf_xet, which a local server cannot speak
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": False,
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": str(cache),
        "HUGGINGFACE_HUB_CACHE": str(cache),
        "HF_ASSETS_CACHE": str(hf_home / "assets"),
        "HUGGINGFACE_ASSETS_CACHE": str(hf_home / "assets"),
        "HF_XET_CACHE": str(hf_home / "xet"),
        "HF_TOKEN_PATH": str(
            hf_home / "token"
        ),  # so a token saved by `hf auth login` on this machine is not seen
        "HF_STORED_TOKENS_PATH": str(hf_home / "stored_tokens"),
    }
    for name, value in patches.items():
        monkeypatch.setattr(constants, name, value)
    # `huggingface_hub.create_repo`, `.model_info`, ... are bound methods of this instance, built at import time.
    monkeypatch.setattr(hf_api.api, "endpoint", endpoint)
    _forget_cached_clients()

    # Libraries that copy the endpoint / offline flag at their own import; patched only if already imported
    # (a later import reads the environment set above).
    module_patches = {
        "datasets.config": {
            "HF_ENDPOINT": endpoint,
            "HF_HUB_OFFLINE": False,
            "HF_DATASETS_OFFLINE": False,
            "HUB_DATASETS_URL": endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}",
        },
        "evaluate.config": {
            "HF_ENDPOINT": endpoint,
            "HF_LIST_ENDPOINT": endpoint + "/api/spaces?filter={type}",
            "HUB_EVALUATE_URL": endpoint + "/spaces/{path}/resolve/{revision}/{name}",
        },
    }
    for module_name, values in module_patches.items():
        module = sys.modules.get(module_name)
        for name, value in values.items():
            if module is not None and hasattr(module, name):
                monkeypatch.setattr(module, name, value)
    return HubEnv(endpoint, token, hf_home, cache)


def _forget_cached_clients() -> None:
    # transformers keeps one HfApi (push_to_hub, from_pretrained, Trainer) built on first use with the endpoint of
    # that moment: drop it so the next use builds one for the current endpoint. Done again after each test, since a
    # test may be the first user and would leave its server's endpoint cached for the tests after it.
    transformers_hub = sys.modules.get("transformers.utils.hub")
    if transformers_hub is not None and hasattr(transformers_hub, "_hf_api"):
        transformers_hub._hf_api = None


@pytest.fixture(scope="session")
def hub_server():
    """The in-memory test Hub (`tests.hub_server.HubServer`): `.endpoint`, `.token_log`, `.requests`,
    `.repo(repo_id, repo_type)`, `.received_bytes()`. Shared by the session: use unique repo names."""
    server = HubServer().start()
    yield server
    server.stop()


@pytest.fixture
def hub_env(hub_server, monkeypatch, tmp_path):
    """Point huggingface_hub / transformers at `hub_server` with `FAKE_TOKEN` for one test."""
    yield use_hub_endpoint(monkeypatch, hub_server.endpoint, tmp_path / "hf_home")
    _forget_cached_clients()


# --- olah: an independent, read-only Hub server serving local git repos ------------------------------------

OLAH_CONFIG = """\
[basic]
host = "127.0.0.1"
port = {port}
mirror-netloc = "127.0.0.1:{port}"
mirror-lfs-netloc = "127.0.0.1:{port}"
hf-scheme = "http"
hf-netloc = "127.0.0.1:9"
hf-lfs-netloc = "127.0.0.1:9"
repos-path = "{root}/repos"
mirrors-path = ["{root}/mirrors"]

[accessibility]
offline = true
"""


class OlahServer:
    """A running olah; `mirror()` publishes files as a git repo it serves."""

    def __init__(self, root: Path, port: int, process: subprocess.Popen):
        self.root, self.port, self.process = root, port, process
        self.endpoint = f"http://127.0.0.1:{port}"

    def mirror(self, repo_id: str, files: dict[str, bytes] | Path, repo_type: str = "model") -> str:
        """Make `files` (path -> bytes, or a local folder) the new `main` of `repo_id`; returns the commit sha.

        The repo is a plain git repo (no LFS) at `<root>/mirrors/<repo_type>s/<ns>/<name>`; calling again adds a
        commit whose tree is exactly `files`. Load at the returned sha (`from_pretrained(repo_id, revision=sha)`):
        offline olah (0.5.4) answers a file missing from the mirror at a *branch name* with 401 RepoNotFound instead
        of 404 EntryNotFound, so transformers' probe for `adapter_config.json` fails at `main`.
        """
        repo = self.root / "mirrors" / f"{repo_type}s" / repo_id
        if isinstance(
            files, Path
        ):  # a folder; its .git / .cache (hf_hub_download bookkeeping) are not content
            files = {
                p.relative_to(files).as_posix(): p.read_bytes()
                for p in sorted(files.rglob("*"))
                if p.is_file() and not {".git", ".cache"} & set(p.relative_to(files).parts)
            }
        if not (repo / ".git").exists():
            repo.mkdir(parents=True, exist_ok=True)
            _git(repo, "init", "-q", "-b", "main")
        for old in repo.iterdir():
            if old.name != ".git":
                shutil.rmtree(old) if old.is_dir() else old.unlink()
        for rel, data in files.items():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            (repo / rel).write_bytes(data)
        _git(repo, "add", "-A")
        _git(repo, "commit", "-q", "--allow-empty", "-m", f"mirror {repo_id}")
        return _git(repo, "rev-parse", "HEAD").strip()


def _git(repo: Path, *args: str) -> str:
    # Plain git objects, whatever the machine's git config: no signing, and no git-lfs filter even where a pushed
    # .gitattributes names one (olah serves the bytes git stores).
    identity = [
        "-c",
        "user.name=fieldtune-tests",
        "-c",
        "user.email=tests@fieldtune.invalid",
        "-c",
        "commit.gpgsign=false",
        "-c",
        "init.defaultBranch=main",
        "-c",
        "filter.lfs.required=false",
        "-c",
        "filter.lfs.clean=cat",
        "-c",
        "filter.lfs.smudge=cat",
        "-c",
        "filter.lfs.process=",
    ]
    return subprocess.run(
        ["git", *identity, *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def olah_server(tmp_path_factory):
    """olah serving `<tmp>/mirrors`; skipped when `$FIELDTUNE_OLAH_VENV/bin/olah-cli` (or git) is missing."""
    venv = Path(os.environ.get(OLAH_VENV_ENV) or REPO_ROOT / ".venv-olah")
    cli = venv / "bin" / "olah-cli"
    if not cli.exists():
        pytest.skip(
            f"olah is not installed: {cli} is missing (python3 -m venv {venv} && {venv}/bin/pip install "
            f"olah, or set {OLAH_VENV_ENV} to a virtualenv that has it)"
        )
    if shutil.which("git") is None:
        pytest.skip("olah mirrors are git repos, and git is not on PATH")
    root = tmp_path_factory.mktemp("olah")
    (root / "mirrors").mkdir()
    port = _free_port()
    (root / "configs.toml").write_text(OLAH_CONFIG.format(port=port, root=root.as_posix()))
    log = (root / "olah.log").open("wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    process = subprocess.Popen(
        [str(cli), "-c", "configs.toml"], cwd=root, stdout=log, stderr=subprocess.STDOUT, env=env
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log.close()
                tail = (root / "olah.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"olah did not start on port {port} (exit code {process.poll()}):\n{tail}")
            time.sleep(0.1)
    yield OlahServer(root, port, process)
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


@pytest.fixture
def olah_env(olah_server, monkeypatch, tmp_path):
    """Point huggingface_hub / transformers at `olah_server` (read-only) for one test."""
    yield use_hub_endpoint(monkeypatch, olah_server.endpoint, tmp_path / "hf_home")
    _forget_cached_clients()

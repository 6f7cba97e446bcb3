"""In-memory storage behind the test Hub server (`tests/hub_server.py`): repos, commits, LFS objects.

A repo is a chain of commits; each commit holds a full snapshot `{path: Blob}` (test repos are tiny, so
copying the dict per commit is cheap and keeps every revision readable). Object ids follow the Hub:
a regular file's oid is its git blob sha1, an LFS file's oid is the sha256 of its content.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property

import yaml

# The Hub decides LFS from .gitattributes; these are the patterns the Hub's default .gitattributes lists.
LFS_SUFFIXES = (
    ".safetensors",
    ".bin",
    ".pt",
    ".pth",
    ".ckpt",
    ".h5",
    ".onnx",
    ".msgpack",
    ".npz",
    ".npy",
    ".pkl",
    ".parquet",
    ".arrow",
    ".zip",
    ".gz",
    ".tar",
    ".png",
    ".jpg",
    ".jpeg",
    ".webp",
    ".model",
)
LFS_MIN_SIZE = 10 * 1024 * 1024
DEFAULT_GITATTRIBUTES = b"".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n".encode() for s in LFS_SUFFIXES)
_FRONT_MATTER = re.compile(rb"\A\s*---\s*\n(.*?)\n---\s*(\n|\Z)", re.DOTALL)


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def wants_lfs(path: str, size: int) -> bool:
    return size > 0 and (path.lower().endswith(LFS_SUFFIXES) or size >= LFS_MIN_SIZE)


@dataclass(frozen=True)
class Blob:
    data: bytes
    lfs: bool = False

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @cached_property
    def git_sha1(self) -> str:
        return hashlib.sha1(b"blob %d\0" % len(self.data) + self.data).hexdigest()

    @property
    def oid(self) -> str:
        """The ETag the Hub serves: sha256 for LFS files, the git blob sha1 otherwise."""
        return self.sha256 if self.lfs else self.git_sha1

    def entry(self, path: str) -> dict:
        """One `/tree` or `/paths-info` item."""
        item = {"type": "file", "path": path, "size": len(self.data), "oid": self.git_sha1}
        if self.lfs:
            item["lfs"] = {"oid": self.sha256, "size": len(self.data), "pointerSize": 134}
        return item


@dataclass
class Commit:
    sha: str
    parent: str | None
    message: str
    files: dict[str, Blob]
    date: str = field(default_factory=now_iso)


@dataclass
class Repo:
    repo_type: str  # "model" | "dataset" | "space"
    repo_id: str
    private: bool
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    created_at: str = field(default_factory=now_iso)

    def resolve(self, revision: str) -> Commit | None:
        """A branch name or a full commit sha -> commit (None when unknown)."""
        sha = self.branches.get(revision, revision)
        return self.commits.get(sha)

    def commit(self, branch: str, message: str, files: dict[str, Blob]) -> Commit:
        parent = self.branches.get(branch)
        seed = f"{self.repo_type}/{self.repo_id}|{parent}|{message}|{len(self.commits)}|{now_iso()}|"
        seed += "|".join(f"{p}:{b.oid}" for p, b in sorted(files.items()))
        new = Commit(hashlib.sha1(seed.encode()).hexdigest(), parent, message, files)
        self.commits[new.sha] = new
        self.branches[branch] = new.sha
        return new

    def history(self, revision: str) -> list[Commit]:
        out, commit = [], self.resolve(revision)
        while commit is not None:
            out.append(commit)
            commit = self.commits.get(commit.parent) if commit.parent else None
        return out


def card_data(files: dict[str, Blob]) -> dict | None:
    """The README.md YAML front matter, parsed (what the Hub returns as `cardData`)."""
    readme = files.get("README.md")
    match = _FRONT_MATTER.match(readme.data) if readme else None
    if not match:
        return None
    try:
        data = yaml.safe_load(match.group(1).decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


class HubStore:
    """All repos and LFS objects of one server, plus what the server saw (for assertions in tests)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}  # sha256 -> content, uploaded before the commit names it

    def get(self, repo_type: str, repo_id: str) -> Repo | None:
        return self.repos.get((repo_type, repo_id))

    def create(self, repo_type: str, repo_id: str, private: bool) -> Repo | None:
        """A new repo with the Hub's initial `.gitattributes` commit on `main`; None if it exists."""
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                return None
            repo = Repo(repo_type, repo_id, private)
            repo.commit("main", "initial commit", {".gitattributes": Blob(DEFAULT_GITATTRIBUTES)})
            self.repos[(repo_type, repo_id)] = repo
            return repo

    def delete(self, repo_type: str, repo_id: str) -> bool:
        with self.lock:
            return self.repos.pop((repo_type, repo_id), None) is not None

    def all_file_contents(self) -> list[tuple[str, bytes]]:
        """(label, bytes) for every file of every commit and every LFS object."""
        out = [(f"lfs:{oid}", data) for oid, data in self.lfs_objects.items()]
        for repo in self.repos.values():
            for commit in repo.commits.values():
                out.extend((f"{repo.repo_id}@{commit.sha[:8]}:{p}", b.data) for p, b in commit.files.items())
        return out

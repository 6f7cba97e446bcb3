"""A small Hub-protocol HTTP server for tests: the real `huggingface_hub` client pushes to and pulls from it.

It speaks the dozen endpoints listed in ../shared/notes/hub-testing.md (repo create, preupload, LFS batch +
basic transfer, NDJSON commit, info, tree, paths-info, refs, branch, commits, resolve, whoami) for model,
dataset and space repos. Storage is in memory (`tests/hub_store.py`). It is a fixture, not product code.

Rules that keep HTTP/1.1 keep-alive sound: every request body is read in full (Content-Length or chunked),
every response carries a Content-Length, and HEAD responses never carry a body.

Auth: the token of every request is recorded in `HubServer.token_log`; writes without a token get 401;
private repos are invisible (401, X-Error-Code RepoNotFound) without a token. When `accepted_tokens` is
set, any other token is refused with 401 "Invalid credentials in Authorization header".

    >>> server = HubServer().start()
    >>> # HF_ENDPOINT=server.endpoint HF_HUB_DISABLE_XET=1 ... use huggingface_hub as usual
    >>> server.stop()
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from tests.hub_store import Blob, HubStore, Repo, card_data, wants_lfs

USER = "fieldtune-tester"
PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_T = r"/api/(?P<type>model|dataset|space)s/(?P<repo>[^/]+/[^/]+)"
_P = r"/(?:(?P<prefix>datasets|spaces)/)?(?P<repo>[^/]+/[^/]+)"


class HTTPError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict | None = None,
        body: dict | None = None,
    ):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}
        self.body = {"error": message, **(body or {})}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    token: str | None
    base: str  # http://host:port as the client reached us
    args: dict[str, str] = field(default_factory=dict)

    def json(self):
        return json.loads(self.body or b"{}")


@dataclass
class Response:
    body: bytes | dict | list = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RequestRecord:
    method: str
    path: str
    token: str | None
    body: bytes


class HubServer:
    """The server plus its state; `start()` serves on 127.0.0.1 in a daemon thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, accepted_tokens: set[str] | None = None):
        self.store = HubStore()
        self.accepted_tokens = accepted_tokens
        self.token_log: list[str | None] = []  # the bearer token of each request (None when absent)
        self.requests: list[RequestRecord] = []
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.hub = self
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="test-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, closing kept-alive connections too (else clients could go on using them)."""
        self._httpd.shutdown()
        for sock in list(self._httpd.open_sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()

    def repo(self, repo_id: str, repo_type: str = "model") -> Repo | None:
        return self.store.get(repo_type, repo_id)

    def received_bytes(self) -> list[tuple[str, bytes]]:
        """Everything clients sent (request bodies) and everything stored, as (label, bytes)."""
        bodies = [(f"{r.method} {r.path}", r.body) for r in self.requests]
        return bodies + self.store.all_file_contents()

    # --- request handling -------------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        with self.store.lock:
            self.token_log.append(req.token)
            self.requests.append(RequestRecord(req.method, req.path, req.token, req.body))
        if (
            req.token is not None
            and self.accepted_tokens is not None
            and req.token not in self.accepted_tokens
        ):
            raise HTTPError(401, "Invalid credentials in Authorization header")
        method = "GET" if req.method == "HEAD" else req.method
        for route_method, pattern, func in ROUTES:
            match = pattern.fullmatch(req.path)
            if route_method == method and match:
                req.args = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                with self.store.lock:  # one request at a time: bodies are already read, and tests are small
                    return func(self, req)
        raise HTTPError(404, f"no route for {req.method} {req.path}")

    def _repo(self, req: Request, write: bool = False) -> Repo:
        if write and req.token is None:
            raise HTTPError(401, "You must be authenticated to write to a repo: pass a token")
        repo_type = req.args.get("type") or {"datasets": "dataset", "spaces": "space"}.get(
            req.args.get("prefix", ""), "model"
        )
        repo = self.store.get(repo_type, req.args["repo"])
        if repo is None or (repo.private and req.token is None):
            raise HTTPError(404 if repo is None else 401, "Repository not found", "RepoNotFound")
        return repo

    def _commit(self, req: Request, repo: Repo):
        commit = repo.resolve(req.args.get("rev", "main"))
        if commit is None:
            raise HTTPError(404, f"Invalid rev id: {req.args.get('rev')}", "RevisionNotFound")
        return commit

    def whoami(self, req: Request) -> Response:
        if req.token is None:
            raise HTTPError(401, "Invalid credentials in Authorization header")
        token_info = {"displayName": "fieldtune-test", "role": "write"}
        return Response(
            {
                "type": "user",
                "id": "0" * 24,
                "name": USER,
                "fullname": "Fieldtune Tester",
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": token_info},
            }
        )

    def create_repo(self, req: Request) -> Response:
        if req.token is None:
            raise HTTPError(401, "You must be authenticated to create a repo: pass a token")
        body = req.json()
        repo_type = body.get("type") or "model"
        repo_id = f"{body.get('organization') or USER}/{body['name']}"
        private = bool(body.get("private")) or body.get("visibility") == "private"
        url = f"{req.base}/{PREFIXES[repo_type]}{repo_id}"
        if self.store.create(repo_type, repo_id, private) is None:  # the Hub's 409 names the url too
            raise HTTPError(409, f"You already created this {repo_type} repo", body={"url": url})
        return Response({"url": url, "name": repo_id})

    def delete_repo(self, req: Request) -> Response:
        if req.token is None:
            raise HTTPError(401, "You must be authenticated to delete a repo")
        body = req.json()
        repo_id = f"{body.get('organization') or USER}/{body['name']}"
        if not self.store.delete(body.get("type") or "model", repo_id):
            raise HTTPError(404, "Repository not found", "RepoNotFound")
        return Response({})

    def repo_info(self, req: Request) -> Response:
        repo = self._repo(req)
        commit = self._commit(req, repo)
        info = {
            "_id": commit.sha[:24],
            "id": repo.repo_id,
            "author": repo.repo_id.split("/")[0],
            "sha": commit.sha,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "tags": [],
            "downloads": 0,
            "likes": 0,
            "siblings": [{"rfilename": p, **_sibling(b)} for p, b in sorted(commit.files.items())],
        }
        card = card_data(commit.files)
        if card is not None:
            info["cardData"] = card
            info.update({k: card[k] for k in ("library_name", "pipeline_tag") if k in card})
        return Response(info)

    def tree(self, req: Request) -> Response:
        commit = self._commit(req, self._repo(req))
        base = req.args.get("path", "").strip("/")
        recursive = req.query.get("recursive", ["false"])[0].lower() in ("1", "true")
        prefix = f"{base}/" if base else ""
        items: dict[str, dict] = {}
        for path, blob in sorted(commit.files.items()):
            if not path.startswith(prefix):
                continue
            parts = path[len(prefix) :].split("/")
            for depth in range(1, len(parts)):  # the folders above this file
                folder = prefix + "/".join(parts[:depth])
                items.setdefault(folder, {"type": "directory", "path": folder, "oid": _sha1(folder)})
                if not recursive:
                    break
            if recursive or len(parts) == 1:
                items[path] = blob.entry(path)
        if base and not items:
            raise HTTPError(404, f"{base} does not exist", "EntryNotFound")
        return Response(list(items.values()))

    def paths_info(self, req: Request) -> Response:
        commit = self._commit(req, self._repo(req))
        form = parse_qs(req.body.decode()) if req.body else req.query
        paths = [p.strip("/") for p in form.get("paths", [])]
        out = [commit.files[p].entry(p) for p in paths if p in commit.files]
        folders = {p for p in paths if any(f.startswith(p + "/") for f in commit.files)}
        out += [{"type": "directory", "path": p, "oid": _sha1(p)} for p in sorted(folders)]
        return Response(out)

    def refs(self, req: Request) -> Response:
        repo = self._repo(req)
        branches = [
            {"name": b, "ref": f"refs/heads/{b}", "targetCommit": sha} for b, sha in repo.branches.items()
        ]
        return Response({"branches": branches, "tags": [], "converts": []})

    def commits(self, req: Request) -> Response:
        repo = self._repo(req)
        history = repo.history(self._commit(req, repo).sha)
        return Response(
            [
                {"id": c.sha, "title": c.message, "message": "", "authors": [{"user": USER}], "date": c.date}
                for c in history
            ]
        )

    def create_branch(self, req: Request) -> Response:
        repo = self._repo(req, write=True)
        start = req.json().get("startingPoint") or "main"
        if req.args["rev"] in repo.branches:
            raise HTTPError(409, f"Reference refs/heads/{req.args['rev']} already exists")
        commit = repo.resolve(start)
        if commit is None:
            raise HTTPError(404, f"Invalid rev id: {start}", "RevisionNotFound")
        repo.branches[req.args["rev"]] = commit.sha
        return Response({})

    def validate_yaml(self, req: Request) -> Response:
        return Response({"errors": [], "warnings": []})

    def preupload(self, req: Request) -> Response:
        commit = self._commit(req, self._repo(req, write=True))
        files = []
        for f in req.json().get("files", []):
            lfs = wants_lfs(f["path"], int(f.get("size", 0)))
            existing = commit.files.get(f["path"])
            files.append(
                {
                    "path": f["path"],
                    "uploadMode": "lfs" if lfs else "regular",
                    "shouldIgnore": False,
                    "oid": existing.oid if existing is not None else None,
                }
            )
        return Response({"files": files, "commitOid": commit.sha})

    def lfs_batch(self, req: Request) -> Response:
        self._repo(req, write=True)
        objects = []
        for obj in req.json().get("objects", []):
            item = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
            if obj["oid"] not in self.store.lfs_objects:
                item["actions"] = {
                    "upload": {"href": f"{req.base}/_lfs/{obj['oid']}"},
                    "verify": {"href": f"{req.base}/_lfs/{obj['oid']}/verify"},
                }
            objects.append(item)
        return Response(
            {"transfer": "basic", "objects": objects},
            headers={"Content-Type": "application/vnd.git-lfs+json"},
        )

    def lfs_upload(self, req: Request) -> Response:
        # No token needed, as with the presigned storage URLs the real Hub hands out.
        if hashlib.sha256(req.body).hexdigest() != req.args["oid"]:
            raise HTTPError(400, "uploaded content does not match its sha256 oid")
        self.store.lfs_objects[req.args["oid"]] = req.body
        return Response(b"")

    def lfs_verify(self, req: Request) -> Response:
        if req.args["oid"] not in self.store.lfs_objects:
            raise HTTPError(404, "object not uploaded")
        return Response({})

    def commit(self, req: Request) -> Response:
        repo = self._repo(req, write=True)
        if req.query.get("create_pr"):
            raise HTTPError(400, "this test server does not support pull requests")
        branch = req.args["rev"]
        head = self._commit(req, repo)
        if branch not in repo.branches:
            raise HTTPError(400, f"can only commit to a branch, not {branch!r}")
        lines = [json.loads(line) for line in req.body.splitlines() if line.strip()]
        header = next((line["value"] for line in lines if line["key"] == "header"), {})
        if header.get("parentCommit") not in (None, head.sha):
            raise HTTPError(412, "A commit has happened since the parent commit. Please retry.")
        files = dict(head.files)
        for line in lines:
            key, value = line["key"], line["value"]
            if key == "file":
                files[value["path"]] = Blob(base64.b64decode(value["content"]))
            elif key == "lfsFile":
                data = self.store.lfs_objects.get(value["oid"])
                if data is None:
                    raise HTTPError(400, f"LFS object {value['oid']} for {value['path']} was never uploaded")
                files[value["path"]] = Blob(data, lfs=True)
            elif key == "deletedFile":
                if files.pop(value["path"], None) is None:
                    raise HTTPError(404, "A file with this name doesn't exist", "EntryNotFound")
            elif key == "deletedFolder":
                folder = value["path"].rstrip("/") + "/"
                files = {p: b for p, b in files.items() if not p.startswith(folder)}
        new = repo.commit(branch, header.get("summary") or "update", files)
        url = f"{req.base}/{PREFIXES[repo.repo_type]}{repo.repo_id}/commit/{new.sha}"
        return Response({"success": True, "commitOid": new.sha, "commitUrl": url, "pullRequestUrl": None})

    def resolve(self, req: Request) -> Response:
        repo = self._repo(req)
        commit = self._commit(req, repo)
        blob = commit.files.get(req.args["path"])
        if blob is None:
            raise HTTPError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": commit.sha})
        headers = {
            "ETag": f'"{blob.oid}"',
            "X-Repo-Commit": commit.sha,
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if blob.lfs:
            headers.update({"X-Linked-Etag": f'"{blob.sha256}"', "X-Linked-Size": str(len(blob.data))})
        range_match = re.fullmatch(r"bytes=(\d+)-(\d*)", req.headers.get("range", ""))
        if range_match and req.method == "GET":
            start = int(range_match.group(1))
            end = int(range_match.group(2) or len(blob.data) - 1)
            headers["Content-Range"] = f"bytes {start}-{end}/{len(blob.data)}"
            return Response(blob.data[start : end + 1], 206, headers)
        return Response(blob.data, 200, headers)


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _sibling(blob: Blob) -> dict:
    lfs = {"lfs": {"sha256": blob.sha256, "size": len(blob.data), "pointerSize": 134}} if blob.lfs else {}
    return {"size": len(blob.data), "blobId": blob.git_sha1, **lfs}


ROUTES = [
    (method, re.compile(pattern), func)
    for method, pattern, func in [
        ("GET", r"/api/whoami-v2", HubServer.whoami),
        ("POST", r"/api/repos/create", HubServer.create_repo),
        ("DELETE", r"/api/repos/delete", HubServer.delete_repo),
        ("POST", r"/api/validate-yaml", HubServer.validate_yaml),
        ("GET", _T, HubServer.repo_info),
        ("GET", _T + r"/revision/(?P<rev>[^/]+)", HubServer.repo_info),
        ("GET", _T + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", HubServer.tree),
        ("POST", _T + r"/paths-info/(?P<rev>[^/]+)", HubServer.paths_info),
        ("GET", _T + r"/refs", HubServer.refs),
        ("GET", _T + r"/commits/(?P<rev>[^/]+)", HubServer.commits),
        ("POST", _T + r"/branch/(?P<rev>[^/]+)", HubServer.create_branch),
        ("POST", _T + r"/preupload/(?P<rev>[^/]+)", HubServer.preupload),
        ("POST", _T + r"/commit/(?P<rev>[^/]+)", HubServer.commit),
        ("POST", _P + r"\.git/info/lfs/objects/batch", HubServer.lfs_batch),
        ("PUT", r"/_lfs/(?P<oid>[0-9a-f]{64})", HubServer.lfs_upload),
        ("POST", r"/_lfs/(?P<oid>[0-9a-f]{64})/verify", HubServer.lfs_verify),
        ("GET", _P + r"/resolve/(?P<rev>[^/]+)/(?P<path>.+)", HubServer.resolve),
    ]
]


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    hub: HubServer

    def __init__(self, *args, **kwargs):
        self.open_sockets: set[socket.socket] = set()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        self.open_sockets.discard(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real client expects

    def do_GET(self) -> None:
        self._serve()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET

    def log_message(self, format: str, *args) -> None:  # quiet: pytest shows failures, not access logs
        pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _serve(self) -> None:
        body = self._read_body()  # always, even when the route ignores it: keep-alive depends on it
        url = urlsplit(self.path)
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        req = Request(
            self.command,
            url.path,
            parse_qs(url.query),
            {k.lower(): v for k, v in self.headers.items()},
            body,
            token.strip() if scheme.lower() == "bearer" and token.strip() else None,
            f"http://{host}",
        )
        try:
            resp = self.server.hub.handle(req)
        except HTTPError as err:
            headers = {"X-Error-Message": err.message, **err.headers}
            if err.code:
                headers["X-Error-Code"] = err.code
            resp = Response(err.body, err.status, headers)
        except Exception as err:  # a server bug: report it to the client instead of dropping the connection
            resp = Response({"error": f"test hub server error: {err!r}"}, 500)
        payload = resp.body if isinstance(resp.body, bytes) else json.dumps(resp.body).encode()
        headers = {"Content-Type": "application/json"} if not isinstance(resp.body, bytes) else {}
        headers.update(resp.headers)
        self.send_response(resp.status)
        for key, value in headers.items():
            self.send_header(key, value)
        is_head = self.command == "HEAD"
        self.send_header("Content-Length", str(len(payload) if not is_head or resp.status < 400 else 0))
        self.end_headers()
        if not is_head:
            self.wfile.write(payload)

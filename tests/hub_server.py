"""A real Hugging Face Hub-protocol server on loopback for the tests: `olah` serving plain git repos.

No mocks: ``huggingface_hub`` and ``datasets`` talk HTTP to an olah (PyPI, MIT; 0.5.4 here) subprocess in
offline mode, which serves read-only the git repositories under ``<root>/mirrors/{models,datasets}/<org>/<name>``.
``LocalHub.add_repo`` turns folders into such repos (one branch per folder, optional tags); they are served
at once, without a restart (olah opens the git repo on every request).

In a test, through the fixtures of ``tests/conftest.py``::

    def test_round_trip(local_hub, tmp_path):
        model.save_pretrained(tmp_path / "m")
        local_hub.add_repo("org/tiny", tmp_path / "m")            # or branches={"main": a, "v1": b}
        loaded = MyModel.from_pretrained("org/tiny")               # plain Hub ids: clients are patched

Client code in a subprocess gets the same view from ``local_hub.client_env()``::

    subprocess.run([...], env={**os.environ, **local_hub.client_env(offline=False)})

Standalone::

    with LocalHub() as hub:
        hub.add_repo("org/pairs", folder, repo_type="dataset")
        print(hub.endpoint)                                        # http://127.0.0.1:PORT

Pointing clients at it
----------------------
``huggingface_hub`` and ``datasets`` read ``HF_ENDPOINT``, ``HF_HUB_OFFLINE``, ``HF_HOME``, the cache paths and
the timeouts once, at import, and copy them into module globals; setting environment variables later changes
nothing in-process. ``patch_clients(monkeypatch, endpoint, cache_dir)`` sets the variables (for subprocesses
and for modules imported later) *and* patches every copy, which monkeypatch restores afterwards:

* ``huggingface_hub.constants``: ``ENDPOINT``; ``HUGGINGFACE_CO_URL_TEMPLATE`` (``hf_hub_url`` formats this
  template and never re-reads ``ENDPOINT``); ``HF_HOME``, ``HF_HUB_CACHE``, ``HF_ASSETS_CACHE``,
  ``HF_XET_CACHE``; ``HF_TOKEN_PATH``/``HF_STORED_TOKENS_PATH`` (with ``HF_TOKEN`` unset, so no user token is
  ever sent); ``HF_HUB_OFFLINE``; ``HF_HUB_ETAG_TIMEOUT``/``HF_HUB_DOWNLOAD_TIMEOUT``; ``HF_HUB_DISABLE_XET``;
* ``huggingface_hub.hf_api.api.endpoint``: the module-level ``HfApi()`` behind ``huggingface_hub.model_info``,
  ``list_repo_files``, ``repo_exists``... was built at import with the old endpoint (``HfApi()`` made later reads
  ``constants.ENDPOINT`` and is fine);
* ``huggingface_hub.utils._cache_manager.HF_HUB_CACHE`` and ``_cache_assets.HF_ASSETS_CACHE`` (imported by name);
* ``datasets.config``: ``HF_ENDPOINT``, ``HUB_DATASETS_URL`` (a template built from it), ``HF_CACHE_HOME``,
  ``HF_DATASETS_CACHE``, ``HF_MODULES_CACHE``, ``DOWNLOADED_DATASETS_PATH``, ``EXTRACTED_DATASETS_PATH``,
  ``HF_HUB_OFFLINE``/``HF_DATASETS_OFFLINE``, ``HF_UPDATE_DOWNLOAD_COUNTS``. ``datasets`` is imported first
  so that these are restored after the test (a module first imported *during* a patched test would keep the
  test's endpoint and cache for the rest of the session);
* ``HfFileSystem``'s fsspec instance cache is cleared (its directory listings are cached per instance), and
  huggingface_hub's shared HTTP client is closed, so no connection or listing outlives the test;
* retry waits: when a file is not cached yet and the request fails (connection refused, timeout, 5xx),
  huggingface_hub 2.4 retries 5 times, waiting 1+2+4+8+8 s: 23 s per call against a dead server, whatever the
  timeouts say, and there is no setting for it. ``patch_clients`` caps each wait (``retry_wait=0.05``) through
  the ``time`` name of ``huggingface_hub.utils._http`` only; the retries themselves still happen, for real.
  Subprocesses run with ``client_env()`` keep the full 23 s.

Offline mode (``HF_HUB_OFFLINE=1``) is best tested in a subprocess with ``client_env(offline=True)``; in-process,
``set_offline(monkeypatch)`` flips the same flags.

olah quirks (0.5.4, offline mode, local git mirrors) and what LocalHub does about them
------------------------------------------------------------------------------------------
Plain ``olah-cli`` (``LocalHub(hub_errors=False)``) answers **every** miss on a local repo (missing repo,
missing revision, missing file) with ``401 RepoNotFound``, so huggingface_hub raises
``RepositoryNotFoundError`` where the real Hub gives ``RevisionNotFoundError`` or ``EntryNotFoundError``.
That breaks real client logic: ``datasets.load_dataset("org/name")`` on a dataset without README.md fails with
``DatasetNotFoundError`` (it treats a missing README as EntryNotFound). And ``GET /api/models/org/name`` (no
revision: ``model_info("org/x")``, ``repo_info``, ``repo_exists``) goes to olah's upstream path, unreachable
offline, so it says "not found" too; ``model_info(..., revision="main")`` works. An unknown *full* sha makes
olah crash (HTTP 500), which huggingface_hub retries for 23 s before failing.

By default (``hub_errors=True``) LocalHub runs the same olah app (``olah.server.cli``, as ``olah-cli`` does)
with a small ASGI middleware in front, which only looks at requests for repos that exist under ``mirrors/``
and answers as huggingface.co does: ``404 RevisionNotFound`` for an unknown branch/tag/sha, ``404 EntryNotFound``
for a missing file, and ``/api/{type}/org/name`` served as ``.../revision/main``. Everything else (including
``401 RepoNotFound`` for a missing repo, which is also what the real Hub answers an anonymous client) is olah.

Commits are plain git: ``add_repo`` commits with a fixed author and date, so a folder always gives the same
sha. The mirror's work tree stays empty (olah reads git objects only); a temporary index and ``--work-tree``
build each branch from its folder without touching it.

olah also ignores ``Range`` headers (it answers ``200`` with the whole file), so HfFileSystem, through which
``datasets`` streams, would read wrong bytes past its first block; the middleware answers a single range with
``206 Partial Content`` (or ``416``) as the Hub does, for every GET of a file.

Files are served from plain git blobs; LFS is not needed (a 10 MB random blob round-trips byte-exactly).
olah's HEAD answer carries ``content-length``, ``x-repo-commit`` and ``etag`` = the git blob sha1, no
``x-linked-size``/``x-linked-etag``: that is what the real Hub sends for a non-LFS file and huggingface_hub is
satisfied. (A committed LFS *pointer* would only be served if the object sat in the mirror's .git/lfs/objects.)
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Mapping
from urllib.parse import quote, unquote

REPO_TYPES = {"model": "models", "dataset": "datasets", "space": "spaces"}

# Fixed identity and date: the same folder always gives the same commit sha.
GIT_ENV = {
    "GIT_AUTHOR_NAME": "pix2pix-hub tests",
    "GIT_AUTHOR_EMAIL": "tests@pix2pix-hub.invalid",
    "GIT_COMMITTER_NAME": "pix2pix-hub tests",
    "GIT_COMMITTER_EMAIL": "tests@pix2pix-hub.invalid",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+0000",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+0000",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
}
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (picked by the OS)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class LocalHub:
    """An olah Hub-protocol server on 127.0.0.1 serving git repos made from local folders.

    ``with LocalHub() as hub:`` starts it (about 1.5 s) and stops it on exit; ``hub.endpoint`` is
    ``"http://127.0.0.1:PORT"``. ``root`` defaults to a fresh temporary directory, removed by ``close()``.
    ``hub_errors=False`` runs plain ``olah-cli -c config.toml`` (see the module docstring for the difference).
    """

    def __init__(self, root: str | os.PathLike | None = None, port: int | None = None, *,
                 hub_errors: bool = True, startup_timeout: float = 30.0):
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="localhub-") if root is None else root)
        self.mirrors = self.root / "mirrors"
        self.host = "127.0.0.1"
        self.port = port
        self._fixed_port = port is not None
        self.hub_errors = hub_errors
        self.startup_timeout = startup_timeout
        self.process: subprocess.Popen | None = None
        self.log_path = self.root / "olah.out"
        self.cache_dir: Path | None = None  # set by the `local_hub` fixture: the test's client cache
        self._log_file = None

    # ------------------------------------------------------------------ server lifecycle
    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise RuntimeError("LocalHub has not been started")
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def write_config(self) -> Path:
        for kind in REPO_TYPES.values():
            (self.mirrors / kind).mkdir(parents=True, exist_ok=True)
        config = self.root / "olah.toml"
        config.write_text(
            "[basic]\n"
            f"host = {json.dumps(self.host)}\n"
            f"port = {self.port}\n"
            f"repos-path = {json.dumps((self.root / 'repos').as_posix())}\n"
            f"mirrors-path = [{json.dumps(self.mirrors.as_posix())}]\n"
            'mirror-scheme = "http"\n'
            f'mirror-netloc = "{self.host}:{self.port}"\n'
            f'mirror-lfs-netloc = "{self.host}:{self.port}"\n'
            "\n[accessibility]\n"
            "offline = true\n"
        )
        return config

    def _command(self, config: Path) -> list[str]:
        args = ["-c", str(config), "--log-path", str(self.root / "logs")]
        if self.hub_errors:
            return [sys.executable, os.path.abspath(__file__), *args]
        cli = Path(sys.executable).with_name("olah-cli")
        cli = str(cli) if cli.exists() else shutil.which("olah-cli")
        if cli is None:
            raise RuntimeError("olah-cli not found: `pip install olah` (it is in requirements-test.txt)")
        return [cli, *args]

    def start(self) -> "LocalHub":
        if self.running:
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE")) and k not in _PROXY_VARS}
        env.update({"NO_PROXY": "*", "no_proxy": "*", "PYTHONUNBUFFERED": "1", "LOCALHUB_MIRRORS": str(self.mirrors),
                    "LOCALHUB_PARENT_PID": str(os.getpid())})
        for attempt in range(3):  # a port picked by the OS can be taken before olah binds it: pick another
            if not self._fixed_port:
                self.port = free_port(self.host)
            config = self.write_config()
            self._log_file = open(self.log_path, "wb")
            self.process = subprocess.Popen(
                self._command(config), cwd=self.root, env=env, stdin=subprocess.DEVNULL,
                stdout=self._log_file, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() signals it and nothing else
            )
            try:
                self._wait_until_up()
                atexit.register(self.stop)  # a script that forgets close() leaves no server behind
                return self
            except RuntimeError:
                in_use = "address already in use" in self.log().lower()
                self.stop()
                if not in_use or self._fixed_port or attempt == 2:
                    raise
            except BaseException:
                self.stop()
                raise
        return self

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"olah exited with code {self.process.returncode} before answering on "
                                   f"{self.endpoint}; command {self.process.args}\n--- server log ---\n{self.log()}")
            try:
                with urllib.request.urlopen(self.endpoint + "/api/whoami-v2", timeout=1):
                    return
            except urllib.error.HTTPError:
                return  # any HTTP answer means it is serving
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"olah did not answer on {self.endpoint} within {self.startup_timeout:.0f} s; "
                                   f"command {self.process.args}\n--- server log ---\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        """The last lines of the server's stdout/stderr (olah prints its settings and uvicorn's access log)."""
        try:
            return self.log_path.read_text(errors="replace")[-6000:]
        except OSError:
            return "<no log>"

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the server (SIGTERM to its process group, SIGKILL after ``timeout``). Repos are kept."""
        process, self.process = self.process, None
        atexit.unregister(self.stop)
        if process is not None:
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if process.poll() is not None:
                    break
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    continue
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def close(self) -> None:
        self.stop()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> "LocalHub":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ repositories
    def repo_path(self, repo_id: str, repo_type: str = "model") -> Path:
        """Where olah looks for ``repo_id``: ``mirrors/{models,datasets,spaces}/<org>/<name>``."""
        if repo_type not in REPO_TYPES:
            raise ValueError(f"repo_type must be one of {sorted(REPO_TYPES)}, got {repo_type!r}")
        org, sep, name = repo_id.partition("/")
        if not sep or not org or not name or "/" in name or org in (".", "..") or name in (".", ".."):
            raise ValueError(f"repo_id must look like 'org/name' (olah mirrors need an org), got {repo_id!r}")
        return self.mirrors / REPO_TYPES[repo_type] / org / name

    def add_repo(self, repo_id: str, folder: str | os.PathLike | None = None, repo_type: str = "model",
                 branches: Mapping[str, str | os.PathLike] | None = None, tags: Mapping[str, str] | None = None,
                 message: str = "Upload folder") -> dict[str, str]:
        """Serve ``folder`` as ``repo_id`` at revision ``main``; returns ``{revision: commit sha}``.

        ``branches={"v1": other_folder}`` adds branches (``"main"`` may be given there instead of ``folder``);
        ``tags={"v1.0": "main"}`` tags a branch tip (or any commit-ish). Calling it again for an existing repo
        adds a commit on top of each named branch; older commits stay reachable by sha. Every file of the
        folder (hidden ones too, ``.git`` excepted) becomes a plain git blob; the folder is not modified.
        """
        git_dir = self.repo_path(repo_id, repo_type)
        sources: dict[str, Path] = {}
        if folder is not None:
            sources["main"] = Path(folder)
        sources.update({name: Path(path) for name, path in (branches or {}).items()})
        exists = (git_dir / ".git").is_dir()
        if not exists and "main" not in sources:
            raise ValueError("a new repo needs a main branch: pass folder= or branches={'main': ...}")
        for source in sources.values():
            if not source.is_dir():
                raise FileNotFoundError(f"not a folder: {source}")
        if not exists:
            git_dir.mkdir(parents=True, exist_ok=True)
            _git(git_dir, "init", "--quiet")
            _git(git_dir, "symbolic-ref", "HEAD", "refs/heads/main")
        shas: dict[str, str] = {}
        index = git_dir / ".git" / "localhub-index"
        for branch, source in sources.items():
            index.unlink(missing_ok=True)
            env = {"GIT_INDEX_FILE": str(index)}
            _git(git_dir, "--work-tree", str(source.resolve()), "add", "--all", "--force", ".", env=env)
            tree = _git(git_dir, "write-tree", env=env)
            parent = _git(git_dir, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}^{{commit}}", check=False)
            commit = _git(git_dir, "commit-tree", tree, "-m", message, *(["-p", parent] if parent else []))
            _git(git_dir, "update-ref", f"refs/heads/{branch}", commit)
            shas[branch] = commit
        index.unlink(missing_ok=True)
        for tag, target in (tags or {}).items():
            is_branch = _git(git_dir, "rev-parse", "--verify", "--quiet", f"refs/heads/{target}", check=False)
            _git(git_dir, "tag", "--force", tag, f"refs/heads/{target}" if is_branch else target)
            shas[tag] = _git(git_dir, "rev-parse", f"refs/tags/{tag}^{{commit}}")
        return shas

    def remove_repo(self, repo_id: str, repo_type: str = "model") -> None:
        shutil.rmtree(self.repo_path(repo_id, repo_type), ignore_errors=True)

    # ------------------------------------------------------------------ client side
    def client_env(self, cache_dir: str | os.PathLike | None = None, offline: bool = False,
                   timeout: int = 5) -> dict[str, str]:
        """Environment for client code in a subprocess: this endpoint, caches under ``cache_dir``
        (default: the current test's cache, set by the ``local_hub`` fixture)."""
        cache_dir = cache_dir if cache_dir is not None else self.cache_dir
        if cache_dir is None:
            raise ValueError("pass cache_dir= (a temporary folder for the client's caches)")
        return client_env(self.endpoint, cache_dir, offline=offline, timeout=timeout)


def _git(cwd: Path, *args: str, env: Mapping[str, str] | None = None, check: bool = True) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV, **(env or {})},
                            capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}:\n{result.stderr}")
    return result.stdout.strip()


# ---------------------------------------------------------------------- pointing clients at a hub
def client_env(endpoint: str, cache_dir: str | os.PathLike, offline: bool = False, timeout: int = 5) -> dict[str, str]:
    """Environment variables that point huggingface_hub and datasets (imported afterwards) at ``endpoint``."""
    cache = Path(cache_dir)
    flag = "1" if offline else "0"
    return {
        "HF_ENDPOINT": endpoint,
        "HF_HOME": str(cache),
        "HF_HUB_CACHE": str(cache / "hub"),
        "HF_ASSETS_CACHE": str(cache / "assets"),
        "HF_XET_CACHE": str(cache / "xet"),
        "HF_DATASETS_CACHE": str(cache / "datasets"),
        "HF_MODULES_CACHE": str(cache / "modules"),
        "HF_TOKEN_PATH": str(cache / "token"),
        "HF_HUB_OFFLINE": flag,
        "HF_DATASETS_OFFLINE": flag,
        "HF_HUB_ETAG_TIMEOUT": str(timeout),
        "HF_HUB_DOWNLOAD_TIMEOUT": str(timeout),
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
        "HF_HUB_DISABLE_UPDATE_CHECK": "1",
        "HF_UPDATE_DOWNLOAD_COUNTS": "0",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }


class _ShortRetryWaits:
    """Stands in for the ``time`` module inside ``huggingface_hub.utils._http`` only: every attribute is the real
    one, but ``sleep`` is capped, so its retry loop (6 attempts, 1+2+4+8+8 s of waiting) still runs in full,
    against the real server, without the 23 s of waiting."""

    def __init__(self, max_wait: float):
        self.max_wait = max_wait

    def __getattr__(self, name):
        return getattr(time, name)

    def sleep(self, seconds: float) -> None:
        time.sleep(min(seconds, self.max_wait))


def patch_clients(monkeypatch, endpoint: str, cache_dir: str | os.PathLike, offline: bool = False,
                  timeout: int = 5, retry_wait: float | None = 0.05) -> dict[str, str]:
    """Point the in-process huggingface_hub and datasets (and subprocesses) at ``endpoint``; see module doc.

    ``retry_wait``: cap on each wait of huggingface_hub's HTTP retry loop (None: leave it alone). huggingface_hub
    2.4 retries a failed request 5 times, waiting 1, 2, 4, 8, 8 s, whenever a file is not in the cache yet: an
    unreachable server or a 5xx costs 23 s per call. Timeouts do not shorten that; only the waits can be."""
    from huggingface_hub import constants, hf_api
    from huggingface_hub.utils import _http

    try:
        import datasets.config  # imported now so that monkeypatch restores its globals after the test
    except ImportError:  # pragma: no cover - datasets is a test requirement
        datasets = None

    env = client_env(endpoint, cache_dir, offline=offline, timeout=timeout)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HUGGINGFACE_CO_STAGING", "TRANSFORMERS_OFFLINE", *_PROXY_VARS):
        monkeypatch.delenv(name, raising=False)
    for path in ("hub", "assets", "xet", "datasets", "modules"):
        Path(env["HF_HOME"], path).mkdir(parents=True, exist_ok=True)

    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HOME", env["HF_HOME"])
    monkeypatch.setattr(constants, "HF_HUB_CACHE", env["HF_HUB_CACHE"])
    monkeypatch.setattr(constants, "HF_ASSETS_CACHE", env["HF_ASSETS_CACHE"])
    monkeypatch.setattr(constants, "HF_XET_CACHE", env["HF_XET_CACHE"])
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", env["HF_TOKEN_PATH"])
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(Path(cache_dir) / "stored_tokens"))
    monkeypatch.setattr(constants, "HF_HUB_ETAG_TIMEOUT", timeout)
    monkeypatch.setattr(constants, "HF_HUB_DOWNLOAD_TIMEOUT", timeout)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", True)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(hf_api.api, "endpoint", endpoint)
    from huggingface_hub.utils import _cache_assets, _cache_manager
    monkeypatch.setattr(_cache_manager, "HF_HUB_CACHE", env["HF_HUB_CACHE"])
    monkeypatch.setattr(_cache_assets, "HF_ASSETS_CACHE", env["HF_ASSETS_CACHE"])

    if datasets is not None:
        config = datasets.config
        monkeypatch.setattr(config, "HF_ENDPOINT", endpoint)
        monkeypatch.setattr(config, "HUB_DATASETS_URL", endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}")
        monkeypatch.setattr(config, "HF_CACHE_HOME", env["HF_HOME"])
        monkeypatch.setattr(config, "HF_DATASETS_CACHE", Path(env["HF_DATASETS_CACHE"]))
        monkeypatch.setattr(config, "HF_MODULES_CACHE", Path(env["HF_MODULES_CACHE"]))
        downloads = Path(env["HF_DATASETS_CACHE"]) / config.DOWNLOADED_DATASETS_DIR
        monkeypatch.setattr(config, "DOWNLOADED_DATASETS_PATH", downloads)
        monkeypatch.setattr(config, "EXTRACTED_DATASETS_PATH", downloads / config.EXTRACTED_DATASETS_DIR)
        monkeypatch.setattr(config, "HF_UPDATE_DOWNLOAD_COUNTS", False)
    set_offline(monkeypatch, offline)
    if retry_wait is not None:
        monkeypatch.setattr(_http, "time", _ShortRetryWaits(retry_wait))

    _reset_client_state()
    return env


def set_offline(monkeypatch, offline: bool = True) -> None:
    """Flip ``HF_HUB_OFFLINE`` in-process (huggingface_hub and datasets) and in the environment."""
    from huggingface_hub import constants

    flag = "1" if offline else "0"
    monkeypatch.setenv("HF_HUB_OFFLINE", flag)
    monkeypatch.setenv("HF_DATASETS_OFFLINE", flag)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    if "datasets.config" in sys.modules:
        config = sys.modules["datasets.config"]
        monkeypatch.setattr(config, "HF_HUB_OFFLINE", offline)
        monkeypatch.setattr(config, "HF_DATASETS_OFFLINE", offline)


def _reset_client_state() -> None:
    """Forget cached HfFileSystem instances (and their listings) and huggingface_hub's pooled connections."""
    from huggingface_hub import HfFileSystem
    from huggingface_hub.utils import _http

    HfFileSystem.clear_instance_cache()
    _http.close_session()


# ---------------------------------------------------------------------- server side: Hub-like errors
_TYPES = ("models", "datasets", "spaces")
_SHA = re.compile(r"[0-9a-f]{40}")


class HubErrors:
    """ASGI middleware in front of olah's app, for repos that exist under ``mirrors``: answer as huggingface.co.

    * unknown branch / tag / sha      -> 404, X-Error-Code: RevisionNotFound  (olah: 401 RepoNotFound)
    * missing file (resolve, tree)    -> 404, X-Error-Code: EntryNotFound     (olah: 401 RepoNotFound)
    * ``/api/{type}/org/name``        -> served as ``/api/{type}/org/name/revision/main`` (olah: upstream only)
    * ``Range: bytes=a-b`` on a file  -> 206 with those bytes, or 416      (olah: 200 and the whole file)

    Anything it cannot parse, or any error of its own, leaves the request to olah unchanged.
    """

    def __init__(self, app, mirrors: str | os.PathLike):
        self.app = app
        self.mirrors = Path(mirrors)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD", "POST"):
            try:
                verdict = self.check(scope.get("raw_path") or scope["path"].encode())
            except Exception:  # never break olah
                verdict = None
            if verdict is not None and verdict[0] == "rewrite":
                scope = dict(scope, path=unquote(verdict[1]), raw_path=verdict[1].encode())
            elif verdict is not None:
                _, status, code, message = verdict
                body = json.dumps({"error": message}).encode()
                await send({"type": "http.response.start", "status": status, "headers": [
                    (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                    (b"x-error-code", code.encode()), (b"x-error-message", message.encode("latin-1", "replace"))]})
                await send({"type": "http.response.body", "body": body})
                return
        byte_range = _requested_range(scope)
        if byte_range is not None:  # olah ignores Range: answer it from the full body, as the Hub does
            send = _RangeSender(send, byte_range)
        await self.app(scope, receive, send)

    def check(self, raw_path: bytes) -> tuple | None:
        parts = [unquote(p) for p in raw_path.split(b"?")[0].decode("latin-1").split("/")[1:]]
        if parts[:1] == ["api"]:
            if len(parts) < 4 or parts[1] not in _TYPES:
                return None
            repo_type, org, name, rest = parts[1], parts[2], parts[3], parts[4:]
            if not self._git_dir(repo_type, org, name):
                return None
            if not rest or rest == [""]:
                target = "/".join(quote(p, safe="") for p in ("", "api", repo_type, org, name, "revision", "main"))
                return ("rewrite", target)
            if rest[0] not in ("revision", "tree", "paths-info", "commits") or len(rest) < 2:
                return None
            revision, path = rest[1], ("/".join(rest[2:]).strip("/") if rest[0] == "tree" else "")
        else:
            if len(parts) >= 5 and parts[0] in ("datasets", "spaces") and parts[3] == "resolve":
                repo_type, org, name, rest = parts[0], parts[1], parts[2], parts[4:]
            elif len(parts) >= 4 and parts[2] == "resolve" and parts[0] not in ("api", "repos"):
                repo_type, org, name, rest = "models", parts[0], parts[1], parts[3:]
            else:
                return None
            if not self._git_dir(repo_type, org, name) or len(rest) < 2:
                return None
            revision, path = rest[0], "/".join(rest[1:])
        return self._check_revision(self.mirrors / repo_type / org / name, revision, path,
                                    want_blob=parts[:1] != ["api"])

    def _git_dir(self, repo_type: str, org: str, name: str) -> bool:
        if "/" in org or "/" in name or org in ("", ".", "..") or name in ("", ".", ".."):
            return False
        return (self.mirrors / repo_type / org / name / ".git").is_dir()

    @staticmethod
    def _check_revision(git_dir: Path, revision: str, path: str, want_blob: bool) -> tuple | None:
        import git  # GitPython, an olah dependency

        with git.Repo(git_dir) as repo:
            candidates = [f"refs/heads/{revision}", f"refs/tags/{revision}"]
            if revision.startswith("refs/"):
                candidates.append(revision)
            if _SHA.fullmatch(revision.lower()):
                candidates.append(revision.lower())
            commit = None
            for candidate in candidates:
                try:
                    commit = repo.commit(candidate)
                    _ = commit.tree  # GitPython trusts a 40-hex sha blindly: reading the object checks it exists
                    break
                except Exception:
                    commit = None
            if commit is None:
                return ("error", 404, "RevisionNotFound", f"Invalid rev id: {revision}")
            if path:
                try:
                    entry = commit.tree / path
                except KeyError:
                    entry = None
                if entry is None or (want_blob and entry.type != "blob") or (not want_blob and entry.type != "tree"):
                    return ("error", 404, "EntryNotFound", f'{path} does not exist on "{revision}"')
        return None


_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _requested_range(scope) -> tuple[str, str] | None:
    """The (start, end) strings of a single-range ``Range: bytes=...`` header on a GET of a file, else None."""
    if scope["type"] != "http" or scope["method"] != "GET" or "/resolve/" not in scope["path"]:
        return None
    header = dict(scope.get("headers") or []).get(b"range", b"").decode("latin-1").strip()
    match = _RANGE.fullmatch(header)
    return match.groups() if match and any(match.groups()) else None


class _RangeSender:
    """Wraps ASGI ``send``: a 200 answer to a Range request becomes ``206 Partial Content`` with only the bytes
    asked for (or ``416``), like huggingface.co. olah 0.5.4 sends the whole file with 200 whatever the Range,
    and HfFileSystem, which ``datasets`` streaming reads through, takes that body as the range it asked for:
    any read past its first block (a parquet footer, a seek) got the wrong bytes. The body is buffered:
    test files are small."""

    def __init__(self, send, byte_range: tuple[str, str]):
        self.send, self.byte_range = send, byte_range
        self.start_message: dict | None = None
        self.chunks: list[bytes] = []

    async def __call__(self, message: dict) -> None:
        if message["type"] == "http.response.start":
            if message["status"] != 200:
                self.byte_range = None  # errors and redirects pass unchanged
                await self.send(message)
            else:
                self.start_message = message
            return
        if message["type"] != "http.response.body" or self.byte_range is None:
            await self.send(message)
            return
        self.chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        body = b"".join(self.chunks)
        first, last = self.byte_range
        if not first:  # bytes=-N: the last N bytes
            start, end = max(0, len(body) - int(last)), len(body) - 1
        else:
            start, end = int(first), min(int(last), len(body) - 1) if last else len(body) - 1
        headers = [(k, v) for k, v in self.start_message["headers"]
                   if k.lower() not in (b"content-length", b"transfer-encoding", b"content-range")]
        if start >= len(body) or start > end:
            headers += [(b"content-range", f"bytes */{len(body)}".encode()), (b"content-length", b"0")]
            await self.send({**self.start_message, "status": 416, "headers": headers})
            await self.send({"type": "http.response.body", "body": b""})
            return
        part = body[start:end + 1]
        headers += [(b"content-range", f"bytes {start}-{end}/{len(body)}".encode()),
                    (b"content-length", str(len(part)).encode()), (b"accept-ranges", b"bytes")]
        await self.send({**self.start_message, "status": 206, "headers": headers})
        await self.send({"type": "http.response.body", "body": part})


def _serve(argv: list[str]) -> None:
    """``python hub_server.py -c config.toml ...``: olah's own CLI with HubErrors in front of its app."""
    import threading

    import olah.server

    def exit_with_parent(parent: int) -> None:  # a test run killed hard must not leave servers behind
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    parent = int(os.environ.get("LOCALHUB_PARENT_PID", os.getppid()))
    threading.Thread(target=exit_with_parent, args=(parent,), daemon=True).start()
    olah.server.app.add_middleware(HubErrors, mirrors=os.environ["LOCALHUB_MIRRORS"])
    sys.argv = ["olah-cli", *argv]
    olah.server.cli()


if __name__ == "__main__":
    # Run as a script, this file's folder (tests/) is sys.path[0]: drop it so no test module shadows a package.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    _serve(sys.argv[1:])

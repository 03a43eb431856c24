"""Shared fixtures.

``local_hub``: a real Hugging Face Hub-protocol server (olah) on 127.0.0.1, with huggingface_hub and datasets
pointed at it and their caches in the test's tmp_path (see tests/hub_server.py)::

    def test_load_from_hub(local_hub, tmp_path):
        model.save_pretrained(tmp_path / "m")
        local_hub.add_repo("org/my-model", tmp_path / "m")
        MyModel.from_pretrained("org/my-model")

``sync_api``: Playwright's sync API for the browser tests, or a skip that says what is missing.

``concurrently``: independent train.py runs side by side (a straight run and the first half of the run that
resumes, say), so they take the time of one on the suite's 2 cores::

    straight, first_half = concurrently(partial(run_train, *common, "--max_steps", 9, ...),
                                        partial(run_train, *common, "--max_steps", 3, ...))
"""

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import CHROMIUM
from hub_server import LocalHub, _reset_client_state, patch_clients


@pytest.fixture(scope="session")
def local_hub_server(tmp_path_factory):
    """The one olah server of the session (about 1.5 s to start). Repos added to it persist across tests:
    use repo ids of your own. Do not stop it; start a `LocalHub()` of your own to test a server going down."""
    with LocalHub(root=tmp_path_factory.mktemp("local-hub")) as hub:
        yield hub


@pytest.fixture
def local_hub(local_hub_server, tmp_path, monkeypatch):
    """The session's LocalHub, with clients pointed at it for this test (HF_ENDPOINT etc. in the environment
    and in every module global that copied them at import) and fresh caches in ``tmp_path / "hf-cache"``."""
    if not local_hub_server.running:
        local_hub_server.start()
    cache_dir = tmp_path / "hf-cache"
    patch_clients(monkeypatch, local_hub_server.endpoint, cache_dir)
    local_hub_server.cache_dir = cache_dir
    yield local_hub_server
    local_hub_server.cache_dir = None
    _reset_client_state()


@pytest.fixture
def sync_api():
    """Playwright + the system Chromium, or a skip that says what is missing (before any server starts)."""
    api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium); the browser test needs it")
    return api


@pytest.fixture(scope="session")
def concurrently():
    """Call each of the given functions on a thread of its own, all at once, and return their results in order
    once all are done (the first failure is raised then). For subprocess runs (run_train): each keeps one core
    busy (OMP_NUM_THREADS=1) and the suite runs serially on 2 cores, so two independent runs take the time of one."""
    def run(*calls):
        with ThreadPoolExecutor(max_workers=len(calls)) as pool:
            futures = [pool.submit(call) for call in calls]
        return [future.result() for future in futures]
    return run

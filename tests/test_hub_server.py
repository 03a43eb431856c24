"""The loopback Hub server of the tests (tests/hub_server.py) speaks the real protocol to the real clients."""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import datasets
import huggingface_hub
import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard, PyTorchModelHubMixin, hf_hub_download, snapshot_download  # noqa: F401 (MODEL_CLASS)
from huggingface_hub import errors as hub_errors
from PIL import Image
from torch import nn  # noqa: F401 -- exec(MODEL_CLASS) below uses it

from hub_server import LocalHub, client_env, free_port, patch_clients, set_offline

MODEL_CLASS = '''
class Tiny(nn.Module, PyTorchModelHubMixin, library_name="pix2pix-hub-tests", license="mit"):
    def __init__(self, width: int = 8):
        super().__init__()
        self.linear = nn.Linear(width, width)
'''
exec(MODEL_CLASS)  # the offline subprocess below defines the very same class


def make_model(width, seed):
    torch.manual_seed(seed)
    return Tiny(width=width)  # noqa: F821 (defined by exec above)


@pytest.fixture(scope="module")
def tiny_repo(local_hub_server, tmp_path_factory):
    """org/tiny: main holds a 4 MB model.safetensors (1024x1024 linear), branch v1 and tag v1.0 a 8x8 model."""
    root = tmp_path_factory.mktemp("tiny")
    main, v1 = make_model(1024, seed=0), make_model(8, seed=1)
    main.save_pretrained(root / "main")
    v1.save_pretrained(root / "v1")
    shas = local_hub_server.add_repo("org/tiny", root / "main", branches={"v1": root / "v1"}, tags={"v1.0": "v1"})
    return {"main": main, "v1": v1, "shas": shas, "folder": root / "main"}


def assert_same_weights(a, b):
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        assert torch.equal(state_a[key], state_b[key]), key


def test_model_round_trip(local_hub, tiny_repo):
    loaded = Tiny.from_pretrained("org/tiny")  # noqa: F821
    assert_same_weights(loaded, tiny_repo["main"])

    config = hf_hub_download("org/tiny", "config.json")
    assert json.loads(Path(config).read_text()) == {"width": 1024}
    assert Path(config).is_relative_to(local_hub.cache_dir)  # never the user's cache
    assert Path(config).parent.name == tiny_repo["shas"]["main"]  # snapshot folder = the commit served

    # Large file from a plain git blob: size and commit in the HEAD answer, etag = git blob sha1.
    url = huggingface_hub.hf_hub_url("org/tiny", "model.safetensors")
    assert url.startswith(local_hub.endpoint)
    meta = huggingface_hub.get_hf_file_metadata(url)
    weights = tiny_repo["folder"] / "model.safetensors"
    assert meta.size == weights.stat().st_size > 4_000_000
    assert meta.commit_hash == tiny_repo["shas"]["main"]
    git_blob = subprocess.run(["git", "hash-object", str(weights)], capture_output=True, text=True, check=True)
    assert meta.etag == git_blob.stdout.strip()

    snapshot = Path(snapshot_download("org/tiny"))
    assert sorted(p.name for p in snapshot.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    card = ModelCard.load("org/tiny")
    assert card.data.license == "mit" and "pytorch_model_hub_mixin" in card.data.tags

    info = huggingface_hub.model_info("org/tiny", revision="main")
    assert info.sha == tiny_repo["shas"]["main"]
    assert {s.rfilename for s in info.siblings} == {"README.md", "config.json", "model.safetensors"}
    # Plain olah cannot answer model_info without a revision; LocalHub's HubErrors layer serves it as main.
    assert huggingface_hub.model_info("org/tiny").sha == tiny_repo["shas"]["main"]
    assert huggingface_hub.repo_exists("org/tiny") and not huggingface_hub.repo_exists("org/absent")
    assert huggingface_hub.HfApi().list_repo_files("org/tiny") == ["README.md", "config.json", "model.safetensors"]


def test_revisions(local_hub, tiny_repo, tmp_path):
    for revision in ("v1", "v1.0", tiny_repo["shas"]["v1"]):
        loaded = Tiny.from_pretrained("org/tiny", revision=revision)  # noqa: F821
        assert_same_weights(loaded, tiny_repo["v1"])
    refs = huggingface_hub.list_repo_refs("org/tiny")
    assert {b.name for b in refs.branches} == {"main", "v1"} and [t.name for t in refs.tags] == ["v1.0"]

    # A new commit on a repo is served at once; the old one stays reachable by sha.
    local_hub.add_repo("org/tiny-updated", tiny_repo["folder"])
    make_model(8, seed=2).save_pretrained(tmp_path / "new")
    shas = local_hub.add_repo("org/tiny-updated", tmp_path / "new")
    assert huggingface_hub.model_info("org/tiny-updated", revision="main").sha == shas["main"]
    assert Tiny.from_pretrained("org/tiny-updated").linear.in_features == 8  # noqa: F821
    assert Tiny.from_pretrained("org/tiny-updated", revision=tiny_repo["shas"]["main"]).linear.in_features == 1024  # noqa: F821


def test_missing_repo_revision_and_file_raise_the_hub_errors(local_hub, tiny_repo):
    # What huggingface.co answers an anonymous client: 401 RepoNotFound, 404 RevisionNotFound, 404 EntryNotFound.
    with pytest.raises(hub_errors.RepositoryNotFoundError):
        hf_hub_download("org/absent", "config.json")
    with pytest.raises(hub_errors.RepositoryNotFoundError):
        snapshot_download("org/absent")
    with pytest.raises(hub_errors.RepositoryNotFoundError):
        huggingface_hub.model_info("org/absent", revision="main")
    with pytest.raises(hub_errors.RevisionNotFoundError):
        hf_hub_download("org/tiny", "config.json", revision="v9")
    with pytest.raises(hub_errors.RevisionNotFoundError):
        snapshot_download("org/tiny", revision="v9")
    with pytest.raises(hub_errors.RevisionNotFoundError):
        Tiny.from_pretrained("org/tiny", revision="0" * 40)  # noqa: F821
    with pytest.raises(hub_errors.RemoteEntryNotFoundError):
        hf_hub_download("org/tiny", "absent.json")
    assert huggingface_hub.file_exists("org/tiny", "config.json")
    assert not huggingface_hub.file_exists("org/tiny", "absent.json")


def write_pairs(folder, n=5, size=16):
    rng = np.random.default_rng(0)
    a = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]
    b = [255 - x for x in a]
    table = datasets.Dataset.from_dict({"imageA": [Image.fromarray(x) for x in a],
                                        "imageB": [Image.fromarray(x) for x in b]})
    table = table.cast_column("imageA", datasets.Image()).cast_column("imageB", datasets.Image())
    (folder / "data").mkdir(parents=True)
    table.to_parquet(str(folder / "data" / "train-00000-of-00001.parquet"))
    return a, b


def test_dataset_repo(local_hub, tmp_path):
    a, b = write_pairs(tmp_path / "pairs")  # no README.md: plain olah would make this DatasetNotFoundError
    local_hub.add_repo("org/pairs", tmp_path / "pairs", repo_type="dataset")
    loaded = datasets.load_dataset("org/pairs", split="train")
    assert loaded.num_rows == 5 and set(loaded.features) == {"imageA", "imageB"}
    assert isinstance(loaded.features["imageA"], datasets.Image)
    for i, row in enumerate(loaded):
        assert np.array_equal(np.asarray(row["imageA"]), a[i]) and np.array_equal(np.asarray(row["imageB"]), b[i])
    assert str(datasets.config.HF_DATASETS_CACHE).startswith(str(local_hub.cache_dir))
    with pytest.raises(datasets.exceptions.DatasetNotFoundError):
        datasets.load_dataset("org/absent-pairs", split="train")


def test_server_down_fails_fast_and_cache_still_serves(local_hub, tiny_repo, monkeypatch):
    cached = hf_hub_download("org/tiny", "config.json", revision="v1")
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    patch_clients(monkeypatch, dead, local_hub.cache_dir, timeout=2)
    start = time.monotonic()
    with pytest.raises(hub_errors.LocalEntryNotFoundError):  # not cached, server unreachable
        hf_hub_download("org/tiny", "README.md", revision="v1")
    with pytest.raises(ConnectionError):
        datasets.load_dataset("org/pairs", split="train")
    # A file downloaded before is served from the cache when the Hub cannot be reached.
    assert hf_hub_download("org/tiny", "config.json", revision="v1") == cached
    assert time.monotonic() - start < 10


def test_plain_olah_cli_quirks_then_stopped(tiny_repo, monkeypatch, tmp_path):
    """`olah-cli -c config.toml` as is: what LocalHub's HubErrors layer changes, and a stopped server."""
    with LocalHub(root=tmp_path / "hub", hub_errors=False) as hub:
        assert Path(hub.process.args[0]).name == "olah-cli"
        make_model(8, seed=3).save_pretrained(tmp_path / "m")
        hub.add_repo("org/plain", tmp_path / "m")
        patch_clients(monkeypatch, hub.endpoint, tmp_path / "cache", timeout=2)
        assert Tiny.from_pretrained("org/plain").linear.in_features == 8  # noqa: F821
        assert huggingface_hub.model_info("org/plain", revision="main").sha
        with pytest.raises(hub_errors.RepositoryNotFoundError):  # no revision: olah asks the (offline) upstream
            huggingface_hub.model_info("org/plain")
        with pytest.raises(hub_errors.RepositoryNotFoundError) as missing_revision:  # the Hub: RevisionNotFound
            hf_hub_download("org/plain", "config.json", revision="v9")
        assert not isinstance(missing_revision.value, hub_errors.RevisionNotFoundError)
        with pytest.raises(hub_errors.RepositoryNotFoundError):  # the Hub: EntryNotFound
            hf_hub_download("org/plain", "absent.json")
        process = hub.process
    assert process.poll() is not None and hub.root.exists()  # stopped; a root given to it is kept
    start = time.monotonic()
    with pytest.raises(hub_errors.LocalEntryNotFoundError):  # never downloaded
        hf_hub_download("org/plain", "README.md")
    with pytest.raises(hub_errors.LocalEntryNotFoundError):
        Tiny.from_pretrained("org/never-seen")  # noqa: F821
    assert Tiny.from_pretrained("org/plain").linear.in_features == 8  # noqa: F821  # from the cache
    assert time.monotonic() - start < 10, "a stopped server must fail fast, not hang"


def test_offline_mode_after_first_download(local_hub, tiny_repo, tmp_path, monkeypatch):
    a, _ = write_pairs(tmp_path / "pairs")
    local_hub.add_repo("org/pairs-offline", tmp_path / "pairs", repo_type="dataset")
    Tiny.from_pretrained("org/tiny", revision="v1")  # noqa: F821  # fills the cache
    datasets.load_dataset("org/pairs-offline", split="train")

    set_offline(monkeypatch)  # in-process
    assert_same_weights(Tiny.from_pretrained("org/tiny", revision="v1"), tiny_repo["v1"])  # noqa: F821
    with pytest.raises(hub_errors.LocalEntryNotFoundError):
        hf_hub_download("org/tiny", "config.json", revision="main")  # never downloaded

    # In a fresh interpreter with HF_HUB_OFFLINE=1 read at import, and a dead endpoint to be sure.
    script = tmp_path / "offline.py"
    script.write_text(textwrap.dedent("""
        import json, sys
        import datasets, numpy as np, torch
        from huggingface_hub import PyTorchModelHubMixin, constants
        from torch import nn
        assert constants.HF_HUB_OFFLINE and datasets.config.HF_HUB_OFFLINE
    """) + MODEL_CLASS + textwrap.dedent("""
        model = Tiny.from_pretrained("org/tiny", revision="v1")
        rows = datasets.load_dataset("org/pairs-offline", split="train")
        print(json.dumps({"weight": model.linear.weight.tolist(), "rows": rows.num_rows,
                          "pixel": np.asarray(rows[0]["imageA"]).tolist()}))
    """))
    env = {**os.environ, **client_env(f"http://127.0.0.1:{free_port()}", local_hub.cache_dir, offline=True),
           "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert torch.equal(torch.tensor(out["weight"]), tiny_repo["v1"].linear.weight.detach())
    assert out["rows"] == 5 and np.array_equal(np.asarray(out["pixel"], np.uint8), a[0])


def test_local_hub_reports_a_failed_start(tmp_path):
    import socket

    with socket.socket() as taken:  # olah cannot bind a port that is already listening
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        hub = LocalHub(root=tmp_path, port=taken.getsockname()[1], startup_timeout=20)
        with pytest.raises(RuntimeError, match="(?s)olah exited.*server log.*address already in use"):
            hub.start()
    assert hub.process is None


def test_range_requests_for_streaming(local_hub, tmp_path):
    """HfFileSystem (datasets' streaming) reads files by HTTP ranges: the server must answer only those bytes."""
    import urllib.request

    from huggingface_hub import HfFileSystem

    data = np.random.default_rng(0).bytes(300_000)
    (tmp_path / "blob").mkdir()
    (tmp_path / "blob" / "data.bin").write_bytes(data)
    local_hub.add_repo("org/ranges", tmp_path / "blob", repo_type="dataset")
    url = local_hub.endpoint + "/datasets/org/ranges/resolve/main/data.bin"

    def get(byte_range):
        request = urllib.request.Request(url, headers={"Range": byte_range} if byte_range else {})
        try:
            with urllib.request.urlopen(request) as answer:
                return answer.status, answer.headers.get("content-range"), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("content-range"), b""

    assert get("bytes=10-19") == (206, "bytes 10-19/300000", data[10:20])
    assert get("bytes=299990-") == (206, "bytes 299990-299999/300000", data[-10:])
    assert get("bytes=-5") == (206, "bytes 299995-299999/300000", data[-5:])
    assert get("bytes=299990-400000")[2] == data[-10:]
    assert get("bytes=400000-")[:2] == (416, "bytes */300000")
    assert get(None) == (200, None, data)

    with HfFileSystem().open("datasets/org/ranges/data.bin", "rb", block_size=1024) as file:
        file.seek(200_000)
        assert file.read(100) == data[200_000:200_100]

"""Datasets by Hub id from the loopback Hub-protocol server (tests/hub_server.py): what test_data.py and
test_streaming.py leave out — a missing repo and a server that is down give one clear line, and a dataset
read once trains offline (HF_HUB_OFFLINE=1) from the cache, through train.py. Models: tests/test_pretrained.py."""

import os
import subprocess
import sys
import time

import datasets
import pytest

from pix2pix_hub.config import DataConfig
from pix2pix_hub.data.datasets import DataError, load_image_dataset

from helpers import ROOT, make_parquet_dataset
from hub_server import client_env, free_port, patch_clients

SMALL = {"load_size": 36, "resolution": 32}


@pytest.fixture(scope="module")
def pairs_repo(local_hub_server, tmp_path_factory):
    folder = make_parquet_dataset(tmp_path_factory.mktemp("hub-pairs"), n=3, size=32)
    local_hub_server.add_repo("hubreads/pairs", folder, repo_type="dataset")
    return "hubreads/pairs"


def test_dataset_by_id_missing_repo_and_server_down(local_hub, pairs_repo, monkeypatch):
    assert len(load_image_dataset(DataConfig(dataset=pairs_repo, **SMALL), paired=True)) == 3
    with pytest.raises(DataError) as missing:
        load_image_dataset(DataConfig(dataset="hubreads/absent", **SMALL), paired=True)
    assert "\n" not in str(missing.value) and str(missing.value).startswith("hubreads/absent: could not load")

    patch_clients(monkeypatch, f"http://127.0.0.1:{free_port()}", local_hub.cache_dir, timeout=2)  # nothing listens
    start = time.monotonic()
    with pytest.raises(DataError) as down:
        load_image_dataset(DataConfig(dataset="hubreads/never-read", **SMALL), paired=True)
    assert "\n" not in str(down.value) and "check the id and the network" in str(down.value)
    assert time.monotonic() - start < 15


def test_train_py_offline_on_a_cached_hub_dataset(local_hub, pairs_repo, tmp_path):
    datasets.load_dataset(pairs_repo, split="train")  # read once, online: now in local_hub.cache_dir
    env = {**os.environ, **client_env(f"http://127.0.0.1:{free_port()}", local_hub.cache_dir, offline=True),
           "OMP_NUM_THREADS": "1"}
    common = [sys.executable, str(ROOT / "train.py"), "--netG", "unet_32", "--ngf", "8", "--ndf", "8", "--load_size", "36",
              "--resolution", "32", "--report_to", "none", "--num_validation_images", "1", "--max_steps", "1"]
    result = subprocess.run([*common, "--dataset", pairs_repo, "--output_dir", str(tmp_path / "out")], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "out" / "model.safetensors").is_file()
    result = subprocess.run([*common, "--dataset", "hubreads/never-read", "--output_dir", str(tmp_path / "o2")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr[-3000:]
    assert result.stderr.startswith("error: hubreads/never-read: could not load this dataset")

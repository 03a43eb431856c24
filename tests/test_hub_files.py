"""hub_files: only a model folder's files are downloaded, after the repo's file list was checked; against the
real Hub-protocol server on loopback (tests/hub_server.py)."""

import json

import pytest
import torch

from pix2pix_hub import ModelLoadError, load_generator, save_model_folder
from pix2pix_hub.models import build_generator


def downloaded(cache_dir) -> list[str]:
    """Every file that reached the client's cache (blobs are the downloaded bytes)."""
    return sorted(p.name for p in cache_dir.rglob("snapshots/*/**/*") if p.is_file())


def blob_bytes(cache_dir) -> int:
    return sum(p.stat().st_size for p in cache_dir.rglob("blobs/*") if p.is_file())


@pytest.fixture
def tiny(tmp_path):
    torch.manual_seed(0)
    return save_model_folder(tmp_path / "tiny", {"AtoB": build_generator("unet_64", ngf=8)},
                             {"model_type": "pix2pix", "resolution": 64})


def test_a_model_repo_with_other_files_downloads_only_the_model(local_hub, tiny, tmp_path):
    (tiny / "unet").mkdir()
    (tiny / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * 3_000_000)  # matched *.safetensors
    (tiny / "extra.safetensors").write_bytes(b"\0" * 1_000_000)
    (tiny / "pytorch_model.bin").write_bytes(b"\0" * 1000)
    local_hub.add_repo("files/model-and-more", tiny)
    generator = load_generator("files/model-and-more")
    assert generator.netG == "unet_64"
    assert downloaded(local_hub.cache_dir) == ["config.json", "model.safetensors"]  # (no README in this folder)
    assert blob_bytes(local_hub.cache_dir) == sum((tiny / name).stat().st_size for name in downloaded(local_hub.cache_dir))


def test_a_repo_that_is_not_a_model_is_refused_before_any_download(local_hub, tmp_path):
    other = tmp_path / "diffusers"
    (other / "unet").mkdir(parents=True)
    (other / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * 3_000_000)
    (other / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    local_hub.add_repo("files/not-a-model", other)
    with pytest.raises(ModelLoadError, match=r"files/not-a-model: no config.json \(it has model_index.json\): not a "
                                             "pix2pix-hub model; nothing was downloaded"):
        load_generator("files/not-a-model")
    assert downloaded(local_hub.cache_dir) == [] and blob_bytes(local_hub.cache_dir) == 0


def test_weights_over_the_cap_and_an_oversize_architecture_are_refused_before_the_weights(local_hub, tiny):
    local_hub.add_repo("files/tiny", tiny)
    size = (tiny / "model.safetensors").stat().st_size
    with pytest.raises(ModelLoadError, match=r"^files/tiny: config.json: a unet_64 generator with ngf 8 needs 1.8 MiB, over this server's limit "
                                             r"of 0.0 MiB per model$"):
        load_generator("files/tiny", max_bytes=1000)  # the architecture, from config.json alone
    assert downloaded(local_hub.cache_dir) == ["config.json"]

    config = json.loads((tiny / "config.json").read_text())
    (tiny / "config.json").write_text(json.dumps({**config, "ngf": 512}))  # 512 beside ngf-8 weights
    local_hub.add_repo("files/big-config", tiny)
    with pytest.raises(ModelLoadError, match=r"ngf 512 needs [\d,.]+ MiB, over this server's limit of 64.0 MiB"):
        load_generator("files/big-config", max_bytes=64 * 2**20)
    assert blob_bytes(local_hub.cache_dir) < size  # the weights never came
    # Without a budget, the same config is refused from the weights' header, still before any allocation.
    with pytest.raises(Exception, match="of another shape"):
        load_generator("files/big-config")


def test_cyclegan_repo_fetches_one_direction_folder(local_hub, tmp_path):
    gens = {d: build_generator("resnet_6blocks", ngf=8, norm="instance") for d in ("AtoB", "BtoA")}
    folder = save_model_folder(tmp_path / "cg", gens, {"model_type": "cyclegan", "resolution": 64})
    local_hub.add_repo("files/cg", folder)
    assert load_generator("files/cg", "BtoA").netG == "resnet_6blocks"
    files = sorted(p.relative_to(next(local_hub.cache_dir.rglob("snapshots/*"))).as_posix()
                   for p in local_hub.cache_dir.rglob("snapshots/*/**/*") if p.is_file())
    assert files == ["BtoA/config.json", "BtoA/model.safetensors", "config.json"]

"""Downloads by name (pix2pix_hub/hub/downloads.py) against a real HTTP server on loopback (tests/download_server.py)
serving archives made here with the real names and layouts: facades.tar.gz (facades/train|val|test, aligned A|B)
and horse2zebra.zip (horse2zebra/trainA|trainB|testA|testB)."""

from __future__ import annotations

import io
import os
import resource
import signal
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from pix2pix_hub.config import DataConfig
from pix2pix_hub.data.datasets import load_image_dataset
from pix2pix_hub.hub import downloads
from pix2pix_hub.hub.downloads import DownloadError, dataset_folder, lookup

from download_server import FileServer, SilentServer, mirror_env, refused_url, tar_gz, zip_bytes
from helpers import ROOT, make_aligned_folder, make_unpaired_folders

FACADES = "/pix2pix/datasets/facades.tar.gz"
HORSES = "/cyclegan/datasets/horse2zebra.zip"


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    made = tmp_path_factory.mktemp("made")
    facades = make_aligned_folder(made / "facades", n=4, size=64, splits=("train", "val", "test"))
    horses = make_unpaired_folders(made / "horse2zebra", n_a=3, n_b=4, size=64)
    return {FACADES: tar_gz(facades, "facades"), HORSES: zip_bytes(horses, "horse2zebra")}


@pytest.fixture
def server(archives, monkeypatch, tmp_path):
    with FileServer(archives) as running:
        for var, value in mirror_env(running.url).items():
            monkeypatch.setenv(var, value)
        monkeypatch.setenv(downloads.CACHE_ENV, str(tmp_path / "cache"))
        yield running


def error_lines(stderr: str) -> list[str]:
    """stderr without the progress bar's lines."""
    return [line for line in stderr.replace("\r", "\n").splitlines() if line.startswith("error:")]


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def test_download_dataset_command_tar_and_zip_once(server, tmp_path, capsys):
    assert downloads.main(["pix2pix:facades", "--output", str(tmp_path / "datasets")]) == 0
    folder = tmp_path / "datasets" / "facades"
    assert {"train", "val", "test"} == {p.name for p in folder.iterdir()}
    assert len(list((folder / "train").glob("*.png"))) == 4
    out = capsys.readouterr().out
    assert f"downloading once from {server.url}{FACADES}" in out and "train/ 4 files" in out
    assert "python train.py --dataset " + str(folder) in out
    assert sorted(p.name for p in (tmp_path / "datasets").iterdir()) == ["facades"]  # no staging folder left
    left = {p.name for p in (tmp_path / "cache" / "downloads").rglob("*")}
    assert left == {"pix2pix", "facades.tar.gz.lock"}, left  # archive and .part gone

    assert downloads.main(["horse2zebra"]) == 0  # into the cache
    cached = tmp_path / "cache" / "datasets" / "cyclegan" / "horse2zebra"
    assert files_under(cached)[:2] == ["testA", "testA/000.png"] and len(list((cached / "trainB").iterdir())) == 4
    assert "--dataset cyclegan:horse2zebra --model cyclegan" in capsys.readouterr().out

    before = list(server.requests)
    assert downloads.main(["pix2pix:facades", "--output", str(tmp_path / "datasets")]) == 0
    assert downloads.main(["horse2zebra"]) == 0
    assert server.requests == before  # downloaded once


def test_bare_name_in_both_lists_unknown_names_and_cityscapes(server, capsys):
    # Issue 27: a bare name both lists hold is the pix2pix dataset (the paper's), with one line naming the other.
    assert downloads.main(["facades"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == ("note: facades is the pix2pix dataset here; for the CycleGAN one run "
                                   "`python -m pix2pix_hub download-dataset cyclegan:facades`")
    assert "downloading once from " + server.url + FACADES in out and server.requests[-1][0] == FACADES
    assert "note:" not in (downloads.main(["pix2pix:facades"]), capsys.readouterr().out)[1]  # prefixed: no note
    server.requests.clear()
    assert downloads.main(["faces"]) == 2
    assert "faces: not one of the reference's datasets: " in capsys.readouterr().err
    assert downloads.main(["cyclegan:cityscapes"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Due to license issue, we cannot provide the Cityscapes dataset" in err
    assert "gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip" in err and "prepare_cityscapes_dataset.py" in err
    assert server.requests == []
    assert lookup("facades", "dataset", prefer="cyclegan").url.endswith("/cyclegan/datasets/facades.zip")
    assert lookup("mini_colorization", "dataset").url == f"{server.url}/cyclegan/datasets/mini_colorization.zip"
    # every name of the four scripts, with the scripts' own URLs when no mirror is set
    for var in mirror_env(server.url):
        os.environ.pop(var)
    assert len(downloads.names("dataset")) == 6 + 15 and len(downloads.names("model")) == 5 + 18
    assert lookup("night2day", "dataset").url == "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/night2day.tar.gz"
    assert lookup("style_monet", "model").url == "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models/style_monet.pth"
    assert lookup("day2night", "model").url == "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch/day2night.pth"


def test_a_dropped_connection_resumes_with_range(server, archives, tmp_path):
    size = len(archives[FACADES])
    server.drop_after[FACADES], server.drops_left = size // 3, 1
    folder = dataset_folder(lookup("pix2pix:facades", "dataset"), tmp_path)  # one call: dropped, then resumed
    assert server.paths_requested(FACADES) == [None, f"bytes={size // 3}-"]
    assert len(list((folder / "train").iterdir())) == 4


def test_interrupted_download_is_kept_and_resumed_by_the_next_run(server, archives, tmp_path):
    size = len(archives[FACADES])
    server.drop_after[FACADES], server.drops_left = size // 4, 1
    with pytest.raises(DownloadError) as error:
        monkey_attempts(1, lambda: dataset_folder(lookup("pix2pix:facades", "dataset"), tmp_path))
    message = str(error.value)
    assert "the connection broke 1 times" in message and "run the same command again to resume" in message
    part = tmp_path / "cache" / "downloads" / "pix2pix" / "facades.tar.gz.part"
    assert part.read_bytes() == archives[FACADES][: size // 4]
    assert not (tmp_path / "facades").exists()  # nothing half-written is used

    folder = dataset_folder(lookup("pix2pix:facades", "dataset"), tmp_path)
    assert server.paths_requested(FACADES)[-1] == f"bytes={size // 4}-"  # resumed, not started over
    assert len(list((folder / "val").iterdir())) == 2 and not part.exists()


def monkey_attempts(n: int, call):
    saved, downloads.ATTEMPTS = downloads.ATTEMPTS, n
    try:
        return call()
    finally:
        downloads.ATTEMPTS = saved


def test_a_server_that_ignores_range_starts_over(server, archives, tmp_path):
    part = tmp_path / "cache" / "downloads" / "pix2pix" / "facades.tar.gz.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(archives[FACADES][:1000])
    server.ignore_range = True
    folder = dataset_folder(lookup("pix2pix:facades", "dataset"), tmp_path)
    assert server.paths_requested(FACADES) == ["bytes=1000-"]  # asked to resume, got the whole file: not appended
    assert len(list((folder / "train").iterdir())) == 4


def test_404_and_a_server_that_is_down(server, tmp_path, monkeypatch, capsys):
    del server.files[HORSES]
    assert downloads.main(["horse2zebra"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"error: {server.url}{HORSES} is not on the server (HTTP 404): it may have moved; point "
                   "PIX2PIX_HUB_CYCLEGAN_DATASETS_URL at a mirror that has horse2zebra.zip")

    monkeypatch.setenv("PIX2PIX_HUB_CYCLEGAN_DATASETS_URL", refused_url())
    assert downloads.main(["horse2zebra"]) == 2
    err = capsys.readouterr().err
    assert "(connection refused): the server may be down" in err and "PIX2PIX_HUB_CYCLEGAN_DATASETS_URL" in err

    monkeypatch.setenv(downloads.TIMEOUT_ENV, "0.5")
    with SilentServer() as hanging:
        monkeypatch.setenv("PIX2PIX_HUB_CYCLEGAN_DATASETS_URL", hanging)
        assert downloads.main(["horse2zebra"]) == 2
    err = error_lines(capsys.readouterr().err)
    assert len(err) == 1 and "(no answer in 0.5 s): the server may be down" in err[0]
    assert not (tmp_path / "cache" / "datasets").exists()


def tar_with(member: tarfile.TarInfo, data: bytes = b"x") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        ok = tarfile.TarInfo("facades/train/ok.txt")
        ok.size = 1
        tar.addfile(ok, io.BytesIO(b"x"))
        member.size = len(data) if member.isfile() else 0
        tar.addfile(member, io.BytesIO(data) if member.isfile() else None)
    return buffer.getvalue()


def link(name: str, target: str, kind=tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize("member, why", [
    (tarfile.TarInfo("facades/../../escaped.txt"), "outside"),
    (tarfile.TarInfo("/tmp/pix2pix-hub-absolute.txt"), "absolute"),
    (link("facades/up", "../../../escaped.txt"), "outside"),
    (link("facades/etc", "/etc/passwd"), "absolute"),
    (link("facades/hard", "../../escaped.txt", tarfile.LNKTYPE), "outside"),
])
def test_tar_members_outside_the_target_are_refused(server, tmp_path, member, why):
    server.files[FACADES] = tar_with(member)
    with pytest.raises(DownloadError) as error:
        dataset_folder(lookup("pix2pix:facades", "dataset"), tmp_path / "out")
    assert "refused, nothing unpacked" in str(error.value) and why in str(error.value).lower(), error.value
    assert not (tmp_path / "out" / "facades").exists() and list((tmp_path / "out").iterdir()) == []
    assert not list(tmp_path.rglob("escaped.txt")) and not Path("/tmp/pix2pix-hub-absolute.txt").exists()
    assert not list((tmp_path / "cache" / "downloads").rglob("facades.tar.gz"))  # the bad archive is deleted


@pytest.mark.parametrize("name, why", [("horse2zebra/../../escaped.txt", "'..'"), ("/abs/escaped.txt", "absolute"),
                                       ("C:/escaped.txt", "absolute"), ("horse2zebra/link", "symbolic link")])
def test_zip_members_outside_the_target_are_refused(server, tmp_path, name, why):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("horse2zebra/trainA/ok.txt", b"x")
        info = zipfile.ZipInfo(name)
        if why == "symbolic link":
            info.external_attr = 0o120777 << 16
        archive.writestr(info, b"../../escaped.txt")
    server.files[HORSES] = buffer.getvalue()
    with pytest.raises(DownloadError) as error:
        dataset_folder(lookup("horse2zebra", "dataset"), tmp_path / "out")
    assert "refused, nothing unpacked" in str(error.value) and why in str(error.value), error.value
    assert list((tmp_path / "out").iterdir()) == [] and not list(tmp_path.rglob("escaped.txt"))


@pytest.mark.parametrize("path", [FACADES, HORSES])
def test_a_corrupt_archive_is_one_line_and_downloaded_anew(server, archives, tmp_path, path, capsys):
    good = archives[path]
    server.files[path] = good[: len(good) // 2] + bytes(len(good) // 2)  # the right length, the second half zeros
    name = "pix2pix:facades" if path == FACADES else "horse2zebra"
    assert downloads.main([name, "--output", str(tmp_path / "out")]) == 2
    err = error_lines(capsys.readouterr().err)
    assert len(err) == 1 and "is a corrupt archive" in err[0] and "download it anew" in err[0], err
    assert list((tmp_path / "out").iterdir()) == []
    server.files[path] = good
    assert downloads.main([name, "--output", str(tmp_path / "out")]) == 0
    assert len(server.paths_requested(path)) == 2


def limit_file_size(max_bytes: int):
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails (EFBIG, as ENOSPC) instead of killing us
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return apply


def test_a_full_disk_is_one_line_and_the_next_run_continues(server, archives, tmp_path):
    env = {**os.environ, **mirror_env(server.url), downloads.CACHE_ENV: str(tmp_path / "cache")}
    # downloads.py (and errors.py) without the package's __init__, so the subprocess starts without torch
    loader = ("import sys, types; package = sys.modules['pix2pix_hub'] = types.ModuleType('pix2pix_hub'); "
              "package.__path__ = ['pix2pix_hub']; from pix2pix_hub.hub.downloads import main; "
              "sys.exit(main(['pix2pix:facades']))")
    command = [sys.executable, "-c", loader]
    limit = len(archives[FACADES]) // 2
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                            preexec_fn=limit_file_size(limit))
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith("error: disk full while writing") and "File too large" in line and "PIX2PIX_HUB_CACHE" in line
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "cache" / "datasets" / "pix2pix" / "facades").exists()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert server.paths_requested(FACADES)[-1] == f"bytes={limit}-"  # kept what fitted, resumed from there


def test_train_py_dataset_facades_downloads_once_and_trains(server, tmp_path):
    """`--dataset facades`: not a folder, not a Hub id: the reference's pix2pix facades, downloaded into the cache."""
    env = {**os.environ, **mirror_env(server.url), downloads.CACHE_ENV: str(tmp_path / "cache"),
           "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    tiny = ["--netG", "unet_64", "--ngf", "8", "--ndf", "8", "--load_size", "64", "--resolution", "64",
            "--report_to", "none", "--max_steps", "2", "--num_validation_images", "1", "--validation_steps", "100"]

    server.files["/cyclegan/datasets/facades.zip"] = zip_bytes(make_unpaired_folders(tmp_path / "cf", 2, 2), "facades")

    def train(out: Path) -> list[str]:
        result = subprocess.run([sys.executable, "train.py", "--dataset", "facades", "--output_dir", str(out), *tiny],
                                cwd=tmp_path, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert (out / "model.safetensors").is_file()
        return result.stdout.splitlines()

    (tmp_path / "train.py").write_bytes((ROOT / "train.py").read_bytes())  # run from a folder without ./facades
    first = train(tmp_path / "run1")
    assert first[0] == (f"pix2pix:facades: the reference's pix2pix dataset, downloading once from {server.url}{FACADES} "
                        f"into {tmp_path / 'cache' / 'datasets' / 'pix2pix' / 'facades'}"), first[:2]
    folder = tmp_path / "cache" / "datasets" / "pix2pix" / "facades" / "train"
    assert first[1].startswith(f"aligned A|B images in {folder} (the reference's pix2pix dataset facades, "
                               f"{server.url}{FACADES}): 4 paired items"), first[:2]
    # the next run reads the cache (what train.py's first line says then), in-process for speed
    dataset = load_image_dataset(DataConfig(dataset="facades", load_size=64, resolution=64), paired=True)
    assert dataset.description.startswith(first[1].split(";")[0])
    unpaired = load_image_dataset(DataConfig(dataset="facades", load_size=64, resolution=64), paired=False)
    assert "/cyclegan/datasets/facades.zip" in unpaired.description  # CycleGAN's copy (trainA/trainB) for unpaired recipes
    assert server.paths_requested(FACADES) == [None]  # downloaded once

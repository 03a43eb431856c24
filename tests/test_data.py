"""load_image_dataset: every layout of the README's table, and bad data giving one clear line or a counted skip."""

import io
import os
import subprocess
import sys

import datasets
import numpy as np
import pytest
import torch
from PIL import Image

from pix2pix_hub.config import DataConfig
from pix2pix_hub.data.datasets import DataError, load_image_dataset

from helpers import (
    ROOT,
    bomb,
    make_ab_folders,
    make_aligned_folder,
    make_metadata_folder,
    make_pair,
    make_parquet_dataset,
    make_unpaired_folders,
    side_by_side,
)
from hub_server import set_offline

SMALL = dict(load_size=36, resolution=32)


@pytest.fixture
def datasets_cache(monkeypatch, tmp_path):
    """`datasets` writes an Arrow cache for folders it reads: keep it in the test's tmp_path."""
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "datasets-cache")


def check_items(dataset, n: int, size: int = 32):
    assert len(dataset) == n
    item = dataset[0]
    assert item["A"].shape == item["B"].shape == (3, size, size) and item["A"].dtype == torch.float32
    assert -1 <= item["A"].min() and item["B"].max() <= 1


# -- every layout of the README's table -----------------------------------------------------------
def test_aligned_folder(tmp_path):
    root = make_aligned_folder(tmp_path / "facades", n=4, size=32)
    dataset = load_image_dataset(DataConfig(dataset=str(root), **SMALL), paired=True)
    check_items(dataset, 4)
    assert "aligned A|B images" in dataset.description
    assert len(load_image_dataset(DataConfig(dataset=str(root), **SMALL), paired=True, split="val", train=False)) == 2
    with pytest.raises(DataError, match="has no test/ folder"):
        load_image_dataset(DataConfig(dataset=str(root), split="test", **SMALL), paired=True)


def test_ab_folders_pair_by_name(tmp_path):
    root = make_ab_folders(tmp_path / "pairs", n=3, size=32)
    dataset = load_image_dataset(DataConfig(dataset=str(root), no_flip=True, preprocess="none"), paired=True)
    check_items(dataset, 3)
    first = int(dataset.order(3, 0)[0])  # the shuffled first item is that pair: its A (PNG) with its own B (JPEG)
    pairs = [[torch.from_numpy(np.asarray(x, np.float32).transpose(2, 0, 1) / 127.5 - 1) for x in make_pair(i, 32)]
             for i in range(3)]
    assert torch.allclose(dataset[0]["A"], pairs[first][0])
    assert min(range(3), key=lambda i: (dataset[0]["B"] - pairs[i][1]).abs().mean()) == first


def test_metadata_csv_folder(tmp_path, datasets_cache):
    root = make_metadata_folder(tmp_path / "meta", n=3, size=32)
    check_items(load_image_dataset(DataConfig(dataset=str(root), **SMALL), paired=True), 3)


def test_parquet_folder(tmp_path, datasets_cache):
    root = make_parquet_dataset(tmp_path / "downloaded", n=3, size=32)
    dataset = load_image_dataset(DataConfig(dataset=str(root), **SMALL), paired=True)
    check_items(dataset, 3)
    assert "datasets folder" in dataset.description


def test_unpaired_layouts(tmp_path):
    root = make_unpaired_folders(tmp_path / "h2z", n_a=2, n_b=3, size=32)
    dataset = load_image_dataset(DataConfig(dataset=str(root), **SMALL), paired=False)
    assert (dataset.num_a, dataset.num_b) == (2, 3)
    check_items(dataset, 3)
    two = DataConfig(dataset_a=str(root / "trainA"), dataset_b=str(root / "trainB"), **SMALL)
    assert (load_image_dataset(two, paired=False).num_a, load_image_dataset(two, paired=False).num_b) == (2, 3)
    with pytest.raises(DataError, match="aligned A.B images are paired data; for CycleGAN use trainA/ \\+ trainB/"):
        load_image_dataset(DataConfig(dataset=str(make_aligned_folder(tmp_path / "f", n=2, size=32)), **SMALL), paired=False)


def serve(local_hub, tmp_path, repo_id: str, rows: dict) -> str:
    table = datasets.Dataset.from_dict(rows)
    for column, values in rows.items():
        if isinstance(values[0], Image.Image):
            table = table.cast_column(column, datasets.Image())
    (tmp_path / repo_id / "data").mkdir(parents=True)
    table.to_parquet(str(tmp_path / repo_id / "data" / "train-00000-of-00001.parquet"))
    local_hub.add_repo(repo_id, tmp_path / repo_id, repo_type="dataset")
    return repo_id


def test_hub_dataset_two_columns_and_domain_column(local_hub, tmp_path):
    pairs = [make_pair(i, 32) for i in range(3)]
    repo = serve(local_hub, tmp_path, "data/pairs", {"imageA": [a for a, _ in pairs], "imageB": [b for _, b in pairs]})
    check_items(load_image_dataset(DataConfig(dataset=repo, **SMALL), paired=True), 3)

    images = [a for a, _ in pairs] + [b for _, b in pairs]
    repo = serve(local_hub, tmp_path, "data/domains", {"image": images, "domain": ["horse"] * 3 + ["zebra"] * 3})
    config = DataConfig(dataset=repo, domain_column="domain", image_column_a="image", **SMALL)
    dataset = load_image_dataset(config, paired=False, domain_names=("horse", "zebra"))
    assert (dataset.num_a, dataset.num_b) == (3, 3)
    with pytest.raises(DataError, match=r"values \['horse', 'zebra'\] are neither \('cat', 'dog'\) nor 0/1; set --domain_a_name"):
        load_image_dataset(config, paired=False, domain_names=("cat", "dog"))

    # two Hub ids, --dataset_a/--dataset_b: a one-domain dataset without the named column gives its image column
    two = DataConfig(dataset_a="data/domains", dataset_b="data/pairs", **SMALL)
    dataset = load_image_dataset(two, paired=False)
    assert (dataset.num_a, dataset.num_b) == (6, 3)


# -- data that cannot be used: clear errors --------------------------------------------------------
def test_empty_folder_and_folder_without_images(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: no images found. Accepted layouts: a Hub dataset id"):
        load_image_dataset(DataConfig(dataset=str(tmp_path / "empty")), paired=True)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no pictures here")
    with pytest.raises(DataError, match="no images found"):
        load_image_dataset(DataConfig(dataset=str(tmp_path / "notes")), paired=True)
    with pytest.raises(DataError, match="no such folder, and not a Hub id"):
        load_image_dataset(DataConfig(dataset=str(tmp_path / "absent")), paired=True)


def test_unmatched_and_mismatched_pairs(tmp_path):
    root = make_ab_folders(tmp_path / "pairs", n=3, size=32)
    (root / "B" / "001.jpg").rename(root / "B" / "other.jpg")
    with pytest.raises(DataError, match="2 file names have no partner .e.g. 001.; paired folders need the same names"):
        load_image_dataset(DataConfig(dataset=str(root)), paired=True)
    (root / "B" / "other.jpg").rename(root / "B" / "001.jpg")
    Image.new("RGB", (48, 32)).save(root / "B" / "001.jpg")  # a wider B than its A
    config = DataConfig(dataset=str(root), preprocess="none")
    with pytest.raises(DataError) as error:
        load_image_dataset(config, paired=True)
    assert str(error.value) == (f"{root / 'B' / '001.jpg'}: 48x32 but its A partner {root / 'A' / '001.png'} is 32x32 after "
                                "--preprocess none; paired images need the same size: resize one, or use --preprocess "
                                "resize_and_crop (or pass --on_bad_image skip)")
    config.on_bad_image = "skip"
    assert len(load_image_dataset(config, paired=True)) == 2
    check_items(load_image_dataset(DataConfig(dataset=str(root), **SMALL), paired=True), 3)  # both resized: fine


def test_hub_dataset_with_wrong_column_names(local_hub, tmp_path):
    pairs = [make_pair(i, 32) for i in range(2)]
    repo = serve(local_hub, tmp_path, "data/renamed", {"input": [a for a, _ in pairs], "target": [b for _, b in pairs]})
    with pytest.raises(DataError, match=r"^no column 'imageA': the dataset has \['input', 'target'\] \(image columns: "
                                        r"\['input', 'target'\]\); pass --image_column_a/--image_column_b$"):
        load_image_dataset(DataConfig(dataset=repo), paired=True)
    config = DataConfig(dataset=repo, image_column_a="input", image_column_b="target", **SMALL)
    check_items(load_image_dataset(config, paired=True), 2)


def test_unreachable_hub_id_when_offline(local_hub, monkeypatch):
    set_offline(monkeypatch)
    with pytest.raises(DataError) as error:
        load_image_dataset(DataConfig(dataset="data/never-downloaded"), paired=True)
    message = str(error.value)
    assert "\n" not in message and message.startswith("data/never-downloaded: could not load this dataset")
    assert "check the id and the network (HF_HUB_OFFLINE, HF_ENDPOINT), or pass a local folder" in message


# -- bad image files: one clear line, or a counted skip ---------------------------------------------
def write_bad(kind: str, path):
    """One bad file of each kind, in an aligned A|B folder."""
    if kind == "truncated JPEG":
        buffer = io.BytesIO()
        side_by_side(*make_pair(0, 32)).save(buffer, "JPEG")
        path.with_suffix(".jpg").write_bytes(buffer.getvalue()[:400])
        return path.with_suffix(".jpg"), "cannot be decoded"
    if kind == "0-byte file":
        path.touch()
        return path, "empty (0 bytes)"
    if kind == "1x1 image":
        Image.new("RGB", (1, 1)).save(path)
        return path, "1x1 is too small"
    if kind == "decompression bomb":
        return bomb(path), "decompression bomb"
    if kind == "odd width A|B":
        Image.new("RGB", (65, 32)).save(path)
        return path, "an aligned A|B image of odd width 65 cannot be split into equal halves; crop it to an even width"
    raise ValueError(kind)


BAD_KINDS = ["truncated JPEG", "0-byte file", "1x1 image", "decompression bomb", "odd width A|B"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_file_error_names_it_and_says_what_to_do(tmp_path, kind):
    root = make_aligned_folder(tmp_path / "facades", n=3, size=32, splits=("train",))
    bad, problem = write_bad(kind, root / "train" / "zz-bad.png")
    with pytest.raises(DataError) as error:
        load_image_dataset(DataConfig(dataset=str(root), **SMALL), paired=True)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"{bad}: ") and problem in message, message
    assert message.endswith(" (or pass --on_bad_image skip)")


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_file_skipped_and_counted(tmp_path, kind):
    root = make_aligned_folder(tmp_path / "facades", n=3, size=32, splits=("train",))
    bad, problem = write_bad(kind, root / "train" / "zz-bad.png")
    dataset = load_image_dataset(DataConfig(dataset=str(root), on_bad_image="skip", **SMALL), paired=True)
    check_items(dataset, 3)
    assert [name for name, _ in dataset.bad_images] == [str(bad)] and problem in dataset.bad_images[0][1]
    assert dataset.description.endswith("3 paired items, 1 unreadable image(s) skipped")


def test_bad_file_met_during_training_in_a_large_dataset(tmp_path, monkeypatch):
    """Datasets over EAGER_CHECK_LIMIT images are not checked up front: a bad file is met when its item is read."""
    import pix2pix_hub.data.datasets
    monkeypatch.setattr(pix2pix_hub.data.datasets, "EAGER_CHECK_LIMIT", 0)
    root = make_aligned_folder(tmp_path / "facades", n=3, size=32, splits=("train",))
    bad, _ = write_bad("truncated JPEG", root / "train" / "000.png")
    (root / "train" / "000.png").unlink()
    config = DataConfig(dataset=str(root), serial_batches=True, **SMALL)
    with pytest.raises(DataError, match=f"^{bad}: cannot be decoded .* \\(or pass --on_bad_image skip\\)$"):
        load_image_dataset(config, paired=True)[0]
    config.on_bad_image = "skip"
    dataset = load_image_dataset(config, paired=True)
    assert len(dataset) == 3 and torch.equal(dataset[0]["A"], dataset[1]["A"]) and dataset[0]["index"] == 0
    assert [name for name, _ in dataset.bad_images] == [str(bad)] * 2


def test_only_bad_files(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").touch()
    with pytest.raises(DataError, match=r"no usable images \(1 unreadable\)"):
        load_image_dataset(DataConfig(dataset=str(tmp_path / "bad"), on_bad_image="skip"), paired=True)


def test_unusual_but_good_files_are_converted_not_rejected(tmp_path):
    """CMYK, 16-bit, RGBA, palette and grayscale files in A/ and B/ folders all train, as RGB."""
    root = tmp_path / "pairs"
    (root / "A").mkdir(parents=True)
    (root / "B").mkdir()
    Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(root / "A" / "0.jpg")
    Image.fromarray(np.full((32, 32), 65535, np.uint16)).save(root / "A" / "1.png")
    Image.new("RGBA", (32, 32), (0, 0, 0, 0)).save(root / "A" / "2.png")
    palette = Image.new("P", (32, 32), 0)
    palette.putpalette([0, 0, 255] + [0] * 765)
    palette.save(root / "A" / "3.png")
    Image.new("L", (32, 32), 0).save(root / "A" / "4.png")
    for i in range(5):
        Image.new("RGB", (32, 32), "gray").save(root / "B" / f"{i}.png")
    dataset = load_image_dataset(DataConfig(dataset=str(root), serial_batches=True, preprocess="none", no_flip=True),
                                 paired=True)
    colours = [tuple(round(float(v), 2) for v in dataset[i]["A"][:, 0, 0]) for i in range(5)]
    assert colours[0][0] > 0.95 and colours[0][1] < -0.95  # CMYK red -> RGB red
    assert colours[1:] == [(1.0, 1.0, 1.0), (1.0, 1.0, 1.0), (-1.0, -1.0, 1.0), (-1.0, -1.0, -1.0)]  # 16-bit white,
    # transparent -> white, palette blue, grayscale black


def test_train_py_summary_of_skipped_images_and_error_line(tmp_path):
    root = make_aligned_folder(tmp_path / "facades", n=3, size=32)
    write_bad("truncated JPEG", root / "train" / "zz-bad.png")
    command = [sys.executable, str(ROOT / "train.py"), "--dataset", str(root), "--output_dir", str(tmp_path / "o"),
               "--netG", "unet_32", "--ngf", "4", "--ndf", "4", "--load_size", "36", "--resolution", "32",
               "--report_to", "none", "--num_validation_images", "1", "--max_steps", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    failed = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert failed.returncode == 2 and failed.stderr.count("\n") == 1, failed.stderr[-2000:]
    assert failed.stderr.startswith(f"error: {root / 'train' / 'zz-bad.jpg'}: cannot be decoded")
    assert failed.stderr.strip().endswith("(or pass --on_bad_image skip)")
    skipped = subprocess.run(command + ["--on_bad_image", "skip"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert skipped.returncode == 0, skipped.stderr[-3000:]
    assert f"skipped 1 unreadable image(s), e.g. {root / 'train' / 'zz-bad.jpg'}: " in skipped.stdout
    assert "3 paired items, 1 unreadable image(s) skipped" in skipped.stdout

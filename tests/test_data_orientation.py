"""EXIF orientation tags on real JPEG files: aligned A|B files are split as stored (as the reference, which
never reads EXIF), a pair of separate A and B files is turned alike, and the summary counts what was done."""

import numpy as np
from PIL import Image

from pix2pix_hub.config import DataConfig
from pix2pix_hub.data.datasets import load_image_dataset
from pix2pix_hub.data.images import open_image

ROTATE_270 = 6  # EXIF: "rotate 90° clockwise to display" (a phone held upright)
AS_STORED = dict(preprocess="none", no_flip=True, serial_batches=True)


def two_colours(size: tuple[int, int], top, bottom) -> Image.Image:
    """Top half one colour, bottom half another: which way it was turned shows in the pixels."""
    image = Image.new("RGB", size, top)
    image.paste(Image.new("RGB", (size[0], size[1] // 2), bottom), (0, size[1] // 2))
    return image


def save_jpeg(image: Image.Image, path, tag: int | None):
    exif = Image.Exif()
    if tag is not None:
        exif[0x0112] = tag
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=95, exif=exif.tobytes())
    assert Image.open(path).getexif().get(0x0112) == tag  # the tag really is in the file
    return path


def colour(tensor, x: float, y: float):
    """The RGB (0-255) at fractions (x, y) of a CHW tensor in [-1, 1]."""
    _, h, w = tensor.shape
    return tuple(((tensor[:, int(y * (h - 1)), int(x * (w - 1))] + 1) * 127.5).round().int().tolist())


def near(a, b, tol=24):
    return all(abs(p - q) <= tol for p, q in zip(a, b))


RED, BLUE, GREEN, YELLOW = (220, 30, 30), (30, 30, 220), (30, 200, 30), (230, 220, 30)


def test_aligned_file_is_split_as_stored(tmp_path):
    # A = red over blue, B = green over yellow, side by side: 64x32 stored, tagged "rotate to display".
    joined = Image.new("RGB", (64, 32))
    joined.paste(two_colours((32, 32), RED, BLUE), (0, 0))
    joined.paste(two_colours((32, 32), GREEN, YELLOW), (32, 0))
    save_jpeg(joined, tmp_path / "aligned" / "0.jpg", ROTATE_270)
    # The failing contrast: applying the tag first turns it into 32x64, whose halves would mix A and B.
    assert open_image(tmp_path / "aligned" / "0.jpg").size == (32, 64)

    dataset = load_image_dataset(DataConfig(dataset=str(tmp_path / "aligned"), **AS_STORED), paired=True, train=False)
    item = dataset[0]
    assert item["A"].shape == item["B"].shape == (3, 32, 32)
    assert near(colour(item["A"], 0.5, 0.1), RED) and near(colour(item["A"], 0.5, 0.9), BLUE)
    assert near(colour(item["B"], 0.5, 0.1), GREEN) and near(colour(item["B"], 0.5, 0.9), YELLOW)
    assert "EXIF orientation tags: 1 ignored (aligned A|B files are split as stored" in dataset.description


def test_separate_a_and_b_files_are_turned_alike(tmp_path):
    root = tmp_path / "pairs"
    # Pair 0: both tagged alike -> both turned (red-over-blue becomes blue-left/red-right... as a viewer shows).
    save_jpeg(two_colours((48, 32), RED, BLUE), root / "A" / "0.jpg", ROTATE_270)
    save_jpeg(two_colours((48, 32), GREEN, YELLOW), root / "B" / "0.jpg", ROTATE_270)
    # Pair 1: only B tagged -> turning B alone would misalign the pair: both are used as stored.
    save_jpeg(two_colours((48, 32), RED, BLUE), root / "A" / "1.jpg", None)
    save_jpeg(two_colours((48, 32), GREEN, YELLOW), root / "B" / "1.jpg", ROTATE_270)
    dataset = load_image_dataset(DataConfig(dataset=str(root), **AS_STORED), paired=True, train=False)

    turned = dataset[0]
    assert turned["A"].shape == turned["B"].shape == (3, 48, 32)  # 48 wide, 32 high stored -> 32 wide, 48 high
    # ROTATE_270 (PIL's counter-clockwise 270 = clockwise 90): the stored top lands on the right.
    assert near(colour(turned["A"], 0.9, 0.5), RED) and near(colour(turned["A"], 0.1, 0.5), BLUE)
    assert near(colour(turned["B"], 0.9, 0.5), GREEN) and near(colour(turned["B"], 0.1, 0.5), YELLOW)

    stored = dataset[1]
    assert stored["A"].shape == stored["B"].shape == (3, 32, 48)
    assert near(colour(stored["B"], 0.5, 0.1), GREEN) and near(colour(stored["B"], 0.5, 0.9), YELLOW)
    assert "EXIF orientation tags: 2 applied, 1 ignored" in dataset.description, dataset.description


def test_unpaired_images_are_shown_as_tagged_and_untagged_ones_are_not_counted(tmp_path):
    root = tmp_path / "unpaired"
    save_jpeg(two_colours((48, 32), RED, BLUE), root / "trainA" / "0.jpg", ROTATE_270)
    save_jpeg(two_colours((48, 32), GREEN, YELLOW), root / "trainB" / "0.jpg", None)
    dataset = load_image_dataset(DataConfig(dataset=str(root), **AS_STORED), paired=False, train=False)
    item = dataset[0]
    assert item["A"].shape == (3, 48, 32) and item["B"].shape == (3, 32, 48)
    assert near(colour(item["A"], 0.9, 0.5), RED)
    assert dataset.description.endswith("EXIF orientation tags: 1 applied"), dataset.description


def test_open_image_reports_the_tag_either_way(tmp_path):
    path = save_jpeg(two_colours((48, 32), RED, BLUE), tmp_path / "x.jpg", 8)
    applied, ignored = open_image(path), open_image(path, orientation="ignore")
    assert applied.size == (32, 48) and ignored.size == (48, 32)
    assert applied.info["exif_orientation"] == ignored.info["exif_orientation"] == 8
    assert np.array_equal(np.asarray(ignored.rotate(90, expand=True)), np.asarray(applied))

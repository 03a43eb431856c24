import subprocess
import sys

import numpy as np
from PIL import Image, ImageDraw

from pix2pix_hub.make_dataset import make_paired_dataset, to_edges, to_segments
from pix2pix_hub.palette import SEGMENT_PALETTE, palette_array


def landscape(size=(320, 240)) -> Image.Image:
    """Sky gradient over noisy green ground with a dark blob: a stand-in photo."""
    rng = np.random.default_rng(0)
    w, h = size
    image = np.zeros((h, w, 3), np.float32)
    image[: h // 2] = np.linspace([90, 160, 235], [170, 210, 250], h // 2)[:, None]
    image[h // 2:] = [90, 170, 70]
    image += rng.normal(0, 6, image.shape)
    photo = Image.fromarray(image.clip(0, 255).astype(np.uint8))
    ImageDraw.Draw(photo).ellipse([40, 140, 120, 200], fill=(30, 90, 40))
    return photo


def test_segments_use_only_the_palette_and_follow_the_photo():
    segments = to_segments(np.asarray(landscape()))
    colours = {tuple(c) for c in segments.reshape(-1, 3)}
    assert colours <= {tuple(c) for c in palette_array()}
    sky = tuple(int(SEGMENT_PALETTE["sky"][i:i + 2], 16) for i in (1, 3, 5))
    assert tuple(segments[10, 10]) == sky and tuple(segments[-10, -10]) != sky


def test_edges_are_black_lines_on_white():
    edges = to_edges(np.asarray(landscape()))
    ink = (edges[:, :, 0] == 0).mean()
    assert set(np.unique(edges)) <= {0, 255} and 0.002 < ink < 0.2


def test_dataset_layout(tmp_path):
    (tmp_path / "photos").mkdir()
    landscape().save(tmp_path / "photos" / "a.jpg")
    landscape((256, 400)).save(tmp_path / "photos" / "b.png")
    counts = make_paired_dataset(tmp_path / "photos", tmp_path / "out", "segments", size=64, crops_per_image=4, val_fraction=0.3)
    assert counts["train"] + counts["val"] == 8
    pair = Image.open(next((tmp_path / "out" / "train").glob("*.png")))
    assert pair.size == (128, 64)


def test_cli_error_on_empty_input(tmp_path):
    (tmp_path / "empty").mkdir()
    result = subprocess.run([sys.executable, "-m", "pix2pix_hub", "make-dataset", "--input", str(tmp_path / "empty"),
                             "--output", str(tmp_path / "o")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.strip().startswith("error:") and "no photos" in result.stderr

import subprocess
import sys

import numpy as np
from PIL import Image, ImageDraw

from pix2pix_hub.data.make_dataset import make_paired_dataset, to_edges, to_landscape_segments, to_segments
from pix2pix_hub.data.palette import SEGMENT_PALETTE, palette_array


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


def rgb(name):
    return tuple(int(SEGMENT_PALETTE[name][i:i + 2], 16) for i in (1, 3, 5))


def shaded_landscape() -> np.ndarray:
    """A hazy sky over a far shore (a thin dark line), a grey-teal lake and a yellowish-olive meadow, with a speck:
    the lake and the meadow sit nearer other crayons (rock, earth) than the ones they mean."""
    rng = np.random.default_rng(0)
    image = np.zeros((192, 256, 3), np.float32)
    image[:80] = [175, 195, 215]
    image[80:130] = [70, 100, 105]
    image[130:] = [130, 145, 60]
    image[79:82] = [40, 50, 40]
    image += rng.normal(0, 4, image.shape)
    image[150:153, 20:23] = [250, 250, 250]  # specks smaller than a painted blob
    return image.clip(0, 255).astype(np.uint8)


def test_landscape_segments_paint_what_regions_show():
    """Sky, water and grass by what they are; the nearest-colour kind, the failing contrast, gets each wrong."""
    photo = shaded_landscape()
    meaning = to_landscape_segments(photo)
    assert (tuple(meaning[20, 128]), tuple(meaning[105, 128]), tuple(meaning[170, 128])) == (
        rgb("sky"), rgb("water"), rgb("grass"))
    colours = to_segments(photo)
    assert (tuple(colours[105, 128]), tuple(colours[170, 128])) == (rgb("rock"), rgb("earth"))
    assert {tuple(c) for c in meaning.reshape(-1, 3)} <= {tuple(c) for c in palette_array()}
    assert tuple(meaning[151, 21]) == rgb("grass") and tuple(meaning[80, 128]) in (rgb("sky"), rgb("water")), \
        "a speck or the thin shore survived as its own region"
    photo[130:] = (200, 170, 70)  # dry, golden grass is not the meadow the green crayon means
    assert tuple(to_landscape_segments(photo)[170, 128]) == rgb("earth")


def test_landscape_segments_sky_and_water_by_place_not_by_a_line():
    """One blue from top to bottom is one region: all sky, no horizon drawn at a fixed height; the same blue
    only in the lower part (under grass) is water."""
    blue = np.full((128, 128, 3), (110, 160, 220), np.uint8)
    assert {tuple(c) for c in to_landscape_segments(blue).reshape(-1, 3)} == {rgb("sky")}
    lake = blue.copy()
    lake[:70] = (90, 170, 70)
    lake_segments = to_landscape_segments(lake)
    assert tuple(lake_segments[120, 64]) == rgb("water") and tuple(lake_segments[10, 64]) == rgb("grass")


def test_edges_are_black_lines_on_white():
    edges = to_edges(np.asarray(landscape()))
    ink = (edges[:, :, 0] == 0).mean()
    assert set(np.unique(edges)) <= {0, 255} and 0.002 < ink < 0.2


def test_dataset_layout(tmp_path):
    (tmp_path / "photos").mkdir()
    landscape().save(tmp_path / "photos" / "a.jpg")
    landscape((256, 400)).save(tmp_path / "photos" / "b.png")
    for kind in ("segments", "landscape"):
        counts = make_paired_dataset(tmp_path / "photos", tmp_path / kind, kind, size=64, crops_per_image=4,
                                     val_fraction=0.3)
        assert counts["train"] + counts["val"] == 8
    pair = Image.open(next((tmp_path / "landscape" / "train").glob("*.png")))
    assert pair.size == (128, 64)


def test_cli_error_on_empty_input(tmp_path):
    (tmp_path / "empty").mkdir()
    result = subprocess.run([sys.executable, "-m", "pix2pix_hub", "make-dataset", "--input", str(tmp_path / "empty"),
                             "--output", str(tmp_path / "o")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.strip().startswith("error:") and "no photos" in result.stderr


def make_dataset(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pix2pix_hub", "make-dataset", "--kind", "edges", "--size", "32",
                           "--crops-per-image", "2", *map(str, args)], capture_output=True, text=True, timeout=120)


def test_a_dataset_never_feeds_on_itself_or_replaces_a_users_file(tmp_path):
    """Issue 30 (4): `--input pairs/A --output pairs/A` run twice made 72 pairs, then 936 (it read its own train/)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    landscape().save(photos / "a.jpg")
    landscape((256, 400)).save(photos / "b.png")
    (photos / "broken.png").write_bytes(b"not a png")
    (photos / "notes.txt").write_text("mine")
    result = make_dataset("--input", photos, "--output", photos)
    assert result.returncode == 2 and "holds the input" not in result.stderr and "is the input" in result.stderr
    assert sorted(p.name for p in photos.iterdir()) == ["a.jpg", "b.png", "broken.png", "notes.txt"]
    inside = photos / "dataset"  # an output folder inside the input folder: made, and never read back
    for _ in range(2):
        result = make_dataset("--input", photos, "--output", inside)
        assert result.returncode == 0, result.stderr
        assert "wrote 4 train and 0 val pairs" in result.stdout or "pairs to" in result.stdout
        assert "skipped 1 photo(s) that could not be read; ignored 1 file(s) that are not images" in result.stdout
        assert len(list(inside.rglob("*.png"))) == 4  # the same 4 pairs, not 4 + the first run's pairs cut up
    mine = inside / "train" / "a_000.png"
    mine.unlink()
    landscape((40, 40)).save(mine)  # the user's own file where an output would go
    kept = mine.read_bytes()
    result = make_dataset("--input", photos, "--output", inside)
    assert result.returncode == 2 and "a_000.png already exists and was not written by pix2pix_hub" in result.stderr
    assert mine.read_bytes() == kept
    assert make_dataset("--input", photos, "--output", inside, "--overwrite").returncode == 0
    assert mine.read_bytes() != kept
    result = make_dataset("--input", photos, "--output", tmp_path)  # a folder that holds the input
    assert result.returncode == 2 and "holds the input" in result.stderr

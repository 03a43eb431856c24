"""`ImageTranslator` at any size and `python -m pix2pix_hub translate` on real files: native sizes, 16-bit and
float in and out, one-channel models, name collisions, bad files, resuming, and two Accelerate processes."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from pix2pix_hub import ImageTranslator, save_model_folder
from pix2pix_hub.data.images import BadImageError, open_image, read_array, write_array
from pix2pix_hub.inference.translate import main
from pix2pix_hub.models import build_generator, init_weights

from helpers import ROOT, names


def tiny(netG="resnet_2blocks", channels=3, norm="instance"):
    torch.manual_seed(0)
    return init_weights(build_generator(netG, channels, channels, ngf=8, norm=norm, use_dropout=False)).eval()


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return save_model_folder(tmp_path_factory.mktemp("model"), {"AtoB": tiny()},
                             {"model_type": "cyclegan", "resolution": 64, "test_mode": "eval"})


def noise(height, width, channels=3, dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    top = {np.uint8: 255, np.uint16: 65535}[dtype]
    return rng.integers(0, top + 1, (height, width, channels)).astype(dtype)


def run(*args, capsys=None):
    code = main([str(a) for a in args])
    out = capsys.readouterr() if capsys else None
    return code, out


def error_line(err: str) -> str:
    """The one error line (progress bars also write to stderr, with carriage returns)."""
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("width,height", [(37, 53), (101, 97), (8, 8), (300, 9)])
def test_native_sizes_come_back_at_their_own_size(width, height):
    translator = ImageTranslator(tiny(), device="cpu", backend="eager")
    assert translator.resolution == "native"  # the ResNet default
    output, info = translator.translate_array(noise(height, width))
    assert output.shape == (height, width, 3) and output.dtype == np.uint8
    assert info.run_size == (width, height) and "native" in info.describe()


def test_one_pixel_wide_image_is_refused_clearly(tmp_path):
    translator = ImageTranslator(tiny(), device="cpu", backend="eager")
    with pytest.raises(BadImageError, match=r"1x300 image is too small to translate \(sides under 8 px\)"):
        translator.translate_array(noise(300, 1))
    Image.fromarray(noise(1, 300)).save(tmp_path / "line.png")
    with pytest.raises(BadImageError, match="300x1 is too small"):
        read_array(tmp_path / "line.png")


def test_model_resolution_says_where_it_ran():
    unet = ImageTranslator(tiny("unet_32", norm="batch"), device="cpu", backend="eager")
    assert unet.resolution == "model"  # the U-Net default: its training scale (256 without a config)
    out, info = unet.translate(Image.fromarray(noise(120, 160)))
    assert out.size == (160, 120) and info.run_size == (256, 192)
    assert info.describe().startswith("ran at 256×192 (the model's training scale), output scaled back to 160×120")
    _, info = ImageTranslator(tiny("unet_32", norm="batch"), device="cpu", backend="eager", resolution=64).translate_array(noise(120, 160))
    assert info.run_size == (64, 48)


def test_sixteen_bit_keeps_more_than_eight_bits(tmp_path):
    """An identity backend: what comes out is what the reading, tiling, blending and writing keep."""
    identity = ImageTranslator(tiny(), device="cpu", backend=lambda batch: batch, tile=32, overlap=16)
    y, x = np.mgrid[0:64, 0:96]
    ramp = np.stack([x * 680 + y, y * 1000 + 7, 65535 - x * 600], -1).astype(np.uint16)
    write_array(tmp_path / "ramp.png", ramp)
    assert cv2.imread(str(tmp_path / "ramp.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    image = read_array(tmp_path / "ramp.png")
    np.testing.assert_array_equal(image, ramp)  # RGB 16-bit read at full precision (PIL alone cuts it to 8)
    out, info = identity.translate_array(image)
    assert out.dtype == np.uint16 and info.depth == "16-bit"
    assert np.abs(out.astype(int) - ramp).max() <= 1  # 1 level in 65535
    eight, _ = identity.translate_array(image, np.uint8)  # the contrast: 8-bit output loses ~128 levels
    assert np.abs(eight.astype(int) * 257 - ramp).max() > 100


def test_float_tiff_in_and_out(tmp_path, model, capsys):
    rng = np.random.default_rng(1)
    values = rng.random((40, 56, 3), dtype=np.float32)
    write_array(tmp_path / "in" / "scan.tif", values) if (tmp_path / "in").mkdir() is None else None
    read = read_array(tmp_path / "in" / "scan.tif")
    assert read.dtype == np.float32 and np.abs(read - values).max() == 0
    Image.fromarray(values[:, :, 0], "F").save(tmp_path / "grey.tif")  # PIL's one-channel float TIFF
    assert abs(float(np.asarray(open_image(tmp_path / "grey.tif", mode="L")).mean()) - values[:, :, 0].mean() * 255) < 1
    code, out = run("--model", model, "--input", tmp_path / "in", "--output", tmp_path / "out", capsys=capsys)
    assert code == 0, out.err
    result = cv2.imread(str(tmp_path / "out" / "scan.tif"), cv2.IMREAD_UNCHANGED)
    assert result.dtype == np.float32 and result.shape == (40, 56, 3) and 0 <= result.min() and result.max() <= 1
    Image.fromarray(values[:, :, 0] * 300, "F").save(tmp_path / "hot.tif")
    with pytest.raises(BadImageError, match="float images are read as .0, 1."):
        read_array(tmp_path / "hot.tif")


def test_one_channel_model_round_trips_one_channel(tmp_path, capsys):
    folder = save_model_folder(tmp_path / "grey-model", {"AtoB": tiny(channels=1)}, {"model_type": "cyclegan"})
    (tmp_path / "in").mkdir()
    cv2.imwrite(str(tmp_path / "in" / "slice.png"), noise(48, 40, 1, np.uint16)[:, :, 0])
    code, out = run("--model", folder, "--input", tmp_path / "in", "--output", tmp_path / "out", capsys=capsys)
    assert code == 0, out.err
    result = cv2.imread(str(tmp_path / "out" / "slice.png"), cv2.IMREAD_UNCHANGED)
    assert result.dtype == np.uint16 and result.shape == (48, 40)
    assert len(np.unique(result % 257)) > 1  # not 8-bit values stretched to 16


def test_same_stem_gets_unique_names_and_nothing_overwrites_an_input(tmp_path, model, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for suffix in (".jpg", ".png", ".webp"):
        Image.fromarray(noise(24, 32, seed=len(suffix))).save(photos / f"a{suffix}")
    Image.fromarray(noise(24, 32)).save(photos / "b.png")
    code, out = run("--model", model, "--input", photos, "--output", tmp_path / "out", capsys=capsys)
    assert code == 0, out.err
    assert names(tmp_path / "out") == ["a_jpg.png", "a_png.png", "a_webp.png", "b.png"]
    assert "wrote 4 of 4 image(s)" in out.out
    code, out = run("--model", model, "--input", photos, "--output", photos, capsys=capsys)
    assert code == 2 and "is the input folder" in error_line(out.err)
    assert len(list(photos.iterdir())) == 4  # refused before writing anything
    code, out = run("--model", model, "--input", photos / "a.png", "--output", photos, capsys=capsys)
    assert code == 2 and "would overwrite an input" in out.err and len(list(photos.iterdir())) == 4


def test_bad_files_stop_with_one_line_or_are_skipped_and_counted(tmp_path, model, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "c.png"):
        Image.fromarray(noise(24, 32)).save(photos / name)
    (photos / "b.png").write_bytes((photos / "a.png").read_bytes()[:60])  # truncated
    code, out = run("--model", model, "--input", photos, "--output", tmp_path / "out", capsys=capsys)
    line = error_line(out.err)
    assert code == 2 and "b.png: cannot be decoded" in line and "1 image(s) written before it" in line
    code, out = run("--model", model, "--input", photos, "--output", tmp_path / "out", "--on_bad_image", "skip",
                    capsys=capsys)
    assert code == 0 and "wrote 2 of 3 image(s)" in out.out and "skipped 1 that could not be read" in out.out
    assert names(tmp_path / "out") == ["a.png", "c.png"]


def test_output_inside_input_is_never_read_and_skip_existing_resumes(tmp_path, model, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(noise(24, 32)).save(photos / name)
    out_dir = photos / "translated"
    for _ in range(2):  # the second run must not translate the first run's outputs
        code, out = run("--model", model, "--input", photos, "--output", out_dir, capsys=capsys)
        assert code == 0 and "wrote 3 of 3 image(s)" in out.out, out
    assert names(out_dir) == ["a.png", "b.png", "c.png"]
    (out_dir / "b.png").unlink()
    (out_dir / ".c.png.partial-123").write_bytes(b"half")  # what a killed run leaves: neither an input nor an output
    kept = (out_dir / "a.png").stat().st_mtime_ns
    code, out = run("--model", model, "--input", photos, "--output", out_dir, "--skip_existing", capsys=capsys)
    assert code == 0 and "wrote 1 of 3 image(s)" in out.out and "2 already there" in out.out
    assert (out_dir / "b.png").is_file() and (out_dir / "a.png").stat().st_mtime_ns == kept


def test_resolution_and_tile_options_are_checked(tmp_path, model, capsys):
    Image.fromarray(noise(24, 32)).save(tmp_path / "a.png")
    for flag, value, words in (("--resolution", "huge", "resolution 'huge'"), ("--tile", "big", "--tile 'big'")):
        code, out = run("--model", model, "--input", tmp_path / "a.png", "--output", tmp_path / "o", flag, value, capsys=capsys)
        assert code == 2 and words in error_line(out.err)


def test_two_accelerate_processes_translate_each_file_once(tmp_path, model):
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(5):
        Image.fromarray(noise(24, 32, seed=index)).save(photos / f"{index}.png")
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(launcher + ["-m", "pix2pix_hub", "translate", "--model", str(model), "--input", str(photos),
                                        "--output", str(tmp_path / "out")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    # the counts of both processes, summed: a file done by both would make 10
    assert "wrote 5 of 5 image(s)" in result.stdout and "(2 processes)" in result.stdout, result.stdout + result.stderr[-3000:]
    assert names(tmp_path / "out") == [f"{i}.png" for i in range(5)]


def checksums(folder):
    import hashlib
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_users_file_under_output_is_never_replaced(tmp_path, model, capsys):
    """Issue 30 (1): `--input ov --output ov/sub` replaced the user's ov/sub/x.png with the translation of ov/x.png."""
    ov = tmp_path / "ov"
    (ov / "sub").mkdir(parents=True)
    Image.fromarray(noise(24, 32, seed=1)).save(ov / "x.png")
    Image.fromarray(noise(24, 32, seed=2)).save(ov / "sub" / "x.png")
    before = checksums(ov)
    code, out = run("--model", model, "--input", ov, "--output", ov / "sub", capsys=capsys)
    line = error_line(out.err)
    assert code == 2 and f"{ov / 'sub' / 'x.png'} already exists and was not written by pix2pix_hub" in line
    assert "--overwrite" in line and checksums(ov) == before  # nothing written at all
    code, out = run("--model", model, "--input", ov, "--output", ov / "sub", "--overwrite", capsys=capsys)
    assert code == 0 and "wrote 1 of 1 image(s)" in out.out and "left out 1 image(s) already under --output" in out.out
    assert checksums(ov)["sub/x.png"] != before["sub/x.png"]
    # its own output, untouched since, is replaced by the next run without --overwrite; edited, it is the user's
    code, out = run("--model", model, "--input", ov, "--output", ov / "sub", capsys=capsys)
    assert code == 0, out.err
    Image.fromarray(noise(24, 32, seed=3)).save(ov / "sub" / "x.png")
    edited = checksums(ov)
    code, out = run("--model", model, "--input", ov, "--output", ov / "sub", capsys=capsys)
    assert code == 2 and "was not written by pix2pix_hub" in error_line(out.err) and checksums(ov) == edited


def test_a_single_file_beside_its_output_keeps_the_users_file(tmp_path, model, capsys):
    """Issue 30 (2): `--input ov2/a.jpg --output ov2` overwrote the user's ov2/a.png."""
    ov2 = tmp_path / "ov2"
    ov2.mkdir()
    Image.fromarray(noise(24, 32, seed=1)).save(ov2 / "a.jpg")
    Image.fromarray(noise(24, 32, seed=2)).save(ov2 / "a.png")
    before = checksums(ov2)
    for spelled in (ov2, tmp_path / "link"):  # the same folder through a symlink is the same folder
        if spelled.name == "link":
            spelled.symlink_to(ov2)
        code, out = run("--model", model, "--input", spelled / "a.jpg", "--output", spelled, capsys=capsys)
        assert code == 2 and "a.png already exists and was not written" in error_line(out.err)
        assert checksums(ov2) == before


@pytest.mark.parametrize("case", ["a file", "under a file", "unwritable"])
def test_an_output_that_cannot_be_a_folder_is_one_line(tmp_path, model, capsys, case):
    """Issue 30 (5): these were FileExistsError, NotADirectoryError and PermissionError tracebacks."""
    Image.fromarray(noise(24, 32)).save(tmp_path / "a.png")
    (tmp_path / "notes.txt").write_text("mine")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    output, words = {"a file": (tmp_path / "notes.txt", "is a file: pass a folder"),
                     "under a file": (tmp_path / "notes.txt" / "out", "notes.txt is a file, so no folder can be made"),
                     "unwritable": (locked / "out", "no permission to write in")}[case]
    if case == "unwritable" and os.access(locked, os.W_OK):
        pytest.skip("running as a user who may write anywhere (root): a permission error cannot happen")
    code, out = run("--model", model, "--input", tmp_path / "a.png", "--output", output, capsys=capsys)
    assert code == 2 and words in error_line(out.err)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_the_summary_counts_every_input(tmp_path, model, capsys):
    """Issue 30 (7): an animated .gif was left out uncounted; over 20 files, groups beyond 5 went unmentioned."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(21):  # 7 sizes: 7 ways of running it
        size = 24 + 4 * (index % 7)
        Image.fromarray(noise(size, size, seed=index)).save(photos / f"{index:02d}.png")
    frames = [Image.fromarray(noise(16, 16, seed=s)) for s in range(2)]
    frames[0].save(photos / "moving.gif", save_all=True, append_images=frames[1:])
    (photos / "readme.txt").write_text("notes")
    code, out = run("--model", model, "--input", photos, "--output", tmp_path / "out", capsys=capsys)
    assert code == 0, out.err
    assert "wrote 21 of 21 image(s)" in out.out
    assert "ignored 2 file(s) of other types (1 .gif, 1 .txt: it reads" in out.out
    ways = [line for line in out.out.splitlines() if line.startswith("  ")]
    shown = sum(int(line.split()[0]) for line in ways[:5])
    assert len(ways) == 6 and ways[5].startswith(f"  ... and {21 - shown} image(s) in 2 more way(s)"), out.out

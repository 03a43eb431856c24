"""open_image on real files made here: every kind of bad or unusual image gives a usable 8-bit image or one
clear line (file name, what is wrong, what to do)."""

import io
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pix2pix_hub.data.images import MAX_PIXELS, BadImageError, open_image, pil_to_tensor, tensor_to_pil

from helpers import bomb, png_bytes


def assert_one_clear_line(error: BadImageError, path: Path, *words: str):
    message = str(error)
    assert "\n" not in message and message.startswith(str(path)), message
    for word in words:
        assert word in message, message


def test_truncated_jpeg(tmp_path):
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (64, 64), "orange").save(path, quality=95)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(BadImageError) as error:
        open_image(path)
    assert_one_clear_line(error.value, path, "cannot be decoded", "truncated", "re-export or remove it")


def test_empty_file_and_empty_bytes(tmp_path):
    path = tmp_path / "empty.png"
    path.touch()
    with pytest.raises(BadImageError) as error:
        open_image(path)
    assert_one_clear_line(error.value, path, "empty (0 bytes)", "re-export or remove it")
    with pytest.raises(BadImageError, match=r"^row7\.png: the file is empty \(0 bytes\)"):
        open_image(b"", name="row7.png")
    with pytest.raises(BadImageError, match="no such file"):
        open_image(tmp_path / "missing.png")


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    path = tmp_path / "print.jpg"
    Image.new("CMYK", (32, 32), (0, 255, 255, 0)).save(path, quality=100)  # pure red in ink
    assert Image.open(path).mode == "CMYK"
    image = open_image(path)
    assert image.mode == "RGB"
    assert np.abs(np.asarray(image, np.int16) - (255, 0, 0)).max() <= 3


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    path = tmp_path / "depth.png"
    values = np.array([[0, 257, 32896, 65535]], np.uint16).repeat(8, 0).repeat(4, 1)  # 8 x 16
    Image.fromarray(values).save(path)
    assert Image.open(path).mode == "I;16"
    gray = np.asarray(open_image(path, mode="L"))
    assert gray[0, ::4].tolist() == [0, 1, 128, 255]  # clipping would give [0, 255, 255, 255]
    rgb = np.asarray(open_image(path))
    assert rgb.shape == (8, 16, 3) and rgb[0, ::4, 1].tolist() == [0, 1, 128, 255]


def test_16_bit_rgb_png(tmp_path):
    path = tmp_path / "rgb16.png"
    pixel = np.array([65535, 32896, 257], ">u2").tobytes()
    path.write_bytes(png_bytes(8, 8, 16, 2, b"".join(b"\x00" + pixel * 8 for _ in range(8))))
    assert open_image(path).getpixel((0, 0)) == (255, 128, 1)


def test_transparency_becomes_white(tmp_path):
    """RGBA, LA and palette PNGs with transparency: transparent parts over white, as the app does."""
    rgba = Image.new("RGBA", (16, 16), (255, 0, 0, 255))
    rgba.paste((0, 0, 255, 0), (0, 0, 8, 16))  # left half: fully transparent blue
    rgba.save(tmp_path / "rgba.png")
    image = open_image(tmp_path / "rgba.png")
    assert image.mode == "RGB" and image.getpixel((2, 2)) == (255, 255, 255) and image.getpixel((12, 2)) == (255, 0, 0)
    half = Image.new("RGBA", (16, 16), (0, 0, 0, 128))
    half.save(tmp_path / "half.png")
    assert open_image(tmp_path / "half.png").getpixel((0, 0)) == (127, 127, 127)  # black at 50 % over white
    Image.new("LA", (16, 16), (0, 0)).save(tmp_path / "la.png")
    assert open_image(tmp_path / "la.png").getpixel((0, 0)) == (255, 255, 255)

    palette = Image.new("P", (16, 16), 1)
    palette.putpalette([0, 0, 0, 0, 160, 0] + [0] * 762)
    palette.paste(0, (0, 0, 8, 16))
    palette.save(tmp_path / "palette.png", transparency=0)  # index 0 transparent
    image = open_image(tmp_path / "palette.png")
    assert image.getpixel((2, 2)) == (255, 255, 255) and image.getpixel((12, 2)) == (0, 160, 0)
    palette.save(tmp_path / "opaque-palette.png")  # no transparency: colours kept, black stays black
    image = open_image(tmp_path / "opaque-palette.png")
    assert image.getpixel((2, 2)) == (0, 0, 0) and image.getpixel((12, 2)) == (0, 160, 0)


def test_grayscale(tmp_path):
    Image.new("L", (16, 16), 90).save(tmp_path / "gray.png")
    assert open_image(tmp_path / "gray.png").getpixel((0, 0)) == (90, 90, 90)
    single = open_image(tmp_path / "gray.png", mode="L")
    assert single.mode == "L" and pil_to_tensor(single).shape == (1, 16, 16)
    Image.new("1", (16, 16), 1).save(tmp_path / "bilevel.png")
    assert open_image(tmp_path / "bilevel.png").getpixel((0, 0)) == (255, 255, 255)


def test_tiny_image(tmp_path):
    Image.new("RGB", (1, 1), "red").save(tmp_path / "dot.png")
    with pytest.raises(BadImageError) as error:
        open_image(tmp_path / "dot.png")
    assert_one_clear_line(error.value, tmp_path / "dot.png", "1x1 is too small", "remove it")


@pytest.mark.parametrize("max_side", [None, 2048])  # the CLI's translate and make-dataset pass max_side
def test_decompression_bomb_is_refused_from_its_header(tmp_path, max_side):
    path = bomb(tmp_path / "bomb.png")
    assert path.stat().st_size < 100_000
    start = time.perf_counter()
    with pytest.raises(BadImageError) as error:
        open_image(path, max_side=max_side)
    assert time.perf_counter() - start < 1.0
    # refused for its size, not for its (missing) pixel data: nothing was decoded
    assert_one_clear_line(error.value, path, "decompression bomb", "400000000 pixels", "downscale it first")
    # under PIL's own limit (89 MP) but over ours (64 MP): refused the same way
    path = bomb(tmp_path / "big.png", 9000, 9000)
    assert 9000 * 9000 > MAX_PIXELS
    with pytest.raises(BadImageError) as error:
        open_image(path, max_side=max_side)
    assert_one_clear_line(error.value, path, "9000x9000 is too large to decode safely", "downscale it first")


def test_bytes_arrays_and_tensors_round_trip():
    photo = Image.new("RGB", (12, 8), (10, 200, 30))
    buffer = io.BytesIO()
    photo.save(buffer, "PNG")
    assert open_image(buffer.getvalue()).getpixel((0, 0)) == (10, 200, 30)
    assert open_image(np.asarray(photo)).size == (12, 8)
    tensor = pil_to_tensor(photo)
    assert tensor.shape == (3, 8, 12) and -1 <= tensor.min() and tensor.max() <= 1
    assert tensor_to_pil(tensor).getpixel((0, 0)) == (10, 200, 30)

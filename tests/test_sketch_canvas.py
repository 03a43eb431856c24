"""pix2pix_hub/app/sketch_canvas.py: the canvas value (a PNG data URL) in and out, the legend's palette, bad input.
The canvas itself, in a real browser, is tested in test_app.py."""
import base64
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pix2pix_hub.app.sketch_canvas import (
    MAX_SKETCH_SIDE,
    SHOWN,
    SketchError,
    decode_sketch,
    encode_sketch,
    image_data_url,
    palette_entries,
    snap_to_palette,
)
from pix2pix_hub.data.palette import SEGMENT_MEANINGS, SEGMENT_PALETTE, palette_array


def data_url(image: Image.Image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buffer.getvalue()).decode()


def test_legend_names_every_training_colour():
    entries = palette_entries()
    assert [e["name"] for e in entries] == list(SEGMENT_PALETTE)
    assert [e["hex"] for e in entries] == list(SEGMENT_PALETTE.values())  # what the model gets: unchanged
    assert all(e["meaning"] == SEGMENT_MEANINGS[e["name"]] and e["meaning"] for e in entries)
    cloud = next(e for e in entries if e["name"] == "cloud")
    # On screen the cloud is tinted: far enough from white to see (the palette's own #f2f2f2 is not).
    shown = np.array([int(cloud["shown"][i:i + 2], 16) for i in (1, 3, 5)])
    assert cloud["shown"] == SHOWN["cloud"] and np.abs(255 - shown).max() > 30
    assert np.abs(255 - palette_array()[list(SEGMENT_PALETTE).index("cloud")]).max() < 16  # the contrast


def test_round_trip_keeps_palette_colours_exactly():
    sketch = Image.new("RGB", (64, 64), "white")
    draw = ImageDraw.Draw(sketch)
    draw.rectangle([0, 0, 63, 30], fill=SEGMENT_PALETTE["sky"])
    draw.rectangle([0, 31, 63, 63], fill=SEGMENT_PALETTE["grass"])
    back = decode_sketch(data_url(sketch))
    assert back.mode == "RGB" and np.array_equal(np.asarray(back), np.asarray(sketch))
    assert decode_sketch(data_url(sketch, "WEBP")).size == (64, 64)
    assert decode_sketch("") is None and decode_sketch(None) is None


def test_examples_snap_to_the_palette_at_the_canvas_size():
    painting = Image.new("RGB", (256, 256), SEGMENT_PALETTE["water"])
    painting.putpixel((5, 5), (29, 95, 143))  # a stray near-water pixel, as the bundled examples have
    painting.paste((250, 250, 250), (0, 200, 256, 256))  # near white: stays unpainted (white)
    value = encode_sketch(painting, 128)
    image = np.asarray(decode_sketch(value))
    assert image.shape == (128, 128, 3)
    allowed = {tuple(c) for c in palette_array()} | {(255, 255, 255)}
    assert {tuple(c) for c in image.reshape(-1, 3)} <= allowed
    assert tuple(image[2, 2]) == tuple(palette_array()[list(SEGMENT_PALETTE).index("water")])
    assert tuple(image[120, 5]) == (255, 255, 255)
    assert encode_sketch(None, 128) == ""
    assert np.array_equal(np.asarray(snap_to_palette(Image.fromarray(image))), image)  # already snapped


@pytest.mark.parametrize("value, message", [
    ("/etc/passwd", "must be an image data URL"),
    ("data:text/plain;base64,aGVsbG8=", "must be an image data URL"),
    ("data:image/png,rawdata", "base64"),
    ("data:image/png;base64,@@@@", "not a readable image"),
    ("data:image/png;base64," + base64.b64encode(b"not a png at all").decode(), "not a readable image"),
])
def test_bad_values_are_one_clear_line(value, message):
    with pytest.raises(SketchError, match=message) as error:
        decode_sketch(value)
    assert "\n" not in str(error.value)


def test_oversize_and_other_formats_are_refused_before_decoding():
    with pytest.raises(SketchError, match="JPEG"):
        decode_sketch(data_url(Image.new("RGB", (16, 16)), "JPEG").replace("image/jpeg", "image/png"))
    huge = Image.new("1", (MAX_SKETCH_SIDE + 1, 8))  # a tiny file that claims a big image
    with pytest.raises(SketchError, match=f"at most {MAX_SKETCH_SIDE} px"):
        decode_sketch(data_url(huge))
    with pytest.raises(SketchError, match="MB"):
        decode_sketch("data:image/png;base64," + "A" * (5 * 1024 * 1024))


def test_image_data_url():
    assert image_data_url(None) is None
    image = Image.new("RGB", (8, 4), (1, 2, 3))
    assert np.array_equal(np.asarray(decode_sketch(image_data_url(image))), np.asarray(image))

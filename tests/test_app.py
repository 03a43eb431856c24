"""app.py: the pure `translate` function and the real app in headless Chromium."""
import io
import os
import sys
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw

from helpers import ROOT

sys.path.insert(0, str(ROOT))
import app  # noqa: E402
from pix2pix_hub.models import build_generator  # noqa: E402
from pix2pix_hub.pretrained import save_model_folder  # noqa: E402

from helpers import served_app  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-pix2pix")
    save_model_folder(folder, {"AtoB": build_generator("unet_128", ngf=8)}, {"model_type": "pix2pix", "resolution": 128})
    return str(folder)


@pytest.fixture(scope="module")
def tiny_cyclegan(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-cyclegan")
    gens = {d: build_generator("resnet_6blocks", ngf=8, norm="instance") for d in ("AtoB", "BtoA")}
    save_model_folder(folder, gens, {"model_type": "cyclegan", "resolution": 128,
                                     "domain_a_name": "horse", "domain_b_name": "zebra"})
    return str(folder)


def sketch(size=128):
    im = Image.new("RGB", (size, size), "white")
    d = ImageDraw.Draw(im)
    d.rectangle([0, 0, size, size // 2], fill="#87ceeb")
    d.ellipse([10, 10, 40, 40], fill="#ffd700")
    return im


def test_sketch_dict_pil_and_numpy(tiny_model):
    white = Image.new("RGBA", (128, 128), "white")
    layer = Image.new("RGBA", (128, 128), (0, 0, 0, 0))
    ImageDraw.Draw(layer).line([(10, 10), (100, 100)], fill=(0, 0, 0, 255), width=8)
    composite = Image.alpha_composite(white, layer)
    for value in ({"background": white, "layers": [layer], "composite": composite},
                  {"background": white, "layers": [layer], "composite": None},
                  {"background": np.asarray(white), "layers": [np.asarray(layer)], "composite": np.asarray(composite)}):
        out, status = app.translate(value, tiny_model, None)
        assert isinstance(out, Image.Image) and out.size == (128, 128), status
        assert "ms" in status


def test_blank_canvas_and_none(tiny_model):
    white = Image.new("RGBA", (256, 256), "white")
    for value in (None, {"background": white, "layers": [], "composite": white},
                  {"background": None, "layers": [], "composite": None}, np.full((64, 64, 3), 255, np.uint8)):
        out, status = app.translate(value, tiny_model, None)
        assert out is None and "Draw something" in status


def test_rgba_composited_over_white(tiny_model):
    rgba = Image.new("RGBA", (100, 80), (0, 0, 0, 0))
    ImageDraw.Draw(rgba).rectangle([10, 10, 50, 50], fill=(255, 0, 0, 255))
    assert app.to_input_image(rgba).getpixel((0, 0)) == (255, 255, 255)
    out, status = app.translate(rgba, tiny_model, None)
    assert out.size == (100, 80) and out.mode == "RGB", status


def test_huge_upload_is_downscaled(tiny_model):
    big = sketch(256).resize((5000, 4000))
    start = time.perf_counter()
    out, status = app.translate(big, tiny_model, None)
    assert time.perf_counter() - start < 20
    assert max(out.size) == app.MAX_SIDE and out.size == (1024, 819), status


def test_status_says_at_which_size_the_model_ran(tiny_model, tiny_cyclegan):
    big = sketch(256).resize((2000, 1500))
    out, status = app.translate(big, tiny_model, None)  # pix2pix: its training scale by default
    assert out.size == (1024, 768), status
    assert "model ran at 128×96 (the model's training scale), output scaled back to 1024×768" in status
    assert "the 2000×1500 upload was scaled to fit 1024 px" in status
    out, status = app.translate(sketch(256).resize((400, 300)), tiny_model, None, "native")
    assert out.size == (400, 300) and "model ran at 400×300 (native), whole image" in status, status
    out, status = app.translate(sketch(200), tiny_cyclegan, "AtoB")  # CycleGAN: native by default
    assert "model ran at 200×200 (native), whole image" in status and "upload was scaled" not in status, status


def test_bad_model_gives_clear_status(tmp_path):
    for bad in ("no-such-folder-xyz", "nobody/no-such-model", str(tmp_path)):
        out, status = app.translate(sketch(), bad, None)
        assert out is None and status.startswith("⚠️") and "Traceback" not in status


def test_cyclegan_directions(tiny_cyclegan):
    choices, visible, _ = app.direction_choices(tiny_cyclegan)
    assert visible and choices == [("horse → zebra", "AtoB"), ("zebra → horse", "BtoA")]
    a, status_a = app.translate(sketch(), tiny_cyclegan, "AtoB")
    b, status_b = app.translate(sketch(), tiny_cyclegan, "BtoA")
    assert "AtoB" in status_a and "BtoA" in status_b
    assert not np.array_equal(np.asarray(a), np.asarray(b))
    assert app.load_translator(tiny_cyclegan, "AtoB") is app.load_translator(tiny_cyclegan, "AtoB")  # cached


def test_brush_palette_and_model_list(tiny_model):
    import gradio as gr

    from pix2pix_hub.palette import SEGMENT_PALETTE

    demo = app.build_demo(tiny_model)
    pad = next(b for b in demo.blocks.values() if isinstance(b, gr.Sketchpad))
    assert pad.brush.colors == list(SEGMENT_PALETTE.values())  # what the default model was trained on
    box = next(b for b in demo.blocks.values() if isinstance(b, gr.Dropdown))
    assert box.value == tiny_model and app.BUNDLED_MODEL in [c[1] for c in box.choices]
    assert demo._queue.max_size and demo._queue.default_concurrency_limit  # bounded queue


def test_pix2pix_hides_direction(tiny_model):
    _, visible, _ = app.direction_choices(tiny_model)
    assert not visible


def _fetch_image(page, src):
    if src.startswith("data:"):
        import base64
        data = base64.b64decode(src.split(",", 1)[1])
    else:
        data = page.request.get(src, timeout=15000).body()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64)


@pytest.fixture
def app_server(tiny_model, tmp_path):
    """`python app.py --model <tiny model>` on a free loopback port; yields its URL."""
    with served_app(["--model", tiny_model], tmp_path / "server.log") as (url, _):
        yield url


def _stroke(page, points):
    """One brush stroke through `points` (page coordinates), in small steps like a real pointer."""
    page.mouse.move(*points[0], steps=3)  # the brush only paints once the cursor is known to be over the image
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x, y, steps=6)
    page.mouse.up()


def _status(page):
    return page.locator("#timing").inner_text(timeout=5000)


@pytest.fixture
def sync_api():
    """Playwright + the system Chromium, or a skip that says what is missing (before any server starts)."""
    api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium); the browser test needs it")
    return api


def test_browser_draw_and_upload(sync_api, app_server, tmp_path):
    wait = 20000  # ms, for every single wait below: the whole test stays far below a minute
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, timeout=30000, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(wait)
            page.set_default_navigation_timeout(wait)
            joins = []  # every event the frontend sends to the queue
            page.on("request", lambda r: joins.append(r.url) if "/queue/join" in r.url else None)
            page.goto(app_server)
            canvas = page.locator("#sketch canvas").first
            canvas.wait_for(state="visible")
            page.locator("#sketch button[aria-label='Brush']").first.wait_for(state="visible")
            page.wait_for_timeout(1000)  # the editor loads its white background asynchronously
            assert "Draw something" in _status(page)
            tools = page.eval_on_selector_all("#sketch button", "els => els.map(e => e.getAttribute('aria-label'))")
            assert {"Undo", "Redo", "Clear canvas", "Brush", "Erase", "Color", "Brush Size"} <= set(tools), tools
            box = canvas.bounding_box()
            cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            r = min(box["width"], box["height"]) * 0.3  # the drawing area is centred in the canvas element

            # Live mode: the FIRST stroke alone updates the output, no button pressed.
            _stroke(page, [(cx - r, cy - r / 2), (cx, cy - r / 3), (cx + r, cy - r / 2)])
            page.wait_for_function("() => document.querySelector('#timing').innerText.includes(' ms')",
                                   timeout=wait)
            out_img = page.locator("#output img").first
            out_img.wait_for(state="visible")
            first_src = out_img.get_attribute("src")
            first = _fetch_image(page, first_src)
            assert first.shape[:2] == (128, 128) and first.std() > 0.5, "live output is missing or blank"

            # ... and so does the next stroke (a new image, from a new request).
            _stroke(page, [(cx - r, cy + r / 2), (cx + r, cy + r / 2)])
            page.wait_for_function(
                "(s) => { const i = document.querySelector('#output img'); return i && i.src !== s; }",
                arg=first_src, timeout=wait)
            second = _fetch_image(page, out_img.get_attribute("src"))
            assert second.std() > 0.5 and not np.array_equal(first, second), "second stroke did not update"
            page.screenshot(path="/tmp/app_screenshot.png", full_page=True)
            assert page.locator("#output button[aria-label='Download']").count() == 1  # the result is downloadable

            # Undo is an edit too: the output goes back to the first stroke's.
            second_src = out_img.get_attribute("src")
            page.locator("#sketch button[aria-label='Undo']").first.click()
            page.wait_for_function(
                "(s) => { const i = document.querySelector('#output img'); return i && i.src !== s; }",
                arg=second_src, timeout=wait)
            undone = _fetch_image(page, out_img.get_attribute("src"))
            assert np.abs(undone - first).max() <= 2, "undo did not restore the first stroke's output"

            # The Translate button still works.
            n = len(joins)
            with page.expect_response(lambda resp: "/queue/join" in resp.url, timeout=wait):
                page.get_by_role("button", name="Translate").click()
            assert len(joins) > n
            page.wait_for_function("() => document.querySelector('#timing').innerText.includes(' ms')",
                                   timeout=wait)

            # Clearing the canvas clears the output.
            page.locator("#sketch button[aria-label='Clear canvas']").first.click()
            page.wait_for_function("() => document.querySelector('#timing').innerText.includes('Draw something')"
                                   " && !document.querySelector('#output img')", timeout=wait)

            # Upload tab: a 200×200 sketch is translated as soon as it is uploaded.
            page.get_by_role("tab", name="Upload").click()
            upload_file = tmp_path / "upload.png"
            sketch(200).save(upload_file)
            page.locator("#upload input[type=file]").set_input_files(str(upload_file), timeout=wait)
            page.wait_for_function("() => document.querySelector('#timing').innerText.includes('200×200')",
                                   timeout=wait)
            page.wait_for_function("() => { const i = document.querySelector('#output img'); return i && i.src; }",
                                   timeout=wait)  # the output was cleared above, so this image is the upload's
            uploaded = _fetch_image(page, page.locator("#output img").first.get_attribute("src"))
            assert uploaded.shape[:2] == (200, 200) and uploaded.std() > 0.5
            page.screenshot(path="/tmp/app_screenshot_upload.png", full_page=True)

            # An example sketch, picked from the Draw tab, shows up in the Upload tab and is translated.
            page.get_by_role("tab", name="Draw").click()
            example = Image.open(app.example_files()[0])
            page.locator(".gallery-item").first.click()
            page.wait_for_function("(t) => document.querySelector('#timing').innerText.includes(t)",
                                   arg=f"{example.width}×{example.height}", timeout=wait)
            assert page.get_by_role("tab", name="Upload").get_attribute("aria-selected") == "true"
        finally:
            browser.close()

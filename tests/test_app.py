"""app.py: the pure `translate` function and the real app in headless Chromium."""
import io
import sys
import time

import numpy as np
import pytest
from PIL import Image, ImageDraw

from helpers import ROOT

sys.path.insert(0, str(ROOT))
import app  # noqa: E402
from pix2pix_hub import save_model_folder  # noqa: E402
from pix2pix_hub.models import build_generator  # noqa: E402

from helpers import LivePage, canvas_status, decode_data_url, hex_rgb, launch_chromium, served_app, stroke  # noqa: E402


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


def test_bad_model_gives_clearcanvas_status(tmp_path):
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


def test_canvas_palette_and_model_list(tiny_model):
    import gradio as gr

    from pix2pix_hub.data.palette import SEGMENT_PALETTE

    demo = app.build_demo(tiny_model)
    canvas = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "canvas")
    assert isinstance(canvas, gr.HTML) and canvas.props["size"] == 128  # the model's resolution
    # the brushes paint exactly what the default model was trained on
    assert [(e["name"], e["hex"]) for e in canvas.props["palette"]] == list(SEGMENT_PALETTE.items())
    box = next(b for b in demo.blocks.values() if isinstance(b, gr.Dropdown))
    assert box.value == tiny_model and app.BUNDLED_MODEL in [c[1] for c in box.choices]
    assert demo._queue.max_size and demo._queue.default_concurrency_limit  # bounded queue


def test_translate_live(tiny_model):
    from pix2pix_hub.app.sketch_canvas import decode_sketch, image_data_url

    answer = app.translate_live({"sketch": image_data_url(sketch()), "model": tiny_model, "direction": "AtoB"})
    assert decode_sketch(answer["image"]).size == (128, 128) and "128×128 in" in answer["status"]
    white = image_data_url(Image.new("RGB", (128, 128), "white"))
    assert app.translate_live({"sketch": white, "model": tiny_model}) == {
        "image": None, "status": "Draw something… (or upload a photo/sketch)"}
    for bad in ({"sketch": "/etc/passwd", "model": tiny_model}, {"sketch": 3, "model": None}, ["x"], None):
        answer = app.translate_live(bad)
        assert answer["image"] is None and answer["status"].startswith("⚠️"), answer


def test_live_requests_beyond_the_waiting_cap_are_busy_at_once(tiny_model, monkeypatch):
    import threading

    from pix2pix_hub.app.sketch_canvas import image_data_url

    monkeypatch.setattr(app, "_LIVE_WAITING", threading.BoundedSemaphore(1))
    request = {"sketch": image_data_url(sketch()), "model": tiny_model}
    assert app.translate_live(request)["image"] is not None  # the one slot is given back after each request
    app._LIVE_WAITING.acquire()  # ... now taken, as by a request waiting for its turn
    assert app.translate_live(request) == {"image": None, "status": app.BUSY}


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


@pytest.fixture(scope="module")
def app_server(tiny_model, tmp_path_factory):
    """`python app.py --model <tiny model>` on a free loopback port, shared by the browser tests; yields its URL."""
    with served_app(["--model", tiny_model], tmp_path_factory.mktemp("app") / "server.log") as (url, _):
        yield url


def test_browser_draw_and_upload(sync_api, app_server, tmp_path):
    from pix2pix_hub.app.sketch_canvas import SHOWN, encode_sketch
    from pix2pix_hub.data.palette import SEGMENT_MEANINGS, SEGMENT_PALETTE

    palette = {hex_rgb(c) for c in SEGMENT_PALETTE.values()} | {(255, 255, 255)}
    wait = 20000  # ms, for every single wait below: the whole test stays far below a minute
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.set_default_timeout(wait)
            page.set_default_navigation_timeout(wait)
            live = LivePage(page)
            page.goto(app_server)
            page.wait_for_selector("#canvas .p2p-canvas[data-ready='true']")
            assert canvas_status(page) == "Draw something…"

            # The legend names every colour with what it paints; the cloud swatch is visible on white.
            names = page.eval_on_selector_all(".p2p-swatch", "els => els.map(e => [e.dataset.name, "
                                              "e.querySelector('.p2p-meaning').innerText])")
            assert names == [list(item) for item in SEGMENT_MEANINGS.items()]
            cloud_chip = page.eval_on_selector(".p2p-swatch[data-name=cloud] .p2p-chip",
                                               "e => getComputedStyle(e).backgroundColor")
            assert cloud_chip == "rgb({}, {}, {})".format(*hex_rgb(SHOWN["cloud"]))
            view = page.locator("#canvas canvas.p2p-view")

            def at(x, y):  # canvas pixel -> viewport coordinates (now: clicks below may scroll the page)
                box = view.bounding_box()
                return box["x"] + (x + 0.5) * box["width"] / 128, box["y"] + (y + 0.5) * box["height"] / 128

            # A water band painted from OUTSIDE the canvas (16 px left of its edge), as one paints a horizon.
            page.locator(".p2p-swatch[data-name=water]").click()
            start = (view.bounding_box()["x"] - 16, at(0, 90)[1])
            first_sketch, first = live.edit(lambda: stroke(page, [start, at(60, 90), at(100, 92)]))
            assert tuple(first_sketch[90, 0]) == hex_rgb(SEGMENT_PALETTE["water"]), "the stroke from outside was lost"
            assert tuple(first_sketch[20, 20]) == (255, 255, 255)
            assert {tuple(c) for c in first_sketch.reshape(-1, 3)} <= palette  # no antialiased in-between colours
            assert first.shape == (128, 128, 3) and first.std() > 0.5, "live output is missing or blank"
            assert not live.joins, "a stroke goes as one request, not through the queue"
            # the output at its own pixel size, never smoothed or stretched
            shown = page.eval_on_selector("#canvas img.p2p-output", "e => [e.width, e.height, e.naturalWidth, "
                                          "getComputedStyle(e).imageRendering]")
            assert shown == [128, 128, 128, "pixelated"]
            assert page.locator("#canvas .p2p-download").is_visible()

            # A cloud stroke: the model gets the palette's cloud, the screen shows the tinted one.
            page.locator(".p2p-swatch[data-name=cloud]").click()
            second_sketch, second = live.edit(lambda: stroke(page, [at(20, 20), at(80, 24)]))
            assert tuple(second_sketch[21, 40]) == hex_rgb(SEGMENT_PALETTE["cloud"])
            on_screen = page.eval_on_selector("#canvas canvas.p2p-view",
                                              "c => Array.from(c.getContext('2d').getImageData(40, 21, 1, 1).data)")
            assert tuple(on_screen[:3]) == hex_rgb(SHOWN["cloud"])
            assert not np.array_equal(first, second), "the second stroke did not change the output"
            text = page.inner_text("body")  # one message per event: the model's once, the stroke's once
            assert text.count("(pix2pix)") == 1 and text.count("128×128 in") == 1

            # Clear keeps the brush and colour, and Undo brings the drawing (and its output) back.
            cleared, output = live.edit(lambda: page.get_by_role("button", name="Clear").click())
            assert cleared is None and output is None and canvas_status(page).startswith("Draw something")
            assert page.get_attribute("button[data-tool=brush]", "aria-pressed") == "true"
            assert page.get_attribute(".p2p-swatch[data-name=cloud]", "aria-checked") == "true"
            undone, output = live.edit(lambda: page.get_by_role("button", name="Undo").click())
            assert np.array_equal(undone, second_sketch) and np.abs(output.astype(int) - second).max() <= 2

            # An example opens ON the canvas (snapped to the palette at the canvas's size) and is painted over.
            example = Image.open(app.example_files()[0])
            loaded_sketch, loaded = live.edit(lambda: page.locator(".gallery-item").first.click())
            assert np.array_equal(loaded_sketch, decode_data_url(encode_sketch(example, 128)))
            page.locator(".p2p-swatch[data-name=sand]").click()
            over_sketch, over = live.edit(lambda: stroke(page, [at(10, 120), at(118, 120)]))
            assert tuple(over_sketch[120, 60]) == hex_rgb(SEGMENT_PALETTE["sand"])
            assert np.array_equal(over_sketch[:100], loaded_sketch[:100])  # the rest of the example is kept
            assert not np.array_equal(over, loaded)
            page.screenshot(path="/tmp/app_screenshot.png", full_page=True)

            # The Translate button: with the live request refused, the page says so; the button still works.
            page.route("**/component_server/**", lambda route: route.abort())
            page.locator(".p2p-swatch[data-name=forest]").click()
            failed_sketch, _ = live.edit(lambda: stroke(page, [at(10, 60), at(40, 60)]))
            assert canvas_status(page).startswith("⚠️ The server did not answer")
            page.unroute("**/component_server/**")
            before, joins = live.results(), len(live.joins)
            page.get_by_role("button", name="Translate").click()
            live.until_result(before)
            assert len(live.joins) == joins + 1 and "128×128 in" in canvas_status(page)
            assert live.output().std() > 0.5

            # Upload tab: a 200×200 sketch is translated as soon as it is uploaded, shown at its own size.
            page.get_by_role("tab", name="Upload").click()
            upload_file = tmp_path / "upload.png"
            sketch(200).save(upload_file)
            page.locator("#upload input[type=file]").set_input_files(str(upload_file), timeout=wait)
            page.wait_for_function("() => document.querySelector('#timing').innerText.includes('200×200')")
            page.wait_for_function("() => { const i = document.querySelector('#output img');"
                                   " return i && i.complete && i.naturalWidth; }")
            uploaded = _fetch_image(page, page.locator("#output img").first.get_attribute("src"))
            assert uploaded.shape[:2] == (200, 200) and uploaded.std() > 0.5
            assert page.eval_on_selector("#output img", "e => [e.width, e.height]") == [200, 200]
            page.screenshot(path="/tmp/app_screenshot_upload.png", full_page=True)
        finally:
            browser.close()


def test_browser_phone_layout(sync_api, app_server):
    """On a 420-px-wide phone the output sits beside the drawing and stays in view while one draws."""
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 420, "height": 700}, has_touch=True)
            page.set_default_timeout(20000)
            live = LivePage(page)
            page.goto(app_server)
            page.wait_for_selector("#canvas .p2p-canvas[data-ready='true']")
            view = page.locator("#canvas canvas.p2p-view")
            view.scroll_into_view_if_needed()
            page.mouse.wheel(0, 400)  # scrolled down to paint the bottom of the picture
            page.wait_for_timeout(300)
            box = view.bounding_box()
            _, output = live.edit(lambda: stroke(page, [(box["x"] + 10, box["y"] + box["height"] - 20),
                                                         (box["x"] + box["width"] - 10, box["y"] + box["height"] - 20)]))
            assert output is not None
            result = page.locator("#canvas .p2p-result").bounding_box()
            assert result["x"] >= box["x"] + box["width"] - 1, "the output is not beside the drawing"
            assert 0 <= result["y"] and result["y"] + result["height"] <= 700, "the output scrolled out of view"
            assert box["width"] >= 190  # still big enough to draw on: about half the screen
            # A drag that starts on the result beside the drawing paints nothing, though it is within the margin
            # where a stroke may begin (which makes this check non-vacuous).
            press = (result["x"] + 2, result["y"] + 20)
            assert press[0] - (box["x"] + box["width"]) < max(24, box["width"] * 0.1)
            sent = len(live.sent)
            stroke(page, [press, (box["x"] + box["width"] / 2, box["y"] + 20)])
            page.wait_for_timeout(500)
            assert len(live.sent) == sent, "a press on the result painted"
            page.screenshot(path="/tmp/app_screenshot_phone.png")
        finally:
            browser.close()

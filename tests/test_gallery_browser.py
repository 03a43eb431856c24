"""The gallery in headless Chromium, as a visitor of the Space meets it: `python app.py --public` with the
reference's model servers stood in on loopback (tests/download_server.py, small reference-layout .pth files under
the gallery's names, sent slowly enough for the progress to show). One page picks an edges entry (pen and eraser,
no palette) and draws, picks facades (its named palette, the rectangle tool) and draws a window, picks a photo
entry and uploads; then, with the stand-in stopped, an entry not downloaded yet gets one line while the bundled
model still answers."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pix2pix_hub.app.gallery import FACADES_PALETTE
from pix2pix_hub.hub.downloads import CACHE_ENV

from download_server import FileServer, gallery_files, mirror_env
from helpers import ROOT, LivePage, canvas_status, hex_rgb, launch_chromium, served_app, stroke

SERVED = ["edges2shoes", "facades_label2photo", "horse2zebra"]


@pytest.fixture(scope="module")
def gallery_space(tmp_path_factory):
    """(url, stand-in): the Space on the bundled model, its gallery's weights behind a slow loopback server."""
    root = tmp_path_factory.mktemp("gallery-space")
    with FileServer(gallery_files(SERVED)) as stand_in:
        stand_in.bytes_per_second = 400_000  # edges2shoes' 0.8 MiB: about 2 s, several progress lines
        env = {**mirror_env(stand_in.url), CACHE_ENV: str(root / "cache"), "GRADIO_TEMP_DIR": str(root / "gradio"),
               "OMP_NUM_THREADS": "1"}
        with served_app(["--public"], root / "server.log", env) as (url, _):
            yield url, stand_in


def pick(page, name: str) -> None:
    """Choose `name` in the model list, as a visitor does (open the list, click the entry)."""
    box = page.get_by_role("combobox", name="Model")
    box.click()
    box.fill("")
    box.press_sequentially(name)  # typed: the list narrows to it, as it does for a visitor
    page.get_by_role("option", name=name, exact=True).click()
    page.wait_for_function("(n) => document.querySelector('[role=combobox]').value === n && "
                           "!document.querySelector('[role=option]')", arg=name)


def visible_tools(page) -> list[str]:
    return page.eval_on_selector_all("#canvas button[data-tool]", "els => els.filter(e => !e.hidden).map(e => e.dataset.tool)")


def test_a_visitor_tours_the_gallery(sync_api, gallery_space, tmp_path):
    url, stand_in = gallery_space
    wait = 30000
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100})
            page.set_default_timeout(wait)
            live = LivePage(page)
            page.goto(url)
            page.wait_for_selector("#canvas .p2p-canvas[data-ready='true']")
            view = page.locator("#canvas canvas.p2p-view")

            def at(x, y, size=256):
                box = view.bounding_box()
                return box["x"] + (x + 0.5) * box["width"] / size, box["y"] + (y + 0.5) * box["height"] / size

            # edges2shoes: its download shows as bytes of total, then the entry's line; a pen and an eraser only.
            pick(page, "edges2shoes")
            statuses = []  # every line the status shows while the weights arrive, polled as a visitor sees them
            while "line drawing" not in (statuses or [""])[-1]:
                line = page.inner_text("#model-status")
                if not statuses or line != statuses[-1]:
                    statuses.append(line)
                assert len(statuses) < 200 and "⚠️" not in line, statuses
                page.wait_for_timeout(50)
            progress = [line for line in statuses if line.startswith("⏳ Downloading edges2shoes")]
            assert any(line.endswith("of 0.8 MiB…") for line in progress), statuses  # bytes of total
            assert "BSD" in page.inner_text("#model-status")
            assert page.get_attribute("#canvas .p2p-canvas", "data-kind") == "edges"
            assert page.locator("#canvas .p2p-legend").is_hidden()  # no colour palette
            assert visible_tools(page) == ["brush", "eraser"] and page.inner_text("#canvas button[data-tool=brush]") == "Pen"
            assert page.input_value("#canvas .p2p-size input") == "2"
            sketch, output = live.edit(lambda: stroke(page, [at(40, 60), at(200, 80), at(210, 200)]))
            colours = {tuple(c) for c in sketch.reshape(-1, 3)}
            assert colours == {(0, 0, 0), (255, 255, 255)}, colours  # black contours on white
            assert (sketch == 0).all(axis=2).sum() < 256 * 8, "the pen is thin (1-3 px), not a brush"
            assert output is not None and output.shape == (256, 256, 3) and canvas_status(page).startswith("✅")

            # facades: its 12 named colours, the rectangle tool; a window drawn as a rectangle reaches the model.
            pick(page, "facades_label2photo")
            page.wait_for_function("() => document.querySelector('#canvas .p2p-canvas').dataset.kind === 'labels'")
            names = page.eval_on_selector_all(".p2p-swatch", "els => els.map(e => e.dataset.name)")
            assert names == list(FACADES_PALETTE)
            assert "rect" in visible_tools(page) and "fill" in visible_tools(page)
            page.wait_for_function("() => document.querySelector('#model-status').innerText.includes('label map')")
            page.locator(".p2p-swatch[data-name=window]").click()
            page.locator("#canvas button[data-tool=rect]").click()
            sketch, output = live.edit(lambda: stroke(page, [at(60, 60), at(120, 140)]))
            window = np.all(sketch == hex_rgb(FACADES_PALETTE["window"]), axis=2)
            assert window[70:130, 70:110].all() and not window[:50].any(), "the rectangle is not a filled window"
            assert output is not None and canvas_status(page).startswith("✅"), canvas_status(page)

            # Another labels entry keeps the drawing (snapped to its palette); an edges entry clears it, undoably.
            def shown_at(x, y):  # the canvas's pixel as the visitor sees it
                return tuple(page.eval_on_selector("#canvas canvas.p2p-view", "(c, [x, y]) => Array.from("
                                                   "c.getContext('2d').getImageData(x, y, 1, 1).data).slice(0, 3)",
                                                   [x, y]))
            assert shown_at(90, 100) == hex_rgb(FACADES_PALETTE["window"])
            pick(page, "cityscapes_label2photo")  # not on the stand-in: its line says so, the canvas still follows
            page.wait_for_function("() => document.querySelector('#canvas .p2p-canvas').dataset.kindKey"
                                   ".includes('#804080')")  # the Cityscapes palette (road)
            assert shown_at(90, 100) != (255, 255, 255), "the label drawing was lost between two labels entries"
            pick(page, "edges2shoes")
            page.wait_for_function("() => document.querySelector('#canvas .p2p-canvas').dataset.kind === 'edges'")
            assert shown_at(90, 100) == (255, 255, 255), "a label map left on the edges canvas"
            page.get_by_role("button", name="Undo").click()
            page.wait_for_function("() => document.querySelector('#canvas .p2p-canvas').dataset.results > 0")
            assert shown_at(90, 100) != (255, 255, 255), "the cleared drawing did not come back with Undo"

            # horse2zebra wants a photo: the Upload tab opens, the canvas says so; an upload is translated.
            pick(page, "horse2zebra")
            page.wait_for_function("() => document.querySelector('#model-status').innerText.includes('a photo')")
            assert page.get_by_role("tab", name="Upload").get_attribute("aria-selected") == "true"
            photo = tmp_path / "photo.png"
            rng = np.random.default_rng(0)
            Image.fromarray(rng.integers(0, 255, (192, 288, 3), dtype=np.uint8)).save(photo)
            page.locator("#upload input[type=file]").set_input_files(str(photo))
            page.wait_for_function("() => document.querySelector('#timing').innerText.includes('288×192')")
            assert page.inner_text("#timing").startswith("✅"), page.inner_text("#timing")

            # The entry's examples: a photo example opens as the upload (and is translated) ...
            examples = page.locator("#entry-examples")
            assert examples.is_visible() and "horse2zebra1.jpg" in examples.inner_html()
            examples.locator("button, [role=button], .gallery-item, tr").first.click()
            page.wait_for_function("() => document.querySelector('#timing').innerText.includes('512×384')")
            assert page.inner_text("#timing").startswith("✅"), page.inner_text("#timing")
            # ... and a label map opens on the canvas, pixel for pixel (256² already), to paint over.
            pick(page, "facades_label2photo")
            page.wait_for_function("() => document.querySelector('#canvas .p2p-canvas').dataset.kind === 'labels'")
            example = np.asarray(Image.open(ROOT / "examples" / "gallery" / "facades_label2photo1.png").convert("RGB"))
            examples.locator("button, [role=button], .gallery-item, tr").first.click()
            page.wait_for_function("(c) => { const d = document.querySelector('#canvas canvas.p2p-view').getContext('2d')"
                                   ".getImageData(20, 200, 1, 1).data; return d[0] === c[0] && d[1] === c[1] && "
                                   "d[2] === c[2]; }", arg=[int(v) for v in example[200, 20]])
            assert all(shown_at(x, y) == tuple(int(v) for v in example[y, x]) for x, y in ((60, 60), (128, 230), (5, 5)))

            # The stand-in stops: an entry not downloaded yet gets one line; the bundled model still answers.
            stand_in.__exit__(None, None, None)
            pick(page, "day2night")
            page.wait_for_function("() => document.querySelector('#model-status').innerText.includes('unavailable')")
            line = page.inner_text("#model-status")
            assert line.startswith("⚠️ day2night is unavailable: could not reach 127.0.0.1") and "\n" not in line, line
            pick(page, "models/default")
            page.get_by_role("tab", name="Draw").click()
            page.wait_for_function("() => document.querySelector('#canvas .p2p-canvas').dataset.kind === 'landscape'")
            assert page.input_value("#canvas .p2p-size input") == "12", "the landscape brush kept the 2-px pen's size"
            sketch, output = live.edit(lambda: stroke(page, [at(10, 200), at(240, 200)]))
            assert output is not None and canvas_status(page).startswith("✅"), canvas_status(page)
            page.screenshot(path="/tmp/gallery_screenshot.png", full_page=True)
        finally:
            browser.close()

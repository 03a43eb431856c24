"""pix2pix_hub/browser_inference.py + static/browser_inference.js: the canvas's generator in the visitor's browser
(headless Chromium, WebAssembly), its fallback to the server, the browser's cache, and the vendored runtime."""
import base64
import hashlib
import io
import json
import os
import re
import urllib.request

import numpy as np
import pytest
from PIL import Image

from pix2pix_hub.app.browser_inference import ORT, BrowserModels, routes
from pix2pix_hub.app.serving import ModelServer, ServeSettings
from pix2pix_hub.evaluation.metrics import psnr_db
from pix2pix_hub.models import build_generator
from pix2pix_hub.models.folder import save_model_folder

from helpers import CHROMIUM, ROOT, launch_chromium, served_app

WAIT = 30000  # ms for any single wait: loading a 15 MB runtime and compiling it on a busy 2-core machine
# fp32 in both runtimes: the outputs differ by float rounding (a few 8-bit levels at most), far above 40 dB.
MIN_PSNR = 40.0


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-pix2pix")
    save_model_folder(folder, {"AtoB": build_generator("unet_128", ngf=8)}, {"model_type": "pix2pix", "resolution": 128})
    return str(folder)


def test_vendored_runtime_is_recorded():
    record = (ORT / "VENDORED.md").read_text()
    assert re.search(r"onnxruntime-web \d+\.\d+\.\d+", record) and "licence: MIT" in record
    rows = re.findall(r"\| (\S+) \| (\d+) \| ([0-9a-f]{64}) \|", record)
    assert {name for name, _, _ in rows} >= {"ort.wasm.min.mjs", "ort-wasm-simd-threaded.wasm"}
    for name, size, digest in rows:
        data = (ORT / name).read_bytes()
        assert len(data) == int(size) and hashlib.sha256(data).hexdigest() == digest, name
    script = (ROOT / "scripts" / "vendor_onnxruntime_web.sh").read_text()
    assert re.search(r"onnxruntime-web \d", record).group(0).split()[-1] in script  # the pinned version


def test_space_mode_serves_only_its_models_and_bounds_the_file(tiny_model, monkeypatch):
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    server = ModelServer(ServeSettings(True, [tiny_model], 2**30, 2**29, 2**24, 10**7), ROOT)
    client = TestClient(Starlette(routes=routes(BrowserModels(server))))
    other = client.get("/p2p/browser-model", params={"model": "/etc", "size": 128}).json()
    assert other == {"browser": False, "reason": "this Space serves only the models in its list: pick one of them"}
    answer = client.get("/p2p/browser-model", params={"model": tiny_model, "size": 128}).json()
    assert answer["browser"], answer
    onnx = client.get(answer["url"] if answer["url"].startswith("/") else "/" + answer["url"])
    assert onnx.status_code == 200 and len(onnx.content) == answer["bytes"]
    assert client.get("/p2p/onnx/" + "0" * 32 + ".onnx").status_code == 404  # only files it made
    assert client.get("/p2p/static/..%2Fbrowser_inference.py").status_code == 404
    assert client.get("/p2p/static/ort-wasm-simd-threaded.wasm").headers["content-type"] == "application/wasm"
    wrong_size = client.get("/p2p/browser-model", params={"model": tiny_model, "size": 96}).json()
    assert not wrong_size["browser"] and "size" in wrong_size["reason"]
    monkeypatch.setenv("PIX2PIX_BROWSER_MODEL_MB", str(answer["bytes"] / 2**20 / 2))
    over = client.get("/p2p/browser-model", params={"model": tiny_model, "size": 128}).json()
    assert not over["browser"] and "over this server's" in over["reason"]


def test_fp16_weights_only_where_every_example_keeps_the_bound(tiny_model, monkeypatch):
    """The file stores fp16 weights (about half the bytes) when the examples stay >= the bound from the server's
    fp32 output; the same measurement under a bound just above its worst figure keeps fp32, and no example keeps
    fp32: the choice follows the measurement, not a default."""
    settings = ServeSettings(True, [tiny_model], 2**30, 2**29, 2**24, 10**7)
    examples = sorted(str(p) for p in (ROOT / "examples").glob("*.png"))

    def ask(examples, min_db=None):
        if min_db is not None:
            monkeypatch.setenv("PIX2PIX_BROWSER_FP16_DB", str(min_db))
        answer = BrowserModels(ModelServer(settings, ROOT), lambda model_id: examples).describe(tiny_model, None,
                                                                                                "default", 128)
        assert answer["browser"], answer
        return answer

    light = ask(examples)
    figures = light["weights_psnr_db"]
    assert light["weights"] == "fp16" and set(figures) == {os.path.basename(p) for p in examples}, light
    # Finite: the fp16 file really differs from fp32 (identical outputs would be inf dB), yet stays above 40 dB.
    assert all(MIN_PSNR <= db < float("inf") for db in figures.values()), figures
    full = ask([])
    assert full["weights"] == "fp32" and full["weights_reason"] == "no example to measure fp16 weights on"
    assert 0.45 < light["bytes"] / full["bytes"] < 0.55  # float16 weights, all else (the graph) a few kB
    worst = min(figures.values())
    strict = ask(examples, worst + 0.5)
    assert strict["weights"] == "fp32" and strict["bytes"] == full["bytes"] and "under" in strict["weights_reason"]
    assert ask(examples, worst - 0.5)["weights"] == "fp16"


@pytest.fixture(scope="module")
def app_server(tiny_model, tmp_path_factory):
    with served_app(["--model", tiny_model], tmp_path_factory.mktemp("app") / "server.log") as (url, _):
        yield url


@pytest.fixture(scope="module")
def playwright(app_server):
    api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium); the browser test needs it")
    with api.sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright):
    browser = launch_chromium(playwright, timeout=WAIT)
    yield browser
    browser.close()


class Page:
    """A page of the app with its requests counted: live translations (the server path) and ONNX downloads."""

    def __init__(self, context, url):
        self.page, self.translations, self.onnx = context.new_page(), 0, 0
        self.page.set_default_timeout(WAIT)
        self.page.on("request", self._count)
        self.page.goto(url)
        self.page.wait_for_selector("#canvas .p2p-canvas[data-ready='true']")

    def _count(self, request):
        if "/component_server" in request.url and "translate_live" in (request.post_data or ""):
            self.translations += 1
        if "/p2p/onnx/" in request.url:
            self.onnx += 1
        if "/p2p/browser-model?" in request.url:
            self.described = request.url

    def canvas(self, name):
        return self.page.eval_on_selector("#canvas .p2p-canvas", f"e => e.dataset.{name} || ''")

    def edit(self, action):
        before = int(self.canvas("results") or 0)
        action()
        self.page.wait_for_function("n => +document.querySelector('#canvas .p2p-canvas').dataset.results > n",
                                    arg=before)
        src = self.page.get_attribute("#canvas img.p2p-output", "src")
        if not src:
            return None  # (an empty drawing)
        return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"))

    def stroke(self):
        box = self.page.locator("#canvas canvas.p2p-view").bounding_box()
        self.page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * 0.3)
        self.page.mouse.down()
        self.page.mouse.move(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.6, steps=8)
        self.page.mouse.up()

    def where(self):
        return self.page.locator("#canvas .p2p-where span").inner_text()

    def switch_looks_on(self) -> bool:
        """Whether the browser switch is drawn filled: most of its inside (its 1-px border off) not near-white."""
        shot = Image.open(io.BytesIO(self.page.locator("#canvas .p2p-where input").screenshot())).convert("L")
        inside = np.asarray(shot)[2:-2, 2:-2]
        return float(np.mean(inside < 200)) > 0.4


def test_stroke_runs_in_the_browser_matches_the_server_and_is_cached(browser, app_server):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    try:
        page = Page(context, app_server)
        page.page.wait_for_selector("#canvas .p2p-canvas[data-browser-ready]")
        assert page.where() == "runs in your browser (wasm)" and page.onnx == 1
        assert page.switch_looks_on()  # (Gradio's theme alone drew it empty: a white tick on white)
        mine = page.edit(page.stroke)
        assert page.translations == 0, "the stroke went to the server"
        assert page.canvas("browserRuns") == "1" and "in your browser" in page.page.inner_text("#canvas .p2p-status")
        # The same drawing on the server: switch the browser off, undo and redo (the redo resends the drawing).
        page.page.uncheck("#canvas .p2p-where input")
        assert page.where() == "runs on the server (switched off)" and not page.switch_looks_on()
        page.edit(lambda: page.page.click("#canvas [data-action=undo]"))
        theirs = page.edit(lambda: page.page.click("#canvas [data-action=redo]"))
        assert page.translations == 2 and page.canvas("browserRuns") == "1"
        assert not np.array_equal(mine, np.full_like(mine, 255))  # a real image, not the blank canvas
        assert psnr_db(mine, theirs, 255) >= MIN_PSNR, psnr_db(mine, theirs, 255)
        # ... with the file the app chose for this model: fp16 weights (measured >= 40 dB on the example paintings).
        assert json.loads(urllib.request.urlopen(page.described, timeout=30).read())["weights"] == "fp16"
        page.page.check("#canvas .p2p-where input")
        # A second visit: the model comes from the browser's Cache API, not the network.
        again = Page(context, app_server)
        again.page.wait_for_selector("#canvas .p2p-canvas[data-browser-ready]")
        again.edit(again.stroke)
        assert again.onnx == 0 and again.translations == 0 and again.where() == "runs in your browser (wasm)"
    finally:
        context.close()


def test_without_webassembly_the_server_answers(browser, app_server):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.add_init_script("delete window.WebAssembly")
    try:
        page = Page(context, app_server)
        assert page.where() == "runs on the server (this browser has no WebAssembly)"
        page.edit(page.stroke)
        assert page.translations == 1 and page.onnx == 0 and page.canvas("browserRuns") == ""
        assert "in your browser" not in page.page.inner_text("#canvas .p2p-status")
    finally:
        context.close()


def test_a_fallback_webgpu_adapter_keeps_webassembly(playwright, app_server):
    """Where the server offers the WebGPU build but the browser's only adapter is a fallback (a CPU emulating a
    GPU: 9.1 s a stroke against WASM's 95 ms, benchmarks.browser_latency --webgpu), the page runs WASM. The
    adapter really is there and marked fallback, so the choice is the page's, not a missing navigator.gpu."""
    gpu_browser = launch_chromium(playwright, timeout=WAIT, webgpu=True)
    try:
        context = gpu_browser.new_context(viewport={"width": 1280, "height": 1000})

        def offer_webgpu(route):
            answer = route.fetch().json()
            route.fulfill(json={**answer, "webgpu": True} if answer.get("browser") else answer)

        context.route("**/p2p/browser-model?*", offer_webgpu)
        page = Page(context, app_server)
        adapter = page.page.evaluate("async () => { const a = navigator.gpu && await navigator.gpu.requestAdapter(); "
                                     "return a ? {fallback: !!(a.info && a.info.isFallbackAdapter)} : null; }")
        if adapter is None:
            pytest.skip("this Chromium gives no WebGPU adapter even with --enable-unsafe-webgpu")
        assert adapter == {"fallback": True}
        page.page.wait_for_selector("#canvas .p2p-canvas[data-browser-ready]")
        assert page.where() == "runs in your browser (wasm)"
        page.edit(page.stroke)
        assert page.translations == 0 and page.canvas("browserRuns") == "1"
    finally:
        gpu_browser.close()


def test_visitors_at_once_send_translations_only_on_the_server_path(app_server):
    """benchmarks/browser_load.py's two modes, in short: 2 pages drawing at once for 2 s each way (its own
    Chromium, driven by playwright's async API in a thread of its own)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    pytest.importorskip("playwright.async_api", reason="playwright is not installed")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}")
    from benchmarks.browser_load import launch, run_visitors

    async def visitors():
        from playwright.async_api import async_playwright

        async with async_playwright() as p:
            browser = await launch(p)
            try:
                return await run_visitors(browser, app_server, 2, 2.0, 0.5, 1, None, ready_timeout_ms=WAIT)
            finally:
                await browser.close()

    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(asyncio.run, visitors()).result()
    server, local = result["server"], result["browser"]
    assert server["strokes"] >= 2 and local["strokes"] >= 2, result
    assert server["ok"] == server["strokes"] and local["ok"] == local["strokes"], (server["outcomes"], local["outcomes"])
    assert server["translation_requests_per_stroke"] == 1.0 and local["translation_requests_per_stroke"] == 0.0
    assert all("in your browser" in r["status"] for r in local["per_stroke"])

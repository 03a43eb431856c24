"""Live-demo latency in a real browser: `python app.py` on loopback, headless Debian Chromium driven by playwright.

Each of N strokes is drawn with real mouse events; the page itself records the time of the mouse-up (pointerup)
and the time the output <img> has a new `src` whose pixels are decoded and painted (its `load` event, then the
next animation frame). Requests are counted per stroke from the mouse-down until the output is painted plus a short settle.
The model's own time is the "in N ms" the app prints for each result: the baseline the browser/transport
overhead is compared with, measured in the same run.

`--where browser` draws with the generator in the page (ONNX Runtime Web, WebAssembly; `static/browser_inference.js`)
instead of on the server (`--where server`, the default; `both` measures one after the other): it also reports
the ONNX file's size, the first load (page open -> model ready in the browser), a second page's load (from the
browser's Cache API), and the server's CPU time per stroke (utime + stime of app.py over the strokes).

Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# WebGPU in headless Chromium: its CPU adapter (SwiftShader), so the WebGPU build's path runs and can be checked
# against the server; its times are a CPU emulating a GPU, not a visitor's GPU. (Needs a secure context: loopback.)
WEBGPU_ARGS = [a for a in CHROMIUM_ARGS if a != "--disable-gpu"] + ["--enable-unsafe-webgpu"]

# Installed in the page before the app loads: mouse-up times and the paint time of each new output image.
OUTPUT = "#canvas img.p2p-output"  # the drawing's result, beside it
STATUS = "#canvas .p2p-status"
PAGE_PROBE = f"const OUTPUT = {OUTPUT!r};" + """
window.__bench = {ups: [], painted: []};
document.addEventListener('pointerup', () => window.__bench.ups.push(performance.now()), true);
const watch = () => {
  new MutationObserver(() => {
    const img = document.querySelector(OUTPUT);
    if (!img || !img.src || img.dataset.benchSrc === img.src) return;
    img.dataset.benchSrc = img.src;
    const done = () => requestAnimationFrame(() => window.__bench.painted.push({t: performance.now()}));
    if (img.complete && img.naturalWidth) done(); else img.addEventListener('load', done, {once: true});
  }).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
};
if (document.body) watch(); else document.addEventListener('DOMContentLoaded', watch);
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(args: list[str], log_path: Path, timeout: float = 120,
          env: dict[str, str] | None = None) -> tuple[str, subprocess.Popen]:
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", **(env or {}))
    env.pop("SPACE_ID", None)
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, str(ROOT / "app.py"), *args, "--port", str(port)], cwd=ROOT,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return url, process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise SystemExit(f"error: app.py did not start:\n{log_path.read_text()[-2000:]}") from None
            time.sleep(0.25)


def drawing_area(page) -> dict:
    """The bounding box of the drawable canvas in page coordinates."""
    page.wait_for_selector("#canvas .p2p-canvas[data-ready='true']")
    return page.locator("#canvas canvas.p2p-view").bounding_box()


def stroke_points(area: dict, index: int) -> list[tuple[float, float]]:
    """A horizontal stroke, a little lower each time, wrapping around."""
    y = area["y"] + area["height"] * (0.1 + 0.8 * ((index * 0.37) % 1.0))
    return [(area["x"] + area["width"] * f, y + 4 * (i % 2)) for i, f in enumerate((0.1, 0.35, 0.6, 0.9))]


def run_strokes(page, strokes: int, timeout_ms: int = 20000) -> list[dict]:
    area = drawing_area(page)
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    results = []
    for index in range(strokes):
        painted_before = page.evaluate("window.__bench.painted.length")
        requests.clear()
        points = stroke_points(area, index)
        page.mouse.move(*points[0], steps=2)
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(x, y, steps=5)
        page.mouse.up()
        page.wait_for_function("(n) => window.__bench.painted.length > n", arg=painted_before, timeout=timeout_ms)
        page.wait_for_timeout(300)  # let the stroke's trailing requests (status polls, downloads) land
        up = page.evaluate("window.__bench.ups[window.__bench.ups.length - 1]")
        painted = page.evaluate("(n) => window.__bench.painted[n].t", painted_before)
        status = page.locator(STATUS).inner_text()
        model_ms = float(status.split(" in ")[1].split(" ms")[0]) if " in " in status and " ms" in status else None
        results.append({"latency_ms": painted - up, "requests": len(requests), "model_ms": model_ms,
                        "request_paths": [request_kind(r, page.url) for r in requests]})
    return results


def request_kind(url: str, base: str) -> str:
    """/gradio_api/file=/tmp/gradio/<hash>/image.png -> /gradio_api/file=…: one name per kind of request."""
    path = url.split("?")[0].replace(base.rstrip("/"), "")
    return path.split("=")[0] + "=…" if "=" in path else path


def summary(results: list[dict]) -> dict:
    latency = [r["latency_ms"] for r in results]
    model = [r["model_ms"] for r in results if r["model_ms"] is not None]
    return {"strokes": len(results), "median_ms": statistics.median(latency), "max_ms": max(latency),
            "min_ms": min(latency), "requests_per_stroke_median": statistics.median(r["requests"] for r in results),
            "requests_per_stroke_max": max(r["requests"] for r in results),
            "model_median_ms": statistics.median(model) if model else None,
            "request_kinds": {kind: sum(r["request_paths"].count(kind) for r in results) / len(results)
                              for kind in sorted({p for r in results for p in r["request_paths"]})}}


def server_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def idle_cpu_rate(pid: int, settle: float = 5.0, window: float = 4.0) -> float:
    """app.py's CPU seconds per second with the page open and nobody drawing, after `settle` s (its warm-up
    compile and the ONNX export done): what the server spends anyway (its thread pools, the cache sweep), taken
    off the strokes' CPU."""
    time.sleep(settle)
    before = server_cpu_seconds(pid)
    time.sleep(window)
    return (server_cpu_seconds(pid) - before) / window


def open_page(browser, url: str, where: str, width: int, height: int, context=None):
    """A page of the app with the probe installed, set to run the model `where`; -> (page, seconds to ready)."""
    context = context or browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.add_init_script(PAGE_PROBE)
    page.add_init_script(f"localStorage.setItem('pix2pix-hub-browser-inference', {'on' if where == 'browser' else 'off'!r})")
    began = time.monotonic()
    page.goto(url)
    drawing_area(page)
    if where == "browser":
        page.wait_for_function("() => !!document.querySelector('#canvas .p2p-canvas').dataset.browserReady",
                               timeout=120000)
    return page, time.monotonic() - began


def measure(model: str | None = None, strokes: int = 16, width: int = 1280, height: int = 1000,
            log_dir: Path | None = None, where: str = "server", webgpu: bool = False) -> dict:
    from playwright.sync_api import sync_playwright

    log_dir = Path(log_dir or "/tmp")
    url, process = serve(["--model", model] if model else [], log_dir / "browser_latency_server.log")
    extra = {}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=WEBGPU_ARGS if webgpu else CHROMIUM_ARGS)
            try:
                onnx = []
                page, ready = open_page(browser, url, where, width, height)
                page.on("response", lambda r: onnx.append(r) if r.url.endswith(".onnx") else None)
                if where == "browser":
                    second, again = open_page(browser, url, where, width, height, context=page.context)
                    second.close()
                    extra = {"first_load_s": round(ready, 2), "second_load_s": round(again, 2)}
                idle = idle_cpu_rate(process.pid)
                cpu_before, began = server_cpu_seconds(process.pid), time.monotonic()
                results = run_strokes(page, strokes)
                spent = server_cpu_seconds(process.pid) - cpu_before - idle * (time.monotonic() - began)
                extra.update(server_cpu_ms_per_stroke=round(1000 * spent / strokes, 1),
                             server_idle_cpu_ms_per_s=round(1000 * idle, 1))
                sizes = page.evaluate("() => performance.getEntriesByType('resource').filter(e => "
                                      "e.name.endsWith('.onnx')).map(e => e.encodedBodySize || e.decodedBodySize)")
                if sizes:
                    extra["onnx_mb"] = round(max(sizes) / 2**20, 1)
                extra["line"] = page.locator("#canvas .p2p-where span").inner_text()  # where it ran (wasm/webgpu)
            finally:
                browser.close()
    finally:
        process.terminate()
        process.wait(15)
    return {"viewport": f"{width}x{height}", "where": where, **summary(results), **extra, "per_stroke": results}


def bench_rows(model: str | None, strokes: int) -> list[dict]:
    """The `live` section of benchmarks.bench: value rows (no ratio; the target is absolute, ms)."""
    result = measure(model, strokes)
    rows = [("stroke end -> output painted, median", result["median_ms"], "ms"),
            ("stroke end -> output painted, max", result["max_ms"], "ms"),
            ("requests per stroke, median", result["requests_per_stroke_median"], "requests"),
            ("the model's own time, median", result["model_median_ms"] or float("nan"), "ms")]
    return [{"section": "live", "measure": measure_name, "fast_value": value, "unit": unit,
             "request_kinds": result["request_kinds"], "per_stroke": result["per_stroke"]}
            for measure_name, value, unit in rows]


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model folder or Hub id (default: what app.py serves, models/default)")
    parser.add_argument("--strokes", type=int, default=16)
    parser.add_argument("--where", choices=["server", "browser", "both"], default="server",
                        help="where the generator runs: on the server, in the page (ONNX Runtime Web), or both")
    parser.add_argument("--json", type=Path, help="write every stroke's figures here")
    parser.add_argument("--webgpu", action="store_true",
                        help="Chromium with WebGPU on (SwiftShader, the CPU adapter; needs the WebGPU build vendored: "
                             "scripts/vendor_onnxruntime_web.sh --webgpu)")
    args = parser.parse_args(argv)
    results = []
    for where in (["server", "browser"] if args.where == "both" else [args.where]):
        result = measure(args.model, args.strokes, where=where, webgpu=args.webgpu)
        result["cpu"] = cpu_model()
        results.append(result)
        print(f"{where}: {result['strokes']} strokes on {result['cpu']} ({os.cpu_count()} cores, load "
              f"{os.getloadavg()[0]:.1f}): mouse-up -> output painted median {result['median_ms']:.0f} ms, max "
              f"{result['max_ms']:.0f} ms; model median {result['model_median_ms']} ms; requests per stroke median "
              f"{result['requests_per_stroke_median']}, max {result['requests_per_stroke_max']}; server CPU per "
              f"stroke {result['server_cpu_ms_per_stroke']} ms (idle: {result['server_idle_cpu_ms_per_s']} ms/s)"
              + (f"; ONNX {result.get('onnx_mb')} MB, first load {result['first_load_s']} s, second page "
                 f"{result['second_load_s']} s" if where == "browser" else ""))
        print("  requests per stroke by kind:", ", ".join(f"{k} {v:.1f}" for k, v in result["request_kinds"].items()))
    if args.json:
        args.json.write_text(json.dumps(results if len(results) > 1 else results[0], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""fp16-stored weights for the browser's ONNX file, measured: `python -m benchmarks.browser_fp16 [--model M]`.

`python app.py --model M` on loopback; each bundled example (examples/*.png, 256²) goes to the server as the
canvas sends a stroke (POST /gradio_api/component_server translate_live: the server's fp32 output), and into
headless Chromium, where the vendored ONNX Runtime Web (WebAssembly) runs the app's fp32 ONNX file and the same
file with every float initializer stored as float16 behind a Cast to float32 (`fp16_weights`:
the arithmetic stays fp32, only the weights are rounded), with the canvas's own pre/post-processing.
Reported per example: the PSNR of each browser output against the server's, and the two files' sizes. (The app
itself makes the same choice per model, measured with onnxruntime: browser_inference.lighter_weights.)
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import sys
import tempfile
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.browser_latency import CHROMIUM, CHROMIUM_ARGS, WEBGPU_ARGS, serve
from benchmarks.space_load import post_json
from pix2pix_hub.app.browser_inference import fp16_weights
from pix2pix_hub.evaluation.metrics import psnr_db

ROOT = Path(__file__).resolve().parents[1]

# The canvas's pre/post-processing (static/browser_inference.js), on one RGB u8 image of size²; -> RGB u8.
RUN = """async ({models, images, size, provider}) => {
  const ort = await import(provider === 'webgpu' ? '/p2p/static/ort.webgpu.min.mjs' : '/p2p/static/ort.wasm.min.mjs');
  ort.env.wasm.wasmPaths = new URL('/p2p/static/', location.href).href;
  ort.env.wasm.numThreads = 1;
  const f32 = Math.fround, TWO = f32(2 / 255);
  const rint = (x) => Math.abs(x - Math.trunc(x)) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x);
  const out = {};
  for (const [name, url] of Object.entries(models)) {
    const bytes = new Uint8Array(await (await fetch(url)).arrayBuffer());
    const session = await ort.InferenceSession.create(bytes, {executionProviders: [provider]});
    out[name] = [];
    for (const b64 of images) {
      const rgb = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const plane = size * size, input = new Float32Array(3 * plane);
      for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) input[c * plane + i] = f32(f32(rgb[3 * i + c] * TWO) - 1);
      const y = (await session.run({image: new ort.Tensor('float32', input, [1, 3, size, size])})).output.data;
      const result = new Uint8Array(3 * plane);
      for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) {
        result[3 * i + c] = rint(f32(Math.min(1, Math.max(0, f32(f32(y[c * plane + i] + 1) * 0.5))) * 255));
      }
      out[name].push(Array.from(result));
    }
  }
  return out;
}"""


def data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def measure(model: str = "models/default", examples: list[Path] | None = None, webgpu: bool = False) -> dict:
    """`webgpu`: Chromium's WebGPU (SwiftShader) and the vendored WebGPU build run the two files instead of WASM."""
    from playwright.sync_api import sync_playwright

    examples = examples or sorted((ROOT / "examples").glob("*.png"))
    work = Path(tempfile.mkdtemp(prefix="browser-fp16-"))
    # the server hands out its fp32 file (no fp16 reaches 1e9 dB); the fp16 twin is made here
    url, process = serve(["--model", model], work / "server.log", env={"PIX2PIX_BROWSER_FP16_DB": "1e9"})
    try:
        config = json.loads(urllib.request.urlopen(url + "config", timeout=30).read())
        (canvas,) = [c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "canvas"]
        images = [Image.open(path).convert("RGB") for path in examples]
        size = images[0].width
        server = []
        for image in images:
            answer = post_json(url + "gradio_api/component_server", {
                "session_hash": "fp16", "component_id": canvas, "fn_name": "translate_live",
                "data": {"sketch": data_url(image), "model": model, "direction": "AtoB", "resolution": "default"}})
            assert answer["image"], answer["status"]
            png = base64.b64decode(answer["image"].split(",", 1)[1])
            server.append(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")))
        info = json.loads(urllib.request.urlopen(f"{url}p2p/browser-model?model={model}&size={size}").read())
        assert info["browser"], info
        fp32 = urllib.request.urlopen(url + info["url"]).read()
        (work / "fp32.onnx").write_bytes(fp32)
        fp16_weights(work / "fp32.onnx", work / "fp16.onnx")
        fp16 = (work / "fp16.onnx").read_bytes()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=WEBGPU_ARGS if webgpu else CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.route("**/bench/fp16.onnx", lambda route: route.fulfill(body=fp16))
                page.goto(url)
                outputs = page.evaluate(RUN, {"models": {"fp32": info["url"], "fp16": "bench/fp16.onnx"}, "size": size,
                                              "provider": "webgpu" if webgpu else "wasm",
                                              "images": [base64.b64encode(np.asarray(i).tobytes()).decode()
                                                         for i in images]})
                gpu = page.evaluate(WEBGPU_PROBE) if webgpu else None
            finally:
                browser.close()
    finally:
        process.terminate()
        process.wait(20)
    rows = []
    for path, theirs, mine32, mine16 in zip(examples, server, outputs["fp32"], outputs["fp16"]):
        mine32 = np.asarray(mine32, np.uint8).reshape(theirs.shape)
        mine16 = np.asarray(mine16, np.uint8).reshape(theirs.shape)
        rows.append({"example": path.name, "psnr_fp32_db": round(psnr_db(mine32, theirs, 255), 2),
                     "psnr_fp16_db": round(psnr_db(mine16, theirs, 255), 2),
                     "max_diff_fp16": int(np.abs(mine16.astype(int) - theirs).max())})
    return {"model": model, "fp32_mb": round(len(fp32) / 2**20, 2), "fp16_mb": round(len(fp16) / 2**20, 2),
            "examples": rows, "webgpu": gpu}


WEBGPU_PROBE = """async () => {
  if (!navigator.gpu) return 'no navigator.gpu';
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return 'navigator.gpu present, requestAdapter() -> null';
    const info = adapter.info || {};
    return `adapter: ${info.vendor || '?'} ${info.architecture || ''} ${info.description || ''}`.trim();
  } catch (error) { return `requestAdapter() threw ${error}`; }
}"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="models/default")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--webgpu", action="store_true", help="run both files with WebGPU (SwiftShader) instead of "
                        "WASM (needs scripts/vendor_onnxruntime_web.sh --webgpu)")
    args = parser.parse_args(argv)
    result = measure(args.model, webgpu=args.webgpu)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

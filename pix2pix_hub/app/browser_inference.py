"""The canvas's generator in the visitor's browser: the app's routes for ONNX Runtime Web and the model's ONNX.

A Space's 2 CPU cores otherwise run every stroke of every visitor. Where a browser can, the canvas
(static/browser_inference.js) runs the generator itself with the vendored ONNX Runtime Web (static/ort/,
scripts/vendor_onnxruntime_web.sh), and the server only hands out files:

- GET /p2p/browser-model?model=&direction=&resolution=&size= -> {"browser": true, "url", "bytes", ...} when the
  canvas's `size`² drawing would run through this model as one whole pass at that very size (so the browser's
  pre/post-processing is exactly the server's: u8 * 2/255 - 1 in, rint(clip((y + 1) / 2) * 255) out, no resize,
  no padding, no tiles), else {"browser": false, "reason"}; the server path then answers as before.
- GET /p2p/onnx/{key}.onnx: the model's ONNX file (fast_inference's fp32 export: dynamic height/width), made
  once per model, served only under the key the endpoint above gave out (content-addressed: immutable).
- GET /p2p/static/{name}: the vendored runtime and the canvas's module, by name from a fixed list.

In Space mode only allowed models are described (ModelServer.refusal), and a file over `PIX2PIX_BROWSER_MODEL_MB`
(default 64) stays on the server. The file a browser gets stores its weights in float16 (half the download; a
Cast back to float32 in front of each, so the arithmetic stays fp32) only where that file's output stays
>= `PIX2PIX_BROWSER_FP16_DB` (default 40) dB PSNR from the server's fp32 output on every one of the model's examples,
measured when the file is first asked for (`lighter_weights`); otherwise, or with no example, it is the fp32 file.
int8 is not offered: quantized int8 stays under 40 dB against fp32 on the gallery's architectures (benchmarks.gallery).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..evaluation.metrics import psnr_db
from .serving import MIB, ModelServer, env_number

STATIC = Path(__file__).resolve().parent / "static"
ORT = STATIC / "ort"
MODULE = STATIC / "browser_inference.js"
MEDIA_TYPES = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
               ".md": "text/markdown"}
ONE_DAY = 86400


def max_model_bytes() -> int:
    """The largest ONNX file a browser is sent (PIX2PIX_BROWSER_MODEL_MB, default 64: a first visit's download)."""
    return int(env_number("PIX2PIX_BROWSER_MODEL_MB", 64) * MIB)


def fp16_min_db() -> float:
    """The PSNR (dB) against the server's fp32 output that fp16-stored weights must keep on every example."""
    return env_number("PIX2PIX_BROWSER_FP16_DB", 40)


@dataclass
class BrowserModel:
    key: str  # the file's sha256 (its URL: the browser's cache can keep it for good)
    path: Path
    bytes: int
    weights: str = "fp32"  # how the file stores its weights ("fp16": half the bytes, fp32 arithmetic)
    psnr_db: dict = field(default_factory=dict)  # example -> dB against the server's fp32 output
    reason: str = ""  # why these weights


def fp16_weights(source: Path, target: Path) -> Path:
    """`source` with every float32 initializer stored as float16 and a Cast back to float32 in front of its users
    (onnxruntime folds the Casts when it loads the file): half the bytes, the same fp32 arithmetic. Written
    atomically."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    kept, casts = [], []
    for initializer in graph.initializer:
        if initializer.data_type != TensorProto.FLOAT:
            kept.append(initializer)
            continue
        half = numpy_helper.from_array(numpy_helper.to_array(initializer).astype(np.float16), initializer.name + "__fp16")
        kept.append(half)
        casts.append(helper.make_node("Cast", [half.name], [initializer.name], to=TensorProto.FLOAT))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.checker.check_model(model)
    staging = target.with_name(f".{target.name}.{os.getpid()}-{threading.get_ident()}")
    onnx.save(model, str(staging))
    os.replace(staging, target)
    return target


def browser_input(rgb) -> np.ndarray:
    """An RGB u8 image -> the canvas's model input (static/browser_inference.js: u8 * 2/255 - 1, 1x3xHxW)."""
    return (np.asarray(rgb, np.float32) * np.float32(2 / 255) - 1).transpose(2, 0, 1)[None].copy()


def browser_output(y) -> np.ndarray:
    """The model's 1xCxHxW output -> the canvas's u8 image (rint(clip((y + 1) / 2) * 255)), HxWxC."""
    return np.rint(np.clip((np.asarray(y, np.float32)[0] + 1) * np.float32(0.5), 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0)


def lighter_weights(fp32: Path, generator, examples: list[str], size: int, min_db: float) -> BrowserModel:
    """The file to hand out: `fp32`, or its fp16-weights twin when the twin's output (onnxruntime, the canvas's
    pre/post-processing) stays >= `min_db` from the server's fp32 output (the generator in PyTorch) on every example,
    each resized to the canvas's `size`²."""
    import onnxruntime
    import torch
    from PIL import Image

    def made(path: Path, weights: str, figures: dict, reason: str) -> BrowserModel:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:32]
        return BrowserModel(digest, path, path.stat().st_size, weights, figures, reason)

    if not examples:
        return made(fp32, "fp32", {}, "no example to measure fp16 weights on")
    fp16 = fp32.with_name(fp32.stem + "-fp16-weights.onnx")
    if not fp16.exists():
        fp16_weights(fp32, fp16)
    session = onnxruntime.InferenceSession(str(fp16), providers=["CPUExecutionProvider"])
    figures = {}
    for path in examples:
        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BICUBIC))
        x = browser_input(rgb)
        with torch.no_grad():
            server = browser_output(generator(torch.from_numpy(x)).numpy())
        mine = browser_output(session.run(["output"], {"image": x})[0])
        figures[Path(path).name] = round(psnr_db(mine, server, 255), 2)
    worst = min(figures.values())
    if worst < min_db:
        return made(fp32, "fp32", figures, f"fp16 weights reach {worst:.1f} dB on an example, under {min_db:g} dB")
    return made(fp16, "fp16", figures, f"fp16 weights keep every example >= {min_db:g} dB")


class BrowserModels:
    """The ONNX files handed to browsers, one per (model, direction), made on first request.
    `examples(model_id)`: the model's example images, on which fp16 weights are measured (none: fp32)."""

    def __init__(self, server: ModelServer, examples: Callable[[str], list[str]] | None = None):
        self.server = server
        self.examples = examples or (lambda model_id: [])
        self.files: dict[str, BrowserModel] = {}  # key -> file: the only ONNX files /p2p/onnx/ serves
        self.made: dict[tuple, BrowserModel] = {}
        self.lock = threading.Lock()  # one export at a time (fast_inference's temporary name is per process)

    def describe(self, model_id: str, direction: str | None, resolution: str, size: int) -> dict:
        """What the canvas needs to run this model at `size`², or why it must ask the server."""
        refusal = self.server.refusal(model_id)
        if refusal:
            return {"browser": False, "reason": refusal}
        try:
            config = self.server.config(model_id)
            direction = (direction if direction in ("AtoB", "BtoA") else "AtoB") if config.get("directions") else None
            translator = self.server.translator(model_id, direction, resolution)
        except Exception as error:  # noqa: BLE001 -- the server path says what is wrong with the model
            return {"browser": False, "reason": f"the model could not be loaded ({self.server.message(error)})"}
        reason = self.unsupported(translator, size)
        if reason:
            return {"browser": False, "reason": reason}
        made = self.onnx_file(model_id, direction, translator, size)
        if made.bytes > max_model_bytes():
            return {"browser": False, "reason": f"the model's ONNX file is {made.bytes / MIB:.0f} MB, over this "
                                                f"server's {max_model_bytes() / MIB:g} MB for browsers"}
        return {"browser": True, "url": f"p2p/onnx/{made.key}.onnx", "bytes": made.bytes, "weights": made.weights,
                "weights_psnr_db": made.psnr_db, "weights_reason": made.reason,
                "in_channels": translator.in_channels, "out_channels": translator.out_channels,
                "webgpu": (ORT / "ort.webgpu.min.mjs").exists()}  # (vendored only with --webgpu)

    @staticmethod
    def unsupported(translator, size: int) -> str | None:
        """Why the browser's one pass at `size`² would not be exactly the server's translation (None: it would)."""
        if translator.colorization or translator.in_channels != 3 or translator.out_channels not in (1, 3):
            return "the browser path handles RGB-in models only"
        if translator.generator.training:
            return "this model runs in train mode (test_mode reference_train), which only PyTorch reproduces"
        if translator.run_size(size, size) != (size, size):
            return f"the model runs at another size than the canvas's {size} px"
        if size % translator.size_multiple or translator.plan(size, size).count != 1:
            return f"the canvas's {size} px would be padded or tiled on the server"
        return None

    def onnx_file(self, model_id: str, direction: str | None, translator, size: int) -> BrowserModel:
        from ..inference.fast import cached_onnx

        with self.lock:
            key = (model_id, direction)
            if key not in self.made:
                path = getattr(translator.backend, "onnx_path", None)  # the fast path's own export, if it made one
                path = Path(path) if path else cached_onnx(translator.generator, "onnxruntime", "fp32",
                                                           translator.in_channels)
                made = lighter_weights(path, translator.generator, self.examples(model_id), size, fp16_min_db())
                self.made[key] = self.files[made.key] = made
            return self.made[key]


def static_files() -> dict[str, Path]:
    """The files /p2p/static/ serves, by name: the vendored runtime and the canvas's module, nothing else."""
    files = {p.name: p for p in ORT.iterdir() if p.suffix in MEDIA_TYPES}
    files[MODULE.name] = MODULE
    return files


def routes(models: BrowserModels) -> list:
    """Starlette routes for the Gradio app (launch(app_kwargs={"routes": ...}): they come before Gradio's own)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import FileResponse, JSONResponse, Response
    from starlette.routing import Route

    files = static_files()

    async def describe(request):
        query = request.query_params
        try:
            size = int(query.get("size", ""))
        except ValueError:
            return JSONResponse({"browser": False, "reason": "size must be a number"}, status_code=400)
        answer = await run_in_threadpool(models.describe, query.get("model", ""), query.get("direction"),
                                         query.get("resolution", "default"), size)
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    async def onnx(request):
        made = models.files.get(request.path_params["key"])
        if made is None:
            return Response("no such model file", status_code=404)
        return FileResponse(made.path, media_type="application/octet-stream",
                            headers={"Cache-Control": "public, max-age=31536000, immutable"})

    async def static(request):
        path = files.get(request.path_params["name"])
        if path is None:
            return Response("not found", status_code=404)
        return FileResponse(path, media_type=MEDIA_TYPES[path.suffix],
                            headers={"Cache-Control": f"public, max-age={ONE_DAY}"})

    return [Route("/p2p/browser-model", describe), Route("/p2p/onnx/{key}.onnx", onnx),
            Route("/p2p/static/{name}", static)]

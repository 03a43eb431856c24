"""The fast CPU path of `ImageTranslator`: the generator exported to ONNX and run in OpenVINO or ONNX Runtime.

    runner = build_backend(generator, (1, 3, 256, 256))      # "auto": openvino, else onnxruntime, else eager
    out = runner(batch)                                       # NCHW float32 in [-1, 1], same as eager
    runner.name                                               # "openvino-fp32", or "eager" with runner.reason

What happens:
1. The eval-mode generator is exported once to ONNX with dynamic batch/height/width axes and cached on disk
   under `cache_root()` (env `PIX2PIX_HUB_CACHE`, else `$HF_HOME/pix2pix_hub`, else `~/.cache/pix2pix_hub`),
   keyed by a hash of the weights, the generator config, the precision and the torch/runtime versions.
2. Each new input shape gets its own compiled model (OpenVINO) and is checked against eager on a random input
   of that shape: max |Δ| must be ≤ `atol` (1e-3 for fp32). A failed export, compile or check makes that
   runner (or that shape) run eager, and the reason is logged and kept in `runner.reason`.
3. `precision="bf16"` (opt-in, OpenVINO on CPUs with AVX-512; native with AVX512-BF16/AMX, else emulated; elsewhere
   it runs fp32 and `runner.reason` says why) and `precision="int8"` (opt-in, OpenVINO +
   NNCF post-training quantization) are not held to `atol`; their PSNR against fp32 is what
   `python -m benchmarks.bench --int8 --bf16` reports.

Generators in `reference_train` test mode (BatchNorm on batch statistics, dropout on) run as reference_train.py's
graph: the statistics computed in it, the dropout masks drawn outside it exactly as eager draws them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import ConfigError, Pix2PixHubError
from ..hub.downloads import cache_dir as package_cache_dir
from ..models import Generator

logger = logging.getLogger(__name__)

RUNTIMES = ("openvino", "onnxruntime")
BACKENDS = ("auto", "eager") + RUNTIMES
PRECISIONS = ("fp32", "bf16", "int8")
OV_PRECISION_HINT = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}  # int8: what is not quantized runs f32
ATOL = 1e-3
# Compiled shapes kept per runner (least recently used dropped first): each holds its own activation buffers,
# ~1 GB for a 1256² ResNet-9 ngf 64 tile, so a folder of photos of many sizes must not keep them all.
MAX_SHAPES, MAX_SHAPE_PIXELS = 8, 4_000_000


# oneDNN's ISA names from AVX-512 up (ONEDNN_MAX_CPU_ISA): OpenVINO's CPU plugin runs bf16 only from avx512_core.
BF16_ISAS = ("AVX512_CORE", "AVX512_CORE_VNNI", "AVX512_CORE_BF16", "AVX512_CORE_FP16", "AVX10_1_512",
             "AVX512_CORE_AMX", "AVX512_CORE_AMX_FP16", "AVX10_1_512_AMX", "AVX10_1_512_AMX_FP16", "AVX10_2_512",
             "AVX10_2_512_AMX_2", "ALL", "DEFAULT")


def bf16_unavailable_reason(cpu_flags: str | None = None, max_isa: str | None = None) -> str | None:
    """Why OpenVINO cannot run bf16 on this CPU, or None when it can.

    OpenVINO reports BF16 from cpuid alone, so a cap (ONEDNN_MAX_CPU_ISA=AVX2) makes its compile fail with
    "object is not initialized"; this asks the same two things up front and names the real cause.
    """
    if cpu_flags is None:
        try:
            cpu_flags = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None  # not Linux: let OpenVINO decide, its failure is still caught and logged
    if max_isa is None:
        max_isa = os.environ.get("ONEDNN_MAX_CPU_ISA")
    flags = set(cpu_flags.split())
    if not {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= flags:
        return "precision='bf16' needs a CPU with AVX-512 (avx512_core); this one has none"
    if max_isa and max_isa.upper() not in BF16_ISAS:
        return f"precision='bf16' needs oneDNN's avx512_core, but ONEDNN_MAX_CPU_ISA={max_isa} caps it below that"
    return None


class FastPathError(Pix2PixHubError, RuntimeError):
    """The fast path cannot run this generator/shape; the message is the logged reason."""


def cache_root() -> Path:
    return package_cache_dir()  # the package's one cache folder (downloads.py)


def runtime_version(runtime: str) -> str:
    if runtime == "openvino":
        import openvino
        return f"openvino-{openvino.__version__}"
    import onnxruntime
    return f"onnxruntime-{onnxruntime.__version__}"


def weights_hash(module: nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def artefact_key(generator: nn.Module, runtime: str, precision: str) -> str:
    config = generator.config if isinstance(generator, Generator) else {}
    parts = {"weights": weights_hash(generator), "config": json.dumps(config, sort_keys=True, default=str),
             "class": type(generator).__name__, "torch": torch.__version__, "runtime": runtime_version(runtime),
             "precision": precision, "format": 1}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def extra_inputs(module: nn.Module, batch: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Inputs after the image that `module` takes (tiling.FrozenStatistics: normalisation statistics of fixed
    shapes), as would reproduce the plain generator on `batch`; () for a plain generator."""
    make = getattr(module, "extra_inputs", None)
    return tuple(t.clone() for t in make(batch)) if make else ()


def export_onnx(generator: nn.Module, path: Path, channels: int, size: int) -> Path:
    """Export with dynamic N/H/W axes on the image (legacy TorchScript exporter: fast, and exact for these
    nets); extra inputs (`extra_inputs`) keep their shapes and are named s0, s1, ..."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    example = calibration_tensor(channels, size, size)
    extras = extra_inputs(generator, example)
    axes = {0: "batch", 2: "height", 3: "width"}
    # inputs whose shape follows the image's (reference_train's dropout masks) get their own free axes
    extra_axes = {f"s{i}": {0: "batch", 2: f"h{i}", 3: f"w{i}"} for i in range(len(extras))} \
        if getattr(generator, "extra_inputs_follow_image", False) else {}
    import warnings
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(generator, (example, *extras), str(tmp), dynamo=False, opset_version=17,
                          do_constant_folding=True, input_names=["image"] + [f"s{i}" for i in range(len(extras))],
                          output_names=["output"], dynamic_axes={"image": axes, "output": axes, **extra_axes})
    os.replace(tmp, path)
    return path


def calibration_batches(channels: int, height: int, width: int, count: int = 8, seed: int = 0) -> list[np.ndarray]:
    """Smooth random images in [-1, 1] (low-frequency noise plus edges): a stand-in for real inputs."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(count):
        coarse = torch.rand(1, channels, 8, 8, generator=generator) * 2 - 1
        image = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic", align_corners=False)
        image = image + 0.1 * torch.randn(image.shape, generator=generator)
        batches.append(image.clamp(-1, 1).numpy())
    return batches


def calibration_tensor(channels: int, height: int, width: int, seed: int = 1) -> torch.Tensor:
    return torch.from_numpy(calibration_batches(channels, height, width, count=1, seed=seed)[0])


class FastRunner:
    """Callable NCHW float tensor -> NCHW float tensor on CPU, compiled per input shape and verified."""

    def __init__(self, generator: nn.Module, runtime: str, onnx_path: Path, precision: str = "fp32",
                 atol: float = ATOL, threads: int | None = None, calibration: Sequence[np.ndarray] | None = None):
        self.generator, self.runtime, self.onnx_path = generator, runtime, onnx_path
        self.precision, self.atol = precision, atol
        self.threads = threads or torch.get_num_threads()
        self.calibration = calibration
        self.name = f"{runtime}-{precision}"
        self.reason: str | None = None
        self.max_abs_diff: dict[tuple, float] = {}
        self._compiled: OrderedDict[tuple, _Once] = OrderedDict()  # shape -> its runner, None: eager
        self._lock = threading.Lock()  # guards the table of shapes only, never held while compiling
        self._load_lock = threading.Lock()  # the model read once for every shape
        self._ov_model = None
        self._ort_session = None

    # -- per-runtime compile ------------------------------------------------------------------
    def _openvino(self, shape: tuple) -> Callable[[np.ndarray], np.ndarray]:
        import openvino as ov
        core = ov.Core()
        core.set_property({"CACHE_DIR": str(self.onnx_path.parent / "ov_cache")})
        with self._load_lock:
            if self._ov_model is None:
                model = core.read_model(str(self.onnx_path))
                if self.precision == "int8":
                    model = self._quantize(model, shape)
                self._ov_model = model
            model = self._ov_model.clone()
        shapes = getattr(self.generator, "extra_shapes", lambda _: [])(shape)
        model.reshape({i: ov.PartialShape(list(s)) for i, s in enumerate([shape, *shapes])})
        compiled = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": self.threads,
                                                     "INFERENCE_PRECISION_HINT": OV_PRECISION_HINT[self.precision]})
        # One infer request per thread: a request runs one inference at a time ("Infer Request is busy"), and the
        # app translates for two visitors at once.
        requests = threading.local()

        def run(*arrays: np.ndarray) -> np.ndarray:
            if not hasattr(requests, "request"):
                requests.request = compiled.create_infer_request()
            return requests.request.infer(dict(enumerate(arrays)))[0].copy()

        return run

    def _quantize(self, model, shape: tuple):
        import nncf
        data = self.calibration or calibration_batches(shape[1], shape[2], shape[3])
        return nncf.quantize(model, nncf.Dataset(list(data)), subset_size=len(data),
                             preset=nncf.QuantizationPreset.MIXED, fast_bias_correction=True)

    def _onnxruntime(self, shape: tuple) -> Callable[[np.ndarray], np.ndarray]:
        if self.precision != "fp32":
            raise FastPathError("onnxruntime runs fp32 only here; bf16 and int8 need openvino (int8 also nncf)")
        with self._load_lock:
            if self._ort_session is None:
                import onnxruntime as ort
                options = ort.SessionOptions()
                options.intra_op_num_threads = self.threads
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                self._ort_session = ort.InferenceSession(str(self.onnx_path), options, providers=["CPUExecutionProvider"])
        session = self._ort_session
        names = [node.name for node in session.get_inputs()]
        return lambda *arrays: session.run(None, dict(zip(names, arrays)))[0]

    # -- shape handling and verification ------------------------------------------------------
    def prepare(self, shape: Sequence[int]) -> bool:
        """Compile and verify for `shape`; False (with the reason logged) when that shape must run eager."""
        return self._runner_for(shape) is not None

    def _runner_for(self, shape: Sequence[int]) -> Callable[..., np.ndarray] | None:
        """The verified runner for `shape` (None: run eager). A shape compiles once, while callers with other
        shapes go on: a visitor's new image size must not stall everyone else's translations."""
        shape = tuple(int(s) for s in shape)
        with self._lock:
            entry = self._compiled.get(shape)
            if entry is None:
                self._evict(room_for=shape)
                entry = self._compiled[shape] = _Once(lambda: self._compile_verified(shape))
            else:
                self._compiled.move_to_end(shape)
        return entry.get()

    def _evict(self, room_for: tuple) -> None:
        """Drop the least recently used compiled shapes until `room_for` fits in MAX_SHAPES / MAX_SHAPE_PIXELS."""
        def pixels(shape: tuple) -> int:
            return shape[0] * shape[2] * shape[3]
        while self._compiled and (len(self._compiled) >= MAX_SHAPES or
                                  sum(map(pixels, self._compiled)) + pixels(room_for) > MAX_SHAPE_PIXELS):
            dropped, _ = self._compiled.popitem(last=False)
            logger.info("fast path %s: dropped the compiled model for input %s", self.name, dropped)

    def _compile_verified(self, shape: tuple):
        try:
            # eager first: its activations are freed before the runtime allocates its own buffers for this
            # shape, so the peak is the larger of the two rather than their sum
            probe = calibration_tensor(shape[1], shape[2], shape[3]).expand(shape).contiguous()
            extras = extra_inputs(self.generator, probe)
            with torch.inference_mode():
                expected = self.generator(probe, *extras).float().numpy()
            run = self._openvino(shape) if self.runtime == "openvino" else self._onnxruntime(shape)
            diff = float(np.abs(run(probe.numpy(), *(t.numpy() for t in extras)) - expected).max())
        except Exception as error:  # noqa: BLE001 -- any runtime failure means: run eager, say why
            self._fail(f"{self.name} failed for input {shape}: {type(error).__name__}: {error}")
            return None
        self.max_abs_diff[shape] = diff
        if self.precision == "fp32" and not diff <= self.atol:
            self._fail(f"{self.name} output differs from eager by {diff:.2e} > {self.atol:g} for input {shape}")
            return None
        logger.info("fast path %s ready for input %s (max |Δ| vs eager %.2e)", self.name, shape, diff)
        return run

    def _fail(self, reason: str) -> None:
        self.reason = reason
        logger.warning("%s; running eager PyTorch instead", reason)

    @torch.inference_mode()
    def __call__(self, batch: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        batch = batch.float().contiguous()
        draw = getattr(self.generator, "draw_masks", None)  # reference_train: this call's dropout masks
        extra = extra or (draw(batch) if draw else ())
        run = self._runner_for(batch.shape)
        if run is None:
            return self.generator(batch, *extra).float()
        arrays = (t.float().contiguous().numpy() for t in extra)
        return torch.from_numpy(run(batch.numpy(), *arrays))


class _Once:
    """A value made by the first caller of get(); later callers wait for that one, not for anything else."""

    def __init__(self, make: Callable):
        self._make, self._lock, self._done, self._value = make, threading.Lock(), False, None

    def get(self):
        with self._lock:
            if not self._done:
                self._value, self._done = self._make(), True
            return self._value


class EagerRunner:
    def __init__(self, generator: nn.Module, reason: str | None = None):
        self.generator, self.reason, self.name = generator, reason, "eager"

    @torch.inference_mode()
    def __call__(self, batch: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        return self.generator(batch.float(), *extra).float()


def _runtime_available(runtime: str) -> bool:
    try:
        __import__(runtime)
    except ImportError:
        return False
    return True


def build_backend(generator: nn.Module, input_shape: Sequence[int], backend: str = "auto", precision: str = "fp32",
                  cache_dir: str | Path | None = None, atol: float = ATOL, threads: int | None = None,
                  calibration: Sequence[np.ndarray] | None = None) -> FastRunner | EagerRunner:
    """The fastest verified CPU runner for `generator` (eval mode, on CPU) at `input_shape` (NCHW).

    `backend`: "auto" tries OpenVINO then ONNX Runtime; a runtime name tries only that one; "eager" is eager.
    Never raises for a runtime problem: the result is then an `EagerRunner` whose `.reason` says why.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if backend == "eager":
        return EagerRunner(generator)
    eager = generator
    if generator.training:
        from .reference_train import ReferenceTrainGraph, reproducible_in_graph

        if hasattr(generator, "extra_inputs") or not reproducible_in_graph(generator):
            return _eager(generator, "the generator runs in train mode (test_mode reference_train) with given "
                                     "statistics or layers other than BatchNorm and dropout: only eager "
                                     "reproduces that")
        # test_mode reference_train: batch statistics in the graph, dropout masks drawn as eager draws them
        generator = ReferenceTrainGraph(generator)
    if next(generator.parameters()).device.type != "cpu":
        return _eager(generator, "the fast path is for CPU; this generator is on "
                                 f"{next(generator.parameters()).device}")
    downgrade = bf16_unavailable_reason() if precision == "bf16" else None
    if downgrade:
        logger.warning("%s; running fp32", downgrade)
        precision = "fp32"
    runtimes = [r for r in (RUNTIMES if backend == "auto" else (backend,)) if _runtime_available(r)]
    if precision != "fp32":
        runtimes = [r for r in runtimes if r == "openvino"]
    reasons = [] if runtimes else [f"no runtime installed for backend={backend!r} precision={precision!r}"]
    for runtime in runtimes:
        try:
            onnx_path = cached_onnx(generator, runtime, precision, input_shape[1], cache_dir)
        except Exception as error:  # noqa: BLE001
            reasons.append(f"ONNX export failed: {type(error).__name__}: {error}")
            break
        runner = FastRunner(generator, runtime, onnx_path, precision, atol, threads, calibration)
        if runner.prepare(input_shape):
            runner.reason = runner.reason or downgrade
            return runner
        reasons.append(runner.reason)
    return _eager(eager, "; ".join(([downgrade] if downgrade else []) + reasons))


def cached_onnx(generator: nn.Module, runtime: str, precision: str, channels: int,
                cache_dir: str | Path | None = None) -> Path:
    """The exported ONNX file for these weights/config/versions, exported on the first call only."""
    root = Path(cache_dir) if cache_dir else cache_root()
    precision = "fp32"  # the exported graph is fp32 whatever runs it; quantization happens after loading it
    key = artefact_key(generator, runtime, precision)
    path = root / key / f"generator-c{channels}-{precision}.onnx"
    if path.exists():
        logger.info("fast path cache hit: %s", path)
        cached_onnx.hits += 1
        return path
    size = getattr(generator, "size_multiple", 256)
    logger.info("exporting %s to %s", type(generator).__name__, path)
    return export_onnx(generator, path, channels, max(size, 64))


cached_onnx.hits = 0


def _eager(generator: nn.Module, reason: str) -> EagerRunner:
    logger.warning("fast CPU path unavailable: %s; running eager PyTorch", reason)
    return EagerRunner(generator, reason)

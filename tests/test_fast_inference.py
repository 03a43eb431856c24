"""The fast CPU path (fast_inference.py): same outputs as eager, cached on disk, eager fallback with a reason."""

import logging
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from pix2pix_hub import ImageTranslator, save_model_folder
from pix2pix_hub.inference import fast as fast_inference
from pix2pix_hub.inference.fast import ATOL, build_backend, cached_onnx
from pix2pix_hub.models import build_generator, init_weights

from helpers import ROOT

pytest.importorskip("onnxruntime")


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PIX2PIX_HUB_CACHE", str(tmp_path / "fast-cache"))
    return tmp_path / "fast-cache"


def tiny(netG: str, norm: str, seed: int = 0):
    """A small generator whose outputs spread over (-1, 1) (BatchNorm statistics taken from inputs, as after training)."""
    torch.manual_seed(seed)
    generator = init_weights(build_generator(netG, 3, 3, ngf=8, norm=norm, use_dropout=netG.startswith("unet")), gain=0.08)
    if norm == "batch":
        for module in generator.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.momentum = None  # a cumulative average over the calibration batches
        with torch.no_grad():
            for _ in range(3):
                generator.train()(torch.rand(2, 3, 64, 64) * 2 - 1)
    return generator.eval()


def eager(generator, batch):
    with torch.inference_mode():
        return generator(batch)


@pytest.mark.parametrize("netG,norm,shape", [("unet_64", "batch", (1, 3, 64, 64)),
                                             ("unet_32", "instance", (2, 3, 32, 64)),
                                             ("resnet_2blocks", "instance", (1, 3, 36, 52)),
                                             ("resnet_2blocks", "batch", (2, 3, 64, 64))])
@pytest.mark.parametrize("runtime", ["auto", "onnxruntime"])
def test_fast_path_matches_eager(netG, norm, shape, runtime):
    generator = tiny(netG, norm)
    runner = build_backend(generator, shape, runtime)
    assert runner.name != "eager", runner.reason
    assert runner.name.endswith("-fp32")
    batch = torch.rand(shape) * 2 - 1
    out = runner(batch)
    assert out.shape == shape and out.dtype == torch.float32
    assert (out - eager(generator, batch)).abs().max().item() <= ATOL
    # a new shape gets its own compiled, verified model
    other = (shape[0], 3, shape[2] * 2, shape[3])
    batch = torch.rand(other) * 2 - 1
    assert (runner(batch) - eager(generator, batch)).abs().max().item() <= ATOL
    assert set(runner.max_abs_diff) == {shape, other}


def test_compiled_shapes_are_bounded(monkeypatch):
    """A folder of photos of many sizes must not keep a compiled model (and its buffers) for each: the least
    recently used shape is dropped, and compiled (and verified) again when it comes back."""
    monkeypatch.setattr(fast_inference, "MAX_SHAPE_PIXELS", 2 * 32 * 32 + 32 * 64)
    generator = tiny("unet_32", "instance")
    runner = build_backend(generator, (1, 3, 32, 32))
    assert runner.name != "eager", runner.reason
    for shape in [(1, 3, 32, 32), (1, 3, 32, 64), (1, 3, 32, 32), (1, 3, 64, 32), (1, 3, 32, 96)]:
        batch = torch.rand(shape) * 2 - 1
        assert (runner(batch) - eager(generator, batch)).abs().max().item() <= ATOL
    # 32x64 was the least recently used when 64x32 came; then 32x32 and 64x32 made room for 32x96
    assert list(runner._compiled) == [(1, 3, 32, 96)]
    monkeypatch.setattr(fast_inference, "MAX_SHAPES", 2)
    for shape in [(1, 3, 32, 32), (1, 3, 32, 64), (1, 3, 32, 32)]:
        runner(torch.rand(shape) * 2 - 1)
    assert list(runner._compiled) == [(1, 3, 32, 64), (1, 3, 32, 32)]


def test_a_new_shape_compiling_does_not_hold_up_other_shapes(monkeypatch):
    """In the Space, one visitor's upload of a new size compiles (seconds for a large one); another visitor's
    translation at a size already compiled goes on meanwhile, and two callers of the new size compile it once."""
    import threading

    generator = tiny("unet_32", "instance")
    runner = build_backend(generator, (1, 3, 32, 32))
    assert runner.name != "eager", runner.reason
    compile_verified, started, release, compiles, finished = runner._compile_verified, *(threading.Event() for _ in range(2)), [], []

    def slow(shape):  # compiles only once the main thread has had its answer (or after 10 s: the failing case)
        compiles.append(shape)
        started.set()
        release.wait(10)
        finished.append(shape)
        return compile_verified(shape)

    monkeypatch.setattr(runner, "_compile_verified", slow)
    new = [threading.Thread(target=runner, args=(torch.rand(1, 3, 64, 64),)) for _ in range(2)]
    new[0].start()
    assert started.wait(10)
    new[1].start()
    out = runner(torch.rand(1, 3, 32, 32))  # compiled already
    answered_while_compiling = not finished
    release.set()
    for thread in new:
        thread.join()
    assert out.shape == (1, 3, 32, 32) and answered_while_compiling
    assert compiles == [(1, 3, 64, 64)]


def test_auto_prefers_openvino():
    pytest.importorskip("openvino")
    assert build_backend(tiny("unet_32", "batch"), (1, 3, 32, 32)).name == "openvino-fp32"


def test_concurrent_calls_from_threads():
    """Two visitors at once call one runner from two threads: each gets its own, correct answer (OpenVINO's
    infer request runs one inference at a time: a shared one said "Infer Request is busy")."""
    from concurrent.futures import ThreadPoolExecutor

    generator = tiny("unet_64", "batch")
    runner = build_backend(generator, (1, 3, 64, 64))
    assert runner.name != "eager", runner.reason
    batches = [torch.rand(1, 3, 64, 64) * 2 - 1 for _ in range(4)]
    expected = [eager(generator, b) for b in batches]
    with ThreadPoolExecutor(4) as pool:
        outputs = list(pool.map(lambda i: runner(batches[i % 4]), range(32)))
    assert all((out - expected[i % 4]).abs().max().item() <= ATOL for i, out in enumerate(outputs))


def test_translator_odd_sizes_match_eager():
    generator = tiny("unet_64", "batch")
    fast = ImageTranslator(generator, device="cpu", resolution=80)
    slow = ImageTranslator(generator, device="cpu", resolution=80, backend="eager")
    assert fast.backend_name != "eager", fast.backend_reason
    assert slow.backend_name == "eager"
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in ((101, 37), (80, 80), (33, 90))]
    for image, a, b in zip(images, fast(images), slow(images)):
        assert a.size == image.size
        # uint8 outputs: a difference of 1e-3 in [-1, 1] can round to the next level at most
        assert np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max() <= 1


def test_cache_reused_without_export(cache_dir, monkeypatch):
    generator = tiny("resnet_2blocks", "instance")
    build_backend(generator, (1, 3, 32, 32), "onnxruntime")
    files = sorted(cache_dir.rglob("*.onnx"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    hits = cached_onnx.hits
    monkeypatch.setattr(fast_inference, "export_onnx", lambda *a, **k: pytest.fail("exported again"))
    runner = build_backend(generator, (1, 3, 32, 32), "onnxruntime")
    assert runner.name == "onnxruntime-fp32"
    assert cached_onnx.hits == hits + 1 and files[0].stat().st_mtime_ns == stamp
    # other weights: another cache entry
    monkeypatch.undo()
    monkeypatch.setenv("PIX2PIX_HUB_CACHE", str(cache_dir))
    build_backend(tiny("resnet_2blocks", "instance", seed=1), (1, 3, 32, 32), "onnxruntime")
    assert len(list(cache_dir.rglob("*.onnx"))) == 2


def test_fallback_when_no_runtime(monkeypatch, caplog):
    monkeypatch.setattr(fast_inference, "_runtime_available", lambda runtime: False)
    generator = tiny("unet_32", "batch")
    with caplog.at_level(logging.WARNING):
        translator = ImageTranslator(generator, device="cpu", resolution=32)
    assert translator.backend_name == "eager"
    assert "no runtime installed" in translator.backend_reason
    assert "running eager" in caplog.text
    assert translator(Image.new("RGB", (40, 20), "red")).size == (40, 20)


def test_fallback_when_export_fails(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("exporter broke")
    monkeypatch.setattr(fast_inference, "export_onnx", broken)
    runner = build_backend(tiny("unet_32", "batch"), (1, 3, 32, 32))
    assert runner.name == "eager" and "exporter broke" in runner.reason


def test_fallback_when_output_differs(monkeypatch):
    """A runtime whose output is off by more than the tolerance is not used."""
    generator = tiny("unet_32", "batch")
    runner = build_backend(generator, (1, 3, 32, 32), "onnxruntime", atol=0.0)
    if runner.name != "eager":  # exactly equal: nothing to check (not expected for these nets)
        pytest.skip("runtime output is bit-identical to eager")
    assert "differs from eager" in runner.reason


def test_reference_train_mode_runs_fast_and_draws_eagers_dropout():
    """The reference's test mode (batch statistics, dropout on) through the fast path: with the same seed its
    output is eager's within the fast path's own bound (ATOL, the fp32 contract every fast runner is held to);
    another seed moves the output by far more (dropout is really on: the check is not vacuous)."""
    import copy

    import numpy as np

    from pix2pix_hub.inference.fast import ATOL

    generator = tiny("unet_64", "batch")
    assert any(isinstance(m, torch.nn.Dropout) for m in generator.modules())
    fast = ImageTranslator(generator, device="cpu", resolution=64, test_mode="reference_train")
    eager = ImageTranslator(copy.deepcopy(generator), device="cpu", resolution=64, test_mode="reference_train",
                            backend="eager")
    assert fast.backend_name.endswith("-fp32") and fast.backend_reason is None, fast.backend_reason
    image = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
    for translator in (fast, eager):  # (a first call measures memory on a probe, which draws dropout too)
        translator.translate_array(image, np.float32)
    outputs = {}
    for name, translator, seed in (("fast", fast, 1), ("eager", eager, 1), ("other seed", eager, 2)):
        torch.manual_seed(seed)
        outputs[name] = translator.translate_array(image, np.float32)[0]
    assert np.abs(outputs["fast"] - outputs["eager"]).max() <= ATOL
    assert np.abs(outputs["other seed"] - outputs["eager"]).max() > 100 * ATOL


def test_reference_train_with_given_statistics_stays_eager():
    """Tiles with whole-image statistics (tiling.FrozenStatistics) in reference_train: not this graph's case."""
    from pix2pix_hub.inference import tiling
    from pix2pix_hub.models.run_mode import apply_test_mode

    frozen = tiling.FrozenStatistics(apply_test_mode(tiny("unet_32", "batch"), "reference_train"))
    runner = build_backend(frozen, (1, 3, 32, 32))
    assert runner.name == "eager" and "train mode" in runner.reason


def test_app_uses_fast_path(tmp_path):
    sys.path.insert(0, str(ROOT))
    app = pytest.importorskip("app")
    folder = save_model_folder(tmp_path / "model", {"AtoB": tiny("unet_32", "batch")},
                               {"model_type": "pix2pix", "resolution": 32, "test_mode": "eval"})
    app.reset()
    try:
        translator = app.load_translator(str(folder), None)
        assert translator.backend_name != "eager", translator.backend_reason
        assert translator.backend_name == ImageTranslator.from_pretrained(folder, device="cpu").backend_name
    finally:
        app.reset()


@pytest.mark.parametrize("precision", ["bf16", "int8"])
def test_lower_precision_is_opt_in_and_close(precision):
    pytest.importorskip("openvino")
    if precision == "int8":
        pytest.importorskip("nncf")
    generator = tiny("unet_32", "batch")
    translator = ImageTranslator(generator, device="cpu", resolution=32, precision=precision)
    if precision == "bf16" and fast_inference.bf16_unavailable_reason():
        # This CPU (or oneDNN's cap) cannot run bf16: the fast path still runs, in fp32, and says why.
        assert translator.backend_name == "openvino-fp32", translator.backend_reason
        assert translator.backend_reason.startswith("precision='bf16' needs")
        return
    assert translator.backend_name == f"openvino-{precision}", translator.backend_reason
    batch = torch.from_numpy(fast_inference.calibration_batches(3, 32, 32, count=1, seed=5)[0])
    mse = ((translator.backend(batch) - eager(generator, batch)) ** 2).mean().item()
    assert 10 * np.log10(4 / max(mse, 1e-12)) > 25  # PSNR in dB, peak-to-peak 2
    assert ImageTranslator(generator, device="cpu", resolution=32).backend_name.endswith("-fp32")  # the default


def test_bf16_needs_avx512_core_and_names_what_caps_it():
    sapphire = "fpu sse avx2 avx512f avx512bw avx512dq avx512vl avx512_bf16 amx_bf16"
    assert fast_inference.bf16_unavailable_reason(sapphire, max_isa="") is None
    assert fast_inference.bf16_unavailable_reason(sapphire, max_isa="avx512_core_bf16") is None
    assert "ONEDNN_MAX_CPU_ISA=AVX2" in fast_inference.bf16_unavailable_reason(sapphire, max_isa="AVX2")
    assert "has none" in fast_inference.bf16_unavailable_reason("fpu sse avx2 fma", max_isa="")


def test_tiles_with_whole_image_statistics_run_in_the_fast_path():
    """InstanceNorm in tiles: the statistics are extra inputs of the exported graph, not a reason to run eager."""
    generator = tiny("resnet_2blocks", "instance")
    image = np.random.default_rng(0).integers(0, 256, (72, 100, 3), dtype=np.uint8)
    fast = ImageTranslator(generator, device="cpu", tile=48, overlap=16)
    slow = ImageTranslator(generator, device="cpu", tile=48, overlap=16, backend="eager")
    out_fast, info = fast.translate_array(image)
    out_slow, info_slow = slow.translate_array(image)
    assert info.plan == info_slow.plan == "6 tiles of 48×48"
    assert info.backend.endswith("-fp32") and info_slow.backend == "eager"
    assert np.abs(out_fast.astype(int) - out_slow).max() <= 1

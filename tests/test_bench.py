"""`python -m benchmarks.bench --quick` runs every section and writes its JSON (a smoke run: no timed asserts)."""

import json

from benchmarks import bench
from pix2pix_hub.models import build_generator

from bounds import depth_of, float32_bound


def test_bench_quick_writes_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PIX2PIX_HUB_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--no_compile", "--gpu_on_cpu", "--bf16", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["machine"]["cores"] >= 1
    rows = {(r["section"], r.get("measure")): r for r in report["rows"]}
    sections = {section for section, _ in rows}
    assert sections == {"inference", "train-cpu", "train-gpu", "train-unpaired", "data"}
    for r in rows.values():
        if "skipped" in r or "baseline_value" not in r:  # skipped, or a figure without a comparison (GEMM rate)
            continue
        assert r["ratio"] > 0 and r["baseline_value"] > 0 and r["fast_value"] > 0, r
    assert rows[("inference", "fp32 GEMM rate")]["fast_value"] > 0
    unet = rows[("inference", "unet_32")]
    # the fast path against eager, the same fp32 weights: float32 rounding along the U-Net's layers at the outputs'
    # scale (tanh: 1); a wrong weight or layout moves outputs by a fraction of 1
    assert unet["fast"] != "eager" and unet["max_abs_diff"] <= float32_bound(1.0, depth_of(build_generator("unet_32", ngf=8)))
    curve = rows[("train-gpu", "pix2pix img/s")]["fast_loss_curve"]
    assert len(curve["mean_L1"]) == 4
    for model in ("cut", "fastcut"):  # side by side with CycleGAN, each one's memory from its own process
        unpaired = rows[("train-unpaired", f"{model} step vs cyclegan")]
        assert unpaired["baseline"] == "cyclegan" and unpaired["fast_peak_memory_mb"] > 0
        assert all(mb > 100 for mb in unpaired["peak_rss_mb"].values()) and unpaired["paper_ratio"] > 1
    assert "| section | measure |" in capsys.readouterr().out


def test_gpu_section_skips_without_cuda(monkeypatch):
    monkeypatch.setattr(bench.torch.cuda, "is_available", lambda: False)
    args = bench.parse_args(["--quick"])
    rows = bench.bench_train_gpu(args, bench.OneDevice("cpu"))
    assert rows[0]["skipped"].startswith("no CUDA device")

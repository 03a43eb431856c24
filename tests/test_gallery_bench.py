"""`python -m benchmarks.gallery --quick` (benchmarks/gallery.py) writes its JSON and table with sane relations
between its figures; a smoke run: no timed asserts (times vary by CPU)."""

import json

from benchmarks import bench, gallery
from pix2pix_hub.models import build_generator


def test_gallery_quick_writes_json_and_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PIX2PIX_HUB_CACHE", str(tmp_path / "unused"))  # the run uses its own, then restores this
    out, table = tmp_path / "gallery.json", tmp_path / "gallery.md"
    assert gallery.main(["--quick", "--json", str(out), "--markdown", str(table)]) == 0
    report = json.loads(out.read_text())
    assert report["machine"]["cores"] >= 1 and report["settings"]["ngf"] == 8
    rows = {a["netG"]: a for a in report["architectures"]}
    assert set(rows) == {"unet_256", "resnet_9blocks"}
    for netG, a in rows.items():
        norm, dropout = gallery.ARCHITECTURES[netG][1:]
        model = build_generator(netG, 3, 3, 8, norm=norm, use_dropout=dropout)
        assert a["params"] == sum(p.numel() for p in model.parameters())
        # fp32 safetensors: 4 bytes a value (parameters, and BatchNorm's statistics), fp16 half of that
        assert 4.0 <= a["bytes_per_param_fp32"] < 4.2, a
        assert abs(a["disk_mb_fp16"] - a["disk_mb_fp32"] / 2) < 0.05 * a["disk_mb_fp32"]
        assert all(ms > 0 for ms in a["ms_256"].values()) and "eager fp32 eval" in a["ms_256"]
        assert any(name.endswith("-fp32") for name in a["ms_256"]), a["fast_path_notes"]
    # the converted pix2pix folders record the reference's test mode, which the fast path runs as its own graph
    assert rows["unet_256"]["app_test_mode"] == "reference_train" and rows["unet_256"]["app_backend"] != "eager"
    assert rows["resnet_9blocks"]["app_test_mode"] == "eval" and rows["resnet_9blocks"]["app_backend"] != "eager"
    assert set(rows["resnet_9blocks"]["ms_512"]) == set(rows["resnet_9blocks"]["ms_256"])
    assert all(db > 40 for db in rows["resnet_9blocks"]["psnr_db_256"].values())  # fp32 fast vs eager
    tour = report["tour"]
    assert [e["name"] for e in tour["per_entry"]] == list(gallery.QUICK_ENTRIES)
    assert all(e["ok"] for e in tour["per_entry"]), tour["per_entry"]
    assert tour["max_models"] == 4 and 1 <= tour["generators_held"] <= tour["max_models"]
    assert tour["rss_before_mb"] > 50 and tour["peak_rss_mb"] >= tour["rss_after_mb"] >= tour["rss_before_mb"]
    assert tour["rss_after_mb"] >= tour["rss_after_gc_mb"] > 0 and "after gc.collect()" in table.read_text()
    assert "skipped" in report["browser"] and {t["target"] for t in report["targets"]} <= set(gallery.TARGETS)
    text = table.read_text()
    assert "| U-Net 256 ngf 8 | 1 |" in text and "| ResNet-9 ngf 8 | 1 |" in text and "Machine:" in text
    assert "| architecture |" in capsys.readouterr().out
    assert not any(tmp_path.glob("unused/models/*"))  # the run's converted folders went into its own cache


def test_bench_offers_the_gallery_section():
    assert bench.parse_args(["--sections", "gallery"]).sections == ["gallery"]

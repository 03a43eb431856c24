"""`python -m benchmarks.bench --sections highres --quick` (benchmarks/highres.py) runs and reports every figure;
a smoke run: no timed asserts."""

from benchmarks import bench, highres


def test_highres_quick_reports_every_part(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PIX2PIX_HUB_CACHE", str(tmp_path / "cache"))
    rows = highres.run(highres.parse_args(["--quick", "--parts", "accuracy", "seams", "16bit"]))
    by_measure = {r["measure"]: r for r in rows}
    whole_stats, per_tile = by_measure["tiles, whole-image statistics"], by_measure["tiles, per-tile statistics (contrast)"]
    assert whole_stats["mean_abs_diff_255"] < per_tile["mean_abs_diff_255"]
    blended = by_measure["seam ratio: blended tiles, whole-image statistics"]["seam_ratio"]
    assert by_measure["seam ratio: abutting tiles, per-tile statistics (contrast)"]["seam_ratio"] > 2 * blended
    sixteen = by_measure["16-bit PNG, identity path, 16-bit out"]
    assert sixteen["effective_bits"] > 8 and sixteen["max_abs_error_65535"] <= 1
    assert by_measure["16-bit PNG, identity path, 8-bit out (contrast)"]["effective_bits"] < 8.5
    assert "| highres |" in bench.table(rows)


def test_memory_child_reports_its_peak():
    row = highres.measure_in_subprocess(64, "none", 8)
    assert row["peak_rss_gb"] > 0.05 and row["plan"] == "whole image" and row["seconds_per_mp"] > 0, row

"""`python -m pix2pix_hub evaluate` and the metric functions the trainer calls."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCardData
from PIL import Image
from skimage.metrics import structural_similarity

from pix2pix_hub import save_model_folder
from pix2pix_hub.config import DataConfig
from pix2pix_hub.data.datasets import load_image_dataset
from pix2pix_hub.evaluation.evaluate import DistributionMetrics, evaluate, main
from pix2pix_hub.evaluation.metrics import PSNR_CAP_DB, cycle_metrics, paired_metrics
from pix2pix_hub.hub.training_output import metrics_to_eval_results
from pix2pix_hub.models import build_generator

from helpers import make_aligned_folder, make_unpaired_folders


@pytest.fixture(autouse=True)
def no_local_weights(tmp_path, monkeypatch):
    """Make "weights absent" certain, whatever this machine has cached."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv("PIX2PIX_HUB_INCEPTION_WEIGHTS", str(tmp_path / "absent" / "inception.pth"))
    torch.set_num_threads(1)


def random_images(seed: int, shape=(2, 3, 64, 64)) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# -- metric functions ---------------------------------------------------------------------------
def test_identical_images_are_perfect():
    images = random_images(0)
    # SSIM of identical images is a ratio of two equal float32 products: 1 up to a few ulps (8 ulps = 1e-6)
    assert paired_metrics(images, images.clone()) == {"l1": 0.0, "psnr": PSNR_CAP_DB, "ssim": pytest.approx(1.0, abs=1e-6)}


def test_constant_offset_gives_the_psnr_computed_by_hand():
    real = random_images(1) * 0.5  # in [-0.5, 0.5], so the offset image is not clipped
    metrics = paired_metrics(real + 0.2, real)
    # 0.2 on the [-1, 1] scale is 0.1 on [0, 1]: MSE 0.01, PSNR = 10 log10(1 / 0.01) = 20 dB
    # float32: 0.2 itself carries 1.5e-8 and torch's pairwise mean ~log2(n) ulps more (n = 12288: 14), under 1e-6; PSNR
    # moves by 10/ln 10 = 4.3 dB per unit of relative MSE error (~1e-6 here), so 1e-4 dB holds with a margin
    assert metrics["l1"] == pytest.approx(0.2, abs=1e-6)
    assert metrics["psnr"] == pytest.approx(10 * math.log10(1 / 0.1**2), abs=1e-4)


def test_ssim_matches_skimage():
    real = random_images(2, (2, 3, 64, 48))
    fake = (real + 0.3 * torch.randn(real.shape, generator=torch.Generator().manual_seed(3))).clamp(-1, 1)
    expected = np.mean([
        structural_similarity(((r + 1) / 2).permute(1, 2, 0).double().numpy(), ((f + 1) / 2).permute(1, 2, 0).double().numpy(),
                              data_range=1.0, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
        for r, f in zip(real, fake)])
    assert paired_metrics(fake, real)["ssim"] == pytest.approx(expected, abs=1e-3)
    # the same definition, not just close: our float32 SSIM sums 11x11 Gaussian windows (121 terms, each rounding
    # by an ulp) into a ratio of two such sums, so it is within 2 x 121 ulps of float64's; another sigma, window or
    # covariance estimate moves it by more than 1e-3 (the line above)
    assert abs(paired_metrics(fake, real)["ssim"] - expected) < 2 * 121 * torch.finfo(torch.float32).eps


def test_cycle_metrics_and_shape_check():
    real = random_images(4)
    assert cycle_metrics(real, real, suffix="_A") == {"cycle_l1_A": 0.0, "cycle_psnr_A": PSNR_CAP_DB}
    # the same float32 values, means summed in another order: pairwise sums round by ~log2(n) = 14 ulps, 1.7e-6
    assert cycle_metrics(real, real * 0.5)["cycle_l1"] == pytest.approx(float((real * 0.5).abs().mean()), rel=1e-5)
    with pytest.raises(ValueError, match="differ in shape"):
        paired_metrics(real, real[:, :1])


def test_metrics_become_model_index_results():
    results = metrics_to_eval_results({"psnr": 21.5, "ssim": 0.7, "l1": 0.1}, "huggan/facades", "test")
    assert [(r.task_type, r.metric_type, r.dataset_name, r.dataset_split) for r in results][0] == (
        "image-to-image", "psnr", "huggan/facades", "test")
    card_data = ModelCardData(model_name="me/facades", eval_results=results).to_dict()
    assert card_data["model-index"][0]["results"][0]["metrics"][1] == {"type": "ssim", "value": 0.7, "name": "ssim"}


def test_fid_and_kid_with_a_local_feature_extractor():
    class TinyFeatures(torch.nn.Module):
        num_features = 8

        def forward(self, images):  # uint8 NCHW -> [N, 8]
            x = images.float() / 255
            return torch.cat([x.mean((2, 3)), x.std((2, 3)), x[:, :2].amax((2, 3))], 1)

    same = DistributionMetrics(TinyFeatures())
    images = random_images(5, (6, 3, 32, 32))
    same.update(images, images)
    values, notes = same.compute("_AtoB")
    assert set(values) == {"fid_AtoB", "kid_AtoB", "kid_std_AtoB"} and not notes
    # 0 in exact arithmetic; torchmetrics takes square roots of the eigenvalues of S·S in float64, where the 4 null
    # directions (6 images, 9 features) hold rounding ~eps64·|S|², i.e. ~1e-8·|S| once rooted (features in [0, 1]:
    # |S| < 1); different sets (below) are above 0.1
    assert abs(values["fid_AtoB"]) < 9 * math.sqrt(torch.finfo(torch.float64).eps)
    different = DistributionMetrics(TinyFeatures())
    different.update(images * 0.2, images)
    assert different.compute()[0]["fid"] > 0.1
    one = DistributionMetrics(TinyFeatures())
    one.update(images[:1], images[:1])
    assert one.compute() == ({}, ["FID/KID skipped: they need at least 2 images, got 1"])


# -- whole evaluations ----------------------------------------------------------------------------
@pytest.fixture
def pix2pix_model(tmp_path):
    torch.manual_seed(0)
    return save_model_folder(tmp_path / "p2p", {"AtoB": build_generator("unet_64", ngf=8, norm="batch")},
                             {"model_type": "pix2pix", "resolution": 64, "test_mode": "eval"})


def test_command_line_on_paired_data(tmp_path, pix2pix_model, capsys):
    data = make_aligned_folder(tmp_path / "facades", n=16, size=64, splits=("test",))  # 4 test images
    assert main(["--model", str(pix2pix_model), "--dataset", str(data), "--max_images", "3",
                 "--output", str(tmp_path / "eval")]) == 0
    result = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert result["kind"] == "paired" and result["num_images"] == 3 and set(result["metrics"]) == {"l1", "psnr", "ssim"}
    fid_note, lpips_note = result["notes"]
    assert fid_note.startswith("FID/KID skipped: Inception weights not found at ") and str(tmp_path / "absent") in fid_note
    assert "install/download them to enable" in fid_note and lpips_note.startswith("LPIPS skipped:")
    assert Image.open(tmp_path / "eval" / "grid.png").size == (3 * 66 - 2, 3 * 66 - 2)  # input | output | target
    printed = capsys.readouterr().out
    assert "psnr" in printed and "note: FID/KID skipped" in printed


def test_paired_metrics_are_the_mean_over_the_dataset(tmp_path, pix2pix_model):
    from pix2pix_hub import load_generator

    data = make_aligned_folder(tmp_path / "facades", n=20, size=64, splits=("test",))  # 5 test images
    result = evaluate(pix2pix_model, str(data), batch_size=2)  # batches of 2, 2, 1
    dataset = load_image_dataset(DataConfig(dataset=str(data), resolution=64), paired=True, split="test", train=False)
    a, b = (torch.stack([dataset[i][k] for i in range(5)]) for k in ("A", "B"))
    generator = load_generator(pix2pix_model)
    with torch.no_grad():  # the same batches as evaluate's (a batch's size changes its convolutions' rounding)
        expected = paired_metrics(torch.cat([generator(a[i:i + 2]) for i in range(0, 5, 2)]), b)
    # so only the metrics' float32 means differ (batch means weighted vs one mean): ~log2(n) = 16 ulps relative
    assert result["metrics"] == pytest.approx(expected, rel=16 * torch.finfo(torch.float32).eps)


def test_command_line_on_a_cyclegan(tmp_path, capsys):
    torch.manual_seed(0)
    generators = {d: build_generator("resnet_6blocks", ngf=8, norm="instance") for d in ("AtoB", "BtoA")}
    model = save_model_folder(tmp_path / "cyc", generators, {"model_type": "cyclegan", "resolution": 64})
    data = make_unpaired_folders(tmp_path / "horse2zebra")  # testA: 2 images, testB: 3
    assert main(["--model", str(model), "--dataset", str(data), "--output", str(tmp_path / "eval")]) == 0
    result = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert result["kind"] == "cycle" and result["num_images"] == 3
    assert set(result["metrics"]) == {"cycle_l1_A", "cycle_psnr_A", "cycle_l1_B", "cycle_psnr_B"}
    assert result["notes"] == [n for n in result["notes"] if n.startswith("FID/KID skipped")] and len(result["notes"]) == 1
    dataset = load_image_dataset(DataConfig(dataset=str(data), resolution=64), paired=False, split="test", train=False)
    real_a = torch.stack([dataset[i]["A"] for i in range(3)])
    with torch.no_grad():
        expected = cycle_metrics(real_a, generators["BtoA"](generators["AtoB"](real_a)), suffix="_A")
    # the same 3 images as one batch through the same generators (evaluate's batch is 4): the one mean's order only
    assert result["metrics"]["cycle_l1_A"] == pytest.approx(expected["cycle_l1_A"], rel=16 * torch.finfo(torch.float32).eps)
    assert Image.open(tmp_path / "eval" / "grid.png").size[1] == 6 * 66 - 2  # 3 rows A->B->A, 3 rows B->A->B


def test_reference_train_mode_is_applied_and_undone(tmp_path):
    data = make_aligned_folder(tmp_path / "d", n=3, size=64, splits=("test",))
    generator = build_generator("unet_64", ngf=8, norm="batch").eval()
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    in_eval = evaluate(generator, str(data), resolution=64, test_mode="eval")["metrics"]
    result = evaluate(generator, str(data), resolution=64, test_mode="reference_train")
    assert result["test_mode"] == {"AtoB": "reference_train"} and result["metrics"] != in_eval
    assert not generator.training and all(torch.equal(before[k], v) for k, v in generator.state_dict().items())


def test_clear_errors(tmp_path, pix2pix_model, capsys):
    data = make_aligned_folder(tmp_path / "d", n=2, size=64, splits=("test",))
    assert main(["--model", str(pix2pix_model), "--dataset", str(data), "--resolution", "96"]) == 2
    assert "not a multiple of 64" in capsys.readouterr().err
    assert main(["--model", str(pix2pix_model), "--dataset", str(data), "--split", "val"]) == 2
    assert "pass --split" in capsys.readouterr().err

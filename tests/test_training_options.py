"""The options of issue 2, each through a real (tiny) run: mixed precision on CPU, gradient accumulation and
its exact resume, the LR schedule (by hand and as logged), TensorBoard events and sample grids, explicit
resume and checkpoint pruning, and what --push_to_hub uploads."""

import json
import math
from functools import partial
from pathlib import Path

import pytest
import safetensors.torch
import torch
from PIL import Image

from pix2pix_hub.config import OptimConfig, TrainConfig
from pix2pix_hub.training.loop import lr_factor

from helpers import ROOT, make_aligned_folder, make_unpaired_folders, run_train, scalars

# unet_32 at 32 px, ngf/ndf 4: a step takes milliseconds
SMALL = ["--netG", "unet_32", "--ngf", "4", "--ndf", "4", "--load_size", "36", "--resolution", "32",
         "--num_validation_images", "2", "--logging_steps", "1"]
SMALL_CYCLEGAN = ["--model", "cyclegan", "--netG", "resnet_6blocks", "--ngf", "4", "--ndf", "4", "--load_size", "36",
                  "--resolution", "32", "--num_validation_images", "2", "--pool_size", "2", "--logging_steps", "1"]


@pytest.fixture(scope="module")
def five_pairs(tmp_path_factory):
    """5 aligned training pairs: with batch 1 and --gradient_accumulation_steps 2, 3 optimizer steps per epoch."""
    return make_aligned_folder(tmp_path_factory.mktemp("five"), n=5, size=64)


@pytest.fixture(scope="module")
def unpaired(tmp_path_factory):
    return make_unpaired_folders(tmp_path_factory.mktemp("unpaired"), n_a=3, n_b=4, size=48)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return safetensors.torch.load_file(path / "model.safetensors")


# -- 3. the learning-rate schedule -------------------------------------------------------------------
def test_lr_factor_matches_the_reference_by_hand():
    def factors(**optim):
        config = TrainConfig(optim=OptimConfig(**optim))
        return [round(lr_factor(config, epoch), 6) for epoch in range(8)]

    # reference linear: 1 - max(0, epoch + epoch_count - n_epochs) / (n_epochs_decay + 1), epoch_count 1, stepped
    # after each epoch: epoch e (0-based) trains at lambda(e)
    assert factors(n_epochs=2, n_epochs_decay=3)[:5] == [1.0, 1.0, 0.75, 0.5, 0.25]
    assert factors(n_epochs=1, n_epochs_decay=1)[:2] == [1.0, 0.5]
    # step: x0.1 every lr_decay_epochs (StepLR, gamma 0.1)
    assert factors(lr_policy="step", lr_decay_epochs=3) == [1, 1, 1, 0.1, 0.1, 0.1, 0.01, 0.01]
    # cosine over n_epochs (CosineAnnealingLR, T_max n_epochs), then held at 0 (the reference would climb back)
    assert factors(lr_policy="cosine", n_epochs=4) == [1.0, round(0.5 + 0.5 * math.cos(math.pi / 4), 6), 0.5,
                                                       round(0.5 - 0.5 * math.cos(math.pi / 4), 6), 0, 0, 0, 0]
    assert factors(lr_policy="constant") == [1.0] * 8


# -- 2. gradient accumulation, 3. the logged LR, 6. explicit resume + pruning --------------------------
def test_gradient_accumulation_counts_optimizer_steps_and_resumes_exactly(five_pairs, tmp_path, concurrently):
    """5 batches, --gradient_accumulation_steps 2: optimizer steps after batches 2, 4 and 5 (Accelerate syncs at
    the end of the loader), so 3 steps per epoch, 6 for --n_epochs 1 --n_epochs_decay 1 at LR 2e-4 then 1e-4."""
    common = ["--dataset", five_pairs, *SMALL, "--gradient_accumulation_steps", 2, "--n_epochs", 1,
              "--n_epochs_decay", 1, "--checkpointing_steps", 1, "--checkpoints_total_limit", 2,
              "--validation_steps", 1000]
    def stopped_then_resumed():  # beside the straight run: the two take the time of one on 2 cores
        run_train(*common, "--output_dir", tmp_path / "resumed", "--max_steps", 4, "--report_to", "none")
        checkpoints = sorted(p.name for p in (tmp_path / "resumed").glob("checkpoint-*"))
        # an explicit folder (mid-epoch: step 4 is the first of epoch 1), not just "latest"
        return checkpoints, run_train(*common, "--output_dir", tmp_path / "resumed", "--report_to", "none",
                                  "--resume_from_checkpoint", tmp_path / "resumed" / "checkpoint-4")
    log, (stopped_checkpoints, resumed_log) = concurrently(
        partial(run_train, *common, "--output_dir", tmp_path / "straight", "--report_to", "tensorboard"), stopped_then_resumed)
    assert "3 steps/epoch, 6 steps" in log.stdout + log.stderr
    assert sorted(p.name for p in (tmp_path / "straight").glob("checkpoint-*")) == ["checkpoint-5", "checkpoint-6"]
    logged = scalars(tmp_path / "straight" / "logs")
    assert [step for step, _ in logged["lr"]] == [1, 2, 3, 4, 5, 6]
    assert [value for _, value in logged["lr"]] == pytest.approx([2e-4] * 3 + [1e-4] * 3)
    assert {"loss_G_GAN", "loss_G_L1", "loss_D_real", "loss_D_fake"} <= logged.keys()

    assert stopped_checkpoints == ["checkpoint-3", "checkpoint-4"]
    assert "at step 4" in resumed_log.stdout + resumed_log.stderr
    straight, resumed = weights(tmp_path / "straight"), weights(tmp_path / "resumed")
    assert [k for k in straight if not torch.equal(straight[k], resumed[k])] == []


# -- 1. mixed precision on CPU, 4. TensorBoard and sample grids -----------------------------------------
@pytest.mark.parametrize("model", ["pix2pix", "cyclegan"])
def test_bf16_on_cpu_logs_and_samples(model, five_pairs, unpaired, tmp_path):
    options = SMALL if model == "pix2pix" else SMALL_CYCLEGAN
    out = tmp_path / "bf16"
    log = run_train("--dataset", five_pairs if model == "pix2pix" else unpaired, *options, "--output_dir", out,
                    "--max_steps", 2, "--mixed_precision", "bf16", "--validation_steps", 2, "--checkpointing_steps", 100,
                    "--report_to", "tensorboard")
    assert "bf16 precision" in log.stdout + log.stderr
    for folder in [out] if model == "pix2pix" else [out / "AtoB", out / "BtoA"]:
        tensors = weights(folder)
        assert all(t.dtype == torch.float32 and torch.isfinite(t).all() for t in tensors.values() if t.is_floating_point())
    logged = scalars(out / "logs")
    losses = ["loss_G_GAN", "loss_D_real"] if model == "pix2pix" else ["loss_G_A", "loss_cycle_A", "loss_D_B"]
    for tag in losses + ["lr"]:
        assert [step for step, _ in logged[tag]] == [1, 2] and all(math.isfinite(v) for _, v in logged[tag])
    assert 2 in logged["images"]["validation"]
    grid = Image.open(out / "samples" / "step-0000002.png")
    rows = 2 if model == "pix2pix" else 4  # pix2pix: input | output | target; CycleGAN: A -> B -> A rows, then B -> A -> B
    assert grid.size == (3 * 32 + 2 * 2, rows * 32 + (rows - 1) * 2)


def test_fp16_on_cpu_is_a_one_line_error(five_pairs, tmp_path):
    import subprocess
    import sys
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), "--dataset", str(five_pairs), *map(str, SMALL),
                             "--output_dir", str(tmp_path / "o"), "--max_steps", "1", "--mixed_precision", "fp16",
                             "--report_to", "none"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.startswith("error: ") and result.stderr.strip().count("\n") == 0
    assert "bf16" in result.stderr


# -- 7. --push_to_hub: what is uploaded, and where ----------------------------------------------------
@pytest.fixture
def hub_calls(monkeypatch):
    """huggingface_hub's create_repo/create_branch/upload_folder replaced where hub.py calls them, recording
    each call (and the folder's file list as it was when uploaded); no server is needed."""
    from types import SimpleNamespace

    import huggingface_hub as hub
    calls = []

    def create_repo(repo_id, **kwargs):
        calls.append(("create_repo", repo_id, kwargs))
        return SimpleNamespace(repo_id=repo_id)

    def create_branch(repo_id, **kwargs):
        calls.append(("create_branch", repo_id, kwargs))

    def upload_folder(**kwargs):
        folder = Path(kwargs["folder_path"])
        kwargs["files"] = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        calls.append(("upload_folder", kwargs["repo_id"], kwargs))
        return SimpleNamespace(commit_url="https://hub/commit/1")

    for name, function in [("create_repo", create_repo), ("create_branch", create_branch), ("upload_folder", upload_folder)]:
        monkeypatch.setattr(hub, name, function)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the subprocess runs (OMP_NUM_THREADS=1): two threads on 2 shared cores are slower
    yield calls
    torch.set_num_threads(threads)
    from accelerate.state import AcceleratorState, GradientState
    AcceleratorState._reset_state(True)  # the in-process run's Accelerator must not leak into later tests
    GradientState._reset_state()


def train_in_process(*args):
    from pix2pix_hub.config import parse_args
    from pix2pix_hub.training.loop import train
    return train(parse_args([str(a) for a in args]))


@pytest.mark.parametrize("model", ["pix2pix", "cyclegan"])
def test_push_to_hub_uploads_the_model_folder_only(model, five_pairs, unpaired, tmp_path, hub_calls):
    from huggingface_hub.utils import filter_repo_objects

    options = SMALL if model == "pix2pix" else SMALL_CYCLEGAN
    out = train_in_process("--dataset", five_pairs if model == "pix2pix" else unpaired, *options, "--output_dir",
                           tmp_path / "tiny", "--max_steps", 2, "--checkpointing_steps", 1, "--validation_steps", 1,
                           "--report_to", "tensorboard", "--push_to_hub", "--hub_model_id", "user/name")
    assert [call[:2] for call in hub_calls] == [("create_repo", "user/name"), ("upload_folder", "user/name")]
    upload = hub_calls[1][2]
    assert Path(upload["folder_path"]) == out and upload["revision"] is None and not upload["path_in_repo"]
    # the real folder holds checkpoints, logs and step samples too; the real filter keeps only the model
    assert "samples/step-0000001.png" in upload["files"] and "checkpoint-2/training_state.json" in upload["files"]
    assert any(f.startswith("logs/pix2pix-hub/events.out.tfevents.") for f in upload["files"])
    uploaded = set(filter_repo_objects(upload["files"], ignore_patterns=upload["ignore_patterns"]))
    model_files = ({"model.safetensors", "config.json"} if model == "pix2pix" else
                   {"config.json", "AtoB/model.safetensors", "AtoB/config.json", "BtoA/model.safetensors", "BtoA/config.json"})
    assert uploaded == model_files | {"README.md", "samples.png"}


def test_push_checkpoints_go_to_a_branch_of_the_same_repo(five_pairs, tmp_path, hub_calls):
    """Without --hub_model_id the repo is named after output_dir, for the checkpoints as for the model."""
    train_in_process("--dataset", five_pairs, *SMALL, "--output_dir", tmp_path / "tiny-model", "--max_steps", 2,
                     "--checkpointing_steps", 1, "--validation_steps", 100, "--report_to", "none", "--push_to_hub",
                     "--push_checkpoints")
    uploads = [call[2] for call in hub_calls if call[0] == "upload_folder"]
    assert {call[1] for call in hub_calls} == {"tiny-model"}
    assert [(u["revision"], u["path_in_repo"]) for u in uploads] == [("checkpoints", "checkpoint-1"),
                                                                    ("checkpoints", "checkpoint-2"), (None, None)]
    assert all("training_state.json" in u["files"] for u in uploads[:2])
    assert [c[2]["branch"] for c in hub_calls if c[0] == "create_branch"] == ["checkpoints", "checkpoints"]


def test_preprocess_none_trains_a_unet_on_sizes_it_cannot_take_as_they_are(tmp_path):
    """82x58 pairs, --preprocess none, unet_32: sides are rounded to 96x64 (was a shape error deep in the U-Net)."""
    import numpy as np
    for domain in ("A", "B"):
        (tmp_path / "data" / domain).mkdir(parents=True)
    for i in range(2):
        a = np.random.default_rng(i).integers(0, 256, (58, 82, 3), dtype=np.uint8)
        Image.fromarray(a).save(tmp_path / "data" / "A" / f"{i}.png")
        Image.fromarray(255 - a).save(tmp_path / "data" / "B" / f"{i}.png")
    run_train("--dataset", tmp_path / "data", *SMALL, "--preprocess", "none", "--output_dir", tmp_path / "o",
              "--max_steps", 1, "--report_to", "none")
    assert Image.open(tmp_path / "o" / "samples.png").size == (3 * 96 + 4, 2 * 64 + 2)


def test_resume_from_checkpoint_takes_a_folder_or_its_name(tmp_path):
    from pix2pix_hub.training.checkpoints import STATE_FILE, find_checkpoint
    for step in (2, 4, 10):
        (tmp_path / f"checkpoint-{step}").mkdir()
        (tmp_path / f"checkpoint-{step}" / STATE_FILE).write_text(json.dumps({"step": step}))
    (tmp_path / "checkpoint-12.partial").mkdir()
    assert find_checkpoint(tmp_path, "latest") == tmp_path / "checkpoint-10"  # by step, not by name (10 > 4)
    assert find_checkpoint(tmp_path, str(tmp_path / "checkpoint-4")) == tmp_path / "checkpoint-4"
    assert find_checkpoint(tmp_path, "checkpoint-2") == tmp_path / "checkpoint-2"
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        find_checkpoint(tmp_path, "checkpoint-12.partial")

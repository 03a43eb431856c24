"""Arguments that would fail late, loop forever or train something other than asked: one `error:` line and exit
2 from train.py / evaluate before any work starts (nothing is created); resuming with other architecture flags
names them. Through the commands' real entry points (train.main, python -m pix2pix_hub evaluate)."""

import json
import sys

import pytest
from test_checkpoints import TINY_CHECKPOINTED as TINY
from test_checkpoints import train_tiny

from helpers import ROOT, make_aligned_folder

sys.path.insert(0, str(ROOT))
import train  # noqa: E402
from pix2pix_hub.evaluation import evaluate  # noqa: E402


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_aligned_folder(tmp_path_factory.mktemp("pairs"), n=4, size=64)


def one_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = [line for line in (captured.out + captured.err).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


def error_line(capsys) -> str:
    """The one `error:` line, where the command may print progress before it (a model loading)."""
    captured = capsys.readouterr()
    errors = [line for line in (captured.out + captured.err).splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "Traceback" not in captured.err, captured.out + captured.err
    return errors[0]


@pytest.mark.parametrize("args, expected", [
    (["--max_steps", "-1"], "error: --max_steps -1: must be at least 1"),
    (["--n_epochs", "0", "--n_epochs_decay", "0"], "error: --n_epochs 0 --n_epochs_decay 0: nothing to train"),
    (["--netG", "unet_256", "--resolution", "100", "--load_size", "110"],
     "error: --resolution 100 is not a multiple of 256, which --netG unet_256 needs (the crop would be scaled to "
     "fit it); use --resolution 256"),
    (["--netG", "resnet_9blocks", "--resolution", "66", "--load_size", "70"],
     "error: --resolution 66 is not a multiple of 4"),
    (["--checkpointing_steps", "0"], "error: --checkpointing_steps 0: must be at least 1"),
    (["--batch_size", "0"], "error: --batch_size 0: must be at least 1"),
    (["--lr_policy", "cosine", "--n_epochs", "0"], "error: --lr_policy cosine spans --n_epochs, which is 0"),
    (["--netG", "unet_100"], "error: --netG unet_100: a U-Net's size must be a power of two from 32"),
    (["--netG", "unet"], "error: unknown --netG 'unet': use one of unet_256"),
    # the recipes' own rules (Recipe.check_config), still before any folder or lock
    (["--model", "cyclegan", "--output_nc", "1"], "error: --lambda_identity needs --input_nc == --output_nc"),
    (["--model", "cut"], "error: --model cut taps a ResNet generator's encoder"),  # TINY's netG is a U-Net
])
def test_bad_training_arguments(data, tmp_path, capsys, args, expected):
    out = tmp_path / "run"
    assert train.main(["--dataset", str(data), "--output_dir", str(out), *TINY, *args]) == 2
    assert one_line(capsys).startswith(expected)
    assert not out.exists()  # refused before any work


def test_output_dir_that_is_a_file(data, tmp_path, capsys):
    (tmp_path / "run").write_text("my notes")
    assert train.main(["--dataset", str(data), "--output_dir", str(tmp_path / "run"), *TINY]) == 2
    assert one_line(capsys) == f"error: --output_dir {tmp_path / 'run'} is a file: pass a folder (it is created if absent)"
    assert (tmp_path / "run").read_text() == "my notes"


def test_evaluate_output_that_is_a_file(data, tmp_path, capsys):
    (tmp_path / "report").write_text("keep me")
    assert evaluate.main(["--model", str(tmp_path / "no-model"), "--dataset", str(data),
                          "--output", str(tmp_path / "report")]) == 2
    assert one_line(capsys) == (f"error: --output {tmp_path / 'report'} is a file: pass a folder for metrics.json "
                                "and grid.png")
    assert (tmp_path / "report").read_text() == "keep me"


def test_resume_with_other_architecture_flags_names_them(data, tmp_path, capsys):
    out = tmp_path / "run"
    train_tiny(data, out, "--max_steps", 2, "--checkpointing_steps", 2)
    assert json.loads((out / "checkpoint-2" / "training_state.json").read_text())["architecture"]["ngf"] == 8
    assert train.main(["--dataset", str(data), "--output_dir", str(out), *TINY, "--max_steps", "4", "--ngf", "16",
                       "--norm", "instance", "--resume_from_checkpoint", "latest"]) == 2
    line = one_line(capsys)
    assert line == (f"error: {out / 'checkpoint-2'} was saved with other architecture flags: --ngf 8 (this run: 16), "
                    "--norm batch (this run: instance); resume with the checkpoint's flags, or start a new "
                    "--output_dir"), line
    # A checkpoint from before the flags were recorded: the tensors tell, and the message says the same.
    state = out / "checkpoint-2" / "training_state.json"
    state.write_text(json.dumps({"step": 2}))
    assert train.main(["--dataset", str(data), "--output_dir", str(out), *TINY, "--max_steps", "4", "--ngf", "16",
                       "--resume_from_checkpoint", "latest"]) == 2
    line = one_line(capsys)
    assert "its networks do not fit this run's" in line and "saved with other --netG/--ngf" in line, line
    assert "damaged" not in line


@pytest.mark.parametrize("flags, expected", [
    (["--tile", "64", "--overlap", "64"], "at most half"), (["--overlap", "-5"], "--overlap -5"),
    (["--memory_budget", "-1"], "--memory_budget -1"), (["--tile", "5"], "--tile 5")])
def test_bad_tiling_numbers_are_one_line(tmp_path, capsys, flags, expected):
    """Issue 30 (5, 7): these were a ValueError traceback, a math domain error, or silently ignored (--tile 5)."""
    from pix2pix_hub.inference import translate
    code = translate.main(["--model", str(tmp_path), "--input", str(tmp_path), "--output", str(tmp_path / "o"), *flags])
    assert code == 2
    assert expected in one_line(capsys)


def test_a_batch_larger_than_the_dataset_is_one_line_not_a_spin(data, tmp_path):
    """Issue 30 (3): `--batch_size 100` on a small dataset spun at step 0 for as long as we waited."""
    import time

    from helpers import run_train
    start = time.monotonic()
    result = run_train("--dataset", data, "--output_dir", tmp_path / "run", *TINY, "--batch_size", 100, expect=2,
                       timeout=120)
    assert time.monotonic() - start < 120  # (run_train's timeout would also end a spin: the exit code tells)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1] == ("error: --batch_size 100 is larger than the 4 training image(s): use --batch_size 4 or less, "
                         "or add images"), result.stderr[-2000:]
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()  # no lock or folder left behind


def test_an_output_dir_under_a_file_is_one_line(data, tmp_path, capsys):
    """Issue 30 (5): `train.py --output_dir notes.txt/run` was a NotADirectoryError traceback."""
    (tmp_path / "notes.txt").write_text("mine")
    assert train.main(["--dataset", str(data), "--output_dir", str(tmp_path / "notes.txt" / "run"), *TINY]) == 2
    assert "notes.txt is a file, so no folder can be made under it" in one_line(capsys)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_config_error_leaves_no_lock_or_folder(tmp_path, capsys):
    """Issue 30 (7): a run stopped by a bad --dataset left output_dir/train.lock (and the folder) behind."""
    out = tmp_path / "run"
    assert train.main(["--dataset", str(tmp_path / "missing"), "--output_dir", str(out), *TINY]) == 2
    assert "no such folder" in one_line(capsys) and not out.exists()
    out.mkdir()
    (out / "mine.txt").write_text("kept")
    assert train.main(["--dataset", str(tmp_path / "missing"), "--output_dir", str(out), *TINY]) == 2
    one_line(capsys)
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]  # a folder the user made stays, lock gone


def test_a_text_file_named_pth_is_one_line(tmp_path, capsys):
    """Issue 30 (5): `convert --checkpoint notes.pth` (text) was KeyError: 101 from the weights-only unpickler."""
    from pix2pix_hub.loading import convert_command
    (tmp_path / "notes.pth").write_text("hello, these are my notes\n")
    assert convert_command.main(["--checkpoint", str(tmp_path / "notes.pth"), "--output", str(tmp_path / "o")]) == 2
    assert "notes.pth is not a PyTorch checkpoint" in one_line(capsys)


def test_evaluate_names_a_flag_it_has_and_the_real_cause(data, tmp_path, capsys):
    """Issue 30 (6): evaluate suggested `--on_bad_image skip`, which it rejected; a pix2pix model on trainA/ trainB/
    said "no images found" and listed that very layout as accepted."""
    from pix2pix_hub import save_model_folder
    from pix2pix_hub.models import build_generator

    from helpers import make_unpaired_folders
    model = save_model_folder(tmp_path / "model", {"AtoB": build_generator("unet_64", ngf=8)},
                              {"model_type": "pix2pix", "resolution": 64, "test_mode": "eval"})
    unpaired = make_unpaired_folders(tmp_path / "unpaired", size=64)
    assert evaluate.main(["--model", str(model), "--dataset", str(unpaired), "--no_fid"]) == 2
    line = error_line(capsys)
    assert "holds unpaired folders (testA/ testB/ trainA/ trainB/): a paired model needs pairs" in line, line
    broken = make_aligned_folder(tmp_path / "broken", n=4, size=64, splits=("test",))
    (broken / "test" / "001.png").write_bytes(b"not a png")
    assert evaluate.main(["--model", str(model), "--dataset", str(broken), "--no_fid"]) == 2
    assert "--on_bad_image skip" in error_line(capsys)
    assert evaluate.main(["--model", str(model), "--dataset", str(broken), "--no_fid", "--on_bad_image", "skip"]) == 0
    out = capsys.readouterr().out
    assert "1 image(s)" in out and "left out 1 image(s) that could not be read" in out, out  # of 2


def test_a_users_readme_in_output_dir_stops_the_run_before_it_starts(data, tmp_path, capsys):
    """Issue 30: the final model folder (its card is README.md) would replace the user's own files at the end."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "README.md").write_text("my project notes")
    assert train.main(["--dataset", str(data), "--output_dir", str(out), *TINY, "--max_steps", "1"]) == 2
    line = one_line(capsys)
    assert f"{out / 'README.md'} already exists and was not written by pix2pix_hub" in line and "--output_dir" in line
    assert sorted(p.name for p in out.iterdir()) == ["README.md"]  # refused before any work
    assert train.main(["--dataset", str(data), "--output_dir", str(out), *TINY, "--max_steps", "1", "--overwrite"]) == 0
    assert "my project notes" not in (out / "README.md").read_text()
    capsys.readouterr()
    # its own model files, untouched, do not stop the next run in the same folder
    assert train.main(["--dataset", str(data), "--output_dir", str(out), *TINY, "--max_steps", "2"]) == 0

"""--streaming: parquet datasets served by the loopback Hub server (tests/hub_server.py) and read as a stream
(pix2pix_hub/data/streaming.py): the pipeline in-process, then real train.py runs."""

import io
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import datasets
import numpy as np
import pytest
import safetensors.torch
import torch
from PIL import Image

from pix2pix_hub.config import DataConfig, parse_args
from pix2pix_hub.data.datasets import DataError, load_image_dataset

from helpers import key, make_metadata_folder, make_pair, run_train, stream_config, take

TINY_32 = ["--netG", "unet_32", "--ngf", "8", "--ndf", "8", "--load_size", "36", "--resolution", "32", "--report_to", "none",
        "--validation_steps", "1000", "--logging_steps", "1", "--num_validation_images", "2"]


@pytest.fixture(autouse=True)
def no_arrow_shutdown_wait(monkeypatch):
    """datasets sleeps 5 s whenever a streamed parquet iteration ends (each pass, each early stop), against a
    pyarrow crash at interpreter exit (apache/arrow#45214); in-process, with the interpreter staying up,
    the tests need not wait. train.py subprocesses keep the real wait (once, at exit: streaming.ArrowExitWait)."""
    monkeypatch.setattr(datasets.config, "SLEEP_TIME_ON_THREADS_SHUTDOWN", 0)


def png(image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def serve_pairs(hub, tmp_path: Path, repo_id: str, n: int = 8, shards: int = 1, size: int = 32, bad_rows=(),
                columns=("imageA", "imageB")) -> str:
    """A Hub dataset repo of `n` pairs in `shards` parquet files; rows in `bad_rows` get a truncated A image."""
    rows = []
    for i in range(n):
        a, b = (png(image) for image in make_pair(i, size))
        rows.append({columns[0]: {"bytes": a[: len(a) // 2] if i in bad_rows else a, "path": f"a{i:03d}.png"},
                     columns[1]: {"bytes": b, "path": f"b{i:03d}.png"}})
    folder = tmp_path / repo_id.replace("/", "--")
    (folder / "data").mkdir(parents=True)
    for shard in range(shards):
        part = datasets.Dataset.from_list(rows[shard::shards])
        for column in columns:
            part = part.cast_column(column, datasets.Image())
        part.to_parquet(str(folder / "data" / f"train-{shard:05d}-of-{shards:05d}.parquet"))
    hub.add_repo(repo_id, folder, repo_type="dataset")
    return repo_id


def test_stream_gives_transformed_pairs_deterministically(local_hub, tmp_path):
    repo = serve_pairs(local_hub, tmp_path, "stream/pairs8", n=8)
    dataset = load_image_dataset(stream_config(repo), paired=True, seed=0)
    items = take(dataset, 11)  # endless: 8 rows, then a second pass
    assert len(items) == 11 and dataset.passes == 1
    assert items[0]["A"].shape == items[0]["B"].shape == (3, 32, 32) and items[0]["A"].dtype == torch.float32
    assert -1 <= items[0]["A"].min() and items[0]["A"].max() <= 1
    again = take(load_image_dataset(stream_config(repo), paired=True, seed=0), 11)
    assert all(torch.equal(x["A"], y["A"]) and torch.equal(x["B"], y["B"]) for x, y in zip(items, again))
    other_seed = take(load_image_dataset(stream_config(repo), paired=True, seed=1), 11)
    assert [key(x["A"]) for x in items] != [key(x["A"]) for x in other_seed]
    # the second pass is reshuffled (seed + pass)
    plain = stream_config(repo, preprocess="none", no_flip=True)
    orders = [key(x["A"]) for x in take(load_image_dataset(plain, paired=True, seed=0), 16)]
    assert sorted(orders[:8]) == sorted(orders[8:]) and orders[:8] != orders[8:]


def test_unscaled_stream_rounds_sides_to_the_generators_multiple(local_hub, tmp_path):
    """--preprocess none: what a unet_32 (size_multiple 32) gets from 40x40 images is 32x32, not a shape error."""
    repo = serve_pairs(local_hub, tmp_path, "stream/size40", n=2, size=40)
    dataset = load_image_dataset(stream_config(repo, preprocess="none"), paired=True, seed=0)
    assert take(dataset, 1)[0]["A"].shape == (3, 40, 40)  # the reference's default multiple, 4
    dataset.size_multiple = 32
    assert [tuple(item["B"].shape) for item in take(dataset, 2)] == [(3, 32, 32)] * 2


def test_paired_crop_and_flip_are_shared_by_a_and_b(local_hub, tmp_path):
    repo = "stream/same-ab"  # B = A exactly: any crop or flip that differed between A and B would show
    folder = tmp_path / "same"
    (folder / "data").mkdir(parents=True)
    images = [png(make_pair(i, 48)[1]) for i in range(4)]
    table = datasets.Dataset.from_list([{"imageA": {"bytes": x, "path": None}, "imageB": {"bytes": x, "path": None}}
                                        for x in images])
    table.cast_column("imageA", datasets.Image()).cast_column("imageB", datasets.Image()).to_parquet(
        str(folder / "data" / "train-00000-of-00001.parquet"))
    local_hub.add_repo(repo, folder, repo_type="dataset")
    items = take(load_image_dataset(stream_config(repo), paired=True, seed=3), 12)
    assert all(torch.equal(item["A"], item["B"]) for item in items)


@pytest.mark.parametrize("shards", [2, 1])  # 2: each rank reads its own file; 1: each keeps one example in two
def test_two_ranks_read_disjoint_parts(local_hub, tmp_path, shards):
    repo = serve_pairs(local_hub, tmp_path, f"stream/ranks{shards}", n=8, shards=shards)
    config = stream_config(repo, preprocess="none", no_flip=True)
    parts = [[key(item["A"]) for item in take(load_image_dataset(config, paired=True, seed=0, rank=rank, world_size=2), 4)]
             for rank in (0, 1)]
    everything = {key(item["A"]) for item in take(load_image_dataset(config, paired=True, seed=0, train=False), 100)}
    assert len(everything) == 8  # validation: one pass, in order, not split
    assert not set(parts[0]) & set(parts[1]) and set(parts[0]) | set(parts[1]) == everything


def test_unpaired_streams_are_drawn_independently(local_hub, tmp_path):
    repo = serve_pairs(local_hub, tmp_path, "stream/unpaired", n=6)
    config = stream_config(repo, preprocess="none", no_flip=True)
    items = take(load_image_dataset(config, paired=False, seed=0), 12)
    paired = take(load_image_dataset(config, paired=True, seed=0), 12)
    partner = {key(x["A"]): key(x["B"]) for x in paired}
    assert any(partner[key(x["A"])] != key(x["B"]) for x in items)  # B is not A's row partner
    assert {key(x["B"]) for x in items} == set(partner.values())  # but every B is used


def test_bad_images_in_a_stream_follow_on_bad_image(local_hub, tmp_path):
    repo = serve_pairs(local_hub, tmp_path, "stream/bad", n=5, bad_rows=(2,))
    with pytest.raises(DataError) as error:
        take(load_image_dataset(stream_config(repo), paired=True, seed=0), 5)
    message = str(error.value)
    assert "a002.png" in message and "truncated" in message and "--on_bad_image skip" in message and "\n" not in message
    dataset = load_image_dataset(stream_config(repo, on_bad_image="skip", preprocess="none", no_flip=True), paired=True, seed=0)
    keys = [key(item["A"]) for item in take(dataset, 8)]
    assert set(keys[:4]) == set(keys[4:]) and len(set(keys)) == 4 and dataset.passes == 1  # 4 usable pairs a pass
    assert {name for name, _ in dataset.bad_images} == {"a002.png"}  # counted each time it is met


def test_clear_errors(local_hub, tmp_path):
    repo = serve_pairs(local_hub, tmp_path, "stream/columns", n=2, columns=("input", "target"))
    with pytest.raises(DataError, match=r"no column 'imageA': the dataset has \['input', 'target'\]; pass --image_column_a"):
        load_image_dataset(stream_config(repo), paired=True)
    with pytest.raises(DataError, match="local folder"):
        load_image_dataset(stream_config(str(tmp_path)), paired=True)
    with pytest.raises(ValueError, match="--streaming reads a dataset of unknown length: pass --max_steps"):
        parse_args(["--dataset", repo, "--streaming"]).resolve()


@pytest.fixture(scope="module")
def train_runs(local_hub_server, tmp_path_factory):
    """The module's train.py runs, all started the first time a test asks for one, each test checking its own.
    Each streamed run keeps one core busy, then idles up to 5 s at exit (datasets' wait for pyarrow's threads,
    streaming.ArrowExitWait): side by side on 2 cores, the four take about the time of the longest two."""
    if not local_hub_server.running:
        local_hub_server.start()
    root = tmp_path_factory.mktemp("stream-runs")
    repos = {"resume": serve_pairs(local_hub_server, root, "stream/train", n=3, size=40),
             "cyclegan": serve_pairs(local_hub_server, root, "stream/cyclegan", n=3),
             "ddp": serve_pairs(local_hub_server, root, "stream/ddp", n=4, shards=2)}

    def env(name):  # caches of the run's own
        return local_hub_server.client_env(cache_dir=root / name / "hf-cache", offline=False)

    resume_common = ["--model", "pix2pix", "--dataset", repos["resume"], "--streaming", "--shuffle_buffer_size", 2,
                     "--checkpointing_steps", 2, "--n_epochs", 1, "--n_epochs_decay", 1, *TINY_32]
    out = root / "resume"

    def straight():
        return run_train(*resume_common, "--output_dir", out / "straight", "--max_steps", 5, env=env("straight"))

    def resumed():
        # a run stopped after step 2: its checkpoint, resumed with the same --max_steps (the LR schedule spans them),
        # as soon as the straight run has renamed checkpoint-2.partial to checkpoint-2 (checkpoints.py)
        while not (out / "straight" / "checkpoint-2").is_dir() and not futures["straight"].done():
            time.sleep(0.1)
        shutil.copytree(out / "straight" / "checkpoint-2", out / "resumed" / "checkpoint-2")
        return run_train(*resume_common, "--output_dir", out / "resumed", "--max_steps", 5, "--resume_from_checkpoint",
                         "latest", env=env("resumed"))

    def cyclegan():
        folder = root / "cyclegan" / "o"
        run_train("--model", "cyclegan", "--dataset", repos["cyclegan"], "--streaming", "--max_steps", 2, "--output_dir", folder,
                  "--netG", "resnet_6blocks", "--ngf", "8", "--ndf", "8", "--load_size", "36", "--resolution", "32",
                  "--report_to", "none", "--num_validation_images", "1", "--pool_size", "2", env=env("cyclegan"))
        return folder

    def ddp():
        launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                    "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
        return run_train("--model", "pix2pix", "--dataset", repos["ddp"], "--streaming", "--max_steps", 2,
                         "--gradient_accumulation_steps", 2, "--output_dir", root / "ddp" / "o", *TINY_32, launcher=launcher,
                         env={**env("ddp"), "ACCELERATE_USE_CPU": "1"})

    futures = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        for run in (straight, resumed, cyclegan, ddp):
            futures[run.__name__] = pool.submit(run)
        yield lambda name: (out, futures["straight"].result(), futures["resumed"].result()) if name == "resume" \
            else futures[name].result()


def test_train_py_streams_and_resumes_exactly(train_runs):
    out, straight_log, resumed_log = train_runs("resume")
    text = straight_log.stdout + straight_log.stderr
    assert "streamed" in text and "streamed 1 complete pass(es) over the data in 5 steps" in text
    assert (out / "straight" / "model.safetensors").is_file()
    assert "resumed from" in resumed_log.stdout + resumed_log.stderr
    straight = safetensors.torch.load_file(out / "straight" / "model.safetensors")
    resumed = safetensors.torch.load_file(out / "resumed" / "model.safetensors")
    assert [k for k in straight if not torch.equal(straight[k], resumed[k])] == []


def test_train_py_streams_cyclegan(train_runs):
    assert (train_runs("cyclegan") / "AtoB" / "model.safetensors").is_file()


def test_train_py_streams_with_two_processes(train_runs):
    log = train_runs("ddp")
    text = log.stdout + log.stderr
    assert "2 process(es)" in text and "process 0 of 2 reads its own part" in text
    # each process reads its own 2 pairs a pass; 2 steps of 2 accumulated batches read them twice
    assert "streamed 2 complete pass(es) over the data in 2 steps" in text


WORKERS_SCRIPT = """
import sys, torch
sys.path.insert(0, "tests")
from helpers import key, stream_config, take
from pix2pix_hub.data.datasets import load_image_dataset
dataset = load_image_dataset(stream_config(sys.argv[1], preprocess="none", no_flip=True), paired=True, seed=0)
batches = take(torch.utils.data.DataLoader(dataset, batch_size=2, num_workers=2), 4)  # endless: two passes
print([tuple(batch["A"].shape) for batch in batches], len({key(a) for batch in batches for a in batch["A"]}))
"""


@pytest.mark.parametrize("shards", [2, 1])  # 1 shard: the second worker gets nothing and stops, the first goes on
def test_dataloader_workers_split_the_stream(local_hub, tmp_path, shards):
    """In a subprocess: worker processes make torch install a SIGCHLD handler for the rest of the process, and
    in pytest's process (with arrow's, OpenVINO's and Rust's threads about) a later child's exit running that
    handler crashed the whole run with a segfault (CI, in this file, each time)."""
    repo = serve_pairs(local_hub, tmp_path, f"stream/workers{shards}", n=4, shards=shards)
    result = subprocess.run([sys.executable, "-c", WORKERS_SCRIPT, repo], cwd=Path(__file__).parents[1],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.splitlines()[-1] == f"{[(2, 3, 32, 32)] * 4} 4"  # 4 batches, all 4 pairs seen


def test_streamed_image_folder_reads_each_file(local_hub, tmp_path):
    """A Hub repo of image files + metadata.csv: rows stream with only each image's hf:// path, read on demand."""
    folder = make_metadata_folder(tmp_path / "imagefolder", n=3, size=32)
    local_hub.add_repo("stream/imagefolder", folder, repo_type="dataset")
    dataset = load_image_dataset(stream_config("stream/imagefolder"), paired=True, seed=0)
    items = take(dataset, 4)
    assert [tuple(item["A"].shape) for item in items] == [(3, 32, 32)] * 4 and dataset.passes == 1


def test_unpaired_streams_by_domain_column_and_from_two_datasets(local_hub, tmp_path):
    images = [png(make_pair(i, 32)[i % 2]) for i in range(6)]  # even rows: sketches (A), odd rows: photos (B)
    folder = tmp_path / "domains"
    (folder / "data").mkdir(parents=True)
    table = datasets.Dataset.from_list([{"image": {"bytes": x, "path": f"{i}.png"}, "kind": ["sketch", "photo"][i % 2]}
                                        for i, x in enumerate(images)])
    table.cast_column("image", datasets.Image()).to_parquet(str(folder / "data" / "train-00000-of-00001.parquet"))
    local_hub.add_repo("stream/domains", folder, repo_type="dataset")
    config = stream_config("stream/domains", domain_column="kind", image_column_a="image", preprocess="none", no_flip=True)
    items = take(load_image_dataset(config, paired=False, seed=0, domain_names=("sketch", "photo")), 6)
    sketches = {key(torch.from_numpy(np.asarray(Image.open(io.BytesIO(x)), np.float32).transpose(2, 0, 1) / 127.5 - 1))
                for x in images[::2]}
    assert {key(item["A"]) for item in items} == sketches and not {key(item["B"]) for item in items} & sketches
    with pytest.raises(DataError, match=r"value 'sketch' is neither \['cat', 'dog'\] nor 0/1"):
        take(load_image_dataset(config, paired=False, seed=0, domain_names=("cat", "dog")), 1)

    two = DataConfig(dataset_a="stream/domains", dataset_b="stream/pairs-b", streaming=True, preprocess="none")
    serve_pairs(local_hub, tmp_path, "stream/pairs-b", n=2)
    dataset = load_image_dataset(two, paired=False, seed=0)
    assert dataset.columns == ("image", "imageB")  # a one-domain dataset: its first image column
    assert len(take(dataset, 3)) == 3


@pytest.mark.parametrize("paired", [True, False])
@pytest.mark.parametrize("on_bad_image", ["error", "skip"])
def test_resume_items_continues_the_stream_exactly(local_hub, tmp_path, monkeypatch, paired, on_bad_image):
    """What train.py does on resume: the dataset passes over the items trained on (error: without decoding them)."""
    from pix2pix_hub.data import streaming

    bad_rows = (1,) if on_bad_image == "skip" else ()
    repo = serve_pairs(local_hub, tmp_path, f"stream/resume-{paired}-{on_bad_image}", n=5, bad_rows=bad_rows)
    config = stream_config(repo, on_bad_image=on_bad_image)
    straight = take(load_image_dataset(config, paired=paired, seed=0), 11)
    resumed = load_image_dataset(config, paired=paired, seed=0)
    resumed.resume_items = 6
    decoded = []
    monkeypatch.setattr(streaming, "decode", lambda ref, mode, real=streaming.decode, **kw: decoded.append(ref) or real(ref, mode, **kw))
    rest = take(resumed, 5)
    if on_bad_image == "error":
        assert len(decoded) == 2 * 5  # A and B of the 5 items given, nothing of the 6 passed over
    assert [item["index"] for item in rest] == list(range(6, 11))
    assert all(torch.equal(x["A"], y["A"]) and torch.equal(x["B"], y["B"]) for x, y in zip(straight[6:], rest))


def test_parquet_larger_than_one_read_block(local_hub, tmp_path):
    """Over fsspec's 5 MB block, HfFileSystem reads by HTTP ranges (the parquet footer, each row group): the
    loopback server must answer them as the Hub does (tests/hub_server.py)."""
    noise = np.random.default_rng(0)
    rows = [{"imageA": {"bytes": png(make_pair(i, 32)[0]), "path": f"a{i}.png"},
             "imageB": {"bytes": png(make_pair(i, 32)[1]), "path": f"b{i}.png"}, "padding": noise.bytes(2_000_000)}
            for i in range(4)]
    folder = tmp_path / "big"
    (folder / "data").mkdir(parents=True)
    table = datasets.Dataset.from_list(rows).cast_column("imageA", datasets.Image()).cast_column("imageB", datasets.Image())
    table.to_parquet(str(folder / "data" / "train-00000-of-00001.parquet"), batch_size=1)  # a row group per row
    assert (folder / "data" / "train-00000-of-00001.parquet").stat().st_size > 7_000_000
    local_hub.add_repo("stream/big", folder, repo_type="dataset")
    dataset = load_image_dataset(stream_config("stream/big", preprocess="none", no_flip=True), paired=True, seed=0)
    assert len({key(item["A"]) for item in take(dataset, 4)}) == 4

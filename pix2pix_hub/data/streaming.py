"""`--streaming`: read a Hub dataset as it downloads, decoding and transforming each pair on the fly.

The stream is endless: when it runs out, the next pass (an "epoch") starts, reshuffled. So the training
loop needs `--max_steps`, and the learning-rate schedule is spread over those steps (training.py).
Each pass is a pure function of (seed, pass): `datasets` shuffles the shard order and a buffer of
`--shuffle_buffer_size` examples from the seed and the pass number (`set_epoch`), and the crop and flip
of an item come from a generator seeded with (seed, pass, rank, worker, position).

Resuming (`--resume_from_checkpoint`, with the same `--max_steps`) replays the stream up to the saved
step without training on it, so the run continues exactly, at the cost of reading that data again
(but not decoding it, with --on_bad_image error and no DataLoader workers: `resume_items`).
`datasets`' own `IterableDataset.state_dict()` would skip the reading but drops the shuffle buffer's
contents on resume (its documentation says so), and Accelerate's loader reads one batch ahead, so the
state it would save is not the state trained on: not exact.

Sharding across processes is done here, with `datasets.distributed.split_dataset_by_node`, before
anything is decoded, and Accelerate is told not to shard again (training.py prepares the loader for
device placement only). Accelerate's own handling of an IterableDataset would either read and decode
everything on process 0 and send each process its slice (`dispatch_batches`, its default), or have every
process read and decode the whole stream and keep one batch in N (`IterableDatasetShard`); either way
the decoding does not scale with the number of processes. `split_dataset_by_node` gives each process
whole shards when their number is a multiple of the process count (each reads only its own files), and
otherwise one example in N of the same seeded order; both are disjoint, because every process
shuffles with the same seed. DataLoader workers split a process's shards further (`datasets` does it).
"""

from __future__ import annotations

import atexit
import itertools
import time

import numpy as np
import torch
from PIL import Image

from ..config import DataConfig
from ..errors import DataError
from ..hub.ids import is_hub_id, load_hub_split
from .images import ORIENTATION_KEY, BadImageError
from .transforms import OrientationCount, check_pair_sizes, decode, make_item, oriented, scale_image, skip_or_raise


class ArrowExitWait:
    """`datasets` sleeps 5 s (datasets.config.SLEEP_TIME_ON_THREADS_SHUTDOWN) each time a parquet stream's
    iteration ends, against pyarrow's background threads crashing the interpreter when it exits just after a
    scan (apache/arrow#45214, #39862). A streamed run's iteration ends at every pass over the data and at its
    last step, so training (or a DataLoader worker, and the loader's shutdown waiting on it) stood still 5 s
    each time: on a small dataset, most of the run. The wait only matters before the interpreter exits, so
    it is moved there: once, at exit, for what remains of it since the last stream ended (all of it while
    one is still being read). Forked DataLoader workers leave by os._exit, without finalizing: no wait."""

    seconds = 0.0  # the wait datasets would have made
    open_streams = 0
    last_end = 0.0
    registered = False

    @classmethod
    def defer(cls) -> None:
        import datasets

        wait = datasets.config.SLEEP_TIME_ON_THREADS_SHUTDOWN
        if wait:
            datasets.config.SLEEP_TIME_ON_THREADS_SHUTDOWN = 0
            cls.seconds = max(cls.seconds, float(wait))
            if not cls.registered:
                atexit.register(cls.wait)
                cls.registered = True

    @classmethod
    def wait(cls) -> None:
        remaining = cls.seconds if cls.open_streams else cls.seconds - (time.monotonic() - cls.last_end)
        if remaining > 0:
            time.sleep(remaining)


def open_stream(name: str, split: str, columns: list[str]):
    """The split as a `datasets.IterableDataset` of undecoded images ({"bytes", "path"} dicts): we decode
    them ourselves, so a bad file follows --on_bad_image instead of stopping `datasets` mid-stream."""
    stream = load_hub_split(name, split, streaming=True).decode(False)
    present = stream.column_names
    if present is None:  # features unknown until read: look at the first example
        ArrowExitWait.defer()
        present = list(next(iter(stream), {}))
        ArrowExitWait.last_end = time.monotonic()
    missing = [c for c in columns if c not in present]
    if missing:
        raise DataError(f"{name}: no column {missing[0]!r}: the dataset has {present}; pass --image_column_a/--image_column_b"
                        + (" or --domain_column" if len(columns) == 1 else ""))
    return stream


def first_image_column(stream, wanted: str) -> str:
    import datasets
    images = [c for c, f in (stream.features or {}).items() if isinstance(f, datasets.Image)]
    if not images:
        raise DataError(f"no column {wanted!r} and no image column: the dataset has {stream.column_names}; "
                        "pass --image_column_a/--image_column_b")
    return images[0]


def fetch(ref) -> dict:
    """An image reference with its bytes: streamed image folders give only a remote path (hf://...)."""
    if not isinstance(ref, dict):
        raise BadImageError(f"<row>: no image ({ref!r}); remove the row")
    path = ref.get("path") or ""
    if ref.get("bytes") or "://" not in path:
        return ref
    from datasets.utils.file_utils import xopen
    try:
        with xopen(path, "rb") as file:
            return {"bytes": file.read(), "path": path}
    except Exception as error:  # network or missing file: this image cannot be used
        raise BadImageError(f"{path}: cannot be read ({type(error).__name__}: {str(error)[:200]}); check the dataset") from None


class StreamingImageDataset(torch.utils.data.IterableDataset):
    """{"A", "B", "index"} items, as ImageDataset gives, from one stream (paired: two columns of each row)
    or two (unpaired: A and B drawn from independently shuffled streams)."""

    streaming = True

    def __init__(self, streams: list, *, columns: tuple[str, str], config: DataConfig, paired: bool, train: bool,
                 seed: int, description: str, rank: int = 0, world_size: int = 1):
        from datasets.distributed import split_dataset_by_node

        self.config, self.paired, self.train, self.seed = config, paired, train, seed
        self.rank, self.world_size = rank, world_size
        self.swap = config.direction == "BtoA"
        self.columns = columns  # A's and B's image column (of the one stream when paired)
        self.streams = []
        for k, stream in enumerate(streams):
            if train and not config.serial_batches:  # the same seed everywhere: the split below is disjoint
                stream = stream.shuffle(seed=seed + k, buffer_size=config.shuffle_buffer_size)
            if train and world_size > 1:
                stream = split_dataset_by_node(stream, rank=rank, world_size=world_size)
            self.streams.append(stream)
        self.bad_images: list[tuple[str, str]] = []
        self.orientation = OrientationCount(per_read=True)
        self.passes = 0  # complete passes over (this process's part of) stream A, counted in this process
        self.resume_items = 0  # items to pass over at the next iteration: those trained on before a resume
        self.size_multiple = 4  # sides are rounded to a multiple of this; training sets the generator's
        split_note = f" (process {rank} of {world_size} reads its own part)" if world_size > 1 and train else ""
        self.description = f"{description}, streamed{split_note}"

    # examples -----------------------------------------------------------------------------------
    def examples(self, k: int):
        """(pass, position, example) of stream k, pass after pass (once when not training)."""
        stream, self.used[k] = self.streams[k], 0
        worker = torch.utils.data.get_worker_info()
        ArrowExitWait.defer()
        for epoch in itertools.count():
            stream.set_epoch(epoch)  # datasets reshuffles from (seed, epoch)
            count = 0
            ArrowExitWait.open_streams += 1
            try:
                for position, example in enumerate(stream):
                    count += 1
                    yield epoch, position, example
            finally:  # a pass's end, or an early stop (the generator closed)
                ArrowExitWait.open_streams -= 1
                ArrowExitWait.last_end = time.monotonic()
            if not self.train:
                return
            if count == 0:
                if worker is not None:  # this worker was given no shard (more workers than shards)
                    return
                raise DataError(f"{self.description}: the stream is empty" + (f" for process {self.rank} (fewer examples "
                                f"than processes)" if self.world_size > 1 else "") + "; check --split")
            if self.used[k] == 0:
                raise DataError(f"{self.description}: no usable images in a whole pass ({len(self.bad_images)} unreadable, "
                                f"e.g. {self.bad_images[-1][0] if self.bad_images else '?'})")
            self.used[k] = 0
            if k == 0:
                self.passes = epoch + 1

    def image(self, ref, column: str) -> Image.Image | None:
        """The decoded image, its EXIF orientation not applied yet, or None for a bad one with
        --on_bad_image skip."""
        try:
            if ref is None:
                raise BadImageError(f"<row>: no image in column {column!r}; remove the row or fix --image_column_a/b")
            ref = fetch(ref)
            return decode(ref, "RGB", orientation="ignore")
        except (BadImageError, DataError) as error:
            skip_or_raise(self.config, self.bad_images, ref or {"path": f"<row without {column}>"}, error)
            return None

    def scaled(self, image: Image.Image, ref, partner: Image.Image | None = None) -> Image.Image:
        """Turned by its EXIF tag (a pair's two images alike, transforms.OrientationCount), then scaled."""
        partner_tag = partner.info.get(ORIENTATION_KEY, 1) if partner is not None else None
        image = oriented(image, ref, aligned=False, partner_tag=partner_tag, count=self.orientation)
        return scale_image(self.config, image, self.train)

    def pairs(self, undecoded: int = 0):
        """(pass, position, A, B) of usable pairs, decoded and scaled; the first `undecoded` rows pass unread."""
        self.used = [0] * len(self.streams)
        column_a, column_b = self.columns
        b_examples = None if self.paired else self.examples(1)
        for epoch, position, example in self.examples(0):
            if undecoded:
                undecoded -= 1
                self.used[0] += 1
                if b_examples is not None:
                    next(b_examples)
                    self.used[1] += 1
                continue
            a = self.image(example[column_a], column_a)
            if a is None:
                continue
            if self.paired:
                ref_b = example[column_b]
                b = self.image(ref_b, column_b)
                if b is None:
                    continue
                a, b = self.scaled(a, example[column_a], partner=b), self.scaled(b, ref_b, partner=a)
                try:
                    check_pair_sizes(self.config, example[column_a], a, ref_b, b)
                except BadImageError as error:
                    skip_or_raise(self.config, self.bad_images, ref_b, error)
                    continue
            else:
                b = None
                a = self.scaled(a, example[column_a])
                for _, _, example_b in b_examples:  # the next usable B, from its own stream
                    b = self.image(example_b[column_b], column_b)
                    if b is not None:
                        b = self.scaled(b, example_b[column_b])
                        self.used[1] += 1
                        break
                if b is None:  # the B stream ended (validation only)
                    return
            self.used[0] += 1
            yield epoch, position, a, b

    def __iter__(self):
        """Items of the usable pairs. After a resume (`resume_items` set), the items trained on before are
        passed over: undecoded with --on_bad_image error (none of them was bad, or the first run would have
        stopped), decoded with skip (to know which were)."""
        worker = torch.utils.data.get_worker_info()
        worker_id = worker.id if worker is not None else 0
        skip, self.resume_items = self.resume_items, 0
        undecoded = skip if self.config.on_bad_image == "error" else 0
        for index, (epoch, position, a, b) in enumerate(self.pairs(undecoded), start=undecoded):
            if index < skip:
                continue
            if self.swap:
                a, b = b, a
            rng = np.random.default_rng([self.seed, epoch, self.rank, worker_id, position, 1])
            yield make_item(self.config, a, b, rng, paired=self.paired, train=self.train,
                            multiple=self.size_multiple) | {"index": index}


def load_streaming_dataset(config: DataConfig, *, paired: bool, split: str, train: bool, seed: int,
                           domain_names: tuple[str, str], rank: int = 0, world_size: int = 1) -> StreamingImageDataset:
    names = [config.dataset_a, config.dataset_b] if config.dataset_a and config.dataset_b else [config.dataset]
    local = [n for n in names if not n or not is_hub_id(n)]
    if local:
        raise DataError(f"--streaming reads Hub datasets (user/name); {local[0]} is a local folder, read as it is: "
                        "drop --streaming")
    if config.max_train_samples and train:
        raise DataError("--max_train_samples is not supported with --streaming; drop one of them")
    columns = (config.image_column_a, config.image_column_b)
    common = dict(columns=columns, config=config, paired=paired, train=train, seed=seed, rank=rank, world_size=world_size)
    description = f"Hub dataset {config.dataset} [{split}]"
    if len(names) == 2:  # two one-domain datasets: the named column, or else each one's first image column
        streams = [load_hub_split(name, split, streaming=True).decode(False) for name in names]
        common["columns"] = tuple(column if column in (s.column_names or [column]) else first_image_column(s, column)
                                  for s, column in zip(streams, columns))
        return StreamingImageDataset(streams, description=f"{names[0]} + {names[1]} [{split}]", **common)
    if config.domain_column and not paired:
        stream = open_stream(config.dataset, split, [columns[0], config.domain_column])
        streams = [stream.filter(DomainFilter(config.domain_column, domain_names, d)) for d in (0, 1)]
        common["columns"] = (columns[0], columns[0])
        return StreamingImageDataset(streams, description=f"{description} by {config.domain_column}", **common)
    stream = open_stream(config.dataset, split, list(columns))
    # paired: both images of each row; unpaired: the same rows twice, shuffled independently
    return StreamingImageDataset([stream] if paired else [stream, stream], description=description, **common)


class DomainFilter:
    """Keeps the rows of one domain (a class, not a lambda, so DataLoader workers can pickle it)."""

    def __init__(self, column: str, domain_names: tuple[str, str], domain: int):
        self.column, self.domain = column, domain
        self.labels = {domain_names[0]: 0, domain_names[1]: 1, 0: 0, 1: 1, "A": 0, "B": 1}

    def __call__(self, row: dict) -> bool:
        value = row[self.column]
        if value not in self.labels:
            raise DataError(f"--domain_column {self.column}: value {value!r} is neither {list(self.labels)[:2]} nor 0/1; "
                            "set --domain_a_name/--domain_b_name")
        return self.labels[value] == self.domain


def prepare_stream_loader(accelerator, loader):
    """Accelerate's loader wrapper for device placement only (num_processes=1: no sharding, no dispatching),
    since each process's StreamingImageDataset already reads only its own part of the stream."""
    from accelerate.data_loader import prepare_data_loader

    return prepare_data_loader(loader, accelerator.device, num_processes=1, process_index=0, put_on_device=True,
                               dispatch_batches=False, rng_types=None)

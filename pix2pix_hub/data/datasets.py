"""Every data source through one function, `load_image_dataset`.

Sources: a Hub dataset id (two image columns, or a domain column for unpaired data), a local folder in
the reference's aligned layout (A|B side by side under train/ val/ test/), a folder with A/ and B/
holding matching file names, the reference's unpaired trainA/ trainB/ layout, two folders
(--dataset_a/--dataset_b), or any folder `datasets` can read (metadata.csv naming two image columns,
parquet files).

Item i of epoch e is a pure function of (seed, e, i): shuffling and the random crop/flip come from
generators seeded with those numbers, never from global state. So any number of workers or
processes, and a resumed run, read exactly the same images.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..config import DataConfig
from ..errors import DataError, first_line
from ..hub.ids import is_hub_id, load_hub_split
from .images import IMAGE_SUFFIXES, BadImageError
from .transforms import (
    OrientationCount,
    check_aligned,
    check_pair_sizes,
    decode,
    make_item,
    oriented,
    peek_orientation,
    scale_image,
    skip_or_raise,
    split_aligned,
)

CACHE_BUDGET_BYTES = 2 * 1024**3  # decoded images kept in memory up to this size
EAGER_CHECK_LIMIT = 20_000  # check (and cache) every image up front for datasets up to this size
LAYOUTS = ("a Hub dataset id; a folder of aligned A|B images (optionally under train/ val/ test/); "
           "A/ and B/ folders with matching names; trainA/ and trainB/ folders; --dataset_a and --dataset_b; "
           "or a folder with metadata.csv naming two image columns (imageA_file_name, imageB_file_name)")


# -- finding the images ---------------------------------------------------------------------------
def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def named_dataset(config: DataConfig, paired: bool, rank: int = 0) -> tuple[DataConfig, str]:
    """--dataset NAME of one of the reference's datasets (neither a local folder nor a Hub id): the config
    pointed at its folder in the cache, downloaded and unpacked once; and a note saying where it came from.
    A name both of its scripts list (facades, maps) is the paired (pix2pix) one for paired recipes."""
    name = config.dataset
    if not name or Path(name).exists() or is_hub_id(name):
        return config, ""
    from ..hub.downloads import dataset_folder, lookup

    entry = lookup(name, "dataset", prefer="pix2pix" if paired else "cyclegan")
    if entry is None:
        return config, ""
    folder = dataset_folder(entry, announce=rank == 0)  # (a DownloadError says why it cannot be had)
    return replace(config, dataset=str(folder)), f"the reference's {entry.kind} dataset {entry.name}, {entry.url}"


def image_refs(dataset, column: str) -> list:
    """Undecoded images of a `datasets` column ({'bytes', 'path'} dicts), so we decode them ourselves."""
    import datasets

    if column not in dataset.column_names:
        image_columns = [c for c, f in dataset.features.items() if isinstance(f, datasets.Image)]
        raise DataError(f"no column {column!r}: the dataset has {dataset.column_names} (image columns: {image_columns}); "
                        "pass --image_column_a/--image_column_b")
    return [ref for ref in dataset.cast_column(column, datasets.Image(decode=False))[column] if ref]


def paired_sources(config: DataConfig, split: str) -> tuple[list, list | None, str]:
    """(A images, B images or None for aligned A|B files, description)."""
    name = config.dataset
    if is_hub_id(name):
        dataset = load_hub_split(name, split)
        a, b = image_refs(dataset, config.image_column_a), image_refs(dataset, config.image_column_b)
        if len(a) != len(b):
            raise DataError(f"{name}: {len(a)} {config.image_column_a} images but {len(b)} {config.image_column_b}: paired data needs both in every row")
        return a, b, f"Hub dataset {name} [{split}]"
    root = Path(name)
    if not root.is_dir():
        raise DataError(f"{name}: no such folder, and not a Hub id (user/name)")
    base = root / split if (root / split).is_dir() else root
    if (base / "A").is_dir() and (base / "B").is_dir():
        return *matched_folders(base / "A", base / "B"), f"A/ + B/ folders in {base}"
    has_metadata = any((folder / f"metadata.{ext}").is_file() for folder in (root, base) for ext in ("csv", "jsonl"))
    if has_metadata or list(root.glob("data/*.parquet")):
        import datasets
        builder = "imagefolder" if not list(root.glob("data/*.parquet")) else None
        try:
            dataset = datasets.load_dataset(builder or str(root), data_dir=str(root) if builder else None, split=split)
        except ValueError as error:
            raise DataError(f"{root}: {first_line(error)} (metadata.csv names images in columns "
                            f"`{config.image_column_a}_file_name` and `{config.image_column_b}_file_name`)") from None
        return image_refs(dataset, config.image_column_a), image_refs(dataset, config.image_column_b), f"datasets folder {root} [{split}]"
    if base is root and any((root / s).is_dir() for s in ("train", "val", "test")):
        raise DataError(f"{root} has no {split}/ folder (pass --split)")
    images = [p for p in base.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES] if base.is_dir() else []
    unpaired = sorted(p.name + "/" for p in root.iterdir() if p.is_dir() and p.name[-1:] in "AB"
                      and p.name[:-1] in ("train", "val", "test"))
    if not images and unpaired:  # the loader asked for pairs: a paired model (pix2pix) or a --direction evaluation
        raise DataError(f"{root} holds unpaired folders ({' '.join(unpaired)}): a paired model needs pairs (aligned "
                        "A|B images, A/ and B/ folders with matching names, or a metadata.csv naming two columns); "
                        "unpaired folders are for CycleGAN and CUT")
    if not images:
        raise DataError(f"{base}: no images found. Accepted layouts: {LAYOUTS}")
    return sorted(images), None, f"aligned A|B images in {base}"


def matched_folders(folder_a: Path, folder_b: Path) -> tuple[list[Path], list[Path]]:
    a = {p.relative_to(folder_a).with_suffix(""): p for p in list_images(folder_a)}
    b = {p.relative_to(folder_b).with_suffix(""): p for p in list_images(folder_b)}
    if not a:
        raise DataError(f"{folder_a}: no images found")
    unmatched = sorted(set(a) ^ set(b))
    if unmatched:
        raise DataError(f"{folder_a} and {folder_b}: {len(unmatched)} file names have no partner "
                        f"(e.g. {unmatched[0]}); paired folders need the same names")
    return [a[k] for k in sorted(a)], [b[k] for k in sorted(a)]


def unpaired_sources(config: DataConfig, split: str, domain_names: tuple[str, str]) -> tuple[list, list, str]:
    if config.dataset_a and config.dataset_b:
        a = single_domain(config.dataset_a, split, config.image_column_a)
        b = single_domain(config.dataset_b, split, config.image_column_b)
        return a, b, f"{config.dataset_a} + {config.dataset_b}"
    name = config.dataset
    if is_hub_id(name):
        dataset = load_hub_split(name, split)
        if config.domain_column:
            return *split_by_domain(dataset, config, domain_names), f"Hub dataset {name} [{split}] by {config.domain_column}"
        return image_refs(dataset, config.image_column_a), image_refs(dataset, config.image_column_b), f"Hub dataset {name} [{split}]"
    root = Path(name)
    if (root / f"{split}A").is_dir() and (root / f"{split}B").is_dir():
        return list_images(root / f"{split}A"), list_images(root / f"{split}B"), f"{split}A/ + {split}B/ in {root}"
    a, b, description = paired_sources(config, split)  # any paired source also works unpaired
    if b is None:
        raise DataError(f"{root}: aligned A|B images are paired data; for CycleGAN use {split}A/ + {split}B/ folders")
    return a, b, description


def single_domain(name: str, split: str, column: str) -> list:
    if is_hub_id(name):
        dataset = load_hub_split(name, split)
        import datasets
        if column not in dataset.column_names:  # a one-domain dataset: its first image column
            column = next((c for c, f in dataset.features.items() if isinstance(f, datasets.Image)), column)
        return image_refs(dataset, column)
    folder = Path(name) / split if (Path(name) / split).is_dir() else Path(name)
    images = list_images(folder) if folder.is_dir() else []
    if not images:
        raise DataError(f"{name}: no images found (a folder of images or a Hub id)")
    return images


def photo_sources(config: DataConfig, split: str) -> tuple[list, str]:
    """Single images (colorization: any folder of colour photos, or a Hub dataset's first image column), under
    split/ when the folder has split folders, as the reference's ColorizationDataset reads dataroot/phase."""
    root = Path(config.dataset)
    if not is_hub_id(config.dataset) and not (root / split).is_dir() and any((root / s).is_dir() for s in ("train", "val", "test")):
        raise DataError(f"{root} has no {split}/ folder (pass --split)")
    refs = single_domain(config.dataset, split, config.image_column_a)
    where = f"Hub dataset {config.dataset} [{split}]" if is_hub_id(config.dataset) else f"photos in {root / split if (root / split).is_dir() else root}"
    return refs, where


def split_by_domain(dataset, config: DataConfig, domain_names: tuple[str, str]) -> tuple[list, list]:
    if config.domain_column not in dataset.column_names:
        raise DataError(f"no column {config.domain_column!r}: the dataset has {dataset.column_names}; pass --domain_column")
    values = dataset[config.domain_column]
    refs = image_refs(dataset, config.image_column_a)
    labels = {domain_names[0]: 0, domain_names[1]: 1, 0: 0, 1: 1, "A": 0, "B": 1}
    unknown = {v for v in values if v not in labels}
    if unknown:
        raise DataError(f"--domain_column {config.domain_column}: values {sorted(map(str, unknown))[:5]} are neither "
                        f"{domain_names} nor 0/1; set --domain_a_name/--domain_b_name")
    return ([r for r, v in zip(refs, values) if labels[v] == 0], [r for r, v in zip(refs, values) if labels[v] == 1])


class ImageDataset(torch.utils.data.Dataset):
    """Paired (A[i], B[i]) or unpaired (A[i], random B) items of {"A", "B", "index"} tensors in [-1, 1]."""

    def __init__(self, refs_a: list, refs_b: list | None, *, config: DataConfig, paired: bool, train: bool,
                 seed: int, description: str, swap: bool = False, single: bool = False):
        self.refs_a, self.refs_b = refs_a, refs_b
        self.config, self.paired, self.train, self.seed, self.epoch = config, paired, train, seed, 0
        self.single = single  # one image per item, as both A and B (colorization: the recipe makes L and ab)
        self.aligned = refs_b is None and not single  # A|B side by side in one file
        self.swap = swap  # --direction BtoA
        self.size_multiple = 4  # sides are rounded to a multiple of this; training sets the generator's
        self.cache: dict[tuple[int, int], Image.Image] = {}  # (domain, id(ref)) -> scaled image
        self.cache_bytes = 0
        self.bad_images: list[tuple[str, str]] = []
        self.orientation = OrientationCount()
        # separate A and B files of a pair: each one's partner, whose EXIF tag decides with its own
        self.partners = {id(x): y for a, b in zip(refs_a, refs_b) for x, y in ((a, b), (b, a))} \
            if paired and refs_b is not None else {}
        if len(self) <= EAGER_CHECK_LIMIT:
            self.check_all()
        if not self.refs_a or (self.refs_b is not None and not self.refs_b):
            raise DataError(f"{description}: no usable images" + (f" ({len(self.bad_images)} unreadable)" if self.bad_images else ""))
        self.num_a, self.num_b = len(self.refs_a), len(self.refs_b) if self.refs_b is not None else len(self.refs_a)
        kind = "photo" if single else "paired" if paired else "unpaired"
        self.description = f"{description}: {len(self)} {kind} items" + (f" ({self.num_a} A, {self.num_b} B)" if not paired else "")
        if self.bad_images:
            self.description += f", {len(self.bad_images)} unreadable image(s) skipped"
        self.description += self.orientation.summary()

    def __len__(self) -> int:
        if self.paired or self.refs_b is None:
            return len(self.refs_a)
        return max(len(self.refs_a), len(self.refs_b))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    # decoding, checked once and cached ------------------------------------------------------------
    def check_all(self) -> None:
        """Decode every image once: bad files stop the run (or are dropped, with --on_bad_image skip)
        before training starts, and the decoded images are cached for speed."""
        if self.paired and self.refs_b is not None:
            pairs = [(a, b) for a, b in zip(self.refs_a, self.refs_b) if self.usable(0, a) and self.usable(1, b, partner=a)]
            self.refs_a, self.refs_b = [a for a, _ in pairs], [b for _, b in pairs]
            return
        self.refs_a = [ref for ref in self.refs_a if self.usable(0, ref)]
        if self.refs_b is not None:
            self.refs_b = [ref for ref in self.refs_b if self.usable(1, ref)]

    def usable(self, domain: int, ref, partner=None) -> bool:
        """Whether `ref` decodes (and, given its A `partner`, matches it in size); a bad one stops the run or,
        with --on_bad_image skip, is counted and dropped."""
        try:
            image = self.load(domain, ref)
            if partner is not None:
                check_pair_sizes(self.config, partner, self.load(0, partner), ref, image)
            return True
        except (BadImageError, DataError) as error:
            return skip_or_raise(self.config, self.bad_images, ref, error)

    def load(self, domain: int, ref) -> Image.Image:
        """The decoded, scaled image (domain 0 = A file or A|B file, 1 = B file), from the cache if there."""
        key = (domain, id(ref))
        if key in self.cache:
            return self.cache[key]
        image = decode(ref, "RGB", orientation="ignore")
        partner = self.partners.get(id(ref))
        image = oriented(image, ref, aligned=self.aligned, count=self.orientation,
                         partner_tag=peek_orientation(partner) if partner is not None else None)
        if self.aligned:
            check_aligned(ref, image)
        image = scale_image(self.config, image, self.train, halves=self.aligned)
        size = image.width * image.height * 3
        if self.cache_bytes + size <= CACHE_BUDGET_BYTES:
            self.cache[key], self.cache_bytes = image, self.cache_bytes + size
        return image

    # items ---------------------------------------------------------------------------------------
    def order(self, n: int, salt: int) -> np.ndarray:
        if self.config.serial_batches or not self.train:
            return np.arange(n)
        return np.random.default_rng([self.seed, self.epoch, salt]).permutation(n)

    def __getitem__(self, index: int) -> dict:
        """Item `index`. Datasets too large to check up front meet bad files here: --on_bad_image error stops
        with the file's line; skip counts it and gives the next item instead."""
        for offset in range(len(self)):
            try:
                return self.item((index + offset) % len(self)) | {"index": index}
            except BadImageError as error:
                skip_or_raise(self.config, self.bad_images, {"path": str(error).split(": ", 1)[0]}, error)
        raise DataError(f"{self.description}: no usable images")

    def item(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, index, 1])
        index_a = int(self.order(len(self.refs_a), 0)[index % len(self.refs_a)])
        if self.aligned:
            a, b = split_aligned(self.load(0, self.refs_a[index_a]))
        elif self.single:
            a = b = self.load(0, self.refs_a[index_a])
        else:
            a = self.load(0, self.refs_a[index_a])
            if self.paired:
                index_b = index_a
            elif self.config.serial_batches or not self.train:
                index_b = index % len(self.refs_b)
            else:
                index_b = int(rng.integers(len(self.refs_b)))
            b = self.load(1, self.refs_b[index_b])
        if self.swap:
            a, b = b, a
        return make_item(self.config, a, b, rng, paired=self.paired, train=self.train,
                         multiple=self.size_multiple) | {"index": index}


def load_image_dataset(config: DataConfig, *, paired: bool, split: str | None = None, train: bool = True,
                       seed: int = 0, domain_names: tuple[str, str] = ("A", "B"), rank: int = 0,
                       world_size: int = 1, single: bool = False) -> ImageDataset:
    """The dataset for training (`train=True`: shuffled per epoch, random crops and flips) or for
    validation (`train=False`: in order, the whole image at --resolution). `single`: one RGB image per item,
    given as both A and B (a recipe such as colorization derives its own input and target from it).

    With --streaming, an endless `StreamingImageDataset` (streaming.py) instead, holding process `rank`'s
    part of the stream (of `world_size` processes)."""
    split = split or config.split
    config, source = named_dataset(config, paired, rank)
    if config.streaming and single:
        raise DataError("--streaming is not supported for single-image (colorization) data yet: drop --streaming")
    if config.streaming:
        from .streaming import load_streaming_dataset
        return load_streaming_dataset(config, paired=paired, split=split, train=train, seed=seed,
                                      domain_names=domain_names, rank=rank, world_size=world_size)
    if single:
        if not config.dataset:
            raise DataError("colorization needs --dataset: a folder of colour photos, or a Hub id")
        config = replace(config, input_nc=3, output_nc=3)  # RGB photos; the recipe converts them
        (refs_a, description), refs_b = photo_sources(config, split), None
    elif paired:
        if not config.dataset:
            raise DataError("paired training needs --dataset")
        refs_a, refs_b, description = paired_sources(config, split)
    else:
        refs_a, refs_b, description = unpaired_sources(config, split, domain_names)
    if config.max_train_samples and train:
        refs_a = refs_a[: config.max_train_samples]
        refs_b = refs_b[: config.max_train_samples] if refs_b is not None else None
    swap = config.direction == "BtoA"
    description = f"{description} ({source})" if source else description
    return ImageDataset(refs_a, refs_b, config=config, paired=paired or single, train=train, seed=seed,
                        description=description, swap=swap and not single, single=single)

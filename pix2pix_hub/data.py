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

import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .config import DataConfig
from .images import BadImageError, open_image, pil_to_tensor

logger = logging.getLogger("pix2pix_hub")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"}
CACHE_BUDGET_BYTES = 2 * 1024**3  # decoded images kept in memory up to this size
EAGER_CHECK_LIMIT = 20_000  # check (and cache) every image up front for datasets up to this size
LAYOUTS = ("a Hub dataset id; a folder of aligned A|B images (optionally under train/ val/ test/); "
           "A/ and B/ folders with matching names; trainA/ and trainB/ folders; --dataset_a and --dataset_b; "
           "or a folder with metadata.csv naming two image columns (imageA_file_name, imageB_file_name)")


class DataError(ValueError):
    """Data that cannot be used; the message says what is wrong and what to do."""


# -- finding the images ---------------------------------------------------------------------------
def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def is_hub_id(name: str) -> bool:
    return name.count("/") == 1 and not Path(name).exists() and not name.startswith((".", "/", "~"))


def load_hub_split(name: str, split: str, streaming: bool = False):
    import datasets

    try:
        return datasets.load_dataset(name, split=split, streaming=streaming)
    except ValueError as error:
        if "split" in str(error).lower():
            raise DataError(f"{name}: {str(error).splitlines()[0]} (pass --split)") from None
        raise DataError(f"{name}: {str(error).splitlines()[0]}") from None
    except Exception as error:  # offline, unknown repo, network: datasets raises many types
        first_line = (str(error).splitlines() or [""])[0][:200]
        raise DataError(f"{name}: could not load this dataset ({type(error).__name__}: {first_line}); check the id "
                        "and the network (HF_HUB_OFFLINE, HF_ENDPOINT), or pass a local folder") from None


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
            raise DataError(f"{root}: {str(error).splitlines()[0]} (metadata.csv names images in columns "
                            f"`{config.image_column_a}_file_name` and `{config.image_column_b}_file_name`)") from None
        return image_refs(dataset, config.image_column_a), image_refs(dataset, config.image_column_b), f"datasets folder {root} [{split}]"
    if base is root and any((root / s).is_dir() for s in ("train", "val", "test")):
        raise DataError(f"{root} has no {split}/ folder (pass --split)")
    images = [p for p in base.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES] if base.is_dir() else []
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


def ref_name(ref) -> str:
    return str(ref) if isinstance(ref, Path) else (ref.get("path") or "<image bytes>")


def decode(ref, mode: str) -> Image.Image:
    if isinstance(ref, dict):
        if ref.get("bytes") is not None:
            return open_image(ref["bytes"], mode=mode, name=ref_name(ref))
        return open_image(ref["path"], mode=mode)
    return open_image(ref, mode=mode)


# -- the reference's preprocessing ----------------------------------------------------------------
def scaled_size(config: DataConfig, width: int, height: int, train: bool) -> tuple[int, int]:
    p = config.preprocess
    if not train and p in ("resize_and_crop", "crop"):
        return config.resolution, config.resolution  # evaluation: the whole image at the crop size
    if p == "resize_and_crop":
        return config.load_size, config.load_size
    if p in ("scale_width", "scale_width_and_crop"):
        return config.load_size, max(round(config.load_size * height / width), config.resolution)
    return width, height


def random_crop_and_flip(config: DataConfig, size: tuple[int, int], rng: np.random.Generator, train: bool):
    """(crop box or None, flip) — drawn once per item and applied to both A and B."""
    crop = None
    if train and config.preprocess in ("resize_and_crop", "crop", "scale_width_and_crop"):
        width, height = size
        if width < config.resolution or height < config.resolution:
            raise DataError(f"an image of {width}x{height} is smaller than --resolution {config.resolution}; "
                            "use --preprocess resize_and_crop or a smaller --resolution")
        x = int(rng.integers(0, width - config.resolution + 1))
        y = int(rng.integers(0, height - config.resolution + 1))
        crop = (x, y, x + config.resolution, y + config.resolution)
    flip = train and not config.no_flip and rng.random() > 0.5
    return crop, flip


def finish_image(image: Image.Image, crop, flip: bool, multiple: int = 4) -> torch.Tensor:
    if crop:
        image = image.crop(crop)
    if flip:
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    width, height = image.size
    if width % multiple or height % multiple:  # the generator's size_multiple (the reference's make_power_2 has 4)
        m = multiple
        image = image.resize((max(m, round(width / m) * m), max(m, round(height / m) * m)), Image.BICUBIC)
    return pil_to_tensor(image)


def scale_image(config: DataConfig, image: Image.Image, train: bool, halves: bool = False) -> Image.Image:
    """Resize as --preprocess says; `halves`: an aligned A|B image, each half scaled on its own."""
    if not halves:
        return image.resize(scaled_size(config, *image.size, train), Image.BICUBIC)
    half = image.width // 2
    a, b = image.crop((0, 0, half, image.height)), image.crop((half, 0, image.width, image.height))
    size = scaled_size(config, half, image.height, train)
    joined = Image.new("RGB", (size[0] * 2, size[1]))
    joined.paste(a.resize(size, Image.BICUBIC), (0, 0))
    joined.paste(b.resize(size, Image.BICUBIC), (size[0], 0))
    return joined


def check_aligned(ref, image: Image.Image) -> None:
    if image.width % 2:
        raise BadImageError(f"{ref_name(ref)}: an aligned A|B image of odd width {image.width} cannot be split "
                            "into equal halves; crop it to an even width")


def check_pair_sizes(config: DataConfig, ref_a, a: Image.Image, ref_b, b: Image.Image) -> None:
    """Paired images share one crop box, so they must have one size once scaled."""
    if a.size != b.size:
        raise BadImageError(f"{ref_name(ref_b)}: {b.width}x{b.height} but its A partner {ref_name(ref_a)} is "
                            f"{a.width}x{a.height} after --preprocess {config.preprocess}; paired images need the "
                            "same size: resize one, or use --preprocess resize_and_crop")


def skip_or_raise(config: DataConfig, bad_images: list, ref, error: Exception) -> bool:
    """--on_bad_image error: raise one line naming the file; skip: count it in `bad_images`, return False."""
    message = str(error).splitlines()[0] if str(error) else f"{ref_name(ref)}: {type(error).__name__}"
    if config.on_bad_image == "error":
        raise DataError(f"{message} (or pass --on_bad_image skip)") from None
    bad_images.append((ref_name(ref), message))
    logger.warning("skipping %s", message)
    return False


def split_aligned(joined: Image.Image) -> tuple[Image.Image, Image.Image]:
    half = joined.width // 2
    return joined.crop((0, 0, half, joined.height)), joined.crop((half, 0, joined.width, joined.height))


def make_item(config: DataConfig, a: Image.Image, b: Image.Image, rng: np.random.Generator, *, paired: bool,
              train: bool, multiple: int = 4) -> dict:
    """Scaled A and B images -> {"A", "B"} tensors: paired data shares one crop and flip, unpaired draws two."""
    modes = ("L" if config.input_nc == 1 else "RGB", "L" if config.output_nc == 1 else "RGB")
    if paired:
        crop, flip = random_crop_and_flip(config, a.size, rng, train)
        return {"A": finish_image(a.convert(modes[0]), crop, flip, multiple),
                "B": finish_image(b.convert(modes[1]), crop, flip, multiple)}
    crop_a, flip_a = random_crop_and_flip(config, a.size, rng, train)
    crop_b, flip_b = random_crop_and_flip(config, b.size, rng, train)
    return {"A": finish_image(a.convert(modes[0]), crop_a, flip_a, multiple),
            "B": finish_image(b.convert(modes[1]), crop_b, flip_b, multiple)}


class ImageDataset(torch.utils.data.Dataset):
    """Paired (A[i], B[i]) or unpaired (A[i], random B) items of {"A", "B", "index"} tensors in [-1, 1]."""

    def __init__(self, refs_a: list, refs_b: list | None, *, config: DataConfig, paired: bool, train: bool,
                 seed: int, description: str, swap: bool = False):
        self.refs_a, self.refs_b = refs_a, refs_b
        self.config, self.paired, self.train, self.seed, self.epoch = config, paired, train, seed, 0
        self.aligned = refs_b is None  # A|B side by side in one file
        self.swap = swap  # --direction BtoA
        self.size_multiple = 4  # sides are rounded to a multiple of this; training sets the generator's
        self.cache: dict[tuple[int, int], Image.Image] = {}  # (domain, id(ref)) -> scaled image
        self.cache_bytes = 0
        self.bad_images: list[tuple[str, str]] = []
        if len(self) <= EAGER_CHECK_LIMIT:
            self.check_all()
        if not self.refs_a or (self.refs_b is not None and not self.refs_b):
            raise DataError(f"{description}: no usable images" + (f" ({len(self.bad_images)} unreadable)" if self.bad_images else ""))
        self.num_a, self.num_b = len(self.refs_a), len(self.refs_b) if self.refs_b is not None else len(self.refs_a)
        kind = "paired" if paired else "unpaired"
        self.description = f"{description}: {len(self)} {kind} items" + (f" ({self.num_a} A, {self.num_b} B)" if not paired else "")
        if self.bad_images:
            self.description += f", {len(self.bad_images)} unreadable image(s) skipped"

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
        image = decode(ref, "RGB")
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
                       world_size: int = 1) -> ImageDataset:
    """The dataset for training (`train=True`: shuffled per epoch, random crops and flips) or for
    validation (`train=False`: in order, the whole image at --resolution).

    With --streaming, an endless `StreamingImageDataset` (streaming.py) instead, holding process `rank`'s
    part of the stream (of `world_size` processes)."""
    split = split or config.split
    if config.streaming:
        from .streaming import load_streaming_dataset
        return load_streaming_dataset(config, paired=paired, split=split, train=train, seed=seed,
                                      domain_names=domain_names, rank=rank, world_size=world_size)
    if paired:
        if not config.dataset:
            raise DataError("paired training needs --dataset")
        refs_a, refs_b, description = paired_sources(config, split)
    else:
        refs_a, refs_b, description = unpaired_sources(config, split, domain_names)
    if config.max_train_samples and train:
        refs_a = refs_a[: config.max_train_samples]
        refs_b = refs_b[: config.max_train_samples] if refs_b is not None else None
    swap = config.direction == "BtoA"
    return ImageDataset(refs_a, refs_b, config=config, paired=paired, train=train, seed=seed,
                        description=description, swap=swap)

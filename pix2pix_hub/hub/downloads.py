"""The reference's datasets and pretrained generators by name, downloaded once into a cache.

Names and URLs are those of junyanz/pytorch-CycleGAN-and-pix2pix's `datasets/download_pix2pix_dataset.sh`,
`datasets/download_cyclegan_dataset.sh`, `scripts/download_pix2pix_model.sh` and
`scripts/download_cyclegan_model.sh`. Each base URL can be pointed at a mirror with its environment variable
(BASE_URLS). Files arrive as `NAME.part` (resumed with an HTTP Range request after an interruption) and are
renamed when complete; archives are unpacked into a temporary folder that is renamed when complete, so a
half-written file or folder is never used. Archive members that would land outside the target folder
(`..`, absolute paths, links) are refused.

    python -m pix2pix_hub download-dataset facades --output ./datasets
"""

from __future__ import annotations

import argparse
import errno
import gzip
import http.client
import json
import os
import re
import shutil
import socket
import stat
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable

from ..errors import Pix2PixHubError, command, first_line

# (kind, what) -> (environment variable, the reference's base URL, file suffix)
BASE_URLS = {
    ("pix2pix", "dataset"): ("PIX2PIX_HUB_PIX2PIX_DATASETS_URL", "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets", ".tar.gz"),
    ("cyclegan", "dataset"): ("PIX2PIX_HUB_CYCLEGAN_DATASETS_URL", "http://efrosgans.eecs.berkeley.edu/cyclegan/datasets", ".zip"),
    ("pix2pix", "model"): ("PIX2PIX_HUB_PIX2PIX_MODELS_URL", "http://efrosgans.eecs.berkeley.edu/pix2pix/models-pytorch", ".pth"),
    ("cyclegan", "model"): ("PIX2PIX_HUB_CYCLEGAN_MODELS_URL", "http://efrosgans.eecs.berkeley.edu/cyclegan/pretrained_models", ".pth"),
}
NAMES = {
    ("pix2pix", "dataset"): ("cityscapes", "night2day", "edges2handbags", "edges2shoes", "facades", "maps"),
    ("cyclegan", "dataset"): ("ae_photos", "apple2orange", "summer2winter_yosemite", "horse2zebra", "monet2photo",
                              "cezanne2photo", "ukiyoe2photo", "vangogh2photo", "maps", "cityscapes", "facades",
                              "iphone2dslr_flower", "mini", "mini_pix2pix", "mini_colorization"),
    ("pix2pix", "model"): ("edges2shoes", "sat2map", "map2sat", "facades_label2photo", "day2night"),
    ("cyclegan", "model"): ("apple2orange", "orange2apple", "summer2winter_yosemite", "winter2summer_yosemite",
                            "horse2zebra", "zebra2horse", "monet2photo", "style_monet", "style_cezanne", "style_ukiyoe",
                            "style_vangogh", "sat2map", "map2sat", "cityscapes_photo2label", "cityscapes_label2photo",
                            "facades_photo2label", "facades_label2photo", "iphone2dslr_flower"),
}
KINDS = ("pix2pix", "cyclegan")
Progress = Callable[[int, "int | None"], None]  # (bytes received, total bytes or None)
CACHE_ENV = "PIX2PIX_HUB_CACHE"
TIMEOUT_ENV = "PIX2PIX_HUB_DOWNLOAD_TIMEOUT"  # seconds without data before a connection counts as dead
ATTEMPTS = 3  # connections per download; each resumes where the last one stopped
CITYSCAPES_LICENCE = (
    "Due to license issue, we cannot provide the Cityscapes dataset from our repository. Please download the "
    "Cityscapes dataset from https://cityscapes-dataset.com, and use the script ./datasets/prepare_cityscapes_dataset.py. "
    "You need to download gtFine_trainvaltest.zip and leftImg8bit_trainvaltest.zip. For further instruction, please "
    "read ./datasets/prepare_cityscapes_dataset.py (in junyanz/pytorch-CycleGAN-and-pix2pix; it writes the aligned "
    "A|B layout), then train with --dataset path/to/the/prepared/folder")


class DownloadError(Pix2PixHubError, ValueError):
    """A name, download or archive that cannot be used; the message says why and what to do."""


class Interrupted(Exception):
    """The connection ended before the whole file arrived; the `.part` file keeps what did."""


@dataclass(frozen=True)
class Entry:
    """One name of the reference's download scripts."""

    kind: str  # pix2pix | cyclegan: which script lists it
    what: str  # dataset | model
    name: str

    @property
    def env_var(self) -> str:
        return BASE_URLS[(self.kind, self.what)][0]

    @property
    def file_name(self) -> str:
        return self.name + BASE_URLS[(self.kind, self.what)][2]

    @property
    def url(self) -> str:
        env_var, default, _ = BASE_URLS[(self.kind, self.what)]
        return f"{(os.environ.get(env_var) or default).rstrip('/')}/{self.file_name}"

    @property
    def spec(self) -> str:
        return f"{self.kind}:{self.name}"

    @property
    def short_spec(self) -> str:
        """The name alone, or kind:name for a name both scripts list."""
        both = all(self.name in NAMES[(kind, self.what)] for kind in KINDS)
        return self.spec if both else self.name


def names(what: str) -> list[str]:
    """Every name, with `kind:` before the ones both scripts list."""
    both = set(NAMES[("pix2pix", what)]) & set(NAMES[("cyclegan", what)])
    return [f"{kind}:{name}" if name in both else name for kind in KINDS for name in NAMES[(kind, what)]]


def lookup(spec: str, what: str, prefer: str | None = None) -> Entry | None:
    """The entry `spec` names ("facades", "cyclegan:facades"), or None when it names none. A name both scripts
    list takes `prefer`'s (pix2pix / cyclegan), or needs its `kind:` prefix."""
    kind, _, name = spec.rpartition(":")
    if kind and kind not in KINDS:
        return None
    if kind:
        if name not in NAMES[(kind, what)]:
            raise DownloadError(f"{spec}: the reference's {kind} {what}s are {', '.join(NAMES[(kind, what)])}")
        return Entry(kind, what, name)
    found = [k for k in KINDS if name in NAMES[(k, what)]]
    if len(found) == 2 and prefer in KINDS:
        found = [prefer]
    if len(found) == 2:
        raise DownloadError(f"{name} is in both the pix2pix and the CycleGAN {what} lists: pass pix2pix:{name} or "
                            f"cyclegan:{name}")
    return Entry(found[0], what, name) if found else None


def is_known(spec: str, what: str) -> bool:
    """Whether `spec` names one of the reference's datasets/models (a name both lists hold counts, unprefixed)."""
    try:
        return lookup(spec, what) is not None
    except DownloadError:
        return ":" not in spec or spec.split(":", 1)[0] in KINDS


def cache_dir() -> Path:
    """The package's cache: $PIX2PIX_HUB_CACHE, else $HF_HOME/pix2pix_hub, else ~/.cache/pix2pix_hub."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "pix2pix_hub"
    return Path.home() / ".cache" / "pix2pix_hub"


def file_lock(path: Path):
    """One process at a time per download (several training processes may ask for the same dataset)."""
    from filelock import FileLock  # a dependency of huggingface_hub

    path.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(str(path))


# -- downloading --------------------------------------------------------------------------------
def is_disk_full(error: OSError) -> bool:
    return error.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def disk_full(error: OSError, where: Path, doing: str) -> DownloadError:
    return DownloadError(f"disk full while {doing} {where} ({os.strerror(error.errno)}): free some space, or set "
                         f"{CACHE_ENV} (or --output) to another disk; run the same command again to continue")


def download(url: str, target: Path, env_var: str, progress: Progress | None = None) -> Path:
    """`url` into `target`, through `target.part`: resumed if a `.part` is left, renamed when complete.
    `progress(received, total or None)` is called as bytes arrive; an exception it raises ends the download
    (the app's time and size bounds), keeping the `.part`."""
    if target.is_file():
        return target
    part = target.with_name(target.name + ".part")
    target.parent.mkdir(parents=True, exist_ok=True)
    reason = ""
    for _ in range(ATTEMPTS):
        try:
            fetch_into(url, part, env_var, progress)
        except Interrupted as error:
            reason = str(error)
            continue
        os.replace(part, target)
        validator_file(part).unlink(missing_ok=True)
        return target
    raise DownloadError(f"{url}: the connection broke {ATTEMPTS} times ({reason}); what arrived is kept in {part}: "
                        "run the same command again to resume")


def validator_file(part: Path) -> Path:
    return part.with_name(part.name + ".json")


def fetch_into(url: str, part: Path, env_var: str, progress: Progress | None = None) -> None:
    """One connection: append to `part` from where it ends (HTTP Range), or start over when the server ignores
    the range or the file changed. Raises Interrupted when the connection ends early."""
    start = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": "pix2pix-hub", "Accept-Encoding": "identity"}
    validator = json.loads(validator_file(part).read_text()) if start and validator_file(part).is_file() else {}
    if start:
        headers["Range"] = f"bytes={start}-"
        if validator.get("etag") or validator.get("last_modified"):  # the same file, or the whole new one
            headers["If-Range"] = validator.get("etag") or validator["last_modified"]
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout())
    except urllib.error.HTTPError as error:
        if error.code == 416 and start:  # nothing after `start`: the .part is complete, or longer than the file
            total = re.search(r"/(\d+)", error.headers.get("Content-Range") or "")
            if total and int(total.group(1)) == start:
                return
            part.unlink()
            raise Interrupted(f"{part.name} did not fit the file on the server; starting over") from None
        raise http_error(url, error.code, error.reason, env_var) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        raise unreachable(url, getattr(error, "reason", error), env_var) from None
    with response:
        resumed = start and response.status == 206 and content_range_start(response) == start
        if not resumed:
            start = 0  # a 200 (Range ignored, or If-Range saw a new file): the whole file comes again
        length = response.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else None
        validator_file(part).write_text(json.dumps({"etag": response.headers.get("ETag"),
                                                    "last_modified": response.headers.get("Last-Modified")}))
        received = copy_with_progress(response, part, "ab" if resumed else "wb", start, total, progress)
    if total is not None and received != total:
        raise Interrupted(f"the connection ended after {received:,} of {total:,} bytes")


def copy_with_progress(response, part: Path, mode: str, start: int, total: int | None,
                       progress: Progress | None = None) -> int:
    from tqdm.auto import tqdm

    received = start
    if progress:
        progress(received, total)
    try:
        with open(part, mode) as file, tqdm(total=total, initial=start, unit="B", unit_scale=True,
                                            unit_divisor=1024, desc=part.name[:-len(".part")]) as bar:
            while chunk := response.read(1 << 16):
                file.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
                if progress:
                    progress(received, total)
    except (http.client.IncompleteRead, ConnectionError, TimeoutError) as error:
        raise Interrupted(f"{type(error).__name__} after {received:,} bytes") from None
    except OSError as error:
        if is_disk_full(error):
            raise disk_full(error, part, "writing") from None
        raise
    return received


def content_range_start(response) -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range") or "")
    return int(match.group(1)) if match else None


def timeout() -> float:
    return float(os.environ.get(TIMEOUT_ENV) or 30)


def http_error(url: str, code: int, reason: str, env_var: str) -> DownloadError:
    if code == 404:
        return DownloadError(f"{url} is not on the server (HTTP 404): it may have moved; point {env_var} at a mirror "
                             f"that has {url.rsplit('/', 1)[-1]}")
    return DownloadError(f"{url}: the server answered HTTP {code} {reason}; try again later, or point {env_var} "
                         "at a mirror")


def unreachable(url: str, reason, env_var: str) -> DownloadError:
    host = urllib.parse.urlsplit(url).netloc
    if isinstance(reason, (TimeoutError, socket.timeout)):
        why = f"no answer in {timeout():g} s"
    elif isinstance(reason, ConnectionRefusedError):
        why = "connection refused"
    elif isinstance(reason, socket.gaierror):
        why = "unknown host"
    else:
        why = first_line(reason) if isinstance(reason, BaseException) else str(reason)
    return DownloadError(f"could not reach {host} ({why}): the server may be down (it has been before); try again "
                         f"later, or point {env_var} at a mirror of {url.rsplit('/', 1)[0]}")


# -- unpacking ----------------------------------------------------------------------------------
def unsafe_name(name: str) -> str | None:
    """Why an archive member's name must not be unpacked, or None. (zipfile and tarfile's data filter would
    quietly strip a leading '/' and unpack it anyway: such an archive is refused instead.)"""
    name = name.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if ".." in PurePosixPath(name).parts:
        return "a path with '..'"
    return None


def extract(archive: Path, into: Path) -> None:
    """Every member of a .tar.gz or .zip into `into`; refuses the archive if a member would land outside."""
    if archive.name.endswith((".tar.gz", ".tgz", ".tar")):
        if archive.name.endswith("gz"):  # tarfile ends quietly at a truncated member: check the stream's CRC first
            with gzip.open(archive) as stream:
                while stream.read(1 << 20):
                    pass
        with tarfile.open(archive) as tar:
            for member in tar:
                why = unsafe_name(member.name)
                if why:
                    raise tarfile.FilterError(f"{member.name!r} is {why}")
            tar.extractall(into, filter="data")  # also refuses links leading outside, device files
        return
    with zipfile.ZipFile(archive) as zip_file:
        for info in zip_file.infolist():
            why = unsafe_name(info.filename) or ("a symbolic link" if stat.S_ISLNK(info.external_attr >> 16) else None)
            if why:
                raise tarfile.FilterError(f"{info.filename!r} is {why}")
        zip_file.extractall(into)


def unpack(archive: Path, parent: Path, name: str) -> Path:
    """`archive` into `parent/name`, through a temporary folder renamed when complete. A corrupt or unsafe
    archive is deleted (the next run downloads it again) and nothing is kept of it."""
    parent.mkdir(parents=True, exist_ok=True)
    for leftover in parent.glob(f".{name}.unpacking-*"):  # from a run that was killed while unpacking
        shutil.rmtree(leftover, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.unpacking-", dir=parent))
    try:
        try:
            extract(archive, staging)
        except tarfile.FilterError as error:
            archive.unlink(missing_ok=True)
            raise DownloadError(f"{archive.name}: refused, nothing unpacked: {error} (it would be written outside "
                                f"{parent / name}); the archive was deleted") from None
        except OSError as error:
            if is_disk_full(error):
                raise disk_full(error, parent, "unpacking into") from None
            if error.errno is not None:  # not the archive's fault (permissions...): keep the traceback
                raise
            archive.unlink(missing_ok=True)
            raise corrupt(archive, error) from None
        except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError) as error:
            archive.unlink(missing_ok=True)
            raise corrupt(archive, error) from None
        contents = list(staging.iterdir())
        if not contents:
            archive.unlink(missing_ok=True)
            raise corrupt(archive, "it holds no files")
        # the reference's archives hold one folder, NAME/
        root = staging / name if (staging / name).is_dir() else contents[0] if len(contents) == 1 and contents[0].is_dir() else staging
        os.replace(root, parent / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    archive.unlink(missing_ok=True)
    return parent / name


def corrupt(archive: Path, error) -> DownloadError:
    detail = f"{type(error).__name__}: {first_line(error, 160)}" if isinstance(error, BaseException) else error
    return DownloadError(f"{archive.name} is a corrupt archive ({detail}); it was deleted: "
                         "run the same command again to download it anew")


# -- datasets and models by name ----------------------------------------------------------------
def dataset_folder(entry: Entry, output: str | Path | None = None, announce: bool = True) -> Path:
    """The unpacked dataset: `output/NAME` (default: the cache), downloaded and unpacked if not there yet."""
    if entry.name == "cityscapes":
        raise DownloadError(f"cityscapes: {CITYSCAPES_LICENCE}")
    parent = Path(output) if output else cache_dir() / "datasets" / entry.kind
    target = parent / entry.name
    if target.is_dir():
        return target
    if announce:
        print(f"{entry.spec}: the reference's {entry.kind} dataset, downloading once from {entry.url} into {target}",
              flush=True)
    downloads = cache_dir() / "downloads" / entry.kind
    with file_lock(downloads / f"{entry.file_name}.lock"):
        if target.is_dir():  # another process finished it while this one waited
            return target
        archive = download(entry.url, downloads / entry.file_name, entry.env_var)
        return unpack(archive, parent, entry.name)


def model_file(entry: Entry, progress: Progress | None = None) -> Path:
    """The downloaded .pth of a pretrained generator (cached until converted)."""
    target = cache_dir() / "downloads" / entry.kind / entry.file_name
    with file_lock(target.with_name(target.name + ".lock")):
        return download(entry.url, target, entry.env_var, progress)


def summary(folder: Path) -> str:
    counts = {p.name: sum(1 for f in p.rglob("*") if f.is_file()) for p in sorted(folder.iterdir()) if p.is_dir()}
    return ", ".join(f"{name}/ {count} files" for name, count in counts.items()) or "no folders"


@command
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pix2pix_hub download-dataset",
        description="Download and unpack one of the reference's datasets (datasets/download_pix2pix_dataset.sh and "
                    "download_cyclegan_dataset.sh), once. A name both lists hold (facades, maps) is the pix2pix one; cyclegan:NAME "
                    "takes the other.",
        epilog="datasets: " + ", ".join(names("dataset")) + f". Mirrors: {', '.join(v[0] for v in BASE_URLS.values())}.")
    parser.add_argument("name", help="e.g. pix2pix:facades, horse2zebra, mini_colorization")
    parser.add_argument("--output", type=Path, help=f"unpack into OUTPUT/NAME (default: the cache, {cache_dir()})")
    args = parser.parse_args(argv)
    # A bare name both scripts list (facades, maps) is the pix2pix one, as in the pix2pix paper and train.py's
    # --model pix2pix; the other is one prefix away.
    entry = lookup(args.name, "dataset", prefer="pix2pix")
    if entry is None:
        raise DownloadError(f"{args.name}: not one of the reference's datasets: {', '.join(names('dataset'))}")
    if ":" not in args.name and entry.short_spec != entry.name:
        print(f"note: {entry.name} is the pix2pix dataset here; for the CycleGAN one run "
              f"`python -m pix2pix_hub download-dataset cyclegan:{entry.name}`", flush=True)
    folder = dataset_folder(entry, args.output)
    hint = folder if args.output else entry.spec
    print(f"{folder}: {summary(folder)}\ntrain on it: python train.py --dataset {hint}"
          + (" --model cyclegan" if entry.kind == "cyclegan" and entry.name not in ("mini_pix2pix", "mini_colorization") else ""))
    return 0

"""The gallery's weights on first use: downloaded once from the reference's server (or its mirror variable),
within a size and a time bound, converted exactly (convert.pretrained_folder) into the cache as safetensors,
the cache bounded in total (least recently used folders out first).

A failed or slow download is one line, and the entry is unavailable for `retry_after` seconds (a visitor
re-picking it does not hammer a dead server); every other model keeps working. Progress (bytes of total) is
kept per entry for the page to show.

Settings (environment): PIX2PIX_GALLERY_DOWNLOAD_MB (default 400: edges2shoes' .pth, the largest, is 218 MB),
PIX2PIX_GALLERY_DOWNLOAD_S (default 900 s for the whole download), PIX2PIX_GALLERY_CACHE_MB (default 2048:
every entry, converted, is about 1.8 GB), PIX2PIX_GALLERY_RETRY_S (default 300), PIX2PIX_GALLERY_FP16_DB (default
45: weights kept fp16 on disk only where the entry's examples stay that close to fp32; gallery_precision.py).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import first_line
from ..hub.files import ModelLoadError, mib
from .gallery import GalleryEntry, entry
from .gallery_precision import decide, recorded
from .serving import MIB, env_number


class GalleryError(ModelLoadError):
    """A gallery entry whose weights cannot be had now; the message says why, in one line."""


class Bound(Exception):
    """Raised from the progress callback: the download went past its size or time bound."""


@dataclass(frozen=True)
class GallerySettings:
    download_bytes: int
    download_seconds: float
    cache_bytes: int
    retry_after: float
    fp16_min_db: float = 45.0

    @classmethod
    def from_env(cls) -> "GallerySettings":
        return cls(download_bytes=int(env_number("PIX2PIX_GALLERY_DOWNLOAD_MB", 400) * MIB),
                   download_seconds=env_number("PIX2PIX_GALLERY_DOWNLOAD_S", 900),
                   cache_bytes=int(env_number("PIX2PIX_GALLERY_CACHE_MB", 2048) * MIB),
                   retry_after=env_number("PIX2PIX_GALLERY_RETRY_S", 300),
                   fp16_min_db=env_number("PIX2PIX_GALLERY_FP16_DB", 45))


@dataclass
class EntryState:
    state: str = "absent"  # absent | downloading | ready | failed
    received: int = 0
    total: int | None = None
    message: str = ""
    failed_at: float = 0.0
    done: threading.Event = field(default_factory=threading.Event)


def folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


class GalleryStore:
    def __init__(self, settings: GallerySettings | None = None, examples: Callable[[str], list[str]] | None = None):
        """`examples(name)`: the entry's example files, on which fp16 weights are measured (none: kept fp32)."""
        self.settings = settings or GallerySettings.from_env()
        self.examples = examples or (lambda name: [])
        self.lock = threading.Lock()
        self.states: dict[str, EntryState] = {}

    # -- where things are ------------------------------------------------------------------------
    @staticmethod
    def cached_folder(item: GalleryEntry) -> Path:
        from ..loading.resolve import pretrained_cache_folder

        return pretrained_cache_folder(item.spec)[1]

    def is_ready(self, name: str) -> bool:
        item = entry(name)
        return item is not None and (self.cached_folder(item) / "config.json").is_file()

    def state(self, name: str) -> EntryState:
        with self.lock:
            state = self.states.setdefault(name, EntryState())
            if state.state == "ready" and not self.is_ready(name):  # evicted from the cache meanwhile
                state = self.states[name] = EntryState()
            return state

    # -- getting the weights -----------------------------------------------------------------------
    def folder(self, name: str) -> Path:
        """The entry's converted folder, downloaded and converted first if needed (blocking, bounded)."""
        item = entry(name)
        if item is None:
            raise GalleryError(f"{name!r} is not in the gallery")
        if self.is_ready(name):
            self.touch(self.cached_folder(item))
            return self.cached_folder(item)
        state = self.start(name)
        state.done.wait()
        if state.state != "ready":
            raise GalleryError(state.message)
        return self.cached_folder(item)

    def start(self, name: str) -> EntryState:
        """Begin fetching `name` in the background unless it is there, under way, or failed a moment ago."""
        item = entry(name)
        if item is None:
            raise GalleryError(f"{name!r} is not in the gallery")
        with self.lock:
            state = self.states.get(name)
            if state and state.state == "downloading":
                return state
            if state and state.state == "failed" and time.monotonic() - state.failed_at < self.settings.retry_after:
                return state
            state = self.states[name] = EntryState(state="downloading")
        if self.is_ready(name):
            self.finish(state, "ready")
            return state
        threading.Thread(target=self.fetch, args=(item, state), daemon=True, name=f"gallery-{name}").start()
        return state

    def fetch(self, item: GalleryEntry, state: EntryState) -> None:
        from ..loading.resolve import pretrained_folder

        deadline = time.monotonic() + self.settings.download_seconds
        limit = self.settings.download_bytes

        def progress(received: int, total: int | None) -> None:
            state.received, state.total = received, total
            if (total or received) > limit:
                raise Bound(f"its weights are {mib(total or received)}, over this server's download limit of "
                            f"{mib(limit)} (PIX2PIX_GALLERY_DOWNLOAD_MB)")
            if time.monotonic() > deadline:
                raise Bound(f"the download took over {self.settings.download_seconds:g} s "
                            "(PIX2PIX_GALLERY_DOWNLOAD_S): the server is slow; try again later")

        try:
            folder = pretrained_folder(item.spec, progress=progress)
            if recorded(folder) is None:
                decide(folder, self.examples(item.name), self.settings.fp16_min_db)
        except Bound as error:
            self.finish(state, "failed", f"{item.name} is unavailable: {error}")
        except Exception as error:  # noqa: BLE001 -- one line for the page; the entry is marked unavailable
            self.finish(state, "failed", f"{item.name} is unavailable: {first_line(error)}")
        else:
            self.touch(folder)
            self.evict(keep=folder)
            self.finish(state, "ready")

    def finish(self, state: EntryState, outcome: str, message: str = "") -> None:
        state.state, state.message = outcome, message
        state.failed_at = time.monotonic() if outcome == "failed" else 0.0
        state.done.set()

    # -- the cache's bound -------------------------------------------------------------------------
    @staticmethod
    def touch(folder: Path) -> None:
        """Mark a folder used now (eviction takes the least recently used first)."""
        try:
            os.utime(folder)
        except OSError:
            pass

    def converted_folders(self) -> list[Path]:
        from ..hub.downloads import cache_dir

        return [p.parent for p in (cache_dir() / "models").glob("*/*/config.json")]

    def evict(self, keep: Path | None = None) -> list[Path]:
        """Remove the least recently used converted models until the cache fits `cache_bytes`; -> removed."""
        folders = sorted(self.converted_folders(), key=lambda p: p.stat().st_mtime)
        sizes = {folder: folder_bytes(folder) for folder in folders}
        total, removed = sum(sizes.values()), []
        for folder in folders:
            if total <= self.settings.cache_bytes:
                break
            if keep is not None and folder == keep:
                continue
            shutil.rmtree(folder, ignore_errors=True)
            total -= sizes[folder]
            removed.append(folder)
        return removed

    # -- what the page shows -----------------------------------------------------------------------
    def line(self, name: str) -> str:
        """One line about the entry's weights: downloading (bytes of total), unavailable (why), or ''."""
        state = self.state(name)
        if state.state == "downloading":
            total = f" of {mib(state.total)}" if state.total else ""
            return f"⏳ Downloading `{name}` once from the reference's server: {mib(state.received)}{total}…"
        if state.state == "failed":
            return f"⚠️ {state.message}"
        return ""

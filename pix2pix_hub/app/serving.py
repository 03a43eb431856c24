"""What the app serves and how much of the server it may use: Space mode (strangers) and local use.

Space mode is on when `SPACE_ID` is set (Hugging Face sets it in every Space) or with `app.py --public`:
- visitors pick only among the listed models: the default, the examples, the folders under models/, and
  `PIX2PIX_MODELS` (comma-separated Hub ids or folders); whatever else they send is refused in one line that
  says nothing about the server's files;
- a model's architecture (its config.json alone) may need at most `PIX2PIX_MODEL_MB` (default 512) of
  parameters, and its weights download is capped at the same size;
- uploads are capped at `PIX2PIX_MAX_UPLOAD_MB` (default 20; MB = 2**20 bytes) a file, every request body too;
- one request decodes at most `PIX2PIX_MAX_PIXELS` (default 40 million) pixels over all its images together
  and a sketch has at most `PIX2PIX_MAX_LAYERS` (default 16) layers, refused from the headers
  (pix2pix_hub/decode.py);
- messages never show a server path.
Both modes keep loaded models within `PIX2PIX_MEMORY_MB` (default 1024 in a Space, 4096 locally), least
recently used first out, counted in bytes, and at most `PIX2PIX_MAX_MODELS` (default 4) of them; a model loads
beside requests to the others (no global lock).
Gradio's file cache (uploads, outputs) is swept every 2 s: files older than `PIX2PIX_CACHE_SECONDS` (default 300)
go, then the oldest while it holds more than `PIX2PIX_CACHE_MB` (default 1024): Gradio's upload route is not
queued, so an age alone would let a fast uploader fill the disk.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Hashable

from ..errors import ConfigError, first_line

MIB = 2**20
MAX_CONFIGS = 64


def env_number(name: str, default: float) -> float:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name}={value!r} is not a number") from None
    if number <= 0:
        raise ConfigError(f"{name}={value!r} must be above 0")
    return number


@dataclass
class ServeSettings:
    public: bool
    allowed: list[str]  # Space mode: the only models a visitor may pick (local use: any)
    memory_bytes: int  # every loaded model together
    model_bytes: int | None  # one model's parameters, from its config.json; also its download cap
    upload_bytes: int | None  # an upload, or any request body
    max_pixels: int  # all the images of one request together, from their headers
    max_models: int = 4  # generators in memory at once (a visitor touring the gallery)
    max_layers: int = 16  # a sketch's layers (the ImageEditor value of /translate_sketch)
    cache_seconds: int = 300  # how long Gradio's cache keeps an upload or an output
    cache_bytes: int = 1024 * MIB  # ... and how much it holds at most (oldest out first)

    @property
    def cache_sweep(self) -> tuple[int, int]:
        """Blocks(delete_cache=(every, age)): Gradio's own sweep, which also forgets the paths it removed (the files are
        swept by keep_folder_swept, which holds under load)."""
        return max(1, self.cache_seconds // 5), self.cache_seconds

    @classmethod
    def from_env(cls, public: bool, listed: list[str]) -> "ServeSettings":
        public = public or bool(os.environ.get("SPACE_ID"))
        extra = [m.strip() for m in os.environ.get("PIX2PIX_MODELS", "").split(",") if m.strip()]
        return cls(
            public=public, allowed=list(dict.fromkeys(listed + extra)),
            memory_bytes=int(env_number("PIX2PIX_MEMORY_MB", 1024 if public else 4096) * MIB),
            model_bytes=int(env_number("PIX2PIX_MODEL_MB", 512) * MIB) if public else None,
            upload_bytes=int(env_number("PIX2PIX_MAX_UPLOAD_MB", 20) * MIB) if public else None,
            max_pixels=int(env_number("PIX2PIX_MAX_PIXELS", 40e6)),
            max_models=int(env_number("PIX2PIX_MAX_MODELS", 4)),
            max_layers=int(env_number("PIX2PIX_MAX_LAYERS", 16)),
            cache_seconds=int(env_number("PIX2PIX_CACHE_SECONDS", 300)),
            cache_bytes=int(env_number("PIX2PIX_CACHE_MB", 1024) * MIB))

    def allows(self, model_id: str) -> bool:
        return not self.public or model_id in self.allowed


class ModelCache:
    """Loaded models up to `budget` bytes, least recently used out first.

    A lock guards only the bookkeeping, never a load: a request for a loaded model is answered while another
    model loads, and concurrent requests for one model that is loading wait for that one load (its future).
    Before a load, its size is estimated and room is made for it, so loaded plus loading stays near the budget.
    Failed loads are not kept: the next request tries again.
    """

    def __init__(self, budget: int, max_items: int | None = None):
        self.budget, self.max_items = budget, max_items
        self.lock = threading.Lock()
        self.loaded: OrderedDict[Hashable, tuple[object, int]] = OrderedDict()
        self.loading: dict[Hashable, Future] = {}
        self.reserved = 0

    def get(self, key: Hashable, estimate: Callable[[], int], load: Callable[[], tuple[object, int]]):
        """The value for `key`: cached, or `load()` -> (value, bytes) after `estimate()` -> bytes made room for."""
        with self.lock:
            if key in self.loaded:
                self.loaded.move_to_end(key)
                return self.loaded[key][0]
            future = self.loading.get(key)
            owner = future is None
            if owner:
                future = self.loading[key] = Future()
        if not owner:
            return future.result()
        reserved = dropped = 0
        try:
            reserved = estimate()
            with self.lock:
                self.reserved += reserved
                dropped = self.evict()
            value, size = load()
        except BaseException as error:
            with self.lock:
                self.reserved -= reserved
                del self.loading[key]
            future.set_exception(error)
            raise
        with self.lock:
            self.reserved -= reserved
            del self.loading[key]
            self.loaded[key] = (value, size)
            dropped = self.evict(keep=key) + dropped
        future.set_result(value)
        if dropped:
            # A dropped translator sits in reference cycles (its bound-method backends, compiled runners) that
            # only the cycle collector frees, and it runs by object counts, not bytes: touring 18 gallery
            # entries held 5 GB (1.7 GB after a collect). Collect now, outside the lock.
            gc.collect()
        return value

    def evict(self, keep: Hashable | None = None) -> int:
        """Drop least recently used models until the loaded ones and the loads under way fit the budget;
        -> how many were dropped."""
        dropped = 0
        while self.loaded and (self.used() > self.budget
                               or (self.max_items is not None and len(self.loaded) > self.max_items)):
            oldest = next(iter(self.loaded))
            if oldest == keep:
                break
            del self.loaded[oldest]
            dropped += 1
        return dropped

    def used(self) -> int:
        return sum(size for _, size in self.loaded.values()) + self.reserved

    def clear(self) -> None:
        with self.lock:
            self.loaded.clear()


class ModelServer:
    """The app's models: which a visitor may pick, their configs and loaded translators, and what the messages
    about them may say. `root` is the app's folder: listed folders (models/default) are found there."""

    def __init__(self, settings: ServeSettings, root: str | os.PathLike, memory_budget: float | None = None):
        from pathlib import Path

        self.settings, self.root = settings, Path(root)
        self.memory_budget = memory_budget  # per request: larger passes run in tiles (ImageTranslator)
        self.cache = ModelCache(settings.memory_bytes, settings.max_models)
        self.configs: OrderedDict[str, dict] = OrderedDict()  # (a few KB each, at most MAX_CONFIGS)
        # name -> folder for names the app resolves itself (the gallery: gallery_store), None for the others
        self.alias: Callable[[str], str | None] | None = None

    def path(self, model_id: str) -> str:
        """A folder under the app's root by its relative name, else the id as given (a Hub id or a path); one of
        the reference's pretrained names (horse2zebra...) is its converted folder in the cache, only if there
        already: a visitor's name never starts a download and conversion here (the operator's --model is
        fetched once, at start: app.fetch_operator_model)."""
        from pathlib import Path

        from ..hub.downloads import is_known
        from ..loading.resolve import resolve_model_folder

        alias = self.alias(model_id) if self.alias else None
        if alias:
            return alias
        local = self.root / model_id
        if not Path(model_id).is_absolute() and local.exists():
            return str(local)
        if not Path(model_id).exists() and is_known(model_id, "model"):
            return str(resolve_model_folder(model_id, local_files_only=True))
        return model_id

    def refusal(self, model_id: str) -> str | None:
        """Why a visitor may not use `model_id` (None when they may); says nothing about the server's files."""
        if self.settings.allows(model_id):
            return None
        return "this Space serves only the models in its list: pick one of them"

    def config(self, model_id: str) -> dict:
        """The model's root config.json (fetched alone, never the weights); cached once read."""
        from ..loading.load import read_model_config
        from ..loading.resolve import resolve_model_folder

        if model_id not in self.configs:
            self.configs[model_id] = read_model_config(resolve_model_folder(self.path(model_id), weights=False))
            while len(self.configs) > MAX_CONFIGS:
                self.configs.popitem(last=False)
        return self.configs[model_id]

    def translator(self, model_id: str, direction: str | None, resolution: str = "default"):
        """The loaded ImageTranslator (loading it if needed, within the memory budget)."""
        from ..inference.translator import ImageTranslator
        from ..loading.load import generator_spec, load_from_spec

        path, limit = self.path(model_id), self.settings.model_bytes
        specs = []  # read once, by whichever of estimate and load runs first

        def spec():
            specs or specs.append(generator_spec(path, direction))
            return specs[0]

        def estimate() -> int:
            return 2 * spec().bytes  # the weights, and the fast path's own copy

        def load():
            generator = load_from_spec(spec(), path, device="cpu", max_bytes=limit)
            extra = {"memory_budget": self.memory_budget} if self.memory_budget else {}
            translator = ImageTranslator(generator, device="cpu", resolution=None if resolution == "default"
                                         else resolution, **extra)
            size = sum(t.numel() * t.element_size() for t in [*translator.generator.parameters(),
                                                               *translator.generator.buffers()])
            return translator, size * (1 if translator.backend_name == "eager" else 2)

        return self.cache.get((model_id, direction, resolution), estimate, load)

    def message(self, error: BaseException) -> str:
        """One line about a failed load, with no server path in it."""
        return public_message(first_line(error), str(self.root))


# Anything that looks like an absolute path (POSIX or Windows), in a message a visitor will read.
ABSOLUTE_PATH = re.compile(r"(?<![\w.~/-])(?:[A-Za-z]:\\|/)[^\s'\"`,;)]*")


def public_message(message: str, root: str | None = None) -> str:
    """`message` with server paths taken out: the app's own folder becomes relative, any other path `…`."""
    if root:
        message = message.replace(root.rstrip("/") + "/", "")
    return ABSOLUTE_PATH.sub("…", message)


def megabytes(size: int) -> str:
    """The one way a byte limit is worded: "20 MB" (MB = 2**20 bytes, as PIX2PIX_MAX_UPLOAD_MB counts)."""
    return f"{size / MIB:g} MB"


def sweep_folder(folder: Path, max_age: float, max_bytes: int, since: float = 0.0) -> int:
    """Remove the files under `folder` made after `since` (a time.time(); what existed before, such as the
    examples Gradio copies at the start, stays) that are older than `max_age` seconds, then the oldest of the
    rest until they hold at most `max_bytes`; -> bytes removed."""
    files, now = [], time.time()
    for path in folder.rglob("*") if folder.is_dir() else ():
        with contextlib.suppress(OSError):  # (a file Gradio removed meanwhile)
            stat = path.lstat()
            if stat.st_ctime > since and path.is_file():
                files.append((stat.st_ctime, stat.st_size, path))
    total, removed = sum(size for _, size, _ in files), 0
    for made, size, path in sorted(files):
        if total <= max_bytes and now - made <= max_age:
            break
        path.unlink(missing_ok=True)
        total, removed = total - size, removed + size
    return removed


def keep_folder_swept(folder: Path, max_age: float, max_bytes: int, every: float) -> threading.Thread:
    """A daemon thread running sweep_folder on `folder` every `every` seconds, from now on. (Gradio's own
    `delete_cache` task iterates a set that request threads add to, and stops for good at the first "Set
    changed size during iteration": under load its cache grew without end. Blocks keeps it too; this holds.)"""
    since = time.time()

    def sweep() -> None:
        while True:
            time.sleep(every)
            sweep_folder(folder, max_age, max_bytes, since)

    thread = threading.Thread(target=sweep, daemon=True, name="cache-sweep")
    thread.start()
    return thread


def upload_refusal(upload_bytes: int) -> str:
    return f"the upload is over this server's limit of {megabytes(upload_bytes)}; send a smaller file"


class BodyLimit:
    """ASGI middleware: request bodies over `max_bytes` get 413, whether they say their length or not.
    Gradio's own `max_file_size` covers its upload route; this covers the rest (a data: URL in a JSON
    request would otherwise be read whole). Every 413, Gradio's too, says `message` (one wording)."""

    def __init__(self, app, max_bytes: int, message: str | None = None):
        self.app, self.max_bytes = app, max_bytes
        self.message = message or f"the request is over this server's limit of {megabytes(max_bytes)}"

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            return await self.refuse(send)
        seen = 0

        async def limited():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge()
            return message

        refusing = False

        async def reworded(message):  # Gradio's own 413 ("File size exceeded ... 20971520 bytes") -> ours
            nonlocal refusing
            if message["type"] == "http.response.start" and message.get("status") == 413:
                refusing = True
                return await self.refuse(send)
            if not refusing:
                await send(message)

        try:
            return await self.app(scope, limited, reworded)
        except BodyTooLarge:
            if not refusing:
                return await self.refuse(send)

    async def refuse(self, send):
        body = self.message.encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    pass

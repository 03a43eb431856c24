"""The one rule for every command that writes files: it never replaces a file it did not write itself.

A command records each file it writes in `<output folder>/.pix2pix-hub-written.jsonl` (one JSON line per file:
its path in the folder, size and mtime). A later run may replace a file whose size and mtime still match its
line (an earlier run's output, untouched since); any other file in its way stops the command before it writes
anything, with one line naming the file and `--overwrite`. Outputs never land where inputs are read:
`check_apart` refuses an output folder that is, or holds, the input (however the paths are spelled: relative,
`..`, symlinks), and the commands leave an output folder inside their input folder out of the inputs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

from .errors import ConfigError

MANIFEST = ".pix2pix-hub-written.jsonl"


def check_writable_folder(folder: Path, flag: str = "--output") -> None:
    """One line for a folder that cannot be made or written: a file, under a file, or without permission."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{flag} {folder} is a file: pass a folder (it is created if absent)")
    existing = folder
    while not existing.exists():  # the nearest part of the path that exists
        if existing.is_symlink():
            raise ConfigError(f"{flag} {folder}: {existing} is a broken link")
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{flag} {folder}: {existing} is a file, so no folder can be made under it")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {folder}: no permission to write in {existing}; choose a folder you can write")


def check_apart(source: Path, output: Path, flag: str = "--output") -> None:
    """Refuse an output folder that is the input folder or holds it (its outputs would mix with the inputs)."""
    source, resolved = source.resolve(), output.resolve()
    if resolved == source or resolved in source.parents:
        where = "is" if resolved == source else "holds"
        raise ConfigError(f"{flag} {output} {where} the input {source}: outputs could replace inputs and be read as "
                          f"inputs next time; choose an {flag} folder outside it")


class WrittenFiles:
    """What the commands wrote under `root` (this run and earlier ones), from and to its manifest."""

    def __init__(self, root: Path):
        self.root = root
        self.entries: dict[str, tuple[int, int]] = {}
        manifest = root / MANIFEST
        if manifest.is_file():
            for line in manifest.read_text(errors="replace").splitlines():
                try:
                    entry = json.loads(line)
                    self.entries[entry["path"]] = (int(entry["size"]), int(entry["mtime_ns"]))
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a kill: that file counts as not ours

    def key(self, path: Path) -> str:  # (not resolved: a link in the folder is a file of its own)
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(self.root)).as_posix()

    def is_ours(self, path: Path) -> bool:
        stat = path.stat()
        return self.entries.get(self.key(path)) == (stat.st_size, stat.st_mtime_ns)

    def refuse_others(self, targets: Iterable[Path], overwrite: bool, skip_hint: str = "", flag: str = "--output") -> None:
        """ConfigError if a target exists that these commands did not write (unless `overwrite`)."""
        if overwrite:
            return
        foreign = [t for t in targets if t.is_symlink() or (t.exists() and not (t.is_file() and self.is_ours(t)))]
        if foreign:
            more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
            raise ConfigError(f"{foreign[0]}{more} already exists and was not written by pix2pix_hub: nothing was "
                              f"written; pass --overwrite to replace it{skip_hint}, or choose another {flag}")

    def record(self, path: Path) -> None:
        """Add a file just written (appended: one short line per file, safe beside other processes)."""
        stat = path.stat()
        self.entries[self.key(path)] = (stat.st_size, stat.st_mtime_ns)
        line = json.dumps({"path": self.key(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
        with open(self.root / MANIFEST, "a") as manifest:
            manifest.write(line + "\n")

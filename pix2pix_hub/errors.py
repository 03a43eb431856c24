"""The package's one error type and the commands' one exit path.

Every error a user can cause and fix (bad data, a bad option, a model that cannot be loaded, a full disk)
is a `Pix2PixHubError` whose message is one line naming the cause and what to do. Commands catch that type
only (`command`): they print `error: <message>` on stderr and exit 2, as argparse does for a bad flag.
Anything else (torch's OutOfMemoryError, a compile failure, a bug) keeps its traceback.

The subclasses keep the built-in base they always had (`DataError` is still a ValueError, `CheckpointError`
a RuntimeError...), so `except ValueError` goes on working where it did.
"""

from __future__ import annotations

import functools
import sys
from typing import Callable

EXIT_USER_ERROR = 2  # what argparse exits with for a bad flag: the same for every error the user can fix


class Pix2PixHubError(Exception):
    """Base of every error the user can fix; its message is one line saying what is wrong and what to do."""


class ConfigError(Pix2PixHubError, ValueError):
    """An option, argument or config value that cannot work (e.g. an unknown --netG)."""


class DataError(Pix2PixHubError, ValueError):
    """Data that cannot be used (no images, a missing column, an unknown split...)."""


def first_line(error: BaseException, limit: int | None = None, empty: str | None = None) -> str:
    """The first line of an error's message (at most `limit` characters); `empty` (default: the error's type
    name) when the message is empty."""
    lines = str(error).splitlines()
    line = lines[0] if lines and lines[0].strip() else (type(error).__name__ if empty is None else empty)
    return line[:limit] if limit else line


def command(main: Callable[..., int | None]) -> Callable[..., int]:
    """Wrap a command's `main(argv)`: a Pix2PixHubError becomes one `error:` line on stderr and exit code 2;
    any other exception propagates with its traceback."""

    @functools.wraps(main)
    def run(argv: list[str] | None = None) -> int:
        try:
            return main(argv) or 0
        except Pix2PixHubError as error:
            sys.stdout.flush()  # what the command printed before comes first
            print(f"error: {error}", file=sys.stderr)
            return EXIT_USER_ERROR

    return run

"""The planner's file output, through the project's one atomic writer.

``reconstruction.atomic.atomic_write`` writes beside the target and renames; this module
only adds clear, one-line error messages (the CLI prints them as they are).
"""
from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from reconstruction.atomic import atomic_write

__all__ = ["atomic_output", "atomic_write_text"]


def _reason(e: OSError) -> str:
    if isinstance(e, FileNotFoundError):
        return "the folder does not exist"
    if isinstance(e, NotADirectoryError):
        return "a part of the path is not a folder"
    if isinstance(e, IsADirectoryError):
        return "it is a folder"
    if isinstance(e, PermissionError):
        return "permission denied"
    if e.errno == errno.ENOSPC:
        return "no space left on the device"
    return e.strerror or str(e)


def _error(e: OSError, path: Path) -> OSError:
    msg = f"cannot write {path}: {_reason(e)}"
    try:
        return type(e)(e.errno, msg) if e.errno is not None else type(e)(msg)
    except TypeError:  # an OSError subclass with another constructor
        return OSError(e.errno, msg)


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """``atomic_write`` with errors that name the file and say why in plain words.

    Parameters
    ----------
    path : str or path-like

    Yields
    ------
    pathlib.Path
        Temporary file beside ``path``, with the same format suffix.

    Raises
    ------
    OSError
        Of the original kind; nothing is left behind.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with atomic_output(os.path.join(d, "a.txt")) as tmp:
    ...         _ = tmp.write_text("hi")
    ...     sorted(os.listdir(d))
    ['a.txt']
    """
    path = Path(path)
    try:
        with atomic_write(path) as tmp:
            yield tmp
    except OSError as e:
        if str(e).startswith(f"cannot write {path}"):
            raise
        raise _error(e, path) from e


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    Raises
    ------
    OSError
        As ``atomic_output``.
    """
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")

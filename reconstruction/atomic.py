"""Write files and folders so that nothing half-written is ever left behind.

Every writer in the project goes through these two context managers: the data
is written under a temporary name in the *same* folder (so the final rename
stays on one file system and is atomic), and only a completed write is renamed
onto the real name.  A crash or an exception leaves the old file (if any)
untouched and removes the temporary one.

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with atomic_write(folder / "plan.json") as tmp:
...     _ = tmp.write_text("{}")
>>> sorted(p.name for p in folder.iterdir())
['plan.json']
>>> try:
...     with atomic_write(folder / "broken.json") as tmp:
...         _ = tmp.write_text("{")
...         raise RuntimeError("disk on fire")
... except RuntimeError:
...     pass
>>> sorted(p.name for p in folder.iterdir())
['plan.json']
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_dir"]


def _umask() -> int:
    """The process umask, read without changing it.

    ``os.umask`` can only be read by setting it, which races with other threads
    creating files; Linux exposes it read-only in ``/proc/self/status``.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


_DOUBLE_SUFFIXES = (".nii.gz", ".seg.nrrd", ".mrk.json", ".tar.gz")


def _suffixes(name: str) -> str:
    """The trailing suffix that tools use to pick a format (``.nii.gz``, ``.seg.nrrd``).

    Temporary files keep it so that SimpleITK, VTK and friends choose the same
    writer as they would for the final name.
    """
    lower = name.lower()
    for double in _DOUBLE_SUFFIXES:
        if lower.endswith(double) and len(name) > len(double):
            return name[-len(double):]
    return Path(name).suffix


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success.

    Parameters
    ----------
    path : str or PathLike
        The final file.  Its folder must exist.  An existing file is replaced
        only once the new one is complete.

    Yields
    ------
    Path
        A temporary file name in the same folder, with the same format suffix
        (``.nii.gz`` stays ``.nii.gz``).  The file exists (empty); write to it or
        overwrite it.

    Raises
    ------
    FileNotFoundError
        If the folder of ``path`` does not exist.
    IsADirectoryError
        If ``path`` is an existing folder.

    Notes
    -----
    The data is flushed to disk (``fsync``) before the rename, so a power cut
    leaves either the old file or the new one.  The new file gets the usual
    permissions (``0o666`` less the umask), not ``mkstemp``'s private ``0o600``.
    """
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: folder {parent} does not exist")
    if path.is_dir():
        raise IsADirectoryError(f"cannot write {path}: it is a folder")
    fd, tmp_name = tempfile.mkstemp(dir=parent, prefix=f".{path.name}.",
                                    suffix=".tmp" + _suffixes(path.name))
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
            os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_write_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling folder; move it to ``path`` on success.

    Use it for outputs made of many files (a DICOM series).  An existing folder
    at ``path`` is replaced only at the very end, after the new one is complete.

    Parameters
    ----------
    path : str or PathLike
        The final folder.  Its parent must exist.

    Yields
    ------
    Path
        An empty temporary folder next to ``path``.

    Raises
    ------
    FileNotFoundError
        If the parent folder does not exist.
    FileExistsError
        If ``path`` exists and is not a folder.

    Notes
    -----
    Replacing a folder takes two renames (old folder aside, new folder in):
    between them ``path`` briefly does not exist, but it never holds a mix of
    old and new files.  If the second rename fails, the old folder is put back.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_write_dir(root / "series") as tmp:
    ...     _ = (tmp / "0001.dcm").write_bytes(b"...")
    >>> [p.name for p in (root / "series").iterdir()]
    ['0001.dcm']
    >>> [p.name for p in root.iterdir()]
    ['series']
    """
    path = Path(path)
    parent = path.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot write {path}: folder {parent} does not exist")
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"cannot write folder {path}: a file of that name exists")
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=parent, prefix=f".{path.name}.", suffix=".old"))
            os.rmdir(old)  # only its unique name is wanted
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

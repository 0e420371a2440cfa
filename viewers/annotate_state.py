"""The radiologist's marks: a list of labelled points, saved after every change.

Three roles of mark, all points in physical LPS millimetres:

* ``lesion`` - something to plan around (a filling defect, a cut-off, ...); any number;
  an optional diameter;
* ``nipple`` - the nipple, at most one;
* ``orifice`` - the cannulated duct orifice on the nipple, at most one.

The file is a 3D Slicer point list (``.mrk.json``) written by
:func:`planner.markups.write_markups`: every mark is one control point whose label says
what it is (``"nipple"``, ``"orifice"``, or the lesion's label) and whose description
holds ``role=<role>`` (and ``diameter_mm=<d>`` when a diameter was given, which
:func:`planner.markups.read_markups` reads back as the mark's diameter).  The write is
atomic (temporary file, fsync, rename), so a crash mid-save leaves the previous file.

:class:`MarkStore` owns the list and its file: every change is saved at once (a closed
browser tab or a crash never loses a mark), and opening an existing file restores its
marks.

Examples
--------
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "marks.mrk.json"
>>> store = MarkStore(path)
>>> m = store.add("lesion", [10.0, 20.0, 5.0], diameter_mm=4.0)
>>> n = store.add("nipple", [0.0, 0.0, 5.0])
>>> [(x.role, x.label) for x in MarkStore(path).marks]    # read back from the file
[('lesion', 'lesion 1'), ('nipple', 'nipple')]
"""
from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from planner.markups import MARK_ROLES, ROLE_RE, SINGLE_ROLES, checked_point, mark_role

__all__ = ["ROLES", "SINGLE_ROLES", "AnnotationMark", "MarkStore", "role_of", "default_marks_path"]

# The kinds of mark, in the order the tool bar offers them, and the role rule, are the
# planner's (``ductplan plan --lesions`` reads these files too).
ROLES = MARK_ROLES
_ROLE_RE = ROLE_RE
_DIAMETER_RE = re.compile(r"\s*;?\s*diameter_mm\s*=\s*[0-9.eE+-]+\s*", re.IGNORECASE)
role_of = mark_role


def default_marks_path(volume_path: str | os.PathLike) -> Path:
    """Where marks go when no ``--marks`` file is given: beside the volume.

    Examples
    --------
    >>> default_marks_path("/data/case7/volume.nii.gz").as_posix()
    '/data/case7/volume.marks.mrk.json'
    >>> default_marks_path("/data/case7/dicom_series").as_posix()
    '/data/case7/dicom_series.marks.mrk.json'
    """
    p = Path(volume_path)
    name = p.name
    for suffix in (".nii.gz", ".seg.nrrd", ".nrrd", ".nhdr", ".nii", ".mha", ".mhd", ".dcm", ".dicom"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return p.parent / f"{name}.marks.mrk.json"


@dataclass
class AnnotationMark:
    """One mark.

    Attributes
    ----------
    id : int
        Unique within its store; never reused.
    role : {"lesion", "nipple", "orifice"}
    position_mm : (3,) ndarray
        Physical LPS millimetres.
    label : str
    diameter_mm : float or None
        A lesion's size when the radiologist gave it.
    note : str
        Free text kept in the file's description.
    """

    id: int
    role: str
    position_mm: np.ndarray
    label: str = ""
    diameter_mm: float | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"mark role must be one of {', '.join(ROLES)}, got {self.role!r}")
        self.position_mm, self.diameter_mm = checked_point(self.position_mm, self.diameter_mm)

    def description(self) -> str:
        """The file's description: ``role=...; diameter_mm=...; note``."""
        parts = [f"role={self.role}"]
        if self.diameter_mm is not None:
            parts.append(f"diameter_mm={self.diameter_mm:g}")
        if self.note:
            parts.append(self.note)
        return "; ".join(parts)

    def to_point(self) -> dict:
        """The mark as a point for :func:`planner.markups.write_markups`."""
        return {"position_mm": self.position_mm.tolist(), "label": self.label,
                "description": self.description(), "id": str(self.id)}


def _note_of(description: str) -> str:
    """The free text of a description, without our ``role=`` and ``diameter_mm=`` facts."""
    text = _ROLE_RE.sub("", description or "")
    text = _DIAMETER_RE.sub(";", text)
    parts = [p.strip() for p in text.split(";")]
    return "; ".join(p for p in parts if p)


@dataclass
class MarkStore:
    """The marks of one volume and the ``.mrk.json`` file they live in.

    Every change (:meth:`add`, :meth:`move`, :meth:`update`, :meth:`delete`) is saved
    at once when ``autosave`` is on; a change whose save fails is undone and the error
    raised, so the list never holds a mark the file does not.  Creating a store on an
    existing file loads its point marks.

    Parameters
    ----------
    path : path
        The markups file (created on the first change when it does not exist).  Its
        folder must exist.
    autosave : bool
        Save after every change.

    Attributes
    ----------
    marks : list of AnnotationMark
    notes : list of str
        What reading the file skipped (non-point markups, undefined points).
    saved_at : float or None
        ``time.time()`` of the last save.

    Raises
    ------
    planner.markups.MarkupsError
        The file exists and is not a readable markups file.
    FileNotFoundError
        The folder of ``path`` does not exist.
    """

    path: Path
    autosave: bool = True
    marks: list[AnnotationMark] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    saved_at: float | None = None
    _next_id: int = field(default=1, init=False, repr=False)
    _backed_up: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"cannot keep marks in {self.path}: folder {self.path.parent} does not exist")
        if self.path.is_dir():
            raise IsADirectoryError(f"cannot keep marks in {self.path}: it is a folder")
        if self.path.exists():
            self.load()

    # ------------------------------------------------------------------ file
    def load(self) -> None:
        """Replace the marks by the file's (read with :func:`planner.markups.read_markups`)."""
        from planner.markups import read_markups

        notes: list[str] = []
        read = read_markups(self.path, notes=notes)
        marks, used = [], set()
        for m in read:
            mid = int(m.id) if m.id.isdigit() and int(m.id) not in used and int(m.id) > 0 else None
            if mid is None:
                mid = max(used | {0}) + 1
            used.add(mid)
            role = role_of(m.label, m.description)
            marks.append(AnnotationMark(mid, role, m.position_mm, m.label or role,
                                        m.diameter_mm if role == "lesion" else None, _note_of(m.description)))
        self.marks = marks
        self.notes = notes
        self._next_id = max(used | {0}) + 1

    def save(self) -> Path:
        """Write every mark to :attr:`path`, atomically; returns the path.

        The first save over a file that held something this store could not keep
        (lines, curves, undefined points: see :attr:`notes`) first copies it to
        ``<name>.orig.mrk.json``.
        """
        from planner.markups import write_markups

        if self.notes and not self._backed_up and self.path.exists():
            backup = self.path.with_name(self.path.name.removesuffix(".mrk.json").removesuffix(".json")
                                         + ".orig.mrk.json")
            if not backup.exists():
                shutil.copy2(self.path, backup)
            self._backed_up = True
        write_markups(self.path, [m.to_point() for m in self.marks], name="ductplan annotations")
        self.saved_at = time.time()
        return self.path

    def _commit(self, marks: list[AnnotationMark], next_id: int) -> None:
        """Adopt a changed list and save it; when the save fails, nothing changed."""
        before = (self.marks, self._next_id)
        self.marks, self._next_id = marks, next_id
        if self.autosave:
            try:
                self.save()
            except BaseException:
                # The screen must never show a mark the file does not hold.
                self.marks, self._next_id = before
                raise

    # ------------------------------------------------------------- queries
    def get(self, mark_id: int) -> AnnotationMark:
        """The mark with this id.

        Raises
        ------
        KeyError
            No such mark.
        """
        for m in self.marks:
            if m.id == int(mark_id):
                return m
        raise KeyError(f"no mark with id {mark_id}")

    def of_role(self, role: str) -> list[AnnotationMark]:
        """The marks of one role, in order."""
        return [m for m in self.marks if m.role == role]

    def nearest(self, point_mm: npt.ArrayLike, *, within_mm: float,
                weights: npt.ArrayLike = (1.0, 1.0, 1.0)) -> AnnotationMark | None:
        """The mark nearest ``point_mm`` within ``within_mm``, or None.

        Parameters
        ----------
        point_mm : (3,) array
        within_mm : float
        weights : (3,) array
            Per-axis weights of the distance (e.g. small along the slice axis so that
            a click picks the mark under it whatever its depth).
        """
        if not self.marks:
            return None
        p = np.asarray(point_mm, dtype=float)
        w = np.asarray(weights, dtype=float)
        d = [float(np.linalg.norm((m.position_mm - p) * w)) for m in self.marks]
        i = int(np.argmin(d))
        return self.marks[i] if d[i] <= within_mm else None

    # ------------------------------------------------------------- changes
    def _label_for(self, role: str) -> str:
        if role in SINGLE_ROLES:
            return role
        n = len(self.of_role("lesion")) + 1
        taken = {m.label for m in self.marks}
        while f"lesion {n}" in taken:
            n += 1
        return f"lesion {n}"

    def add(self, role: str, position_mm: npt.ArrayLike, *, label: str | None = None,
            diameter_mm: float | None = None, note: str = "") -> AnnotationMark:
        """Place a mark; a nipple or orifice replaces the previous one (same id kept).

        Returns
        -------
        AnnotationMark
            The new (or moved) mark.

        Raises
        ------
        ValueError
            An unknown role, a non-finite position, a non-positive diameter.
        """
        if role not in ROLES:
            raise ValueError(f"mark role must be one of {', '.join(ROLES)}, got {role!r}")
        if role in SINGLE_ROLES and self.of_role(role):
            old = self.of_role(role)[0]
            return self.update(old.id, position_mm=position_mm, label=label if label else old.label)
        mark = AnnotationMark(self._next_id, role, position_mm, label.strip() if label else self._label_for(role),
                              diameter_mm if role == "lesion" else None, note)
        self._commit([*self.marks, mark], self._next_id + 1)
        return mark

    def move(self, mark_id: int, position_mm: npt.ArrayLike) -> AnnotationMark:
        """Move a mark to a new position (mm)."""
        return self.update(mark_id, position_mm=position_mm)

    def update(self, mark_id: int, *, position_mm: npt.ArrayLike | None = None, label: str | None = None,
               diameter_mm: float | None | str = "keep", note: str | None = None) -> AnnotationMark:
        """Change a mark's position, label, diameter (None clears it) or note.

        Raises
        ------
        KeyError
            No such mark.
        ValueError
            A bad position or diameter (the mark is left as it was).
        """
        old = self.get(mark_id)
        new = replace(old,
                      position_mm=old.position_mm if position_mm is None else position_mm,
                      label=old.label if label is None else (label.strip() or old.label),
                      diameter_mm=old.diameter_mm if isinstance(diameter_mm, str) else diameter_mm,
                      note=old.note if note is None else note.strip())
        if new.role != "lesion":
            new.diameter_mm = None
        self._commit([new if m is old else m for m in self.marks], self._next_id)
        return new

    def delete(self, mark_id: int) -> AnnotationMark:
        """Remove a mark; returns it."""
        old = self.get(mark_id)
        self._commit([m for m in self.marks if m is not old], self._next_id)
        return old

"""The clinical context of a plan: what the referring clinician knows about the discharge."""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ClinicalContext", "DISCHARGE_KINDS", "normalise_discharge"]

#: Canonical discharge kinds the rules know about.
DISCHARGE_KINDS = ("bloody", "serous", "clear", "milky", "purulent", "green", "grey", "black")

# Words clinicians write for the same discharge; anything else is kept as written and
# flagged, never guessed.
_SYNONYMS = {
    "blood": "bloody", "bloody": "bloody", "sanguineous": "bloody", "haemorrhagic": "bloody",
    "hemorrhagic": "bloody", "serosanguineous": "bloody", "serosanguinous": "bloody",
    "blood-stained": "bloody", "bloodstained": "bloody",
    "serous": "serous",
    "clear": "clear", "watery": "clear",
    "milky": "milky", "milk": "milky", "white": "milky", "galactorrhoea": "milky",
    "galactorrhea": "milky",
    "purulent": "purulent", "pus": "purulent", "infected": "purulent",
    "green": "green", "greenish": "green",
    "grey": "grey", "gray": "grey",
    "black": "black",
}

_KEYS = ("discharge", "discharging_ducts", "bilateral", "wishes_to_breastfeed", "age",
         "discharging_duct_identified")


def normalise_discharge(text: str | None) -> str | None:
    """Map a clinician's word for the discharge onto ``DISCHARGE_KINDS``.

    Parameters
    ----------
    text : str or None

    Returns
    -------
    str or None
        The canonical kind, the lower-cased input when it is not recognised, or None.

    Examples
    --------
    >>> normalise_discharge(" Blood-stained "), normalise_discharge("Gray")
    ('bloody', 'grey')
    """
    if text is None:
        return None
    t = str(text).strip().lower()
    if not t:
        return None
    return _SYNONYMS.get(t, t)


def _check_bool(name: str, value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise ValueError(f"clinical field {name!r} must be true, false or null, got {value!r}")


@dataclass(frozen=True)
class ClinicalContext:
    """What is known about the patient and the discharge (every field optional).

    Parameters
    ----------
    discharge : str or None
        Colour/nature of the discharge, normalised by ``normalise_discharge``.
    discharging_ducts : int or None
        Number of nipple pores that discharge (0: discharge seen, pore not identified).
    bilateral : bool or None
        Discharge from both breasts.
    wishes_to_breastfeed : bool or None
    age : float or None
        Years.
    discharging_duct_identified : bool or None
        Extension of the contract's fields: False when the discharging pore could not be
        found (no cannulation possible), which favours a Hadfield procedure.
    unknown_fields : tuple of str
        Keys of the JSON that the planner does not use (reported as a warning).

    Raises
    ------
    ValueError
        For a value of the wrong type or out of range.

    Examples
    --------
    >>> c = ClinicalContext(discharge="Blood", discharging_ducts=1, age=52)
    >>> c.discharge, c.is_bloody
    ('bloody', True)
    """

    discharge: str | None = None
    discharging_ducts: int | None = None
    bilateral: bool | None = None
    wishes_to_breastfeed: bool | None = None
    age: float | None = None
    discharging_duct_identified: bool | None = None
    unknown_fields: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if self.discharge is not None and not isinstance(self.discharge, str):
            raise ValueError(f"clinical field 'discharge' must be a string, got {self.discharge!r}")
        set_(self, "discharge", normalise_discharge(self.discharge))
        n = self.discharging_ducts
        if n is not None:
            # bool is an int in Python; "true" is not a number of ducts.
            if isinstance(n, bool) or not isinstance(n, (int, float)) or not float(n).is_integer() or n < 0:
                raise ValueError("clinical field 'discharging_ducts' must be a whole number >= 0, "
                                 f"got {n!r}")
            set_(self, "discharging_ducts", int(n))
        set_(self, "bilateral", _check_bool("bilateral", self.bilateral))
        set_(self, "wishes_to_breastfeed", _check_bool("wishes_to_breastfeed", self.wishes_to_breastfeed))
        set_(self, "discharging_duct_identified",
             _check_bool("discharging_duct_identified", self.discharging_duct_identified))
        if self.age is not None:
            a = self.age
            if isinstance(a, bool) or not isinstance(a, (int, float)) or not math.isfinite(a) or not 0 <= a <= 130:
                raise ValueError(f"clinical field 'age' must be a number of years in 0..130, got {a!r}")
            set_(self, "age", float(a))
        set_(self, "unknown_fields", tuple(self.unknown_fields))

    # ------------------------------------------------------------ properties
    @property
    def is_bloody(self) -> bool:
        return self.discharge == "bloody"

    @property
    def is_purulent(self) -> bool:
        return self.discharge == "purulent"

    @property
    def is_recognised_discharge(self) -> bool:
        return self.discharge is None or self.discharge in DISCHARGE_KINDS

    @property
    def is_physiological_type(self) -> bool:
        """Milky, green, grey or black: usually physiological, drug- or pituitary-related."""
        return self.discharge in ("milky", "green", "grey", "black")

    @property
    def multi_duct(self) -> bool:
        return self.discharging_ducts is not None and self.discharging_ducts >= 2

    # ------------------------------------------------------------ (de)serialising
    @classmethod
    def from_dict(cls, d: dict) -> "ClinicalContext":
        """Build from the contract's ``--clinical`` object.

        Parameters
        ----------
        d : dict

        Returns
        -------
        ClinicalContext

        Raises
        ------
        ValueError
            When ``d`` is not an object or a field has the wrong type.

        Examples
        --------
        >>> ClinicalContext.from_dict({"discharge": "serous", "bilateral": False}).bilateral
        False
        """
        if not isinstance(d, dict):
            raise ValueError(f"clinical context must be a JSON object, got {type(d).__name__}")
        unknown = tuple(sorted(k for k in d if k not in _KEYS))
        return cls(**{k: d[k] for k in _KEYS if k in d}, unknown_fields=unknown)

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "ClinicalContext":
        """Read the ``--clinical`` JSON file.

        Parameters
        ----------
        path : str or path-like

        Returns
        -------
        ClinicalContext

        Raises
        ------
        ValueError
            When the file is missing, unreadable, not JSON, or has wrong types; the
            message names the file and the problem.

        Examples
        --------
        >>> import json, tempfile, os
        >>> with tempfile.TemporaryDirectory() as d:
        ...     p = os.path.join(d, "c.json")
        ...     _ = open(p, "w").write(json.dumps({"discharge": "bloody", "age": 61}))
        ...     ClinicalContext.from_json(p).age
        61.0
        """
        try:
            with open(path, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise ValueError(f"clinical file not found: {path}") from None
        except json.JSONDecodeError as e:
            raise ValueError(f"clinical file {path} is not valid JSON: {e.msg} at line {e.lineno}, "
                             f"column {e.colno}") from None
        except (OSError, UnicodeDecodeError) as e:
            raise ValueError(f"cannot read clinical file {path}: {e}") from None
        try:
            return cls.from_dict(data)
        except ValueError as e:
            raise ValueError(f"clinical file {path}: {e}") from None

    def to_dict(self) -> dict:
        """The context as JSON-ready values (normalised discharge)."""
        return {"discharge": self.discharge, "discharging_ducts": self.discharging_ducts,
                "bilateral": self.bilateral, "wishes_to_breastfeed": self.wishes_to_breastfeed,
                "age": self.age, "discharging_duct_identified": self.discharging_duct_identified}

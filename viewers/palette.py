"""Every colour the viewers use, in one place.

The 3D scene, the snapshots, the MIP overlay, the report and the tests all read their
colours from here, so that "system 0 is blue" means the same thing everywhere and a
test can look for it in a rendered image.

The hues are chosen to stay apart: ductal systems are cool colours (blue, purple, teal),
lesions warm ones (red, orange, gold, magenta), the excision green and the nipple a
skin tone.  Nothing in the scene shares a hue with something of another kind.

Examples
--------
>>> system_color(0)
'#1f5fbf'
>>> system_color(len(SYSTEM_COLORS)) == system_color(0)   # the palette cycles
True
>>> lesion_color("cyst")
'#e6b800'
>>> hex_to_rgb("#ff8000")
(255, 128, 0)
"""
from __future__ import annotations

__all__ = ["SYSTEM_COLORS", "LESION_COLORS", "UNKNOWN_LESION_COLOR", "EXCISION_COLOR", "EXCISION_OPACITY",
           "NIPPLE_COLOR", "MARGIN_OK_COLOR", "MARGIN_SHORT_COLOR", "BACKGROUND_COLOR", "TEXT_COLOR",
           "AXES_COLOR", "system_color", "lesion_color", "hex_to_rgb", "hex_to_rgb01", "readable_on_white"]

#: One colour per ductal system (by system id, cycling when there are more systems).
SYSTEM_COLORS: tuple[str, ...] = (
    "#1f5fbf",  # blue
    "#7b3fbf",  # purple
    "#49a6e9",  # sky blue (lighter than system 0; teal would read as the excision green)
    "#3b3b98",  # indigo
    "#2b3a55",  # slate
    "#a05fd9",  # lilac
)

#: One colour per lesion kind of the output contract (``planner.LESION_KINDS``).
LESION_COLORS: dict[str, str] = {
    "filling_defect": "#d62728",  # red: papilloma until proven otherwise
    "cutoff": "#e6007e",          # magenta: abrupt cut-off, suspicious for DCIS
    "ectasia": "#ff7f0e",         # orange
    "cyst": "#e6b800",            # gold
    "annotated": "#8b1a1a",       # dark red: a radiologist's mark alone
}
#: Lesion kinds a newer plan may add: shown, never refused.
UNKNOWN_LESION_COLOR = "#b03060"

#: The proposed excision volume (drawn translucent).
EXCISION_COLOR = "#2e9e4f"
#: Opacity of the excision in the 3D scene: enough to see its extent, low enough to see
#: the ducts and lesions inside it.
EXCISION_OPACITY = 0.3
NIPPLE_COLOR = "#b5653f"
#: Margin line and label when the plan says the margin meets its setting ...
MARGIN_OK_COLOR = "#111111"
#: ... and when it does not (or the lesion is cut).
MARGIN_SHORT_COLOR = "#c00000"
BACKGROUND_COLOR = "#ffffff"
#: Orientation marker arrows (told apart by their letters L, P, S).
AXES_COLOR = "#555555"
TEXT_COLOR = "#111111"


def system_color(system: int | None) -> str:
    """Hex colour of ductal system ``system`` (grey when the system is unknown)."""
    if system is None or int(system) < 0:
        return "#808080"
    return SYSTEM_COLORS[int(system) % len(SYSTEM_COLORS)]


def lesion_color(kind: str) -> str:
    """Hex colour of a lesion kind (a fixed fallback for kinds this version does not know)."""
    return LESION_COLORS.get(str(kind), UNKNOWN_LESION_COLOR)


def hex_to_rgb(color: str) -> tuple[int, int, int]:
    """``"#rrggbb"`` -> (r, g, b) in 0..255."""
    c = color.lstrip("#")
    if len(c) != 6:
        raise ValueError(f"expected a colour like '#1f5fbf', got {color!r}")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def hex_to_rgb01(color: str) -> tuple[float, float, float]:
    """``"#rrggbb"`` -> (r, g, b) in 0..1."""
    r, g, b = hex_to_rgb(color)
    return r / 255.0, g / 255.0, b / 255.0


def readable_on_white(color: str) -> str:
    """``color`` darkened until text in it reads on white (gold text is too pale).

    Examples
    --------
    >>> readable_on_white("#e6b800"), readable_on_white("#1f5fbf")
    ('#927500', '#1f5fbf')
    """
    r, g, b = hex_to_rgb01(color)
    lum = 0.2126 * r + 0.7152 * g + 0.0722 * b
    if lum <= 0.45:
        return color
    k = 0.45 / lum
    return "#" + "".join(f"{int(round(255 * c * k)):02x}" for c in (r, g, b))

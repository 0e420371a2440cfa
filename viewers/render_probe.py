"""Can this machine render off-screen?  Ask a child process, not this one.

Without a display, VTK's wheels fall back to EGL, then OSMesa.  When neither library is
installed, the first render SEGFAULTS, and ``pyvista.system_supports_plotting()`` still
says True.  So the first render is tried in a subprocess: a crash there costs a message,
not the user's session.  The result is cached for the life of the process.

On success the working window class is exported in ``VTK_DEFAULT_OPENGL_WINDOW`` (when
the user has not chosen one), so that the renders of this process take the same path and
VTK does not first try X and print a warning.
"""
from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys

__all__ = ["rendering_available", "headless_env", "HINT"]

#: What to install when nothing renders (Debian/Ubuntu package names).
HINT = ("install EGL (apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri) or OSMesa "
        "(apt-get install libosmesa6), or run with a display")

# Renders a red sphere on black and checks a red pixel came back: a window that "works"
# but returns an empty buffer counts as a failure too.
_PROBE = r"""
import pyvista as pv
pl = pv.Plotter(off_screen=True, window_size=(48, 32))
pl.set_background("black")
pl.add_mesh(pv.Sphere(radius=1.0), color="red", lighting=False)
img = pl.screenshot(return_img=True)
cls = pl.render_window.GetClassName()
pl.close()
ok = img.shape[:2] == (32, 48) and int(img[..., 0].max()) > 200 and int(img[..., 1].max()) < 80
print("DUCTPLAN_PROBE", "ok" if ok else "blank", cls)
"""

# Window classes to try without a display, in order (names as VTK's factory knows them).
_HEADLESS_WINDOWS = ("vtkEGLRenderWindow", "vtkOSOpenGLRenderWindow")
_TIMEOUT_S = 90.0


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and sys.platform != "win32"


def _try(window: str | None) -> tuple[bool, str]:
    env = dict(os.environ)
    if window is not None:
        env["VTK_DEFAULT_OPENGL_WINDOW"] = window
    try:
        proc = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                              timeout=_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return False, f"the test render did not finish within {_TIMEOUT_S:.0f} s"
    except OSError as exc:  # no interpreter to spawn: say so rather than guess
        return False, f"could not start the test render ({exc})"
    for line in proc.stdout.splitlines():
        if line.startswith("DUCTPLAN_PROBE"):
            parts = line.split()
            if parts[1] == "ok":
                return True, parts[2] if len(parts) > 2 else (window or "default window")
            return False, f"the test render through {parts[2] if len(parts) > 2 else window} came back blank"
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        why = f"the test render crashed ({name})"
    else:
        why = f"the test render failed (exit code {proc.returncode})"
    tail = [s for s in proc.stderr.strip().splitlines() if s.strip()][-1:]
    return False, why + (f": {tail[0][:200]}" if tail else "")


@functools.lru_cache(maxsize=1)
def _probe() -> tuple[bool, str, str | None]:
    chosen = os.environ.get("VTK_DEFAULT_OPENGL_WINDOW")
    if chosen or _has_display():
        ok, why = _try(None)
        return ok, why, None
    reasons = []
    for window in _HEADLESS_WINDOWS:
        ok, why = _try(window)
        if ok:
            return True, why, window
        reasons.append(f"{window}: {why}")
    return False, "; ".join(reasons), None


def rendering_available() -> tuple[bool, str]:
    """Whether off-screen 3D rendering works here, and how (or why not).

    The first call spawns a short-lived Python that renders a 48 x 32 image (1-3 s);
    later calls return the cached answer.

    Returns
    -------
    ok : bool
    message : str
        The render window class that worked (e.g. ``"vtkEGLRenderWindow"``), or one
        line saying why rendering failed and what to install.

    Examples
    --------
    >>> ok, how = rendering_available()   # doctest: +SKIP
    >>> ok, how                           # doctest: +SKIP
    (True, 'vtkEGLRenderWindow')
    """
    ok, why, window = _probe()
    if ok:
        if window is not None:
            os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", window)
        return True, why
    return False, f"3D rendering is not available ({why}); {HINT}"


def headless_env() -> None:
    """Prefer EGL without a display (skips VTK's X probe and its warning).

    Only sets ``VTK_DEFAULT_OPENGL_WINDOW`` when it is unset and there is no display;
    call :func:`rendering_available` to learn whether rendering really works.
    """
    if not _has_display():
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", _HEADLESS_WINDOWS[0])

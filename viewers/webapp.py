"""Serving a trame app on localhost: one way for ``ductplan view`` and ``ductplan annotate``.

trame parses ``sys.argv`` for its own options (``--port``, ``--host``, ``--server``,
...), which would read the ``ductplan`` command line; here the options are passed
explicitly and trame's own parsing is switched off (``TRAME_ARGS``).  The server binds
``127.0.0.1`` unless told otherwise, never exits on its own when the last browser tab
closes (``timeout=0``: the user stops it with Ctrl-C), prints the URL once it listens,
and opens the user's browser unless asked not to.
"""
from __future__ import annotations

import ipaddress
import os
import sys
import webbrowser
from collections.abc import Callable
from typing import Any

__all__ = ["new_server", "serve", "check_host_port", "url_of"]


def check_host_port(host: str, port: int) -> None:
    """Refuse an empty host or a port outside 0..65535 (0: any free port).

    Raises
    ------
    ValueError

    Examples
    --------
    >>> check_host_port("127.0.0.1", 0)
    >>> check_host_port("127.0.0.1", 70000)
    Traceback (most recent call last):
    ...
    ValueError: --port must be within 0..65535 (0: any free port), got 70000
    """
    if not host or any(c.isspace() for c in host):
        raise ValueError(f"--host must be a host name or IP address, got {host!r}")
    if not 0 <= int(port) <= 65535:
        raise ValueError(f"--port must be within 0..65535 (0: any free port), got {port}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _has_gui() -> bool:
    """Whether a graphical browser can open here.  Without a display, Python's
    ``webbrowser`` would start a text browser (lynx, w3m) inside the user's terminal."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def url_of(host: str, port: int) -> str:
    """The URL a browser on this machine opens for a server bound to ``host:port``.

    Examples
    --------
    >>> url_of("0.0.0.0", 8080), url_of("::1", 9000)
    ('http://127.0.0.1:8080/', 'http://[::1]:9000/')
    """
    if host in ("0.0.0.0", ""):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def new_server(name: str):
    """A fresh trame server (Vue 3 client) that ignores ``sys.argv``."""
    # Before the server exists: its argument parser reads the environment when used.
    os.environ.setdefault("TRAME_ARGS", "")
    from trame.app import get_server

    return get_server(name, client_type="vue3")


def serve(server: Any, *, host: str = "127.0.0.1", port: int = 0, open_browser: bool = True,
          what: str = "ductplan", on_ready: Callable[[str], None] | None = None) -> None:
    """Run ``server`` until Ctrl-C; print its URL once it listens.

    Parameters
    ----------
    server : trame_server.Server
        With its UI built.
    host : str
        Interface to bind (``127.0.0.1``: this machine only).
    port : int
        0 picks a free port.
    open_browser : bool
        Open the URL in the user's browser once the server listens.
    what : str
        Names the app in the printed line.
    on_ready : callable, optional
        Called with the URL once the server listens.

    Raises
    ------
    ValueError
        A bad host or port.
    OSError
        The port is taken or the host cannot be bound.
    """
    check_host_port(host, port)
    if not _is_loopback(host):
        print(f"{what}: warning: listening on {host}: anyone who can reach this machine can open "
              "the page (and change marks); use --host 127.0.0.1 to keep it local", file=sys.stderr)

    def ready(**_: Any) -> None:
        url = url_of(host, server.port)
        print(f"{what}: open {url} in a browser (Ctrl-C to stop)", flush=True)
        if on_ready is not None:
            on_ready(url)
        if open_browser and _has_gui():
            try:
                webbrowser.open(url)
            except Exception:  # no browser here: the printed URL is enough
                pass
        elif open_browser and _is_loopback(host):
            print(f"{what}: no display here; from your workstation: ssh -L {server.port}:127.0.0.1:{server.port} "
                  f"THIS_MACHINE, then open http://127.0.0.1:{server.port}/", flush=True)

    server.controller.on_server_ready.add(ready)
    try:
        server.start(port=int(port), host=host, open_browser=False, show_connection_info=False,
                     timeout=0, disable_logging=True)
    except OSError as exc:
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None

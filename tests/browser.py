"""Headless Chromium driven over the DevTools protocol (CDP), for the browser tests.

No Selenium, no Playwright: Chromium is started with ``--remote-debugging-port=0``, the
port is read from ``DevToolsActivePort`` in its fresh profile folder, and the page is
driven over one websocket (aiohttp, already installed as a trame dependency).

Also a command line, to look at a page like a user does::

    .venv/bin/python tests/browser.py URL OUT.png [--wait-for JS] [--wait 3] [--size 1400x900]
                                      [--step click=SELECTOR@FX,FY] [--step js=EXPR] [--step wait=EXPR]
                                      [--step wheel=SELECTOR@DELTA] [--step sleep=SECONDS]

Steps run in order after the page is ready: ``click`` clicks at fractions ``FX, FY`` of
the element's box (a real mouse click), ``js`` evaluates JavaScript, ``wait`` polls an
expression until truthy, ``wheel`` scrolls the mouse wheel over an element.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["Chromium", "find_chromium", "CHROMIUM_FLAGS"]

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
                  "--enable-unsafe-swiftshader", "--hide-scrollbars", "--mute-audio")
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium(*, install: bool = True) -> str:
    """The Chromium executable; installs Debian's ``chromium`` when missing and root.

    ``DUCTPLAN_CHROMIUM`` names a browser explicitly.

    Raises
    ------
    RuntimeError
        No Chromium and no way to install it (the browser tests fail, never skip).
    """
    env = os.environ.get("DUCTPLAN_CHROMIUM")
    if env:
        return env
    for name in _CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    if install and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=False, env=env, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"], check=False,
                       env=env, capture_output=True)
        return find_chromium(install=False)
    raise RuntimeError("Chromium is needed for the browser tests: apt-get install -y --no-install-recommends "
                       "chromium (as root), or set DUCTPLAN_CHROMIUM to a Chromium/Chrome executable")


class Chromium:
    """One headless Chromium with one page, driven synchronously.

    Parameters
    ----------
    size : (int, int)
        Window width and height in CSS pixels.
    timeout : float
        Seconds to wait for the browser to start.

    Examples
    --------
    >>> with Chromium() as b:                                  # doctest: +SKIP
    ...     b.navigate("file:///tmp/report.html")
    ...     png = b.screenshot()
    """

    def __init__(self, *, size: tuple[int, int] = (1400, 900), timeout: float = 30.0) -> None:
        self.size = size
        self.exe = find_chromium()
        self.profile = Path(tempfile.mkdtemp(prefix="ductplan-chromium-"))
        self.log = open(self.profile.parent / f"{self.profile.name}.log", "wb")
        args = [self.exe, *CHROMIUM_FLAGS, "--remote-debugging-port=0", f"--user-data-dir={self.profile}",
                f"--window-size={size[0]},{size[1]}", "about:blank"]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.loop = asyncio.new_event_loop()
        self._ids = itertools.count(1)
        self.events: list[dict] = []
        self.console: list[str] = []
        try:
            port = self._port(timeout)
            ws_url = self._page_ws(port, timeout)
            self._session = self.loop.run_until_complete(self._connect(ws_url))
            self.send("Page.enable")
            self.send("Runtime.enable")
            self.send("Network.enable")
            self.send("Emulation.setDeviceMetricsOverride", width=size[0], height=size[1], deviceScaleFactor=1,
                      mobile=False)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------ plumbing
    def _port(self, timeout: float) -> int:
        f = self.profile / "DevToolsActivePort"
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Chromium exited with code {self.proc.returncode}: {self._log_tail()}")
            if f.exists():
                lines = f.read_text().split()
                if lines:
                    return int(lines[0])
            time.sleep(0.05)
        raise RuntimeError(f"Chromium did not open its DevTools port within {timeout:.0f} s: {self._log_tail()}")

    def _page_ws(self, port: int, timeout: float) -> str:
        t_end = time.monotonic() + timeout
        while time.monotonic() < t_end:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as r:
                    targets = json.loads(r.read())
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    return pages[0]["webSocketDebuggerUrl"]
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("Chromium has no page target")

    def _log_tail(self) -> str:
        self.log.flush()
        try:
            text = (self.profile.parent / f"{self.profile.name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-3:])

    async def _connect(self, url: str):
        import aiohttp

        self._http = aiohttp.ClientSession()
        return await self._http.ws_connect(url, max_msg_size=0)

    async def _call(self, method: str, params: dict, timeout: float) -> dict:
        mid = next(self._ids)
        await self._session.send_str(json.dumps({"id": mid, "method": method, "params": params}))
        t_end = time.monotonic() + timeout
        while True:
            left = t_end - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"CDP {method} got no answer within {timeout:.0f} s")
            msg = await self._session.receive(timeout=left)
            if msg.type != 1:  # aiohttp.WSMsgType.TEXT
                raise RuntimeError(f"CDP connection closed ({msg.type})")
            data = json.loads(msg.data)
            if data.get("id") == mid:
                if "error" in data:
                    raise RuntimeError(f"CDP {method}: {data['error'].get('message')}")
                return data.get("result", {})
            if "method" in data:
                self._record(data)

    def _record(self, event: dict) -> None:
        self.events.append(event)
        if event["method"] == "Runtime.consoleAPICalled":
            args = event["params"].get("args", [])
            self.console.append(" ".join(str(a.get("value", a.get("description", ""))) for a in args))
        elif event["method"] == "Runtime.exceptionThrown":
            self.console.append("exception: " + json.dumps(event["params"].get("exceptionDetails", {}))[:300])

    # ----------------------------------------------------------------- API
    def send(self, method: str, timeout: float = 60.0, **params: Any) -> dict:
        """Call a CDP method on the page; returns its result."""
        return self.loop.run_until_complete(self._call(method, params, timeout))

    def navigate(self, url: str, *, timeout: float = 30.0) -> None:
        """Open ``url`` and wait for its load event."""
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'", timeout=timeout)

    def reload(self, *, timeout: float = 30.0) -> None:
        self.send("Page.reload", ignoreCache=True)
        time.sleep(0.3)
        self.wait_for("document.readyState === 'complete'", timeout=timeout)

    def evaluate(self, expression: str, *, timeout: float = 30.0) -> Any:
        """Evaluate JavaScript in the page; returns the value (JSON-able)."""
        r = self.send("Runtime.evaluate", timeout=timeout, expression=expression, returnByValue=True,
                      awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"JavaScript error: {r['exceptionDetails'].get('text')} "
                               f"{r['exceptionDetails'].get('exception', {}).get('description', '')}")
        return r.get("result", {}).get("value")

    def wait_for(self, expression: str, *, timeout: float = 30.0, interval: float = 0.2) -> Any:
        """Poll ``expression`` until it is truthy; returns its value.

        Raises
        ------
        TimeoutError
        """
        t_end = time.monotonic() + timeout
        last = None
        # JavaScript's truthiness (a DOM node is truthy but comes back as {}); objects -> True.
        probe = f"(() => {{ const v = ({expression}); return v ? (typeof v === 'object' ? true : v) : false }})()"
        while time.monotonic() < t_end:
            try:
                last = self.evaluate(probe)
            except RuntimeError as exc:
                last = str(exc)
            else:
                if last:
                    return last
            time.sleep(interval)
        raise TimeoutError(f"waited {timeout:.0f} s for {expression!r} (last: {last!r}); "
                           f"console: {self.console[-5:]}")

    def click(self, x: float, y: float) -> None:
        """A left click at page coordinates (CSS pixels)."""
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=float(x), y=float(y), button="left",
                      clickCount=0 if kind == "mouseMoved" else 1)

    def wheel(self, x: float, y: float, delta_y: float) -> None:
        self.send("Input.dispatchMouseEvent", type="mouseWheel", x=float(x), y=float(y), deltaX=0,
                  deltaY=float(delta_y))

    def type_text(self, text: str) -> None:
        self.send("Input.insertText", text=text)

    def press_enter(self) -> None:
        self.send("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter", windowsVirtualKeyCode=13,
                  text="\r")
        self.send("Input.dispatchKeyEvent", type="keyUp", key="Enter", code="Enter", windowsVirtualKeyCode=13)

    def screenshot(self, path: str | os.PathLike | None = None) -> bytes:
        """PNG of the viewport (written to ``path`` when given)."""
        png = base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])
        if path is not None:
            Path(path).write_bytes(png)
        return png

    def close(self) -> None:
        """Close the browser and remove its profile."""
        try:
            if getattr(self, "_session", None) is not None:
                try:
                    self.loop.run_until_complete(self._call("Browser.close", {}, 5.0))
                except Exception:
                    pass
                self.loop.run_until_complete(self._session.close())
            if getattr(self, "_http", None) is not None:
                self.loop.run_until_complete(self._http.close())
        finally:
            if self.proc.poll() is None:
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.loop.close()
            self.log.close()
            shutil.rmtree(self.profile, ignore_errors=True)
            Path(self.profile.parent / f"{self.profile.name}.log").unlink(missing_ok=True)

    def __enter__(self) -> "Chromium":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _box(b: Chromium, selector: str) -> list[float]:
    return b.evaluate(f"(() => {{ const r = document.querySelector({json.dumps(selector)})"
                      ".getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()")


def _run_step(b: Chromium, step: str, *, timeout: float) -> None:
    kind, _, arg = step.partition("=")
    if kind == "click":
        sel, _, where = arg.rpartition("@")
        fx, fy = (float(v) for v in where.split(","))
        left, top, width, height = _box(b, sel)
        b.click(left + fx * width, top + fy * height)
        time.sleep(0.4)
    elif kind == "wheel":
        sel, _, delta = arg.rpartition("@")
        left, top, width, height = _box(b, sel)
        b.wheel(left + width / 2, top + height / 2, float(delta))
        time.sleep(0.4)
    elif kind == "js":
        b.evaluate(arg)
        time.sleep(0.2)
    elif kind == "wait":
        b.wait_for(arg, timeout=timeout)
    elif kind == "sleep":
        time.sleep(float(arg))
    else:
        raise SystemExit(f"unknown step {step!r} (click=, wheel=, js=, wait=, sleep=)")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Screenshot a page with headless Chromium (DevTools protocol).")
    p.add_argument("url", help="http(s):// or file:// URL, or a local file path")
    p.add_argument("out", help="PNG to write")
    p.add_argument("--size", default="1400x900", help="window WIDTHxHEIGHT in CSS pixels")
    p.add_argument("--wait-for", default="true", help="JavaScript expression to wait for (truthy)")
    p.add_argument("--wait", type=float, default=2.0, help="seconds to wait after that (rendering)")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--step", action="append", default=[], help="click=SEL@FX,FY | js=EXPR | wait=EXPR | "
                                                                 "wheel=SEL@DELTA | sleep=SECONDS (repeatable)")
    a = p.parse_args(argv)
    url = a.url if "://" in a.url else Path(a.url).resolve().as_uri()
    w, h = (int(v) for v in a.size.lower().split("x"))
    with Chromium(size=(w, h)) as b:
        b.navigate(url, timeout=a.timeout)
        b.wait_for(a.wait_for, timeout=a.timeout)
        for step in a.step:
            _run_step(b, step, timeout=a.timeout)
        time.sleep(a.wait)
        b.screenshot(a.out)
        for line in b.console[-10:]:
            print("console:", line, file=sys.stderr)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

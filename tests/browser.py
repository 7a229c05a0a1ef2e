"""Render a page in headless Chromium over the DevTools protocol (pipe transport, no extra packages).

Used by the report test: it loads a file, records every network request, console error and uncaught
exception, checks that every image decoded, and saves a full-page screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    """Path of an installed Chromium/Chrome, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageLoad:
    """What happened while a page loaded."""

    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    images: int = 0
    broken_images: int = 0
    title: str = ""


class _Pipe:
    """DevTools messages over Chromium's --remote-debugging-pipe (fd 3 in, fd 4 out, NUL-terminated JSON)."""

    def __init__(self, proc: subprocess.Popen, timeout: float) -> None:
        self.proc, self.deadline, self.buf, self.next_id = proc, time.monotonic() + timeout, b"", 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict[str, Any]:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self.proc.stdin.write(json.dumps(msg).encode() + b"\0")
        self.proc.stdin.flush()
        while True:
            reply = self.read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def read(self) -> dict[str, Any]:
        fd = self.proc.stdout.fileno()
        while b"\0" not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("the browser did not answer in time")
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise RuntimeError("the browser closed the DevTools pipe")
            self.buf += chunk
        raw, _, self.buf = self.buf.partition(b"\0")
        return json.loads(raw)

    def wait_for(self, method: str) -> None:
        while not any(e.get("method") == method for e in self.events):
            self.events.append(self.read())


def render(url: str, screenshot: Path | None = None, width: int = 1280, timeout: float = 60.0) -> PageLoad:
    """Load ``url`` offline-style in a fresh headless profile; return what it requested and what went wrong."""
    browser = find_browser()
    if browser is None:
        raise FileNotFoundError("no Chromium/Chrome installed")
    # Chromium's helper processes may still touch the profile for a moment after the group is killed.
    with tempfile.TemporaryDirectory(prefix="cotal-chromium-", ignore_cleanup_errors=True) as profile:
        args = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            f"--window-size={width},900",
        ]
        # Chromium reads commands from fd 3 and answers on fd 4: map them onto this process's pipes.
        cmd = ["bash", "-c", 'exec 3<&0 4>&1 </dev/null >/dev/null; exec "$@"', "_", *args]
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            return _load(_Pipe(proc, timeout), url, screenshot, width)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the browser and its renderer/zygote helpers
            proc.wait()


def _load(pipe: _Pipe, url: str, screenshot: Path | None, width: int) -> PageLoad:
    target = pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Network", "Runtime", "Log", "Page"):
        pipe.send(f"{domain}.enable", session=session)
    pipe.events.clear()
    pipe.send("Page.navigate", {"url": url}, session=session)
    pipe.wait_for("Page.loadEventFired")
    result = PageLoad()
    for e in pipe.events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Network.requestWillBeSent":
            result.requests.append(p["request"]["url"])
        elif m == "Runtime.exceptionThrown":
            result.errors.append(p["exceptionDetails"].get("text", "exception"))
        elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            result.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in p.get("args", [])))
        elif m == "Log.entryAdded" and p["entry"].get("level") == "error":
            result.errors.append(p["entry"].get("text", ""))
        elif m == "Network.loadingFailed":
            result.errors.append(f"failed to load: {p.get('errorText')}")
    check = (
        "JSON.stringify({n: document.images.length, "
        "broken: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).length, "
        "title: document.title})"
    )
    value = json.loads(
        pipe.send("Runtime.evaluate", {"expression": check, "returnByValue": True}, session)["result"]["value"]
    )
    result.images, result.broken_images, result.title = value["n"], value["broken"], value["title"]
    if screenshot is not None:
        size = pipe.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
        height = int(size["height"]) + 1
        pipe.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session,
        )
        shot = pipe.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, session)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
    return result

"""Pictures of the viewer page from headless Chromium (Playwright driving Debian's `chromium`).

WebGL runs on SwiftShader (software), so no GPU or screen is needed. A picture is taken when the
page has stopped changing: two consecutive captures are identical and not blank, so the scene
has arrived over the websocket and been drawn, whatever the machine's speed.
"""

from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path

import numpy as np

from chord_core.errors import ChordError

CHROMIUM_ARGS = ("--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist")


def chromium_path() -> str:
    """Chromium to drive: $CHORD_CHROMIUM, else `chromium` / `chromium-browser` on PATH."""
    path = os.environ.get("CHORD_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise ChordError("no Chromium found for the screenshot: install Debian's `chromium` "
                         "(scripts/setup.sh does) or set CHORD_CHROMIUM to a Chromium binary")
    return path


def decode_png(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def is_blank(image: np.ndarray) -> bool:
    """True when the picture is one flat colour (nothing drawn yet)."""
    return float(image.reshape(-1, 3).std(axis=0).max()) < 2.0


class PageCamera:
    """A headless browser on one page; ``take()`` returns a settled picture [H, W, 3] uint8.

    Use as a context manager; keep it open across several pictures (the page keeps its websocket,
    so a change made on the server shows in the next picture).
    """

    def __init__(self, url: str, width: int = 1280, height: int = 800, timeout: float = 90.0) -> None:
        self.url, self.size, self.timeout = url, {"width": width, "height": height}, timeout

    def __enter__(self) -> PageCamera:
        from playwright.sync_api import Error, sync_playwright

        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                                             args=list(CHROMIUM_ARGS))
            self.page = self._browser.new_page(viewport=self.size)
            self.page.goto(self.url, timeout=self.timeout * 1000)
            self.page.wait_for_selector("canvas", timeout=self.timeout * 1000)
        except Error as exc:
            self.__exit__(None, None, None)
            raise ChordError(f"headless Chromium could not open {self.url}: {exc}") from None
        return self

    def __exit__(self, *exc) -> None:
        if getattr(self, "_browser", None) is not None:
            self._browser.close()
        self._playwright.stop()

    def _close_notices(self) -> None:
        """Dismiss the page's pop-up notices (e.g. "software WebGL rendering") so they hide nothing."""
        for button in self.page.locator(".mantine-Notification-closeButton").all():
            button.click()

    def take(self, settle: float = 0.4) -> np.ndarray:
        """The page once two captures ``settle`` seconds apart are identical and not blank."""
        self._close_notices()
        deadline = time.monotonic() + self.timeout
        previous = None
        while time.monotonic() < deadline:
            image = decode_png(self.page.screenshot())
            if previous is not None and np.array_equal(image, previous) and not is_blank(image):
                return image
            previous = image
            time.sleep(settle)
        raise ChordError(f"the viewer page at {self.url} did not settle within {self.timeout:.0f} s")


def save_png(image: np.ndarray, path: str | Path) -> Path:
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path

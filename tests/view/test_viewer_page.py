"""The viewer page itself, as a browser draws it: headless Chromium (SwiftShader WebGL) pictures
of `chord view`. Slow: a software-rendered page takes 10-30 s to settle."""

import subprocess
import sys

import numpy as np
import pytest

from chord_core.view.content import OBJECT_PALETTE, build_content
from chord_core.view.screenshot import PageCamera, decode_png, is_blank
from chord_core.view.server import FlowViewer
from tests.view.test_content import free_port, slide_flow

pytestmark = pytest.mark.slow


def object_pixels(image: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """[K, 2] (row, column) of pixels within 40 of an object's flat colour."""
    return np.argwhere(np.abs(image.astype(int) - colour.astype(int)).max(axis=2) < 40)


def test_the_page_shows_the_object_where_the_flow_puts_it():
    """"slide the block to the left" seen from the operator's side: the block's pixels move left on
    the screen between the first and the last frame; the still cup's pixels stay."""
    content = build_content(slide_flow(points=2000))
    viewer = FlowViewer(content, port=free_port())
    try:
        with PageCamera(viewer.url, width=960, height=640) as camera:
            viewer.go_to(0)
            first = camera.take()
            viewer.go_to(content.ticks - 1)
            last = camera.take()
    finally:
        viewer.stop()
    assert not is_blank(first)
    block = [object_pixels(image, OBJECT_PALETTE[0]) for image in (first, last)]
    cup = [object_pixels(image, OBJECT_PALETTE[1]) for image in (first, last)]
    assert min(len(b) for b in block) > 50 and min(len(c) for c in cup) > 50
    moved = block[1][:, 1].mean() - block[0][:, 1].mean()
    assert moved < -20, f"the block moved {moved:.0f} px (expected left, more than 20 px)"
    assert abs(cup[1][:, 1].mean() - cup[0][:, 1].mean()) < 3


def test_chord_view_screenshot_writes_the_picture(tmp_path):
    flow_path = slide_flow(points=500).save(tmp_path / "flow.npz")
    out = tmp_path / "view.png"
    result = subprocess.run([sys.executable, "-m", "chord_core.cli", "view", str(flow_path), "--port",
                             str(free_port()), "--screenshot", str(out)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "saved" in result.stdout
    assert not is_blank(decode_png(out.read_bytes()))

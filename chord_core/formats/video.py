"""The one mp4 writer (imageio-ffmpeg) for run views and simulation videos."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def write_video(frames: np.ndarray | Sequence[np.ndarray], path: str | Path, fps: float) -> Path | None:
    """H.264 mp4 of frames [F, H, W, 3] uint8, sizes padded to even numbers; None when there are no frames."""
    if len(frames) == 0:
        return None
    import imageio.v2 as imageio

    frames = np.asarray(frames)
    path = Path(path)
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    with imageio.get_writer(path, fps=fps, codec="libx264", quality=7, macro_block_size=1) as writer:
        for frame in frames:
            writer.append_data(frame)
    return path

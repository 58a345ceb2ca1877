"""Known target motions (`motion.npz`, docs/formats.md) for the reference teacher and for scoring.

A reference motion assigns every input point a rigid part (``labels``) and gives each part a
world-frame rigid transform per frame (``transforms[t, p]``, identity at t = 0). Applying it to
the points yields the ground-truth dense flow that motion recovery is measured against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chord_core.errors import ChordError


@dataclass
class ReferenceMotion:
    """labels [N] int32 part per point; transforms [T, P, 4, 4] float32 (transforms[0] = I)."""

    labels: np.ndarray
    transforms: np.ndarray

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int32)
        self.transforms = np.asarray(self.transforms, dtype=np.float32)
        tf = self.transforms
        if tf.ndim != 4 or tf.shape[2:] != (4, 4) or tf.shape[0] < 1:
            raise ChordError(f"motion transforms must have shape (T, P, 4, 4), got {tf.shape}")
        if not np.all(np.isfinite(tf)):
            raise ChordError("motion transforms contain NaN or inf")
        if self.labels.ndim != 1 or self.labels.size == 0:
            raise ChordError(f"motion labels must be a non-empty (N,) array, got {self.labels.shape}")
        if self.labels.min() < 0 or self.labels.max() >= tf.shape[1]:
            raise ChordError(
                f"motion labels must lie in [0, {tf.shape[1] - 1}] (one per part), "
                f"got [{self.labels.min()}, {self.labels.max()}]"
            )
        if not np.allclose(tf[0], np.eye(4), atol=1e-5):
            raise ChordError("motion transforms[0] must be the identity for every part")
        rot = tf[..., :3, :3].astype(np.float64)
        should_be_eye = np.einsum("tpji,tpjk->tpik", rot, rot)
        if not np.allclose(should_be_eye, np.eye(3), atol=1e-4) or not np.allclose(
            tf[..., 3, :], [0, 0, 0, 1], atol=1e-6
        ):
            raise ChordError("motion transforms must be rigid (orthonormal rotation, last row 0 0 0 1)")

    @property
    def num_frames(self) -> int:
        return int(self.transforms.shape[0])

    @property
    def num_parts(self) -> int:
        return int(self.transforms.shape[1])

    def apply(self, points: np.ndarray, labels: np.ndarray | None = None) -> np.ndarray:
        """Trajectories [T, M, 3] of points [M, 3] moved by their parts (labels default: own)."""
        labels = self.labels if labels is None else np.asarray(labels)
        if len(points) != len(labels):
            raise ChordError(f"{len(points)} points but {len(labels)} labels")
        tf = self.transforms[:, labels]  # [T, M, 4, 4]
        return np.einsum("tmij,mj->tmi", tf[..., :3, :3], points) + tf[..., :3, 3]

    def resampled(self, frames: int) -> ReferenceMotion:
        """The motion at `frames` evenly spaced times (linear translation, slerp rotation)."""
        from scipy.spatial.transform import Rotation, Slerp

        if frames == self.num_frames:
            return self
        src = np.linspace(0.0, 1.0, self.num_frames)
        dst = np.linspace(0.0, 1.0, frames)
        out = np.tile(np.eye(4, dtype=np.float32), (frames, self.num_parts, 1, 1))
        for part in range(self.num_parts):
            tf = self.transforms[:, part].astype(np.float64)
            slerp = Slerp(src, Rotation.from_matrix(tf[:, :3, :3]))
            out[:, part, :3, :3] = slerp(dst).as_matrix()
            for axis in range(3):
                out[:, part, axis, 3] = np.interp(dst, src, tf[:, axis, 3])
        return ReferenceMotion(self.labels, out)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, labels=self.labels, transforms=self.transforms)
        return path

    @classmethod
    def load(cls, path: str | Path, num_points: int | None = None) -> ReferenceMotion:
        """Read a motion.npz; with num_points, check the labels cover exactly the scene's points."""
        path = Path(path)
        if not path.is_file():
            raise ChordError(f"reference motion file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = [k for k in ("labels", "transforms") if k not in data.files]
                if missing:
                    raise ChordError(f"{path} lacks {missing} (see motion.npz in docs/formats.md)")
                motion = cls(data["labels"], data["transforms"])
        except (OSError, ValueError) as exc:
            if isinstance(exc, ChordError):
                raise
            raise ChordError(f"{path} is not a readable motion.npz: {exc}") from exc
        if num_points is not None and len(motion.labels) != num_points:
            raise ChordError(
                f"{path} labels {len(motion.labels)} points but the scene files hold {num_points}; "
                "labels refer to the concatenated points of the SCENE files in order"
            )
        return motion


def end_point_error(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Mean Euclidean distance over points and frames between two [T, N, 3] trajectories (m)."""
    if predicted.shape != truth.shape:
        raise ChordError(f"trajectory shapes differ: {predicted.shape} vs {truth.shape}")
    return float(np.linalg.norm(predicted - truth, axis=-1).mean())

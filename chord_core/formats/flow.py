"""Dense object flow: the `flow.npz` contract of docs/formats.md (paper §3.3 "deformation transfer", §4.2).

A flow holds, for N points of one or more objects, their positions over T frames in the world
(robot base) frame, metres. ``trajectories[0]`` are the canonical points.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from chord_core.errors import ChordError

#: Optional arrays of a flow's rigid parts and joints (P parts, J joints), all or none.
ARTICULATION_KEYS = {
    "part_ids": np.int32,         # (N,) part of each point
    "part_objects": np.int32,     # (P,) object of each part
    "joint_kinds": np.str_,       # (J,) revolute | prismatic | free
    "joint_parents": np.int32,    # (J,) the base part
    "joint_children": np.int32,   # (J,) the moving part
    "joint_axes": np.float32,     # (J, 3) unit axis (zeros for free)
    "joint_pivots": np.float32,   # (J, 3) a point on a revolute axis; the child's centroid otherwise
    "joint_values": np.float32,   # (T, J) angle (rad) or travel (m) from frame 0
    "joint_residuals": np.float32,  # (J,) RMS distance of the child's points to the joint model, m
}


def _validate_articulation(arrays: dict[str, np.ndarray], frames: int, points: int, object_ids: np.ndarray) -> None:
    if missing := [key for key in ARTICULATION_KEYS if key not in arrays]:
        raise ChordError(f"flow articulation lacks {missing}: its arrays come all together or not at all")
    parts = arrays["part_objects"]
    joints = len(arrays["joint_kinds"])
    expected = {"part_ids": (points,), "part_objects": (len(parts),), "joint_parents": (joints,),
                "joint_children": (joints,), "joint_axes": (joints, 3), "joint_pivots": (joints, 3),
                "joint_values": (frames, joints), "joint_residuals": (joints,)}
    for key, shape in expected.items():
        if arrays[key].shape != shape:
            raise ChordError(f"flow {key} must have shape {shape}, got {arrays[key].shape}")
    ids = arrays["part_ids"]
    if ids.size and (ids.min() < 0 or ids.max() >= len(parts)):
        raise ChordError(f"flow part_ids must index the {len(parts)} parts of part_objects")
    if ids.size and not np.array_equal(parts[ids], object_ids):
        raise ChordError("flow part_ids put points into parts of another object (part_objects disagrees)")
    ends = np.concatenate([arrays["joint_parents"], arrays["joint_children"]])
    if ends.size and (ends.min() < 0 or ends.max() >= len(parts)):
        raise ChordError("flow joint_parents / joint_children must index parts")
    if unknown := sorted(set(arrays["joint_kinds"].tolist()) - {"revolute", "prismatic", "free"}):
        raise ChordError(f"flow joint_kinds must be revolute, prismatic or free, got {unknown}")


@dataclass
class Flow:
    """Dense object flow.

    Attributes:
        trajectories: [T, N, 3] float32 positions per frame.
        object_ids: [N] int32 object index of each point.
        fps: frames per second.
        prompt: the text command that produced the flow.
        object_names: names indexed by object id (may be empty).
        rotations: optional [T, N, 4] float32 wxyz local rotations.
        articulation: optional rigid parts and joints (`ARTICULATION_KEYS`; `robot.articulation`
            computes them, `chord animate` writes them).
    """

    trajectories: np.ndarray
    object_ids: np.ndarray
    fps: float
    prompt: str = ""
    object_names: list[str] = field(default_factory=list)
    rotations: np.ndarray | None = None
    articulation: dict[str, np.ndarray] | None = None

    def __post_init__(self) -> None:
        self.trajectories = np.asarray(self.trajectories, dtype=np.float32)
        self.object_ids = np.asarray(self.object_ids, dtype=np.int32)
        self.fps = float(self.fps)
        self.object_names = [str(n) for n in self.object_names]
        if self.rotations is not None:
            self.rotations = np.asarray(self.rotations, dtype=np.float32)
        if self.articulation is not None:
            self.articulation = {key: np.asarray(self.articulation[key], dtype=dtype)
                                 for key, dtype in ARTICULATION_KEYS.items() if key in self.articulation}
        self.validate()

    @property
    def points(self) -> np.ndarray:
        """[N, 3] canonical points (frame 0)."""
        return self.trajectories[0]

    @property
    def num_frames(self) -> int:
        return int(self.trajectories.shape[0])

    @property
    def num_points(self) -> int:
        return int(self.trajectories.shape[1])

    def name_of(self, object_id: int) -> str:
        """The object's name, or ``object_<id>`` when the flow does not name its objects (names are optional)."""
        return self.object_names[object_id] if object_id < len(self.object_names) else f"object_{object_id}"

    def validate(self, min_frames: int = 1) -> None:
        """Raise ChordError naming the first inconsistency.

        The contract allows a single frame; consumers that need motion (the planner) pass
        ``min_frames=2`` so such a flow is refused here with a reason instead of failing deeper down.
        """
        traj = self.trajectories
        if traj.ndim != 3 or traj.shape[2] != 3:
            raise ChordError(f"flow trajectories must have shape (T, N, 3), got {traj.shape}")
        if traj.shape[0] < 1 or traj.shape[1] < 1:
            raise ChordError(f"flow must have at least one frame and one point, got {traj.shape}")
        if traj.shape[0] < min_frames:
            raise ChordError(f"flow has {traj.shape[0]} frame(s) but at least {min_frames} are needed: "
                             "frame 0 is the start, later frames are the motion")
        if not np.all(np.isfinite(traj)):
            raise ChordError("flow trajectories contain NaN or inf values")
        if self.object_ids.shape != (traj.shape[1],):
            raise ChordError(
                f"flow object_ids must have shape ({traj.shape[1]},) to match the points, "
                f"got {self.object_ids.shape}"
            )
        if self.object_ids.size and self.object_ids.min() < 0:
            raise ChordError("flow object_ids must be >= 0")
        if self.object_names and self.object_ids.max() >= len(self.object_names):
            raise ChordError(
                f"flow object_ids go up to {int(self.object_ids.max())} but only "
                f"{len(self.object_names)} object names were given"
            )
        if not np.isfinite(self.fps) or self.fps <= 0:
            raise ChordError(f"flow fps must be a positive number, got {self.fps}")
        if self.rotations is not None and self.rotations.shape != (*traj.shape[:2], 4):
            raise ChordError(
                f"flow rotations must have shape {(*traj.shape[:2], 4)}, got {self.rotations.shape}"
            )
        if self.articulation is not None:
            _validate_articulation(self.articulation, traj.shape[0], traj.shape[1], self.object_ids)

    def save(self, path: str | Path) -> Path:
        """Write `flow.npz` (the contract in docs/formats.md) and return its path."""
        path = Path(path)
        arrays = {
            "points": self.points,
            "object_ids": self.object_ids,
            "trajectories": self.trajectories,
            "fps": np.float64(self.fps),
            "prompt": np.str_(self.prompt),
            "object_names": np.array(self.object_names, dtype=np.str_),
        }
        if self.rotations is not None:
            arrays["rotations"] = self.rotations
        arrays.update(self.articulation or {})
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as handle:
            np.savez_compressed(handle, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> Flow:
        """Read a `flow.npz`; a missing file or key raises ChordError naming it."""
        path = Path(path)
        if not path.is_file():
            raise ChordError(f"flow file not found: {path}")
        try:
            data = np.load(path, allow_pickle=False)
        except Exception as exc:  # numpy raises several types for non-npz files
            raise ChordError(f"{path} is not a readable .npz flow file: {exc}") from exc
        with data:
            missing = [k for k in ("trajectories", "object_ids", "fps") if k not in data.files]
            if missing:
                raise ChordError(f"{path} lacks the flow keys {missing} (see flow.npz in docs/formats.md)")
            flow = cls(
                trajectories=data["trajectories"],
                object_ids=data["object_ids"],
                fps=float(data["fps"]),
                prompt=str(data["prompt"]) if "prompt" in data.files else "",
                object_names=list(data["object_names"]) if "object_names" in data.files else [],
                rotations=data["rotations"] if "rotations" in data.files else None,
                articulation=({key: data[key] for key in ARTICULATION_KEYS if key in data.files}
                              if "part_ids" in data.files else None),
            )
            if "points" in data.files and not np.array_equal(data["points"], flow.points):
                raise ChordError(f"{path}: 'points' differs from trajectories[0]")
        return flow

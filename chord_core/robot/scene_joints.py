"""Joint descriptions that come with a scan: a chest's lid on its hinge, a cabinet's drawer on its slide.

A scan `chest.ply` may have `chest.joint.yaml` beside it; the simulator (`sim_arm`, `chord plan
--simulate`) then builds the points inside ``part_min``..``part_max`` as a part on that joint
instead of one rigid body (without the file, `chord plan --simulate` uses the joint the planner
fitted to the flow). Keys (world frame, metres and radians)::

    kind: revolute             # revolute (hinge) | prismatic (slide)
    axis: [0.0, 1.0, 0.0]      # the joint axis; positive values turn (right-hand rule) or slide along it
    pivot: [0.58, 0.0, 0.08]   # a point on a hinge's axis (for a slide: any point, unused)
    limits: [0.0, 1.9]         # joint range from the scanned pose (rad or m): lower <= 0 <= upper
    part_min: [0.38, -0.11, 0.078]   # the box holding the moving part's scanned points
    part_max: [0.59, 0.11, 0.12]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from chord_core.errors import ChordError
from chord_core.formats.config_files import read_description
from chord_core.robot.sim import SimJoint

JOINT_SUFFIX = ".joint.yaml"


@dataclass(frozen=True)
class JointDescription:
    kind: Literal["revolute", "prismatic"]
    axis: tuple[float, float, float]
    pivot: tuple[float, float, float]
    limits: tuple[float, float]
    part_min: tuple[float, float, float]
    part_max: tuple[float, float, float]


def joint_file(scan_path: str | Path) -> Path:
    """Where a scan's joint description lives: `<stem>.joint.yaml` beside the scan."""
    path = Path(scan_path)
    return path.with_name(path.stem + JOINT_SUFFIX)


def load_scan_joint(scan_path: str | Path, points: np.ndarray) -> SimJoint | None:
    """The scan's joint (None when it has no description), checked against its points: a ChordError
    names the file and what is wrong."""
    path = joint_file(scan_path)
    description = read_description(path, JointDescription, "joint description")
    if description is None:
        return None
    axis = np.asarray(description.axis, float)
    if np.linalg.norm(axis) < 1e-9:
        raise ChordError(f"{path}: axis must not be zero")
    low, high = description.limits
    if not low <= 0.0 <= high or low == high:
        raise ChordError(f"{path}: limits must hold the scanned pose, lower <= 0 <= upper and lower < upper; "
                         f"got {list(description.limits)}")
    pts = np.asarray(points, float)
    mask = np.all((pts >= description.part_min) & (pts <= description.part_max), axis=1)
    if min(mask.sum(), (~mask).sum()) < 4:
        raise ChordError(f"{path}: the part box holds {int(mask.sum())} of the scan's {len(pts)} points; the part "
                         f"and the rest need at least 4 each")
    return SimJoint(mask, description.kind, axis / np.linalg.norm(axis), np.asarray(description.pivot, float),
                    (float(low), float(high)))

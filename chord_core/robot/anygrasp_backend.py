"""Optional AnyGrasp SDK backend (paper §4.2 uses AnyGrasp); never a dependency.

Enable it by installing the SDK's `gsnet` module (from the AnyGrasp SDK release for your Python),
putting its license where the SDK looks for it, and exporting
``CHORD_ANYGRASP_CHECKPOINT=/path/to/checkpoint_detection.tar`` (and optionally
``CHORD_ANYGRASP_LICENSE=/path/to/license_dir``, checked to exist). With those set,
``make_grasp_proposer(..., backend="auto")`` and ``chord plan --grasp-backend auto`` use it.

AnyGrasp expects a camera-frame cloud (z forward); we look at the scene from a virtual camera
above the object, pointing down, and map its grasps (graspnetAPI layout) back to the world frame.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from chord_core.errors import ChordError
from chord_core.robot.config import RobotConfig
from chord_core.robot.grasp import Grasp


def available() -> bool:
    """True when `gsnet` imports and a checkpoint (and license dir, if named) exist."""
    checkpoint = os.environ.get("CHORD_ANYGRASP_CHECKPOINT", "")
    license_dir = os.environ.get("CHORD_ANYGRASP_LICENSE", "")
    if not checkpoint or not Path(checkpoint).is_file():
        return False
    if license_dir and not Path(license_dir).exists():
        return False
    try:
        import gsnet  # noqa: F401
    except Exception:  # the SDK raises ImportError or licence errors at import time
        return False
    return True


def virtual_camera(object_points: np.ndarray, height: float = 0.5) -> np.ndarray:
    """[4, 4] camera-to-world pose `height` above the object centroid looking straight down."""
    pose = np.eye(4)
    pose[:3, :3] = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]])
    pose[:3, 3] = object_points.mean(axis=0) + np.array([0.0, 0.0, height])
    return pose


class AnyGraspProposer:
    """GraspProposer over the AnyGrasp SDK: AnyGrasp(cfgs), load_net(), get_grasp(points, colors, lims)."""

    def __init__(self, config: RobotConfig) -> None:
        if not available():
            raise ChordError("AnyGrasp backend requested but not available: install the SDK's gsnet "
                             "module and set CHORD_ANYGRASP_CHECKPOINT (see anygrasp_backend.py)")
        from gsnet import AnyGrasp

        self.config = config
        cfgs = SimpleNamespace(checkpoint_path=os.environ["CHORD_ANYGRASP_CHECKPOINT"],
                               max_gripper_width=config.gripper_max_width,
                               gripper_height=config.finger_breadth, top_down_grasp=False, debug=False)
        self.net = AnyGrasp(cfgs)
        self.net.load_net()

    def propose(self, object_points: np.ndarray, scene_points: np.ndarray,
                colors: np.ndarray | None = None) -> list[Grasp]:
        obj = np.asarray(object_points, float)
        scene = np.asarray(scene_points, float).reshape(-1, 3)
        cam = virtual_camera(obj)
        world_to_cam = np.linalg.inv(cam)
        points = np.vstack([obj, scene])
        cols = np.full((len(points), 3), 0.5) if colors is None else np.asarray(colors, float)
        cam_pts = points @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]
        lo, hi = (obj @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]).min(0) - 0.05, \
            (obj @ world_to_cam[:3, :3].T + world_to_cam[:3, 3]).max(0) + 0.05
        lims = [lo[0], hi[0], lo[1], hi[1], lo[2], hi[2]]
        result = self.net.get_grasp(cam_pts.astype(np.float32), cols.astype(np.float32), lims)
        group = result[0] if isinstance(result, tuple) else result
        if group is None or len(group) == 0:
            return []
        group = group.nms().sort_by_score()
        grasps = []
        for row in np.asarray(group.grasp_group_array):
            g = Grasp.from_array(np.concatenate([row[:16], [0]]))
            g.rotation = cam[:3, :3] @ g.rotation
            g.translation = cam[:3, :3] @ g.translation + cam[:3, 3]
            if g.width <= self.config.gripper_max_width:
                grasps.append(g)
        return grasps

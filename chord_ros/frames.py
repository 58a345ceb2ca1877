"""Frames at the inputs: every cloud and flow names its frame (`header.frame_id`) and is moved into
the planning frame (the robot base: REP 103, z up, table at z = 0) before anything uses it.

Where a transform comes from, in order: the identity for the planning frame itself; the node's
`static_transforms` table (a camera's calibrated extrinsics, no TF needed); TF through
``tf2_ros`` where it imports (a full ROS 2 install). A frame none of them knows is refused with
its name, so a cloud in a camera frame is never planned as if it were in the base frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from chord_core.errors import ChordError
from chord_core.formats.flow import Flow
from chord_core.formats.scans import Scan
from chord_ros.convert import pose_matrix_xyzw


def declare_frames(node, uses: str, inputs: str) -> FrameTransformer:
    """The node's `frame_id` (planning frame; `uses` says what the node does in it) and
    `static_transforms` parameters (refusing `inputs` in unknown frames), as a FrameTransformer."""
    from chord_ros import names
    from chord_ros.node_params import declare

    frame_id = declare(node, "frame_id", names.BASE_FRAME, f"planning frame (robot base): {uses}")
    static = declare(node, "static_transforms", [],
                     "poses of other frames in the planning frame, 'FRAME x y z qx qy qz qw' each (a camera's "
                     f"extrinsics); {inputs} in frames neither here nor on TF are refused")
    return FrameTransformer(frame_id, static, node=node)


def parse_static_transforms(entries: Sequence[str], planning_frame: str) -> dict[str, np.ndarray]:
    """``"FRAME x y z qx qy qz qw"`` entries (the pose of FRAME in the planning frame, metres and a
    unit quaternion, the order of ``static_transform_publisher``) -> {FRAME: planning_T_FRAME}."""
    table: dict[str, np.ndarray] = {}
    for entry in entries:
        fields = entry.split()
        if len(fields) != 8:
            raise ChordError(f"static_transforms entry '{entry}' must be 'FRAME x y z qx qy qz qw' (8 fields)")
        frame = fields[0]
        try:
            values = np.array([float(v) for v in fields[1:]])
        except ValueError:
            raise ChordError(f"static_transforms entry '{entry}': x y z qx qy qz qw must be numbers") from None
        if not np.all(np.isfinite(values)):
            raise ChordError(f"static_transforms entry '{entry}' has NaN/inf values")
        norm = float(np.linalg.norm(values[3:]))
        if abs(norm - 1.0) > 1e-3:
            raise ChordError(f"static_transforms entry '{entry}': the quaternion has norm {norm:.4f}, not 1")
        if frame == planning_frame:
            raise ChordError(f"static_transforms entry '{entry}' names the planning frame itself")
        if frame in table:
            raise ChordError(f"static_transforms names frame '{frame}' twice")
        table[frame] = pose_matrix_xyzw(values[:3], values[3:] / norm)
    return table


class FrameTransformer:
    """planning_T_frame for the frames a node's inputs arrive in."""

    def __init__(self, planning_frame: str, static_transforms: Sequence[str] = (), node=None,
                 tf_timeout: float = 1.0) -> None:
        if not planning_frame:
            raise ChordError("the planning frame (parameter frame_id) must not be empty")
        self.planning_frame = planning_frame
        self.static = parse_static_transforms(static_transforms, planning_frame)
        self._tf_timeout = tf_timeout
        self._tf_buffer = None
        if node is not None:
            try:
                from tf2_ros import Buffer, TransformListener
            except ImportError:  # pip-only setup: tf2_ros is not on PyPI; the static table serves
                pass
            else:
                self._tf_buffer = Buffer()
                self._tf_listener = TransformListener(self._tf_buffer, node)

    def matrix(self, frame_id: str, what: str) -> np.ndarray:
        """planning_T_frame_id; ChordError naming `what` and the frame when no source knows it."""
        if not frame_id:
            raise ChordError(f"{what} has no header.frame_id; it must name its frame (the planning frame is "
                             f"'{self.planning_frame}')")
        if frame_id == self.planning_frame:
            return np.eye(4)
        if frame_id in self.static:
            return self.static[frame_id]
        if self._tf_buffer is not None:
            return self._lookup(frame_id, what)
        known = [self.planning_frame, *sorted(self.static)]
        raise ChordError(f"{what} is in frame '{frame_id}', which has no transform to the planning frame "
                         f"'{self.planning_frame}': add it to the node's static_transforms parameter "
                         f"('{frame_id} x y z qx qy qz qw') or publish it on TF; known frames: {known}")

    def _lookup(self, frame_id: str, what: str) -> np.ndarray:
        from rclpy.duration import Duration
        from rclpy.time import Time

        try:
            stamped = self._tf_buffer.lookup_transform(self.planning_frame, frame_id, Time(),
                                                       timeout=Duration(seconds=self._tf_timeout))
        except Exception as error:  # tf2 raises LookupException, ExtrapolationException, ...
            raise ChordError(f"{what} is in frame '{frame_id}': no TF transform to '{self.planning_frame}' "
                             f"({type(error).__name__}: {error})") from None
        t, q = stamped.transform.translation, stamped.transform.rotation
        return pose_matrix_xyzw((t.x, t.y, t.z), (q.x, q.y, q.z, q.w))

    def scan(self, scan: Scan, frame_id: str) -> Scan:
        """The scan's points in the planning frame (colours unchanged)."""
        matrix = self.matrix(frame_id, f"the cloud of '{scan.name}'")
        if np.array_equal(matrix, np.eye(4)):
            return scan
        return Scan(scan.name, transform_points(scan.points, matrix), scan.colors)

    def flow(self, flow: Flow, frame_id: str) -> Flow:
        """The flow's trajectories in the planning frame. Rotations are only accepted in the planning
        frame: their frame convention (docs/formats.md: per-point local) needs no change there."""
        matrix = self.matrix(frame_id, "the flow")
        if np.array_equal(matrix, np.eye(4)):
            return flow
        if flow.rotations is not None:
            raise ChordError(f"the flow is in frame '{frame_id}' and carries rotations; send flows with rotations "
                             f"in the planning frame '{self.planning_frame}'")
        return Flow(transform_points(flow.trajectories, matrix), flow.object_ids, flow.fps, flow.prompt,
                    list(flow.object_names))


def transform_points(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """[..., 3] points mapped by a 4x4 transform, computed in float64, returned in the input dtype."""
    out = np.asarray(points, np.float64) @ matrix[:3, :3].T + matrix[:3, 3]
    return out.astype(np.asarray(points).dtype)

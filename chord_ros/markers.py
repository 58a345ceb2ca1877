"""RViz views of chord outputs as `visualization_msgs/MarkerArray`.

Flow: one LINE_LIST marker per object holding the trajectory segments of an evenly
sub-sampled set of its points (RViz draws thousands of segments in one marker cheaply), plus a
POINTS marker of the final positions. Grasp: the gripper as two finger boxes and an approach arrow;
plan: the hand's path through an accepted plan.
"""

from __future__ import annotations

import colorsys

import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import Point, Vector3
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from chord_core.formats.flow import Flow
from chord_ros.convert import make_header, pose_to_msg


def object_colour(index: int, count: int) -> ColorRGBA:
    """Evenly spaced hues, so objects stay distinguishable."""
    r, g, b = colorsys.hsv_to_rgb(index / max(count, 1), 0.8, 0.95)
    return ColorRGBA(r=r, g=g, b=b, a=1.0)


def _points(xyz: np.ndarray) -> list[Point]:
    return [Point(x=float(x), y=float(y), z=float(z)) for x, y, z in xyz]


def flow_markers(flow: Flow, frame_id: str = "world", stamp: Time | None = None,
                 max_tracks_per_object: int = 200, line_width: float = 0.002) -> MarkerArray:
    """Trajectories of at most `max_tracks_per_object` points per object, namespace 'flow'."""
    header = make_header(frame_id, stamp)
    objects = np.unique(flow.object_ids)
    out = MarkerArray()
    out.markers.append(Marker(header=header, ns="flow", id=0, action=Marker.DELETEALL))
    for rank, obj in enumerate(objects):
        idx = np.flatnonzero(flow.object_ids == obj)
        idx = idx[np.linspace(0, len(idx) - 1, min(len(idx), max_tracks_per_object)).astype(int)]
        tracks = flow.trajectories[:, idx]  # [T, M, 3]
        segments = np.stack([tracks[:-1], tracks[1:]], axis=2).transpose(1, 0, 2, 3).reshape(-1, 3)
        colour = object_colour(rank, len(objects))
        name = flow.object_names[obj] if obj < len(flow.object_names) else str(obj)
        lines = Marker(header=header, ns="flow", id=1 + 2 * rank, type=Marker.LINE_LIST,
                       action=Marker.ADD, scale=Vector3(x=line_width), color=colour, text=name)
        lines.pose.orientation.w = 1.0
        lines.points = _points(segments)
        ends = Marker(header=header, ns="flow", id=2 + 2 * rank, type=Marker.POINTS, action=Marker.ADD,
                      scale=Vector3(x=3 * line_width, y=3 * line_width), color=colour, text=name)
        ends.pose.orientation.w = 1.0
        ends.points = _points(tracks[-1])
        out.markers += [lines, ends]
    return out


def grasp_markers(rotation: np.ndarray, translation: np.ndarray, width: float, depth: float,
                  frame_id: str = "world", stamp: Time | None = None) -> MarkerArray:
    """A graspnetAPI grasp (x = approach, y = closing direction) as fingers and an arrow."""
    header = make_header(frame_id, stamp)
    green = ColorRGBA(r=0.1, g=0.9, b=0.2, a=0.9)
    out = MarkerArray()
    for i, side in enumerate((-1.0, 1.0)):
        centre = translation + rotation @ np.array([depth / 2, side * width / 2, 0.0])
        out.markers.append(Marker(header=header, ns="grasp", id=i, type=Marker.CUBE, action=Marker.ADD,
                                  pose=pose_to_msg(rotation, centre), scale=Vector3(x=depth, y=0.005, z=0.02),
                                  color=green))
    arrow = Marker(header=header, ns="grasp", id=2, type=Marker.ARROW, action=Marker.ADD,
                   scale=Vector3(x=0.004, y=0.008, z=0.01), color=green)
    arrow.pose.orientation.w = 1.0
    start = translation - rotation @ np.array([0.08, 0.0, 0.0])
    arrow.points = _points(np.stack([start, translation]))
    out.markers.append(arrow)
    return out


def plan_path_marker(hand_positions: np.ndarray, frame_id: str = "world", stamp: Time | None = None,
                     line_width: float = 0.003) -> Marker:
    """The hand's path through an accepted plan's waypoints [K, 3], namespace 'plan' (orange)."""
    marker = Marker(header=make_header(frame_id, stamp), ns="plan", id=0, type=Marker.LINE_STRIP,
                    action=Marker.ADD, scale=Vector3(x=line_width), color=ColorRGBA(r=1.0, g=0.55, b=0.1, a=0.9))
    marker.pose.orientation.w = 1.0
    marker.points = _points(np.asarray(hand_positions, float))
    return marker

"""RViz markers show exactly the flow's (sub-sampled) trajectories and the grasp geometry."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation
from visualization_msgs.msg import Marker

from chord_core.formats.flow import Flow
from chord_ros.markers import flow_markers, grasp_markers, plan_path_marker


def _xyz(points) -> np.ndarray:
    return np.array([[p.x, p.y, p.z] for p in points])


def test_flow_markers_hold_every_segment_of_each_track():
    rng = np.random.default_rng(0)
    traj = rng.normal(size=(4, 30, 3))
    ids = np.r_[np.zeros(10), np.ones(20)]
    flow = Flow(traj, ids, 10.0, object_names=["lamp", "table"])
    markers = flow_markers(flow, frame_id="panda_link0", max_tracks_per_object=1000).markers
    assert markers[0].action == Marker.DELETEALL
    lines = [m for m in markers if m.type == Marker.LINE_LIST]
    assert [m.text for m in lines] == ["lamp", "table"]
    for marker, obj in zip(lines, (0, 1)):
        segments = _xyz(marker.points).reshape(-1, 2, 3)
        idx = np.flatnonzero(ids == obj)
        expected = [(traj[t, i], traj[t + 1, i]) for i in idx for t in range(3)]
        np.testing.assert_allclose(segments, np.array(expected), atol=1e-12)
        assert marker.header.frame_id == "panda_link0"
    ends = [m for m in markers if m.type == Marker.POINTS]
    np.testing.assert_allclose(_xyz(ends[1].points), traj[-1, ids == 1])


def test_flow_markers_subsample_large_objects():
    flow = Flow(np.zeros((3, 5000, 3)), np.zeros(5000), 10.0)
    lines = [m for m in flow_markers(flow, max_tracks_per_object=50).markers if m.type == Marker.LINE_LIST]
    assert len(lines[0].points) == 50 * 2 * 2  # 50 tracks x 2 segments x 2 endpoints


def test_grasp_markers_place_fingers_across_the_closing_axis():
    rot = Rotation.from_euler("y", 90, degrees=True).as_matrix()  # approach straight down
    t = np.array([0.5, 0.0, 0.1])
    fingers = [m for m in grasp_markers(rot, t, width=0.06, depth=0.02).markers if m.type == Marker.CUBE]
    centres = np.array([[m.pose.position.x, m.pose.position.y, m.pose.position.z] for m in fingers])
    assert np.linalg.norm(centres[0] - centres[1]) == pytest.approx(0.06)
    np.testing.assert_allclose(centres.mean(axis=0), t + rot @ [0.01, 0, 0], atol=1e-12)
    np.testing.assert_allclose(centres[1] - centres[0], rot[:, 1] * 0.06, atol=1e-12)


def test_the_plan_path_passes_through_every_hand_position_in_order():
    path = np.cumsum(np.random.default_rng(2).normal(scale=0.01, size=(30, 3)), axis=0) + [0.5, 0.0, 0.2]
    marker = plan_path_marker(path, "world")
    assert marker.type == Marker.LINE_STRIP and marker.ns == "plan" and marker.header.frame_id == "world"
    np.testing.assert_allclose([[p.x, p.y, p.z] for p in marker.points], path, atol=1e-12)

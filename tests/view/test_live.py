"""The live viewer of a run in progress: updated in place for the same points, replaced for others."""

import socket

import numpy as np

from chord_core.formats.flow import Flow
from chord_core.view.live import LiveView
from tests.view.test_content import slide_flow


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_live_view_updates_in_place_then_replaces_for_new_points_and_frees_its_port():
    port, lines = free_port(), []
    live = LiveView(port, announce=lines.append)
    first = slide_flow()
    live.show(first)
    viewer = live.viewer
    assert viewer.url.endswith(f":{port}") and len(lines) == 1 and str(port) in lines[0]
    viewer.go_to(viewer.content.ticks - 1)
    np.testing.assert_allclose(viewer.points.points, first.trajectories[-1], atol=5e-4)  # viser keeps float16

    later = Flow(first.trajectories + [0.0, 0.0, 0.02], first.object_ids, first.fps, first.prompt,
                 first.object_names)  # the same run, 20 iterations on: everything 2 cm higher
    live.show(later)
    assert live.viewer is viewer and len(lines) == 1  # same page, nothing announced again
    np.testing.assert_allclose(viewer.points.points, later.trajectories[-1], atol=5e-4)

    other = slide_flow(frames=5, points=30)  # the next goal: other points
    live.show(other)
    assert live.viewer is not viewer and len(lines) == 2 and live.viewer.url == viewer.url
    np.testing.assert_array_equal(live.viewer.content.flow.trajectories, other.trajectories)
    live.close()
    assert live.viewer is None
    with socket.socket() as s:  # the port is free again for the next run
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))

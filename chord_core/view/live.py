"""The viewer of a run in progress (`chord animate --view`, the choreographer's `view_port`).

Opened on the first flow a run hands over and updated in place after that; a flow of other points
(the next goal) replaces the viewer on the same port. It stays up after the run so the result can
be looked at, until `close()`.
"""

from __future__ import annotations

from collections.abc import Callable

from chord_core.formats.flow import Flow


class LiveView:
    def __init__(self, port: int, host: str = "127.0.0.1", announce: Callable[[str], None] = print) -> None:
        self.port, self.host, self.announce = port, host, announce
        self.viewer = None

    def show(self, flow: Flow) -> None:
        """Draw ``flow``: a new viewer for new points, else the paths and points of the open one."""
        from chord_core.view.content import build_content
        from chord_core.view.server import FlowViewer

        if self.viewer is not None and self.viewer.content.flow.trajectories.shape == flow.trajectories.shape:
            self.viewer.update_flow(flow)
            return
        self.close()
        self.viewer = FlowViewer(build_content(flow), port=self.port, host=self.host)
        self.announce(f"viewer at {self.viewer.url} (the flow as it forms; updates every few iterations)")

    def close(self) -> None:
        if self.viewer is not None:
            self.viewer.stop()
            self.viewer = None

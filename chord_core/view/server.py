"""The 3D web viewer (viser): a flow's points, their paths, the grasp and the arm, scrubbed in time.

`FlowViewer` draws a `ViewContent` once and then moves it to a tick: the object points, the
playhead on the paths, the arm (the robot's URDF through viser's URDF helper, in the world = the
robot base frame) and the gripper opening. The page has a time slider, play/pause and a frame
rate; `play_forever` advances the slider while "play" is ticked. `update_flow` swaps in a new
flow of the same points, which is how `chord animate --view` shows a run as it forms.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from chord_core.errors import ChordError
from chord_core.formats.flow import Flow
from chord_core.view.content import ViewContent

POINT_SIZE = 0.006  # m
TRACE_COLOUR_FADE = 0.55  # paths drawn lighter than their points


def _mesh_locator(urdf: Path):
    """yourdfpy file handler: ``package://PKG/rest`` next to the URDF, or in PKG's ament share."""

    def locate(fname: str) -> str:
        if not fname.startswith("package://"):
            return str(urdf.parent / fname)
        rest = fname.removeprefix("package://")
        candidates = [urdf.parent / rest, urdf.parent / rest.partition("/")[2]]
        try:
            from ament_index_python.packages import get_package_share_directory

            package, _, inside = rest.partition("/")
            candidates.append(Path(get_package_share_directory(package)) / inside)
        except (ImportError, LookupError, ValueError, OSError):  # no ROS, or no such package
            pass
        return str(next((c for c in candidates if c.is_file()), candidates[0]))

    return locate


def _wxyz(rotation: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    x, y, z, w = Rotation.from_matrix(rotation).as_quat()
    return np.array([w, x, y, z])


class FlowViewer:
    """A viser server showing one `ViewContent`; ``url`` is where to point a browser."""

    def __init__(self, content: ViewContent, port: int = 8080, host: str = "127.0.0.1",
                 urdf_path: str | None = None) -> None:
        import viser

        self.content = content
        try:
            self.server = viser.ViserServer(host=host, port=port, verbose=False)
        except OSError as exc:
            raise ChordError(f"cannot serve the viewer on {host}:{port}: {exc}; choose another --port") from None
        self.server.scene.set_up_direction("+z")
        self.server.gui.configure_theme(show_share_button=False)
        self.server.gui.main_panel.dock_right()  # the controls never cover the scene
        self._place_camera()
        self._lock = threading.Lock()
        self._urdf = None
        self._draw_static(urdf_path)
        self._add_controls()
        self.show(0)

    @property
    def url(self) -> str:
        return f"http://{self.server.get_host()}:{self.server.get_port()}"

    # ------------------------------------------------------------- drawing
    def _place_camera(self) -> None:
        """The operator's side of the scene (REP 103 prompts): behind the robot base, to its right
        and above, so "left" in a prompt is left on the screen; with an arm, far enough back to
        see the arm and the object side by side."""
        traj = self.content.flow.trajectories.reshape(-1, 3)
        centre = 0.5 * (traj.min(0) + traj.max(0))
        reach = max(float(np.linalg.norm(traj.max(0) - traj.min(0))), 0.15)
        azimuth, elevation, distance = np.radians(200.0), np.radians(35.0), 4.0 * reach
        if self.content.plan is not None and self.content.plan.accepted:
            centre = np.array([0.5 * centre[0], 0.5 * centre[1], 0.3])  # between the base and the object
            azimuth, elevation, distance = np.radians(235.0), np.radians(30.0), 1.5
        offset = distance * np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth),
                                      np.sin(elevation)])
        self.server.initial_camera.position = centre + offset
        self.server.initial_camera.look_at = centre
        self.server.initial_camera.fov = np.radians(45.0)

    def _draw_static(self, urdf_path: str | None) -> None:
        c, scene = self.content, self.server.scene
        centre, size = c.table_extent()
        scene.add_box("/table", color=(205, 200, 190), dimensions=(float(size[0]), float(size[1]), 0.004),
                      position=(float(centre[0]), float(centre[1]), c.table_height - 0.002))
        scene.add_frame("/world", axes_length=0.1, axes_radius=0.003)
        self._draw_traces()
        self.points = scene.add_point_cloud("/flow/points", c.positions(0).astype(np.float32), c.colors,
                                            point_size=POINT_SIZE, point_shape="circle", point_shading="flat")
        for index, (name, points, colors) in enumerate(c.scans):
            scene.add_point_cloud(f"/scans/{index}_{name}", np.asarray(points, np.float32),
                                  (np.clip(colors, 0, 1) * 255).astype(np.uint8), point_size=POINT_SIZE * 0.7)
        if c.grasp is not None:
            g = c.grasp
            scene.add_frame("/grasp", axes_length=0.05, axes_radius=0.002, wxyz=_wxyz(g.rotation),
                            position=g.translation)
            half = 0.5 * g.width * g.rotation[:, 1]
            scene.add_line_segments("/grasp_width", np.array([[g.translation - half, g.translation + half]]),
                                    colors=(20, 20, 20), thickness=0.003)
        if c.plan is not None and c.plan.accepted:
            self._load_robot(urdf_path)

    def _draw_traces(self) -> None:
        c = self.content
        if c.traces.shape[1] < 2:
            return
        segments = np.stack([c.traces[:, :-1], c.traces[:, 1:]], axis=2).reshape(-1, 2, 3)
        faded = (255 - TRACE_COLOUR_FADE * (255 - c.trace_colors.astype(float))).astype(np.uint8)
        colours = np.repeat(faded, c.traces.shape[1] - 1, axis=0)
        self.server.scene.add_line_segments("/flow/paths", segments.astype(np.float32),
                                            np.repeat(colours[:, None], 2, axis=1), thickness=0.0015)

    def _load_robot(self, urdf_path: str | None) -> None:
        import yourdfpy
        from viser.extras import ViserUrdf

        from chord_core.robot.config import default_panda_urdf

        path = Path(urdf_path or default_panda_urdf())
        if not path.is_file():
            raise ChordError(f"robot URDF not found: {path}")
        urdf = yourdfpy.URDF.load(path, filename_handler=_mesh_locator(path))
        self._urdf = ViserUrdf(self.server, urdf, root_node_name="/robot")
        names = self._urdf.get_actuated_joint_names()
        missing = [n for n in self.content.plan.joint_names if n not in names]
        if missing:
            raise ChordError(f"the plan's joints {missing} are not in the URDF {path}; give the robot config "
                             "the plan was made with (--robot)")
        self._arm_columns = [names.index(n) for n in self.content.plan.joint_names]
        self._finger_columns = [i for i, n in enumerate(names) if n not in self.content.plan.joint_names]

    def _add_controls(self) -> None:
        c, gui = self.content, self.server.gui
        gui.add_markdown(self._summary_markdown())
        self.slider = gui.add_slider("tick" if c.plan is not None and c.plan.accepted else "frame",
                                     min=0, max=max(c.ticks - 1, 1), step=1, initial_value=0)
        self.play = gui.add_checkbox("play", initial_value=False)
        self.fps = gui.add_number("fps", initial_value=float(min(c.flow.fps, 20.0)), min=0.5, max=60.0, step=0.5)
        self.time_text = gui.add_markdown("")
        self.slider.on_update(lambda _: self.show(int(self.slider.value)))

    def _summary_markdown(self) -> str:
        c, s = self.content, self.content.summary
        lines = [f"**{c.flow.prompt or s.get('prompt', '(no prompt)')}**", "",
                 f"{c.flow.num_frames} frames at {c.flow.fps:g} fps, {len(c.flow.object_ids)} points, objects: "
                 + ", ".join(c.flow.name_of(int(i)) for i in np.unique(c.flow.object_ids))]
        if s:
            losses = s.get("final_losses", {})
            lines.append(f"teacher `{s.get('teacher', '?')}`, {s.get('iterations', '?')} iterations"
                         + (f", final loss {losses['total']:.4g}" if "total" in losses else ""))
        if c.plan is not None:
            lines.append("plan: accepted" if c.plan.accepted else f"plan **refused**: {c.plan.reason}")
        if c.grasp is not None:
            lines.append(f"{c.grasp.mode} on `{c.grasp.object_name}`, opening {c.grasp.width * 100:.1f} cm")
        return "  \n".join(lines)

    # ------------------------------------------------------------- time
    def show(self, tick: int) -> None:
        """Move everything to ``tick``."""
        with self._lock:
            c = self.content
            tick = int(np.clip(tick, 0, c.ticks - 1))
            self.points.points = c.positions(tick).astype(np.float32)
            text = f"t = {c.tick_times[tick]:.2f} s, flow frame {int(c.tick_frames[tick])}/{c.flow.num_frames - 1}"
            if self._urdf is not None:
                cfg = np.zeros(len(self._urdf.get_actuated_joint_names()))
                cfg[self._arm_columns] = c.plan.positions[tick]
                cfg[self._finger_columns] = c.plan.gripper[tick] / 2  # each finger moves half the opening
                self._urdf.update_cfg(cfg)
                text += f", {c.plan.phases[tick]}"
            self.time_text.content = text

    def go_to(self, tick: int) -> None:
        """Move the slider (and so every browser) to ``tick``."""
        self.slider.value = int(np.clip(tick, 0, self.content.ticks - 1))
        self.show(int(self.slider.value))

    def play_forever(self, stop: threading.Event) -> None:
        """Advance the slider at the chosen fps while "play" is ticked, until ``stop`` is set."""
        while not stop.is_set():
            if self.play.value and self.content.ticks > 1:
                self.slider.value = (int(self.slider.value) + 1) % self.content.ticks
            stop.wait(1.0 / max(float(self.fps.value), 0.5))

    def update_flow(self, flow: Flow) -> None:
        """Show a new flow of the same points (a run in progress); keeps the current tick."""
        with self._lock:
            self.content.replace_flow(flow)
            self._draw_traces()
        self.show(int(self.slider.value))

    def stop(self) -> None:
        self.server.stop()


def wait_until_interrupted(viewer: FlowViewer) -> None:
    """Serve until Ctrl-C, playing when asked."""
    stop = threading.Event()
    player = threading.Thread(target=viewer.play_forever, args=(stop,), daemon=True)
    player.start()
    try:
        while player.is_alive():
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        viewer.stop()

"""What the 3D viewer shows, as plain arrays: one timeline over a flow and, optionally, its plan.

Kept apart from the viser server so every number on screen is computed (and tested) without a
browser: the object points of each tick, their colours by object, trajectory traces, the grasp,
the arm's joint positions replayed from the plan in step with the flow, the table and the run's
summary. A tick is one picture: without a plan the flow's frames; with a plan the plan sampled at
``rate`` Hz, each tick showing the flow frame the arm is at (the object waits at frame 0 during
the approach and stays at the last frame during the retreat).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from chord_core.errors import ChordError
from chord_core.formats.flow import Flow

#: Object colours (RGB 0-255), one per object id, repeating: distinct on a white page and in print.
OBJECT_PALETTE = np.array([(228, 87, 46), (41, 128, 185), (39, 174, 96), (142, 68, 173), (243, 156, 18),
                           (22, 160, 133), (192, 57, 43), (44, 62, 80)], dtype=np.uint8)
TRACES_PER_OBJECT = 64


@dataclass
class GraspMarker:
    """The chosen grasp (or push contact): gripper frame in the world and finger opening."""

    rotation: np.ndarray     # [3, 3], columns: approach, closing, third axis
    translation: np.ndarray  # [3] between the finger pads
    width: float             # finger opening, m
    mode: str                # grasp | push
    object_name: str


@dataclass
class PlanTrack:
    """The arm's motion from plan.npz, sampled on the viewer's ticks."""

    joint_names: tuple[str, ...]
    positions: np.ndarray    # [ticks, n] rad
    gripper: np.ndarray      # [ticks] finger opening, m
    phases: list[str]        # [ticks]
    accepted: bool
    reason: str


@dataclass
class ViewContent:
    """Everything the viewer draws; built by `build_content`."""

    flow: Flow
    tick_frames: np.ndarray      # [ticks] flow frame shown at each tick
    tick_times: np.ndarray       # [ticks] seconds
    colors: np.ndarray           # [N, 3] uint8, by object
    traces: np.ndarray           # [S, T, 3] a subset of point trajectories
    trace_colors: np.ndarray     # [S, 3] uint8
    plan: PlanTrack | None = None
    grasp: GraspMarker | None = None
    scans: list[tuple[str, np.ndarray, np.ndarray]] = field(default_factory=list)  # (name, points, colours 0-1)
    summary: dict = field(default_factory=dict)
    table_height: float = 0.0

    @property
    def ticks(self) -> int:
        return len(self.tick_frames)

    def positions(self, tick: int) -> np.ndarray:
        """[N, 3] object points at a tick."""
        return self.flow.trajectories[int(self.tick_frames[tick])]

    def replace_flow(self, flow: Flow) -> None:
        """Swap in a flow of the same points and frames (a run in progress): new paths, same ticks."""
        if flow.trajectories.shape != self.flow.trajectories.shape:
            raise ChordError(f"the new flow has shape {flow.trajectories.shape}, the shown one "
                             f"{self.flow.trajectories.shape}: the viewer can only update the same points")
        self.flow = flow
        self.traces, self.trace_colors = traces_of(flow)

    def table_extent(self) -> tuple[np.ndarray, np.ndarray]:
        """(centre xy, size xy) of a table patch covering the flow with a 10 cm margin."""
        xy = self.flow.trajectories[..., :2].reshape(-1, 2)
        low, high = xy.min(0) - 0.1, xy.max(0) + 0.1
        if self.plan is not None:  # reach back to the robot base
            low, high = np.minimum(low, -0.1), np.maximum(high, 0.1)
        return 0.5 * (low + high), high - low


def object_colors(object_ids: np.ndarray) -> np.ndarray:
    return OBJECT_PALETTE[np.asarray(object_ids) % len(OBJECT_PALETTE)]


def trace_indices(flow: Flow, per_object: int = TRACES_PER_OBJECT) -> np.ndarray:
    """Point indices whose paths are drawn: for each object the ones that move most, then evenly
    spread, so a moving part's path is always among them."""
    chosen = []
    travel = np.linalg.norm(flow.trajectories[-1] - flow.trajectories[0], axis=1)
    for oid in np.unique(flow.object_ids):
        members = np.flatnonzero(flow.object_ids == oid)
        ordered = members[np.argsort(-travel[members], kind="stable")]
        chosen.append(ordered[np.linspace(0, len(ordered) - 1, min(per_object, len(ordered))).round().astype(int)])
    return np.unique(np.concatenate(chosen))


def traces_of(flow: Flow) -> tuple[np.ndarray, np.ndarray]:
    """([S, T, 3] drawn point paths, [S, 3] their colours)."""
    indices = trace_indices(flow)
    return np.transpose(flow.trajectories[:, indices], (1, 0, 2)), object_colors(flow.object_ids[indices])


def load_plan_dir(path: str | Path) -> tuple[dict[str, np.ndarray], dict | None]:
    """plan.npz (a file, or a `chord plan --out` directory holding it) and grasp.json beside it."""
    path = Path(path)
    npz = path / "plan.npz" if path.is_dir() else path
    if not npz.is_file():
        raise ChordError(f"plan file not found: {npz} (give a plan.npz or the directory `chord plan --out` wrote)")
    try:
        with np.load(npz, allow_pickle=False) as data:
            plan = {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise ChordError(f"{npz} is not a readable plan.npz: {exc}") from None
    needed = {"joint_names", "times", "positions", "gripper", "flow_frames", "phases", "accepted"}
    if missing := sorted(needed - set(plan)):
        raise ChordError(f"{npz} lacks the plan keys {missing}; is it a plan.npz from `chord plan`?")
    grasp_file = npz.parent / "grasp.json"
    grasp = json.loads(grasp_file.read_text()) if grasp_file.is_file() else None
    return plan, grasp


def sample_plan(plan: dict[str, np.ndarray], frames: int, rate: float) -> tuple[np.ndarray, np.ndarray, PlanTrack]:
    """(tick times, tick flow frames, arm track) of an accepted plan sampled at ``rate`` Hz.

    Joint positions are interpolated linearly between waypoints; the flow frame and phase of a
    tick are those of the last waypoint reached.
    """
    times = np.asarray(plan["times"], float)
    positions = np.asarray(plan["positions"], float)
    if positions.ndim != 2 or len(positions) != len(times) or len(times) < 2:
        raise ChordError("the plan has no trajectory to replay (a refused plan keeps none); "
                         f"its reason: {str(plan.get('reason', '')) or 'none given'}")
    flow_frames = np.asarray(plan["flow_frames"], int)
    if flow_frames.max() >= frames:
        raise ChordError(f"the plan follows flow frame {flow_frames.max()} but the flow has {frames} frames: "
                         "give the flow this plan was made from")
    ticks = np.arange(0.0, times[-1] + 0.5 / rate, 1.0 / rate)
    ticks[-1] = min(ticks[-1], times[-1])
    reached = np.clip(np.searchsorted(times, ticks, side="right") - 1, 0, len(times) - 1)
    joints = np.stack([np.interp(ticks, times, positions[:, j]) for j in range(positions.shape[1])], axis=1)
    track = PlanTrack(tuple(str(n) for n in plan["joint_names"]), joints, np.interp(ticks, times, plan["gripper"]),
                      [str(plan["phases"][i]) for i in reached], True, "")
    return ticks, flow_frames[reached], track


def grasp_marker(grasp: dict | None) -> GraspMarker | None:
    if not grasp or not grasp.get("grasp"):
        return None
    g = grasp["grasp"]
    return GraspMarker(np.asarray(g["rotation"], float), np.asarray(g["translation"], float), float(g["width"]),
                       str(grasp.get("mode", "grasp")), str(g.get("object_name", grasp.get("object_name", ""))))


def load_summary(run_dir: str | Path) -> dict:
    """summary.json of a run directory (prompt, teacher, losses ...)."""
    path = Path(run_dir) / "summary.json"
    if not path.is_file():
        raise ChordError(f"no summary.json in {run_dir}: give the directory `chord animate --out` wrote")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ChordError(f"{path} is not valid JSON: {exc}") from None


def build_content(flow: Flow, plan: dict[str, np.ndarray] | None = None, grasp: dict | None = None,
                  scans: list[tuple[str, np.ndarray, np.ndarray]] | None = None, summary: dict | None = None,
                  rate: float = 20.0, table_height: float = 0.0) -> ViewContent:
    """The viewer's content; a refused plan is shown as its reason, with the flow alone."""
    traces, trace_colors = traces_of(flow)
    ticks = np.arange(flow.num_frames, dtype=float) / flow.fps
    frames = np.arange(flow.num_frames)
    track = None
    if plan is not None and bool(plan["accepted"]):
        ticks, frames, track = sample_plan(plan, flow.num_frames, rate)
    elif plan is not None:
        track = PlanTrack(tuple(str(n) for n in plan["joint_names"]), np.zeros((0, len(plan["joint_names"]))),
                          np.zeros(0), [], False, str(plan.get("reason", "")))
    return ViewContent(flow, frames, ticks, object_colors(flow.object_ids), traces, trace_colors, track,
                       grasp_marker(grasp),
                       list(scans or []), dict(summary or {}), table_height)

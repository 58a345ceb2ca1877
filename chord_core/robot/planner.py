"""Flow -> grasp (or push pose) -> certified timed joint trajectory (paper §4.2 "Robot Manipulation").

Sequence: approach (joint quintic) -> descend (straight line) -> close -> follow the flow ->
hold -> release and retreat when the object ends on the table (or is held by its joint).
An object the flow does not move as one body (a lid opening on a chest, a drawer pulled out of a
cabinet) is split into rigid parts (`articulation`): the part that moves most is grasped and
followed, the still parts are obstacles. Every accepted `Plan` has passed
`safety.check_trajectory`; anything else is a `PlanRefused` naming a flow frame and a reason. The
flow-following solve comes from the configured trajectory backend (pinocchio by default, PyRoki
on request); whichever it is, its trajectory goes through the same tracking check and `certify`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from chord_core.errors import ChordError
from chord_core.formats.flow import Flow
from chord_core.robot.articulation import Articulation, Joint, analyse_flow
from chord_core.robot.backends import make_grasp_proposer, select_follow
from chord_core.robot.config import RobotConfig
from chord_core.robot.grasp import Grasp, GraspProposer
from chord_core.robot.model import RobotModel, ee_to_grasp_rotation, grasp_to_ee_rotation, pose_matrix
from chord_core.robot.rigid_fit import kabsch, rigid_fit_sequence, tilt_deg
from chord_core.robot.safety import PlanRefused, TrajectoryDraft, check_trajectory
from chord_core.robot.timing import (
    cartesian_line,
    quintic_joint_segment,
    required_time_scale,
    smoothstep,
    waypoint_velocities,
)

MODES = ("grasp", "push")
PART_SHARE, PART_MIN_POINTS = 0.02, 20  # how many points must stray from a rigid fit to look for parts
ROPE_HOLD_RADIUS = 0.02  # m: the stretch of a rope between the fingers (about the pads' breadth)
RELEASE_HEIGHT = 0.01  # m: a held object whose lowest point ends this close to the table is let go
SET_DOWN_MAX_TILT = 5.0  # deg: an object that ends resting tilted this little is let go as the flow leaves it
TIP_OVER_TILT = 45.0  # deg: a flow that ends its object tilted more tips it over: not set down flat


@dataclass
class Plan:
    """A certified plan (or a refusal report with empty arrays); maps onto chord_msgs/PlanReport."""

    joint_names: tuple[str, ...]
    times: np.ndarray  # [K] s
    positions: np.ndarray  # [K, n] rad
    velocities: np.ndarray  # [K, n] rad/s
    gripper: np.ndarray  # [K] commanded opening (m)
    flow_frames: np.ndarray  # [K]
    phases: list[str]
    mode: str
    object_name: str
    grasp: Grasp | None
    tracking_errors: np.ndarray  # [T] RMS distance attached points <-> flow (m)
    planning_time: float
    time_scale: float = 1.0
    accepted: bool = True
    reason: str = ""
    offending_frame: int = -1
    fps: float = 0.0
    object_index: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def max_tracking_error(self) -> float:
        return float(self.tracking_errors.max()) if self.tracking_errors.size else 0.0

    def follow_times(self) -> np.ndarray:
        """[T] time at which each flow frame is reached (first waypoint of the frame)."""
        out = np.zeros(len(self.tracking_errors))
        follow = [i for i, p in enumerate(self.phases) if p in ("close", "follow")]
        for i in follow:
            out[self.flow_frames[i]] = self.times[i]
        return out

    def save(self, path: str | Path) -> Path:
        """Write plan.npz (joint names, times, positions, velocities, gripper, flow frames, errors)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path, joint_names=np.array(self.joint_names, dtype=np.str_), times=self.times,
            positions=self.positions, velocities=self.velocities, gripper=self.gripper,
            flow_frames=self.flow_frames, phases=np.array(self.phases, dtype=np.str_),
            tracking_errors=self.tracking_errors, mode=np.str_(self.mode),
            accepted=np.bool_(self.accepted), reason=np.str_(self.reason),
            offending_frame=np.int64(self.offending_frame), planning_time=np.float64(self.planning_time))
        return path

    def write_dir(self, out: str | Path) -> Path:
        """plan.npz and grasp.json in ``out`` (also for a refusal, so a reader sees why): what
        `chord plan --out` writes and `chord view --plan` reads."""
        out = Path(out)
        self.save(out / "plan.npz")
        report = {"accepted": self.accepted, "reason": self.reason, "offending_frame": self.offending_frame,
                  "mode": self.mode, "object_name": self.object_name,
                  "max_tracking_error_m": self.max_tracking_error, "planning_time_s": self.planning_time,
                  "trajectory_backend": self.extra.get("trajectory_backend"),
                  "support_lift_m": self.extra.get("support_lift_m", 0.0),
                  "set_down_m": self.extra.get("set_down_m", 0.0),
                  "set_down_tilt_deg": self.extra.get("set_down_tilt_deg", 0.0),
                  "object_motion": np.asarray(self.extra["object_motion"]).tolist()
                  if "object_motion" in self.extra else None,
                  "manipulated_part": self.extra["part"].to_json() if self.extra.get("part") else None,
                  "grasp": self.grasp.to_json(self.object_name) if self.grasp is not None else None}
        (out / "grasp.json").write_text(json.dumps(report, indent=2))
        return out

    @classmethod
    def refused(cls, error: PlanRefused, joint_names: tuple[str, ...], mode: str, object_name: str,
                planning_time: float) -> Plan:
        """A report of a refusal: no trajectory at all, so nothing unchecked can be executed."""
        n = len(joint_names)
        return cls(joint_names=tuple(joint_names), times=np.zeros(0), positions=np.zeros((0, n)),
                   velocities=np.zeros((0, n)), gripper=np.zeros(0), flow_frames=np.zeros(0, int), phases=[],
                   mode=mode, object_name=object_name, grasp=None, tracking_errors=np.zeros(0),
                   planning_time=planning_time, accepted=False, reason=error.reason,
                   offending_frame=error.frame)


def certify(model: RobotModel, draft: TrajectoryDraft, **fields) -> Plan:
    """The only way to an accepted Plan: check every limit, then attach velocities."""
    check_trajectory(model, draft)
    return Plan(joint_names=model.joint_names, times=draft.times, positions=draft.positions,
                velocities=waypoint_velocities(draft.times, draft.positions), gripper=draft.gripper,
                flow_frames=draft.flow_frames, phases=list(draft.phases), **fields)


@dataclass(frozen=True)
class ManipulatedPart:
    """The part of an articulated object a plan moves; the rest of the object stays put."""

    mask: np.ndarray  # [M] over the object's flow points
    part_id: int
    joint: Joint

    def describe(self, object_name: str) -> str:
        return f"part {self.part_id} of '{object_name}' ({self.joint.kind} joint, {int(self.mask.sum())} points)"

    def to_json(self) -> dict:
        return {"part_id": self.part_id, "joint": self.joint.kind, "points": int(self.mask.sum()),
                "axis": self.joint.axis.tolist(), "pivot": self.joint.pivot.tolist(),
                "final_value": float(self.joint.values[-1])}


def moving_part(flow: Flow, oid: int, traj: np.ndarray, limit: float) -> ManipulatedPart | None:
    """None when the object moves as one body (fewer than `PART_SHARE` of its points stray more
    than ``limit`` RMS over the frames from its per-frame rigid fit: a small part, a lamp's head,
    barely moves the fit of the whole); else the part that moves most relative to the object's
    base, from the flow's own articulation arrays or, without them, `articulation.analyse_flow`.
    A body that bends without parts is None too (the tracking check then refuses it)."""
    fits = rigid_fit_sequence(traj)
    fitted = np.einsum("tij,mj->tmi", fits[:, :3, :3], traj[0]) + fits[:, None, :3, 3]
    strays = np.sqrt(np.mean(np.sum((fitted - traj) ** 2, axis=-1), axis=0)) > limit
    if strays.sum() < max(PART_MIN_POINTS, PART_SHARE * len(strays)):
        return None
    if flow.articulation is not None:
        articulation = Articulation.from_arrays(flow.articulation)
        part_ids = articulation.part_ids[flow.object_ids == oid]
        joints = [j for j in articulation.joints if articulation.part_objects[j.child] == oid]
    else:
        articulation = analyse_flow(traj, np.zeros(traj.shape[1], np.int32), tolerance=limit)
        part_ids, joints = articulation.part_ids, list(articulation.joints)
    if not joints:
        return None
    travel = [np.linalg.norm(traj[:, part_ids == j.child] - traj[0, part_ids == j.child], axis=-1).mean()
              for j in joints]
    joint = joints[int(np.argmax(travel))]
    return ManipulatedPart(part_ids == joint.child, joint.child, joint)


def part_of_scan(scan: np.ndarray, first_frame: np.ndarray, part: ManipulatedPart) -> np.ndarray:
    """[S] which points of an object's scan are on the part: each goes with its nearest flow point."""
    from scipy.spatial import cKDTree

    return part.mask[cKDTree(first_frame).query(scan)[1]]


def rope_hold(traj: np.ndarray, radius: float) -> np.ndarray:
    """[M] the flow points of a rope the hand holds: those within `radius` (at frame 0) of the
    point the flow carries farthest, the end it leads with; the rest of the rope is dragged."""
    lead = int(np.argmax(np.linalg.norm(traj[-1] - traj[0], axis=1)))
    return np.linalg.norm(traj[0] - traj[0, lead], axis=1) <= radius


def select_object(flow: Flow, object_name: str | None) -> int:
    """The named object's id, else the one whose points the flow moves most (mean peak distance)."""
    ids = np.unique(flow.object_ids)
    if object_name:
        if object_name not in flow.object_names:
            raise ChordError(f"object '{object_name}' is not in the flow; it has {flow.object_names}")
        oid = flow.object_names.index(object_name)
        if oid not in ids:
            raise ChordError(f"object '{object_name}' has no points in the flow; pick one of "
                             f"{[flow.name_of(int(i)) for i in ids]}")
        return oid
    motion = [np.linalg.norm(flow.trajectories[:, flow.object_ids == i] - flow.points[flow.object_ids == i],
                             axis=2).max(axis=0).mean() for i in ids]
    return int(ids[int(np.argmax(motion))])


def attached_points(model: RobotModel, q: np.ndarray, q0: np.ndarray, points: np.ndarray,
                    push: bool) -> np.ndarray:
    """[K, M, 3] object points moved by the ee motion since q0 (rigidly, or translation only for push)."""
    pose0 = model.fk(q0)
    out = []
    for qk in q:
        pose = model.fk(qk)
        if push:
            out.append(points + (pose[:3, 3] - pose0[:3, 3]))
        else:
            rel = pose @ np.linalg.inv(pose0)
            out.append(points @ rel[:3, :3].T + rel[:3, 3])
    return np.array(out)


def push_pose(config: RobotConfig, traj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Contact ee pose behind the object, opposite the flow's horizontal motion, fingers down with
    the closing axis across the push (a broad pusher), and the push direction d."""
    disp = traj.mean(axis=1) - traj[0].mean(axis=0)
    peak = disp[int(np.argmax(np.linalg.norm(disp[:, :2], axis=1)))]
    d = np.array([peak[0], peak[1], 0.0])
    if np.linalg.norm(d) < 1e-3:
        raise PlanRefused(0, "push mode needs a flow that moves the object across the table; "
                             "it barely moves horizontally (use --mode grasp)")
    d /= np.linalg.norm(d)
    pts = traj[0]
    c = pts.mean(axis=0)
    extent = float(((pts - c) @ d).max())
    z = max(config.table_height + 0.02, min(c[2], pts[:, 2].min() + 0.02))  # push low: no tipping
    center = c - (extent + config.pusher_radius) * d
    center[2] = z
    z_ee = np.array([0.0, 0.0, -1.0])
    y_ee = np.cross(z_ee, d)
    rot = np.stack([np.cross(y_ee, z_ee), y_ee, z_ee], axis=1)
    return pose_matrix(rot, center), d


def _segment_times(start: float, count: int, dt: float) -> np.ndarray:
    return start + dt * np.arange(1, count + 1)


def _draft(model: RobotModel, q_start: np.ndarray, descend: np.ndarray, follow_q: np.ndarray,
           fps: float, open_width: float, release: np.ndarray | None, object_hull: np.ndarray,
           push: bool) -> tuple[TrajectoryDraft, float]:
    """Assemble the timed waypoint sequence; returns the draft and the follow time scale."""
    cfg = model.config
    vlim = model.velocity_limits * cfg.velocity_scale
    alim = model.acceleration_limits * cfg.acceleration_scale
    t_count = len(follow_q)
    scale = required_time_scale(follow_q, 1.0 / fps, vlim, alim)
    if scale > cfg.max_time_scale:
        vel = np.abs(np.diff(follow_q, axis=0)) * fps / vlim
        frame = int(np.argmax(vel.max(axis=1))) + 1
        raise PlanRefused(frame, f"the flow is too fast for the arm: meeting the velocity/acceleration "
                                 f"limits needs slowing it {scale:.1f}x (max_time_scale {cfg.max_time_scale})")
    segs: list[tuple[str, np.ndarray, float, float, int]] = []  # phase, q, dt, gripper, flow frame
    approach = quintic_joint_segment(q_start, descend[0], vlim, alim)
    segs.append(("approach", approach, 0.05, open_width, 0))
    s = required_time_scale(descend, 0.05, vlim, alim)
    segs.append(("descend", descend[1:], 0.05 * max(s, 1.0) * 1.2, open_width, 0))
    grip_closed = 0.0
    segs.append(("close", np.repeat(descend[-1:], 8, axis=0), 0.1, open_width if push else grip_closed, 0))
    segs.append(("follow", follow_q[1:], scale / fps, grip_closed, -1))
    segs.append(("hold", np.repeat(follow_q[-1:], 5, axis=0), 0.1, grip_closed, t_count - 1))
    if release is not None:
        if not push:
            segs.append(("release", np.repeat(follow_q[-1:], 6, axis=0), 0.1, open_width, t_count - 1))
        s = required_time_scale(release, 0.05, vlim, alim)
        segs.append(("retreat", release[1:], 0.05 * max(s, 1.0) * 1.2, open_width, t_count - 1))

    times, qs, grip, frames, phases = [np.zeros(1)], [q_start[None]], [open_width], [0], ["approach"]
    for phase, q, dt, width, frame in segs:
        if phase == "approach":
            q = q[1:]
        times.append(_segment_times(times[-1][-1], len(q), dt))
        qs.append(q)
        grip += [width] * len(q)
        frames += list(range(1, t_count)) if frame < 0 else [frame] * len(q)
        phases += [phase] * len(q)
    positions = np.vstack(qs)
    phases_arr = np.array(phases)
    q0 = follow_q[0]
    moving = np.isin(phases_arr, ["close", "follow", "hold"])
    obj = np.repeat(object_hull[None], len(positions), axis=0)
    obj[moving] = attached_points(model, positions[moving], q0, object_hull, push)
    after = np.isin(phases_arr, ["release", "retreat"])
    if after.any():
        obj[after] = attached_points(model, follow_q[-1:], q0, object_hull, push)[0]
    draft = TrajectoryDraft(np.concatenate(times), positions, np.array(grip, float),
                            np.array(frames, int), phases, obj)
    return draft, scale


def _hull(points: np.ndarray) -> np.ndarray:
    """Convex hull vertices: the lowest point of any rigid motion of the set is among them."""
    from scipy.spatial import ConvexHull

    try:
        return points[ConvexHull(points).vertices]
    except Exception:  # degenerate (flat or tiny) clouds: keep them all
        return points


def fitted_lowest(traj: np.ndarray) -> np.ndarray:
    """[T] lowest z of the first frame's hull moved by each frame's rigid fit: where the arm, which
    carries the object rigidly, takes its lowest point."""
    hull = _hull(traj[0])
    return np.array([(hull @ fit[:3, :3].T + fit[:3, 3])[:, 2].min() for fit in rigid_fit_sequence(traj)])


def onto_support(traj: np.ndarray, table_height: float, limit: float) -> tuple[np.ndarray, float]:
    """The object's frames raised where the flow sinks it below where it rested: an object on the
    table cannot go into it, and a flow distilled from a low-resolution teacher (the mini prior
    sees 32 px) dips it by millimetres. Depth is measured on each frame's rigid fit (what the arm
    can realise; single points of a non-rigid flow stray further). Returns the trajectory
    [T, N, 3] and the largest lift (m); a flow that sinks the object deeper than ``limit`` is
    refused instead."""
    floor = min(table_height, float(traj[0, :, 2].min()))
    if traj[0, :, 2].min() > table_height + RELEASE_HEIGHT:  # starts in the air (held, on a shelf): unchanged
        return traj, 0.0
    depth = np.maximum(floor - fitted_lowest(traj), 0.0)
    if depth.max() > limit:
        frame = int(np.argmax(depth))
        raise PlanRefused(frame, f"the flow pushes the object {depth[frame] * 100:.1f} cm into the table "
                                 f"(at most {limit * 100:.1f} cm is corrected)")
    lifted = traj.copy()
    lifted[:, :, 2] += depth[:, None]
    return lifted, float(depth.max())


def set_down(traj: np.ndarray, table_height: float, limit: float) -> tuple[np.ndarray, float, float]:
    """The flow's second half set down flat on the table: an object that rested on the table at
    frame 0 and ends at most ``limit`` above it, tilted at most TIP_OVER_TILT, ends resting flat
    where the flow puts it, to be let go there. The mini prior lifts a block it slides by 1-2 cm (a
    push away from the operator also climbs in the image) and tips it by up to 30 deg (the soak's
    slides); a hand that kept holding it would start the next command with the block in the air,
    a scene the prior never saw. Over the second half (smoothstep ramp) each frame is turned about
    its centroid toward the end's heading without its tilt (`closest_yaw`) and lowered until, at
    the end, its points or its rigid fit (what the arm carries) touch the table, never below it.
    Left alone: a flow that ends higher (a lift), one that tips the object over (more than
    TIP_OVER_TILT), and one that already ends resting (within RELEASE_HEIGHT, tilted at most
    SET_DOWN_MAX_TILT). Returns the trajectory, the drop (m) and the tilt removed (deg)."""
    if traj[0, :, 2].min() > table_height + RELEASE_HEIGHT:  # starts in the air: unchanged
        return traj, 0.0, 0.0
    end = kabsch(traj[0], traj[-1])
    tilt, hover = tilt_deg(end), float(traj[-1, :, 2].min() - table_height)
    if hover > limit or tilt > TIP_OVER_TILT or (hover <= RELEASE_HEIGHT and tilt <= SET_DOWN_MAX_TILT):
        return traj, 0.0, 0.0
    level = Rotation.from_matrix(closest_yaw(end[:3, :3]) @ end[:3, :3].T).as_rotvec()
    ramp = smoothstep(np.clip(np.linspace(-1.0, 1.0, len(traj)), 0.0, 1.0))
    centres = traj.mean(axis=1, keepdims=True)
    turns = Rotation.from_rotvec(ramp[:, None] * level).as_matrix()
    settled = np.einsum("tij,tnj->tni", turns, traj - centres) + centres
    lowest = np.minimum(settled[:, :, 2].min(axis=1), fitted_lowest(settled)) - table_height
    drop = float(lowest[-1])
    settled[:, :, 2] -= np.minimum(ramp * drop, np.maximum(lowest, 0.0))[:, None]
    return settled, drop, tilt


def closest_yaw(rotation: np.ndarray) -> np.ndarray:
    """The rotation about z nearest ``rotation`` (Frobenius norm; it maximises trace(Rz^T R)): the
    heading an object keeps when it is set down flat."""
    yaw = np.arctan2(rotation[1, 0] - rotation[0, 1], rotation[0, 0] + rotation[1, 1])
    return Rotation.from_rotvec([0.0, 0.0, yaw]).as_matrix()


def obstacle_clouds(flow: Flow, scene: dict[str, np.ndarray], oid: int) -> dict[str, np.ndarray]:
    """Everything but object ``oid``: each other flow object (its scan if the scene has one, else
    its first-frame flow points) and every scan that is on no flow object, keyed by name."""
    name = flow.name_of(oid)
    out = {}
    for other in np.unique(flow.object_ids):
        key = flow.name_of(int(other))
        if key != name:
            out[key] = np.asarray(scene.get(key, flow.trajectories[0, flow.object_ids == other]), float).reshape(-1, 3)
    for key, cloud in scene.items():
        if key != name and key not in out:
            out[key] = np.asarray(cloud, float).reshape(-1, 3)
    return out


def _retreat_directions(end: np.ndarray, back: np.ndarray, push: bool, on_part: bool,
                        releases: bool) -> list[np.ndarray | None]:
    """Ways out after the follow, in order of preference: a pusher lifts; a hand backs out along
    its approach (as it ends: a part may have turned it), else lifts; None keeps holding (an
    object in the air is not let go)."""
    up = np.array([0.0, 0.0, 1.0])
    if push:
        return [up]
    if not releases:
        return [None]
    first = -end[:3, 2] if on_part else back
    return [first] if first @ up > 0.99 else [first, up]


def plan_flow(flow: Flow, scene: dict[str, np.ndarray] | None = None, model: RobotModel | None = None,
              mode: str = "grasp", object_name: str | None = None,
              proposer: GraspProposer | None = None, q_start: np.ndarray | None = None,
              max_grasp_tries: int = 3, trajectory_backend: str | None = None,
              soft_objects: Collection[str] = ()) -> Plan:
    """Plan a certified trajectory that makes the relevant object follow `flow`; PlanRefused if none.

    scene: clouds keyed by flow object name (`Flow.name_of`): the relevant object's entry is the
    cloud it is grasped on, every other entry is an obstacle (`scene_match.match_scans` builds it
    from scan files). A flow with fewer than 2 frames, or other contract breaches, is a ChordError.
    trajectory_backend: 'auto' | 'pinocchio' | 'pyroki' (None: the robot config's
    `trajectory_backend`); 'pyroki' when PyRoki is not importable is a ChordError.
    soft_objects: names of ropes (`soft_objects.SoftRope`): one is grasped at the end its flow
    leads with (`rope_hold`), and the hand carries that stretch along its flow (the pads pinch it,
    so it turns with the hand); the rest of the rope is neither held nor an obstacle: it is dragged.
    """
    started = time.perf_counter()
    flow.validate(min_frames=2)  # up front: a bad flow gets its reason, not an error deep in the solver
    if mode not in MODES:
        raise ChordError(f"unknown plan mode '{mode}'; use one of {MODES}")
    model = model or RobotModel()
    cfg = model.config
    backend, follow = select_follow(trajectory_backend or cfg.trajectory_backend)
    scene = scene or {}
    oid = select_object(flow, object_name)
    name = flow.name_of(oid)
    whole = flow.trajectories[:, flow.object_ids == oid].astype(float)
    obj_cloud = np.asarray(scene.get(name, whole[0]), float).reshape(-1, 3)
    obstacles = obstacle_clouds(flow, scene, oid)
    soft = name in soft_objects
    if soft and mode == "push":
        raise ChordError(f"'{name}' is soft: it can be grasped, not pushed")
    part = None if soft else moving_part(flow, oid, whole, cfg.max_tracking_error)
    grasp_near = None  # a rope: grasps must take it this close to the held point
    if soft:
        held = rope_hold(whole, ROPE_HOLD_RADIUS)
        grasp_near = whole[0, held].mean(axis=0)
        # the proposer sees a longer stretch (its normals need the rope's round); grasps are kept near the hold
        obj_cloud = obj_cloud[np.linalg.norm(obj_cloud - grasp_near, axis=1) <= 2.0 * ROPE_HOLD_RADIUS]
        whole = whole[:, held]
        hull = _hull(whole[0])
        releases = whole[-1, :, 2].min() <= cfg.table_height + RELEASE_HEIGHT
    if part is not None:
        on_part = part_of_scan(obj_cloud, whole[0], part)
        obstacles[f"{name} (still part)"] = obj_cloud[~on_part]
        obj_cloud = obj_cloud[on_part]
        whole = whole[:, part.mask]
    traj, lift = (whole, 0.0) if soft else onto_support(whole, cfg.table_height, cfg.max_tracking_error)
    traj, drop, levelled = ((traj, 0.0, 0.0) if soft or part is not None or mode == "push"
                            else set_down(traj, cfg.table_height, cfg.max_tracking_error))
    others = np.vstack([np.zeros((0, 3))] + list(obstacles.values()))
    q_start = model.home if q_start is None else np.asarray(q_start, float)
    if not soft:
        hull = _hull(traj[0])
        # a part's joint holds it where the arm leaves it; a free object must rest on the table first
        releases = traj[-1][:, 2].min() <= cfg.table_height + RELEASE_HEIGHT or part is not None
    push = mode == "push"
    fields = dict(mode=mode, object_name=name, fps=flow.fps, object_index=oid,
                  extra={"trajectory_backend": backend, "support_lift_m": lift, "set_down_m": drop,
                         "set_down_tilt_deg": levelled,
                         "object_motion": kabsch(traj[0], traj[-1]), "part": part})

    if push:
        contact, d = push_pose(cfg, traj)
        candidates = [(Grasp(0.0, 0.0, cfg.finger_breadth, 0.008, ee_to_grasp_rotation(contact[:3, :3]),
                             contact[:3, 3].copy()), contact, -d)]
    else:
        proposer = proposer or make_grasp_proposer(cfg)
        grasps = proposer.propose(obj_cloud, others)
        if grasp_near is not None:
            grasps = [g for g in grasps if np.linalg.norm(g.translation - grasp_near) <= ROPE_HOLD_RADIUS]
        if not grasps:
            raise PlanRefused(0, f"no collision-free grasp on '{name}' within the gripper's "
                                 f"{cfg.gripper_max_width} m opening")
        candidates = []
        flip = np.diag([1.0, -1.0, -1.0])
        for g in grasps[:max_grasp_tries]:
            for rot in (g.rotation, g.rotation @ flip):  # the same grasp with the fingers swapped
                pose = pose_matrix(grasp_to_ee_rotation(rot), g.translation)
                candidates.append((Grasp(g.score, g.width, g.height, g.depth, rot, g.translation,
                                         oid), pose, -rot[:, 0]))

    ik_refusal: PlanRefused | None = None  # reported only when no candidate got further
    plan_refusal: PlanRefused | None = None
    solved: list = []
    for grasp, pose, back in candidates:
        q0 = model.ik(pose, seeds=[q_start])
        if q0 is None:
            ik_refusal = ik_refusal or PlanRefused(0, f"the {'push' if push else 'grasp'} pose at "
                                                            f"{np.round(pose[:3, 3], 3).tolist()} is unreachable")
            continue
        solved.append((float(np.linalg.norm(q0 - q_start)), grasp, pose, back, q0))
    # fingers-swapped twins: try the one that needs less joint motion first
    solved.sort(key=lambda s: (-round(s[1].score, 9), s[0]))
    for _, grasp, pose, back, q0 in solved[:2 * max_grasp_tries]:
        try:
            pre = pose.copy()
            pre[:3, 3] += (cfg.push_gap if push else cfg.pregrasp_distance) * back
            line, ok = cartesian_line(model, q0, pre)
            if not ok:
                raise PlanRefused(0, "the straight approach to the grasp leaves the reachable set")
            descend = line[::-1]
            sol = follow(model, q0, traj, flow.fps, push=push)
            errors = np.sqrt(np.mean(np.sum((attached_points(model, sol.q, q0, traj[0], push) - traj) ** 2,
                                            axis=2), axis=1))
            bad = np.flatnonzero(errors > cfg.max_tracking_error)
            if bad.size:
                raise PlanRefused(int(bad[0]), f"unreachable: the {'pushed' if push else 'held'} object "
                                               f"would be {errors[bad[0]] * 100:.1f} cm (RMS) from the flow "
                                               f"(limit {cfg.max_tracking_error * 100:.1f} cm)")
            for away in _retreat_directions(model.fk(sol.q[-1]), back, push, part is not None, releases):
                try:
                    release = None
                    if away is not None:
                        end = model.fk(sol.q[-1])
                        end[:3, 3] += cfg.retreat_distance * away
                        release, ok = cartesian_line(model, sol.q[-1], end)
                        if not ok:
                            raise PlanRefused(flow.num_frames - 1, "the retreat after release is unreachable")
                    draft, scale = _draft(model, q_start, descend, sol.q, flow.fps,
                                          0.0 if push else grasp.width, release, hull, push)
                    draft.obstacles = obstacles
                    return certify(model, draft, grasp=grasp, tracking_errors=errors,
                                   planning_time=time.perf_counter() - started, time_scale=scale, **fields)
                except PlanRefused as refusal:
                    plan_refusal = plan_refusal or refusal
        except PlanRefused as refusal:
            plan_refusal = plan_refusal or refusal
    raise plan_refusal or ik_refusal or PlanRefused(0, "no grasp candidate could be planned")


def plan_report(flow: Flow, scene: dict[str, np.ndarray] | None = None, model: RobotModel | None = None,
                mode: str = "grasp", object_name: str | None = None, **kwargs) -> Plan:
    """plan_flow, but a refusal comes back as a Plan with accepted=False and no trajectory."""
    model = model or RobotModel()
    started = time.perf_counter()
    try:
        return plan_flow(flow, scene, model, mode, object_name, **kwargs)
    except PlanRefused as refusal:
        name = flow.name_of(select_object(flow, object_name))
        return Plan.refused(refusal, model.joint_names, mode, name, time.perf_counter() - started)

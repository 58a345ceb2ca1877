"""Synthetic objects and analytic flows shared by the tests and `chord bench planner`.

Objects are clouds sampled on the outer surface of a box or a mug-like cylinder resting on the
table (z = 0; `scene.procedural`); flows are rigid transforms about the object's centroid over time (optionally with
a non-rigid wobble), so the ground truth of every point at every frame is known exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.transform import Rotation

from chord_core.formats.flow import Flow
from chord_core.robot.soft_objects import SoftRope, drag_rope
from chord_core.robot.timing import smoothstep
from chord_core.scene.procedural import box_cloud, cylinder_cloud


def rigid_flow(points: np.ndarray, translations: np.ndarray, rotvecs: np.ndarray,
               pivot: np.ndarray | None = None) -> np.ndarray:
    """[T, N, 3]: points rotated by rotvecs[t] about pivot (default centroid) then translated."""
    pivot = points.mean(axis=0) if pivot is None else pivot
    out = []
    for tr, rv in zip(translations, rotvecs):
        rot = Rotation.from_rotvec(rv).as_matrix()
        out.append((points - pivot) @ rot.T + pivot + tr)
    return np.array(out, dtype=np.float32)


@dataclass
class PlanningCase:
    """A named planning case: the flow, the scene clouds (relevant object first) and the mode."""

    name: str
    flow: Flow
    scene: dict[str, np.ndarray]
    mode: str
    object_name: str
    soft: dict[str, SoftRope] = field(default_factory=dict)  # the scene's ropes, by name


def _profile(t_count: int) -> np.ndarray:
    return smoothstep(np.linspace(0.0, 1.0, t_count))


def lift_and_move(t_count: int = 41, n: int = 2000, fps: float = 10.0) -> PlanningCase:
    """A 5x5x7 cm box lifted 10 cm, carried 15 cm sideways and set down (arc in the y-z plane)."""
    pts = box_cloud((0.05, 0.05, 0.07), (0.5, -0.05), n, seed=1)
    s = _profile(t_count)
    trans = np.stack([np.zeros_like(s), 0.15 * s, 0.10 * np.sin(np.pi * s)], axis=1)
    flow = Flow(rigid_flow(pts, trans, np.zeros((t_count, 3))), np.zeros(n, np.int32), fps,
                "lift the box and move it to the left", ["box"])
    return PlanningCase("lift_and_move", flow, {"box": pts}, "grasp", "box")


def pour(t_count: int = 41, n: int = 2000, fps: float = 10.0) -> PlanningCase:
    """A mug-like cylinder lifted 8 cm and tilted 60 degrees about the x axis (pour-like)."""
    pts = cylinder_cloud(0.03, 0.09, (0.5, 0.05), n, seed=2)
    u = np.linspace(0.0, 1.0, t_count)
    s = _profile(t_count)
    lift = smoothstep(np.clip(2.0 * u, 0, 1))
    tilt = smoothstep(np.clip(2.0 * u - 1.0, 0, 1))
    trans = np.stack([np.zeros_like(s), np.zeros_like(s), 0.08 * lift], axis=1)
    rotvecs = np.stack([np.radians(60.0) * tilt, np.zeros_like(s), np.zeros_like(s)], axis=1)
    flow = Flow(rigid_flow(pts, trans, rotvecs), np.zeros(n, np.int32), fps,
                "pour from the mug", ["mug"])
    return PlanningCase("pour", flow, {"mug": pts}, "grasp", "mug")


def push_across(t_count: int = 41, n: int = 2000, fps: float = 10.0) -> PlanningCase:
    """A 6 cm cube pushed 15 cm away from the robot across the table."""
    pts = box_cloud((0.06, 0.06, 0.06), (0.42, 0.0), n, seed=3)
    s = _profile(t_count)
    trans = np.stack([0.15 * s, np.zeros_like(s), np.zeros_like(s)], axis=1)
    flow = Flow(rigid_flow(pts, trans, np.zeros((t_count, 3))), np.zeros(n, np.int32), fps,
                "push the block away", ["block"])
    return PlanningCase("push_across", flow, {"block": pts}, "push", "block")


SCAN_POINTS = 8000  # an articulated object's scan: dense enough that its knob holds antipodal pairs


def _sample_parts(parts: list[list], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """[n, 3] points over several parts' faces (area-weighted across all of them) and each point's part."""
    from chord_core.scene.procedural import sample_faces

    rng = np.random.default_rng(seed)
    areas = np.array([sum(4 * np.linalg.norm(np.cross(u, v)) for _, u, v in faces) for faces in parts])
    counts = np.floor(n * areas / areas.sum()).astype(int)
    counts[0] += n - counts.sum()
    points = [sample_faces(faces, count, rng) for faces, count in zip(parts, counts)]
    return np.concatenate(points).astype(np.float32), np.repeat(np.arange(len(parts)), counts)


def chest_lid(t_count: int = 41, n: int = 2000, fps: float = 10.0, angle_deg: float = 60.0) -> PlanningCase:
    """A 16x20x8 cm chest whose 3 cm lid, overhanging the front by 3 cm (where a hand takes it),
    opens ``angle_deg`` about its back top edge (a revolute joint along y) while the body stays."""
    from chord_core.scene.scenarios import chest_parts

    body, lid, hinge = chest_parts()
    pts, part = _sample_parts([body, lid], n, seed=4)
    scan = _sample_parts([body, lid], SCAN_POINTS, seed=40)[0]
    s = _profile(t_count)
    rotvecs = np.stack([np.zeros_like(s), np.radians(angle_deg) * s, np.zeros_like(s)], axis=1)
    traj = np.repeat(pts[None], t_count, axis=0)
    traj[:, part == 1] = rigid_flow(pts[part == 1], np.zeros((t_count, 3)), rotvecs, pivot=hinge)
    flow = Flow(traj, np.zeros(n, np.int32), fps, "open the lid of the chest", ["chest"])
    return PlanningCase("chest_lid", flow, {"chest": scan}, "grasp", "chest")


def lamp_head(t_count: int = 41, n: int = 2000, fps: float = 10.0, angle_deg: float = 40.0) -> PlanningCase:
    """A desk lamp: a 14x14 cm foot, a 30 cm post, and an 8x6x5 cm head reaching towards the robot
    from the top of the post, lowered ``angle_deg`` about a hinge along y at the post's top."""
    from chord_core.scene.procedural import box_faces

    still = (box_faces((0.55, 0.0, 0.01), (0.14, 0.14, 0.02), skip=("-z",))
             + box_faces((0.55, 0.0, 0.15), (0.03, 0.03, 0.26), skip=("-z", "+z")))
    head = box_faces((0.51, 0.0, 0.305), (0.08, 0.06, 0.05))
    pts, part = _sample_parts([still, head], n, seed=6)
    scan = _sample_parts([still, head], SCAN_POINTS, seed=60)[0]
    s = _profile(t_count)
    rotvecs = np.stack([np.zeros_like(s), -np.radians(angle_deg) * s, np.zeros_like(s)], axis=1)
    traj = np.repeat(pts[None], t_count, axis=0)
    traj[:, part == 1] = rigid_flow(pts[part == 1], np.zeros((t_count, 3)), rotvecs, pivot=np.array([0.55, 0.0, 0.30]))
    flow = Flow(traj, np.zeros(n, np.int32), fps, "lower the lamp head", ["lamp"])
    return PlanningCase("lamp_head", flow, {"lamp": scan}, "grasp", "lamp")


def drawer(t_count: int = 41, n: int = 2000, fps: float = 10.0, travel: float = 0.10) -> PlanningCase:
    """A 20x24x12 cm cabinet with a small drawer whose 6x4 cm front stands 3 cm proud of the
    cabinet; the drawer is pulled ``travel`` towards the robot (a prismatic joint along -x)."""
    from chord_core.scene.procedural import box_faces

    cabinet = box_faces((0.52, 0.0, 0.06), (0.20, 0.24, 0.12), skip=("-z",))
    front = box_faces((0.405, 0.0, 0.06), (0.03, 0.06, 0.04), skip=("+x",))
    pts, part = _sample_parts([cabinet, front], n, seed=5)
    scan = _sample_parts([cabinet, front], SCAN_POINTS, seed=50)[0]
    s = _profile(t_count)
    traj = np.repeat(pts[None], t_count, axis=0)
    traj[:, part == 1] += (-travel * s)[:, None, None] * np.array([1.0, 0.0, 0.0], np.float32)
    flow = Flow(traj.astype(np.float32), np.zeros(n, np.int32), fps, "open the drawer", ["cabinet"])
    return PlanningCase("drawer", flow, {"cabinet": scan}, "grasp", "cabinet")


def _rope_cloud(start: np.ndarray, end: np.ndarray, radius: float, n: int, seed: int) -> np.ndarray:
    """[n, 3] points on a straight rope's surface: its side and its two end discs, by area."""
    rng = np.random.default_rng(seed)
    axis = (end - start) / np.linalg.norm(end - start)
    u = np.cross(axis, [0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.cross(axis, [1.0, 0.0, 0.0])
    u /= np.linalg.norm(u)
    v = np.cross(axis, u)
    length = float(np.linalg.norm(end - start))
    on_side = rng.uniform(size=n) < length / (length + radius)  # side 2 pi r L against caps 2 pi r^2
    along = np.where(on_side, rng.uniform(0, length, n), rng.choice([0.0, length], n))
    r = np.where(on_side, radius, radius * np.sqrt(rng.uniform(size=n)))
    angle = rng.uniform(0, 2 * np.pi, n)
    ring = r[:, None] * (np.cos(angle)[:, None] * u + np.sin(angle)[:, None] * v)
    return (start + along[:, None] * axis + ring).astype(np.float32)


def rope_drag(t_count: int = 41, n: int = 2000, fps: float = 10.0) -> PlanningCase:
    """A 30 cm rope, 3 cm thick, lying along x in front of the robot; its far end is lifted 6 cm
    and carried 20 cm to the left and 5 cm back, dragging the rest (the known motion is the rope's
    own MuJoCo physics, `soft_objects.drag_rope`, with the simulator's table and friction)."""
    from chord_core.robot.sim import SimConfig

    radius, start, end = 0.015, np.array([0.40, -0.12, 0.015]), np.array([0.70, -0.12, 0.015])
    scan = _rope_cloud(start, end, radius, SCAN_POINTS, seed=70)
    rope = SoftRope.from_points(scan, radius, mass=0.1, node_spacing=0.035)
    lead = int(np.argmax(rope.nodes[:, 0]))
    s = _profile(t_count)
    path = rope.nodes[lead] + np.stack([-0.05 * s, 0.20 * s, 0.06 * np.sin(np.pi * s)], axis=1)
    sim = SimConfig()
    nodes = drag_rope(rope, lead, path, fps, 0.0, sim.table_friction, sim.object_friction, sim.rope_damping)
    carried = rope.carrying(_rope_cloud(start, end, radius, n, seed=7))
    traj = np.array([carried.points_at(frame) for frame in nodes], np.float32)
    flow = Flow(traj, np.zeros(n, np.int32), fps, "drag the end of the rope to the left", ["rope"])
    return PlanningCase("rope_drag", flow, {"rope": scan}, "grasp", "rope", {"rope": rope})


PLANNING_CASES = {"lift_and_move": lift_and_move, "pour": pour, "push_across": push_across}
ARTICULATED_CASES = {"chest_lid": chest_lid, "lamp_head": lamp_head, "drawer": drawer}
SOFT_CASES = {"rope_drag": rope_drag}


def obstacle_boxes(seed: int, centre: np.ndarray, keep_out: float, n: int = 300) -> dict[str, np.ndarray]:
    """0-2 boxes (3-15 cm wide, 3-25 cm tall) around a table point, at least ``keep_out`` from it."""
    rng = np.random.default_rng([seed, 1])
    boxes = {}
    for index in range(int(rng.choice([0, 1, 1, 2]))):
        size = np.array([*rng.uniform(0.03, 0.15, 2), rng.uniform(0.03, 0.25)])
        angle = rng.uniform(0, 2 * np.pi)
        gap = keep_out + np.linalg.norm(size[:2]) / 2 + rng.uniform(0.0, 0.15)
        place = centre[:2] + gap * np.array([np.cos(angle), np.sin(angle)])
        boxes[f"obstacle_{index}"] = box_cloud(tuple(size), tuple(place), n, seed=seed * 10 + index)
    return boxes


def random_flow_case(seed: int, t_count: int = 8, n: int = 200, fps: float = 10.0) -> PlanningCase:
    """A random property-test case: a small box somewhere near (or out of) reach, moved by a random
    rigid motion (sometimes large, sometimes non-rigid) with a random speed; some are unreachable.
    The scene may hold up to two obstacle boxes beside it (`obstacle_boxes`)."""
    rng = np.random.default_rng(seed)
    size = tuple(rng.uniform(0.03, 0.06, 3))
    far = rng.uniform() < 0.15
    radius = rng.uniform(0.75, 1.1) if far else rng.uniform(0.35, 0.65)
    angle = rng.uniform(-0.8, 0.8)
    pts = box_cloud(size, (radius * np.cos(angle), radius * np.sin(angle)), n, seed=seed)
    s = _profile(t_count)
    scale = rng.choice([0.05, 0.2, 0.6])
    trans = s[:, None] * rng.normal(0, scale / 2, 3)[None]
    trans[:, 2] = np.abs(trans[:, 2]) + s * rng.uniform(0.0, 0.1)
    rotvecs = s[:, None] * rng.normal(0, rng.choice([0.1, 0.6, 1.5]), 3)[None]
    traj = rigid_flow(pts, trans, rotvecs)
    if rng.uniform() < 0.3:  # non-rigid: a smooth bend that grows with time
        bend = rng.uniform(0.02, 0.1)
        rel = pts[:, 0] - pts[:, 0].mean()
        traj[:, :, 2] += (s[:, None] * bend * rel[None] ** 2 / max(size[0] ** 2, 1e-6)).astype(np.float32)
    flow = Flow(traj, np.zeros(n, np.int32), rng.choice([5.0, 10.0, 30.0]), "random", ["obj"])
    mode = "push" if rng.uniform() < 0.25 else "grasp"
    keep_out = float(np.linalg.norm(size[:2])) / 2 + 0.02
    scene = {"obj": pts, **obstacle_boxes(seed, pts.mean(axis=0), keep_out)}
    return PlanningCase(f"random_{seed}", flow, scene, mode, "obj")

"""MuJoCo arm that executes a certified Plan and records what the object actually does.

The scene is the same URDF as the planner's model (collision meshes, gravity-compensated links,
position-controlled joints and fingers), a table top at `table_height`, and each object as a free
body whose collision shape is the convex hull of its scanned points. Object errors are measured
against the flow, so the chain flow -> grasp -> trajectory -> object motion is checked, not assumed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from chord_core.errors import ChordError
from chord_core.robot.config import RobotConfig
from chord_core.robot.model import rotation_error_angle
from chord_core.robot.trajectory import kabsch


@dataclass
class SimConfig:
    timestep: float = 0.002
    arm_kp: float = 4000.0
    arm_kv: float = 200.0
    finger_kp: float = 800.0
    finger_force: float = 40.0
    object_mass: float = 0.15
    object_friction: float = 1.0
    finger_friction: float = 1.5
    table_friction: float = 0.3
    settle: float = 0.5  # s simulated after the last waypoint
    record_every: float = 0.02  # s between recorded object poses


@dataclass
class SimResult:
    """Object poses over time and its errors against the flow (metres, degrees)."""

    times: np.ndarray  # [S]
    object_positions: np.ndarray  # [S, 3] body origin (= initial centroid) in the world
    object_rotations: np.ndarray  # [S, 3, 3]
    final_position_error: float
    final_rotation_error_deg: float
    mean_point_error: float
    frame_point_errors: np.ndarray  # [T]
    video_frames: list = field(default_factory=list)

    def to_json(self) -> dict:
        return {"final_position_error_m": self.final_position_error,
                "final_rotation_error_deg": self.final_rotation_error_deg,
                "mean_point_error_m": self.mean_point_error,
                "frame_point_errors_m": self.frame_point_errors.tolist(),
                "duration_s": float(self.times[-1]) if len(self.times) else 0.0}


def _urdf_for_mujoco(urdf_path: str) -> str:
    """URDF text with absolute mesh paths and a <mujoco> compiler block MuJoCo's URDF reader needs."""
    text = Path(urdf_path).read_text()
    base = Path(urdf_path).parent
    text = re.sub(r'filename="package://([^"]+)"', lambda m: f'filename="{base / m.group(1)}"', text)
    text = re.sub(r'filename="(?!/)([^"]+)"', lambda m: f'filename="{base / m.group(1)}"', text)
    block = ('<mujoco><compiler strippath="false" discardvisual="true" fusestatic="false" '
             'balanceinertia="true"/></mujoco>')
    return re.sub(r"(<robot[^>]*>)", r"\1" + block, text, count=1)


def build_model(robot: RobotConfig, objects: dict[str, np.ndarray], sim: SimConfig):
    """MjModel of arm + table + convex-hull objects, with the object names in `objects` order."""
    import mujoco
    from scipy.spatial import ConvexHull

    try:
        spec = mujoco.MjSpec.from_string(_urdf_for_mujoco(robot.resolved_urdf()))
    except Exception as exc:  # mujoco raises ValueError with the parser's message
        raise ChordError(f"MuJoCo could not load the robot URDF {robot.resolved_urdf()}: {exc}") from exc
    spec.option.timestep = sim.timestep
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
    spec.option.noslip_iterations = 3
    for body in spec.bodies:
        if body.name != "world":
            body.gravcomp = 1.0
    for joint in spec.joints:
        joint.armature = 0.1
        joint.damping = [1.0 if joint.name in robot.arm_joints else 5.0, 0.0, 0.0]  # mujoco 4: [3]
    # MuJoCo mixes friction by max unless priorities differ: the robot's and the table's own
    # coefficients win over the object's, so grip friction and table sliding are set independently.
    for geom in spec.geoms:
        geom.friction = [sim.finger_friction, 0.02, 0.001]
        geom.priority = 1
    world = spec.worldbody
    world.add_light(pos=[0.5, 0.0, 2.0], dir=[0.0, 0.0, -1.0], diffuse=[0.8, 0.8, 0.8])
    world.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_BOX, size=[0.6, 0.8, 0.02],
                   pos=[0.5, 0.0, robot.table_height - 0.02], rgba=[0.6, 0.5, 0.4, 1.0],
                   friction=[sim.table_friction, 0.005, 0.0001], priority=1)
    for i, (name, points) in enumerate(objects.items()):
        pts = np.asarray(points, float)
        centroid = pts.mean(axis=0)
        hull = ConvexHull(pts)
        verts = pts[hull.vertices] - centroid
        spec.add_mesh(name=f"obj{i}_mesh", uservert=verts.reshape(-1).tolist())
        body = world.add_body(name=f"obj{i}", pos=centroid.tolist())
        body.add_freejoint(name=f"obj{i}_free")
        body.add_geom(name=f"obj{i}_geom", type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f"obj{i}_mesh",
                      density=sim.object_mass / hull.volume, condim=6,
                      friction=[sim.object_friction, 0.02, 0.001], rgba=[0.2, 0.5, 0.9, 1.0])
    for joint in robot.arm_joints:
        spec.add_actuator(name=f"act_{joint}", target=joint, trntype=mujoco.mjtTrn.mjTRN_JOINT,
                          gaintype=mujoco.mjtGain.mjGAIN_FIXED, biastype=mujoco.mjtBias.mjBIAS_AFFINE,
                          gainprm=[sim.arm_kp] + [0] * 9, biasprm=[0, -sim.arm_kp, -sim.arm_kv] + [0] * 7)
    for joint in robot.finger_joints:
        spec.add_actuator(name=f"act_{joint}", target=joint, trntype=mujoco.mjtTrn.mjTRN_JOINT,
                          gaintype=mujoco.mjtGain.mjGAIN_FIXED, biastype=mujoco.mjtBias.mjBIAS_AFFINE,
                          gainprm=[sim.finger_kp] + [0] * 9, biasprm=[0, -sim.finger_kp, -20.0] + [0] * 7,
                          forcelimited=True, forcerange=[-sim.finger_force, sim.finger_force])
    return spec.compile()


def simulate_plan(plan, flow, robot: RobotConfig, objects: dict[str, np.ndarray] | None = None,
                  sim: SimConfig | None = None, video_fps: float = 0.0,
                  video_size: tuple[int, int] = (360, 480)) -> SimResult:
    """Execute an accepted plan in MuJoCo and measure the relevant object against the flow.

    `objects` maps names to frame-0 clouds (default: the flow's objects); the plan's object is
    matched by name. Video frames are rendered when video_fps > 0 and a GL backend works.
    """
    import mujoco

    if not plan.accepted:
        raise ChordError("a refused plan cannot be simulated: it carries no trajectory")
    sim = sim or SimConfig()
    if objects is None:
        names = flow.object_names or [f"object_{i}" for i in np.unique(flow.object_ids)]
        objects = {names[i]: flow.points[flow.object_ids == i] for i in range(len(names))}
    if plan.object_name not in objects:
        raise ChordError(f"object '{plan.object_name}' has no cloud in the simulated scene {list(objects)}")
    model = build_model(robot, objects, sim)
    data = mujoco.MjData(model)
    arm_qpos = [model.joint(j).qposadr[0] for j in robot.arm_joints]
    finger_qpos = [model.joint(j).qposadr[0] for j in robot.finger_joints]
    obj_index = list(objects).index(plan.object_name)
    body = model.body(f"obj{obj_index}").id
    data.qpos[arm_qpos] = plan.positions[0]
    data.qpos[finger_qpos] = plan.gripper[0] / 2.0
    data.ctrl[: len(arm_qpos)] = plan.positions[0]
    data.ctrl[len(arm_qpos):] = plan.gripper[0] / 2.0
    mujoco.mj_forward(model, data)

    renderer, frames, camera = None, [], None
    if video_fps > 0:
        try:
            renderer = mujoco.Renderer(model, *video_size)
            camera = mujoco.MjvCamera()
            camera.lookat[:] = [0.45, 0.0, 0.15]
            camera.distance, camera.azimuth, camera.elevation = 1.4, 150.0, -25.0
        except Exception:  # no usable GL context: the caller reports that the video was skipped
            renderer = None

    end = plan.times[-1] + sim.settle
    steps = int(np.ceil(end / sim.timestep))
    record_stride = max(1, int(round(sim.record_every / sim.timestep)))
    video_stride = int(round(1.0 / (video_fps * sim.timestep))) if renderer else 0
    times, positions, rotations = [], [], []
    for step in range(steps + 1):
        t = step * sim.timestep
        if step % record_stride == 0 or step == steps:
            times.append(t)
            positions.append(data.xpos[body].copy())
            rotations.append(data.xmat[body].reshape(3, 3).copy())
        if renderer and step % video_stride == 0:
            renderer.update_scene(data, camera)
            frames.append(renderer.render().copy())
        data.ctrl[: len(arm_qpos)] = [np.interp(t, plan.times, plan.positions[:, j]) for j in range(len(arm_qpos))]
        data.ctrl[len(arm_qpos):] = np.interp(t, plan.times, plan.gripper) / 2.0
        mujoco.mj_step(model, data)
    if renderer:
        renderer.close()
    times, positions, rotations = np.array(times), np.array(positions), np.array(rotations)
    return _measure(plan, flow, objects[plan.object_name], times, positions, rotations, frames)


def _measure(plan, flow, cloud, times, positions, rotations, frames) -> SimResult:
    """Errors of the simulated object against the flow's own points (frame 0 -> frame t)."""
    mask = flow.object_ids == plan.object_index
    traj = flow.trajectories[:, mask].astype(float)
    centroid0 = np.asarray(cloud, float).mean(axis=0)
    local = traj[0] - centroid0
    frame_times = plan.follow_times()
    errors = []
    for t, ft in enumerate(frame_times):
        k = int(np.argmin(np.abs(times - ft)))
        sim_pts = local @ rotations[k].T + positions[k]
        errors.append(float(np.linalg.norm(sim_pts - traj[t], axis=1).mean()))
    fit = kabsch(traj[0], traj[-1])
    target_pos = fit[:3, :3] @ centroid0 + fit[:3, 3]
    return SimResult(times, positions, rotations, float(np.linalg.norm(positions[-1] - target_pos)),
                     float(np.degrees(rotation_error_angle(rotations[-1], fit[:3, :3]))),
                     float(np.mean(errors)), np.array(errors), frames)


def write_video(frames: list, path: str | Path, fps: float) -> Path | None:
    """mp4 via imageio-ffmpeg; None when there are no frames."""
    if not frames:
        return None
    import imageio.v2 as imageio

    path = Path(path)
    imageio.mimsave(path, frames, fps=fps, macro_block_size=8)
    return path


def gl_backend_hint() -> str:
    return os.environ.get("MUJOCO_GL", "")

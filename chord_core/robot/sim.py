"""MuJoCo arm that executes joint trajectories and records what the objects actually do.

`ArmSimulation` is the stepwise simulator (reset, commanded targets or a timed trajectory, step,
joint state, object poses and clouds, optional video); the `sim_arm` node drives it in real time
and `simulate_plan` runs a whole certified Plan through it at once.

The scene is the same URDF as the planner's model (collision meshes, gravity-compensated links,
position-controlled joints and fingers), a table top at `table_height`, and each object as a free
body whose collision shape is the convex hull of its scanned points. An articulated object
(`SimJoint`: a lid on its hinge, a drawer on its slide) is two bodies: its still part free on the
table (heavy, as a chest or cabinet is) and its moving part on a limited, damped joint with
friction, so a released lid stays open. A rope (`soft_objects.SoftRope`) is a 1-D flex: nodes
joined by length-keeping edges, capsules for contact, held by the fingers' friction as any object.
Object errors are measured
against the flow, so the chain flow -> grasp -> trajectory -> object motion is checked, not assumed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from chord_core.errors import ChordError
from chord_core.robot.config import RobotConfig
from chord_core.robot.model import rotation_error_angle
from chord_core.robot.rigid_fit import batch_kabsch, kabsch
from chord_core.robot.soft_objects import SoftRope


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
    base_mass: float = 3.0  # kg, the still part of an articulated object
    part_joint_damping: float = 0.2  # N m s/rad (hinge) or N s/m (slide)
    part_joint_friction: float = 0.3  # N m or N: holds an opened lid against gravity
    record_every: float = 0.02  # s between recorded object poses
    rope_damping: float = 0.05  # of a rope's length-keeping edges


JOINT_AT_REST = 1e-6  # rad or m: joint values this close to the scanned pose are the scanned pose


@dataclass(frozen=True)
class SimJoint:
    """The moving part of an articulated object: which of its scanned points it holds, and how it
    moves relative to the rest (axis and pivot in the world at the scanned pose; limits in rad or m
    from the scanned pose, which is 0)."""

    mask: np.ndarray  # [N] over the object's cloud
    kind: str  # revolute | prismatic
    axis: np.ndarray
    pivot: np.ndarray
    limits: tuple[float, float]

    @classmethod
    def from_part(cls, part, cloud: np.ndarray, first_frame: np.ndarray) -> SimJoint:
        """From the planner's `ManipulatedPart` (fitted on the flow's points ``first_frame``): each
        scanned point goes with its nearest flow point; the joint may travel 50 % past the flow's
        range and not behind the scanned (closed) pose."""
        from chord_core.robot.planner import part_of_scan

        joint = part.joint
        if joint.kind not in ("revolute", "prismatic"):
            raise ChordError(f"a {joint.kind} part cannot be simulated on a joint")
        mask = part_of_scan(np.asarray(cloud, float), first_frame, part)
        # a fitted frame-0 value is zero only to rounding: a side counts as travelled past JOINT_AT_REST
        low, high = float(joint.values.min()), float(joint.values.max())
        span = high - low
        return cls(mask, joint.kind, np.asarray(joint.axis, float), np.asarray(joint.pivot, float),
                   (low - 0.5 * span if low < -JOINT_AT_REST else 0.0,
                    high + 0.5 * span if high > JOINT_AT_REST else 0.0))


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
    part: dict | None = None  # a part plan: its joint's final value (sim and flow), the grasp point's errors
    soft: dict | None = None  # a rope plan: the mean distance of its points from the flow's last frame after settling

    def to_json(self) -> dict:
        return {"final_position_error_m": self.final_position_error,
                "final_rotation_error_deg": self.final_rotation_error_deg,
                "mean_point_error_m": self.mean_point_error,
                "frame_point_errors_m": self.frame_point_errors.tolist(),
                "duration_s": float(self.times[-1]) if len(self.times) else 0.0,
                **({"part": self.part} if self.part is not None else {}),
                **({"soft": self.soft} if self.soft is not None else {})}


def urdf_with_absolute_meshes(urdf_path: str, scheme: str = "") -> str:
    """URDF text whose mesh filenames are absolute paths (package:// and relative ones resolved next
    to the file), prefixed with `scheme` ("file://" for RViz's /robot_description)."""
    text = Path(urdf_path).read_text()
    base = Path(urdf_path).resolve().parent
    text = re.sub(r'filename="package://([^"]+)"', lambda m: f'filename="{scheme}{base / m.group(1)}"', text)
    return re.sub(r'filename="(?!/|file://)([^"]+)"', lambda m: f'filename="{scheme}{base / m.group(1)}"', text)


def _urdf_for_mujoco(urdf_path: str) -> str:
    """URDF text with absolute mesh paths and a <mujoco> compiler block MuJoCo's URDF reader needs."""
    text = urdf_with_absolute_meshes(urdf_path)
    block = ('<mujoco><compiler strippath="false" discardvisual="true" fusestatic="false" '
             'balanceinertia="true"/></mujoco>')
    return re.sub(r"(<robot[^>]*>)", r"\1" + block, text, count=1)


def build_model(robot: RobotConfig, objects: dict[str, np.ndarray], sim: SimConfig,
                joints: dict[str, SimJoint] | None = None, soft: dict[str, SoftRope] | None = None):
    """MjModel of arm + table + convex-hull objects, with the object names in `objects` order;
    objects named in ``joints`` get their moving part on that joint, those in ``soft`` are ropes
    (node bodies `obj<i>_rope_<k>`)."""
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
    def add_hull_body(parent, name: str, pts: np.ndarray, origin: np.ndarray, mass: float):
        hull = ConvexHull(pts)
        centroid = pts.mean(axis=0)
        spec.add_mesh(name=f"{name}_mesh", uservert=(pts[hull.vertices] - centroid).reshape(-1).tolist())
        body = parent.add_body(name=name, pos=(centroid - origin).tolist())
        body.add_geom(name=f"{name}_geom", type=mujoco.mjtGeom.mjGEOM_MESH, meshname=f"{name}_mesh",
                      density=mass / hull.volume, condim=6,
                      friction=[sim.object_friction, 0.02, 0.001], rgba=[0.2, 0.5, 0.9, 1.0])
        return body, centroid

    for i, (name, points) in enumerate(objects.items()):
        pts = np.asarray(points, float)
        joint = (joints or {}).get(name)
        rope = (soft or {}).get(name)
        if rope is not None:
            spec.attach(mujoco.MjSpec.from_string(rope.flex_xml("rope", sim.object_friction, sim.rope_damping)),
                        frame=world.add_frame(), prefix=f"obj{i}_")
            continue
        if joint is None:
            body, _ = add_hull_body(world, f"obj{i}", pts, np.zeros(3), sim.object_mass)
            body.add_freejoint(name=f"obj{i}_free")
            continue
        body, base_centroid = add_hull_body(world, f"obj{i}", pts[~joint.mask], np.zeros(3), sim.base_mass)
        body.add_freejoint(name=f"obj{i}_free")
        part, part_centroid = add_hull_body(body, f"obj{i}_part", pts[joint.mask], base_centroid, sim.object_mass)
        part.add_joint(name=f"obj{i}_joint", type=mujoco.mjtJoint.mjJNT_HINGE if joint.kind == "revolute"
                       else mujoco.mjtJoint.mjJNT_SLIDE, axis=joint.axis.tolist(),
                       pos=(joint.pivot - part_centroid).tolist(), range=list(joint.limits),
                       limited=mujoco.mjtLimited.mjLIMITED_TRUE, damping=[sim.part_joint_damping, 0.0, 0.0],
                       frictionloss=sim.part_joint_friction)
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


class ArmSimulation:
    """The MuJoCo arm, table and free objects, advanced step by step toward commanded joint targets.

    Actuated joints (`joint_names`) are the arm joints followed by the finger joints; each finger
    joint is half the gripper opening. A command is either a fixed target (`command`) or a timed
    trajectory (`follow`) interpolated linearly at every physics step; `hold` stops a trajectory
    where the arm is. Object poses are those of each object's frame-0 centroid.
    """

    def __init__(self, robot: RobotConfig, objects: dict[str, np.ndarray], sim: SimConfig | None = None,
                 joints: dict[str, SimJoint] | None = None, soft: dict[str, SoftRope] | None = None) -> None:
        import mujoco

        self._mj = mujoco
        self.robot = robot
        self.config = sim or SimConfig()
        self.clouds = {name: np.asarray(points, float) for name, points in objects.items()}
        self.joints = dict(joints or {})
        self.soft = dict(soft or {})
        if unknown := sorted((set(self.joints) | set(self.soft)) - set(self.clouds)):
            raise ChordError(f"joints or soft objects given for {unknown}, which are not in the simulated scene "
                             f"{list(self.clouds)}")
        if both := sorted(set(self.joints) & set(self.soft)):
            raise ChordError(f"{both}: an object is either articulated or soft, not both")
        self.model = build_model(robot, self.clouds, self.config, self.joints, self.soft)
        self.data = mujoco.MjData(self.model)
        self.joint_names = tuple(robot.arm_joints) + tuple(robot.finger_joints)
        self.n_arm = len(robot.arm_joints)
        joints = [self.model.joint(j) for j in self.joint_names]
        self._qpos = np.array([j.qposadr[0] for j in joints])
        self._qvel = np.array([j.dofadr[0] for j in joints])
        self.lower = np.array([self.model.jnt_range[j.id][0] for j in joints])
        self.upper = np.array([self.model.jnt_range[j.id][1] for j in joints])
        self._bodies = {name: self.model.body(f"obj{i}").id for i, name in enumerate(self.clouds)
                        if name not in self.soft}
        self._parts = {name: self.model.body(f"obj{i}_part").id for i, name in enumerate(self.clouds)
                       if name in self.joints}
        self._ropes = {name: np.array([self.model.body(f"obj{i}_rope_{k}").id  # node bodies, in order
                                       for k in range(len(self.soft[name].nodes))])
                       for i, name in enumerate(self.clouds) if name in self.soft}
        objects = (set(self._bodies.values()) | set(self._parts.values())
                   | {int(b) for nodes in self._ropes.values() for b in nodes})
        self.link_names = tuple(self.model.body(b).name for b in range(1, self.model.nbody) if b not in objects)
        self._links = np.array([self.model.body(n).id for n in self.link_names])
        # each body's origin is the centroid of the scanned points it carries
        self._centroids = {name: (pts[~self.joints[name].mask] if name in self.joints else pts).mean(axis=0)
                           for name, pts in self.clouds.items() if name not in self.soft}
        self._trajectory: tuple[float, np.ndarray, np.ndarray] | None = None  # start, times, targets
        self._renderer = None
        self._camera = None
        self._video_period = 0.0
        self._next_frame = 0.0
        self.video_frames: list[np.ndarray] = []
        self.reset()

    # -- state ------------------------------------------------------------------------------
    def reset(self, arm: np.ndarray | None = None, gripper: float | None = None) -> None:
        """Arm at `arm` (default: the robot's home), fingers at `gripper` opening (default: fully
        open), objects at their scanned poses, at rest, time 0."""
        self._mj.mj_resetData(self.model, self.data)
        q = np.asarray(self.robot.home if arm is None else arm, float)
        width = self.robot.gripper_max_width if gripper is None else float(gripper)
        targets = self._targets(q, width)
        self.data.qpos[self._qpos] = targets
        self.data.ctrl[:] = targets
        self._trajectory = None
        self._mj.mj_forward(self.model, self.data)

    def _targets(self, arm: np.ndarray, gripper: float) -> np.ndarray:
        n_fingers = len(self.joint_names) - self.n_arm
        return np.concatenate([np.asarray(arm, float).reshape(self.n_arm), np.full(n_fingers, gripper / 2.0)])

    @property
    def time(self) -> float:
        return float(self.data.time)

    @property
    def positions(self) -> np.ndarray:
        """[n] actuated joint positions (arm joints, then finger joints)."""
        return self.data.qpos[self._qpos].copy()

    @property
    def velocities(self) -> np.ndarray:
        return self.data.qvel[self._qvel].copy()

    @property
    def forces(self) -> np.ndarray:
        """[n] actuator forces (N or N m) of the actuated joints at the last step."""
        return self.data.actuator_force[: len(self.joint_names)].copy()

    @property
    def targets(self) -> np.ndarray:
        """[n] the joint targets the controllers currently track."""
        return self.data.ctrl[: len(self.joint_names)].copy()

    @property
    def object_names(self) -> list[str]:
        return list(self.clouds)

    def object_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """World position [3] of the object's frame-0 centroid and its rotation [3, 3] (a rope: the
        mean of its nodes, and no rotation)."""
        if name in self._ropes:
            return self.rope_nodes(name).mean(axis=0), np.eye(3)
        if name not in self._bodies:
            raise ChordError(f"no simulated object '{name}'; the scene has {self.object_names}")
        body = self._bodies[name]
        return self.data.xpos[body].copy(), self.data.xmat[body].reshape(3, 3).copy()

    def link_poses(self) -> tuple[np.ndarray, np.ndarray]:
        """World positions [L, 3] and rotations [L, 3, 3] of the robot's links (`link_names`)."""
        return self.data.xpos[self._links].copy(), self.data.xmat[self._links].reshape(-1, 3, 3).copy()

    @property
    def articulated(self) -> list[str]:
        """Names of the objects simulated with a moving part on a joint."""
        return sorted(self._parts)

    def part_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """World position [3] of the moving part's frame-0 centroid and its rotation [3, 3]."""
        if name not in self._parts:
            raise ChordError(f"simulated object '{name}' has no moving part; articulated: {sorted(self._parts)}")
        body = self._parts[name]
        return self.data.xpos[body].copy(), self.data.xmat[body].reshape(3, 3).copy()

    def joint_value(self, name: str) -> float:
        """The moving part's joint position (rad or m) from the scanned pose."""
        self.part_pose(name)  # the same error for an object without a part
        index = list(self.clouds).index(name)
        return float(self.data.qpos[self.model.jnt_qposadr[self.model.joint(f"obj{index}_joint").id]])

    def rope_nodes(self, name: str) -> np.ndarray:
        """[V, 3] where a rope's nodes are now."""
        if name not in self._ropes:
            raise ChordError(f"simulated object '{name}' is not a rope; ropes: {sorted(self._ropes)}")
        return self.data.xpos[self._ropes[name]].copy()

    def object_cloud(self, name: str) -> np.ndarray:
        """[N, 3] the object's scanned points moved by its current pose (a moving part's by its own,
        a rope's by their nodes)."""
        if name in self._ropes:
            return self.soft[name].points_at(self.rope_nodes(name))
        position, rotation = self.object_pose(name)
        cloud = (self.clouds[name] - self._centroids[name]) @ rotation.T + position
        if name in self.joints:
            mask = self.joints[name].mask
            position, rotation = self.part_pose(name)
            part = self.clouds[name][mask]
            cloud[mask] = (part - part.mean(axis=0)) @ rotation.T + position
        return cloud

    # -- commands ---------------------------------------------------------------------------
    def command(self, targets: np.ndarray) -> None:
        """Track fixed joint targets [n] (drops any trajectory being followed)."""
        self._trajectory = None
        self.data.ctrl[: len(self.joint_names)] = np.asarray(targets, float)

    def hold(self) -> None:
        """Stop the arm where it is now (its joint positions become the targets); the fingers keep
        their current command, so a held object stays gripped."""
        targets = self.targets
        targets[: self.n_arm] = self.positions[: self.n_arm]
        self.command(targets)

    def follow(self, times: np.ndarray, targets: np.ndarray) -> float:
        """Follow targets [K, n] at `times` [K] s from now (linear interpolation; before the first
        time the targets move from the current ones). Returns the trajectory's duration."""
        times = np.asarray(times, float)
        targets = np.asarray(targets, float)
        if times[0] > 0:
            times = np.concatenate([[0.0], times])
            targets = np.vstack([self.targets[None], targets])
        self._trajectory = (self.time, times, targets)
        return float(times[-1])

    @property
    def following(self) -> bool:
        """True while a trajectory still has waypoints ahead."""
        return self._trajectory is not None and self.time - self._trajectory[0] < self._trajectory[1][-1]

    def step(self, duration: float | None = None) -> None:
        """Advance the physics by `duration` s (whole timesteps; default one timestep)."""
        dt = self.config.timestep
        steps = 1 if duration is None else max(1, int(round(duration / dt)))
        n = len(self.joint_names)
        for _ in range(steps):
            if self._renderer is not None and self.time >= self._next_frame - 1e-9:
                self._renderer.update_scene(self.data, self._camera)
                self.video_frames.append(self._renderer.render().copy())
                self._next_frame += self._video_period
            if self._trajectory is not None:
                start, times, targets = self._trajectory
                t = self.time - start
                self.data.ctrl[:n] = [np.interp(t, times, targets[:, j]) for j in range(n)]
            self._mj.mj_step(self.model, self.data)

    # -- video ------------------------------------------------------------------------------
    def start_video(self, fps: float, size: tuple[int, int] = (360, 480)) -> bool:
        """Render a frame every 1/fps simulated seconds from now on; False when GL is unusable."""
        self.stop_video()
        self.video_frames = []
        try:
            self._renderer = self._mj.Renderer(self.model, *size)
        except Exception:  # no usable GL context: the caller reports that the video was skipped
            self._renderer = None
            return False
        self._camera = self._mj.MjvCamera()
        self._camera.lookat[:] = [0.45, 0.0, 0.15]
        self._camera.distance, self._camera.azimuth, self._camera.elevation = 1.4, 150.0, -25.0
        self._video_period = 1.0 / fps
        self._next_frame = self.time
        return True

    def stop_video(self) -> list[np.ndarray]:
        """Stop rendering; returns the frames rendered since start_video."""
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
        return self.video_frames


def plan_joint_targets(plan, finger_count: int = 2) -> np.ndarray:
    """[K, n + finger_count] a plan's arm positions followed by each finger joint at gripper / 2."""
    return np.hstack([plan.positions, np.repeat(np.asarray(plan.gripper, float)[:, None] / 2.0, finger_count, 1)])


def simulate_plan(plan, flow, robot: RobotConfig, objects: dict[str, np.ndarray] | None = None,
                  sim: SimConfig | None = None, video_fps: float = 0.0,
                  video_size: tuple[int, int] = (360, 480), joints: dict[str, SimJoint] | None = None,
                  soft: dict[str, SoftRope] | None = None) -> SimResult:
    """Execute an accepted plan in MuJoCo and measure the relevant object against the flow.

    `objects` maps names to frame-0 clouds (default: the flow's objects); the plan's object is
    matched by name. ``joints`` are the scene's described joints (`scene_joints`), by object name.
    A plan on an articulated object's part builds that part on its described joint, else on the
    joint fitted to the flow, and measures the part. ``soft`` are the scene's ropes
    (`soft_objects`): a rope's flow points follow its simulated nodes, and its errors are their
    distances from the flow (its position error is that of the points' mean; no rotation error).
    Video frames are rendered when video_fps > 0 and a GL backend works.
    """
    if not plan.accepted:
        raise ChordError("a refused plan cannot be simulated: it carries no trajectory")
    if objects is None:
        objects = {flow.name_of(int(i)): flow.points[flow.object_ids == i] for i in np.unique(flow.object_ids)}
    if plan.object_name not in objects:
        raise ChordError(f"object '{plan.object_name}' has no cloud in the simulated scene {list(objects)}")
    traj = flow.trajectories[:, flow.object_ids == plan.object_index].astype(float)
    cloud = np.asarray(objects[plan.object_name], float)
    part = plan.extra.get("part")
    joints = dict(joints or {})
    if part is not None:
        if plan.object_name not in joints:
            joints[plan.object_name] = SimJoint.from_part(part, cloud, traj[0])
        traj, cloud = traj[:, part.mask], cloud[joints[plan.object_name].mask]
    soft = dict(soft or {})
    if plan.object_name in soft:
        return _simulate_rope(plan, robot, objects, sim, joints, soft, traj, video_fps, video_size)
    arm = ArmSimulation(robot, objects, sim, joints, soft)
    pose = arm.object_pose if part is None else arm.part_pose
    arm.reset(plan.positions[0], plan.gripper[0])
    if video_fps > 0:
        arm.start_video(video_fps, video_size)
    end = arm.follow(plan.times, plan_joint_targets(plan, len(robot.finger_joints))) + arm.config.settle
    times, positions, rotations = [], [], []
    while True:
        position, rotation = pose(plan.object_name)
        times.append(arm.time)
        positions.append(position)
        rotations.append(rotation)
        if arm.time >= end - 1e-9:
            break
        arm.step(min(arm.config.record_every, end - arm.time))
    frames = arm.stop_video()
    times, positions, rotations = np.array(times), np.array(positions), np.array(rotations)
    result = _measure(plan, traj, cloud, times, positions, rotations, frames)
    if part is not None:
        # a described axis may point the other way than the fitted one: compare in the fitted sense
        sense = 1.0 if joints[plan.object_name].axis @ part.joint.axis >= 0 else -1.0
        result.part = {"joint": part.joint.kind, "final_value_sim": sense * arm.joint_value(plan.object_name),
                       "final_value_flow": float(part.joint.values[-1]),
                       "grasp_point_errors_m": _grasp_point_errors(plan, traj, cloud, times, positions,
                                                                   rotations).tolist()}
    return result


def _simulate_rope(plan, robot, objects, sim, joints, soft, traj, video_fps, video_size) -> SimResult:
    """`simulate_plan` for a rope: the flow's points ride on the simulated nodes."""
    arm = ArmSimulation(robot, objects, sim, joints, soft)
    carried = soft[plan.object_name].carrying(traj[0])
    arm.reset(plan.positions[0], plan.gripper[0])
    if video_fps > 0:
        arm.start_video(video_fps, video_size)
    end = arm.follow(plan.times, plan_joint_targets(plan, len(robot.finger_joints))) + arm.config.settle
    times, clouds = [], []
    while True:
        times.append(arm.time)
        clouds.append(carried.points_at(arm.rope_nodes(plan.object_name)))
        if arm.time >= end - 1e-9:
            break
        arm.step(min(arm.config.record_every, end - arm.time))
    frames = arm.stop_video()
    times, clouds = np.array(times), np.array(clouds)
    nearest = [int(np.argmin(np.abs(times - ft))) for ft in plan.follow_times()]
    errors = np.array([np.linalg.norm(clouds[k] - traj[t], axis=1).mean() for t, k in enumerate(nearest)])
    final = float(np.linalg.norm(clouds[-1] - traj[-1], axis=1).mean())
    result = SimResult(times, clouds.mean(axis=1), np.repeat(np.eye(3)[None], len(times), axis=0),
                       float(np.linalg.norm(clouds[-1].mean(axis=0) - traj[-1].mean(axis=0))), 0.0,
                       float(errors.mean()), errors, frames)
    result.soft = {"kind": "rope", "final_mean_point_distance_m": final, "nodes": len(carried.nodes)}
    return result


def _grasp_point_errors(plan, traj, cloud, times, positions, rotations) -> np.ndarray:
    """[T] distance of the grasped point of the simulated part from where the flow carries it."""
    point = np.asarray(plan.grasp.translation, float)
    local = point - np.asarray(cloud, float).mean(axis=0)
    fits = batch_kabsch(traj[0], traj)
    nearest = [int(np.argmin(np.abs(times - ft))) for ft in plan.follow_times()]
    return np.array([np.linalg.norm(rotations[k] @ local + positions[k] - (fit[:3, :3] @ point + fit[:3, 3]))
                     for k, fit in zip(nearest, fits)])


def _measure(plan, traj, cloud, times, positions, rotations, frames) -> SimResult:
    """Errors of the simulated body (the object, or its moving part) against its flow points
    ``traj`` [T, M, 3] (frame 0 -> frame t), and at the end against the plan's object motion (the
    flow's end after the planner's table corrections); ``cloud`` is the scan the body was built from."""
    centroid0 = np.asarray(cloud, float).mean(axis=0)
    local = traj[0] - centroid0
    frame_times = plan.follow_times()
    errors = []
    for t, ft in enumerate(frame_times):
        k = int(np.argmin(np.abs(times - ft)))
        sim_pts = local @ rotations[k].T + positions[k]
        errors.append(float(np.linalg.norm(sim_pts - traj[t], axis=1).mean()))
    fit = plan.extra.get("object_motion")  # where the plan leaves the object
    fit = kabsch(traj[0], traj[-1]) if fit is None else np.asarray(fit, float)
    target_pos = fit[:3, :3] @ centroid0 + fit[:3, 3]
    return SimResult(times, positions, rotations, float(np.linalg.norm(positions[-1] - target_pos)),
                     float(np.degrees(rotation_error_angle(rotations[-1], fit[:3, :3]))),
                     float(np.mean(errors)), np.array(errors), frames)


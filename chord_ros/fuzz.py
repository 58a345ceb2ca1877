"""Malformed messages for every input of the graph, each one a case the nodes must refuse.

`chord-ros bench reliability` (and its fast test) sends them and checks that every one is refused
with a logged reason while every node stays up. Each generator cycles through kinds of damage,
with random sizes and values from the caller's generator, so a count of N covers every kind
about N / kinds times. None of them is valid by construction: a case a node would accept is a
bug in this module, and the benchmark reports it as such.
"""

from __future__ import annotations

import string
from collections.abc import Callable

import numpy as np
from sensor_msgs.msg import PointCloud2, PointField
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from chord_msgs.msg import ObjectFlow
from chord_ros.convert import flow_to_msg, numpy_to_cloud

#: Words the mini prior knows nothing about, to build commands with no motion word.
_NONSENSE = ("frobnicate", "the", "unicorn", "gently", "blorp", "quantum", "teapot", "seventeen", "why", "banana")


def _no_motion_words(rng: np.random.Generator) -> str:
    return " ".join(rng.choice(_NONSENSE, size=int(rng.integers(1, 8))))


COMMAND_KINDS: dict[str, Callable[[np.random.Generator], str]] = {
    "empty": lambda rng: "",
    "blank": lambda rng: " \t\n" * int(rng.integers(1, 5)),
    "control characters": lambda rng: "".join(chr(int(c)) for c in rng.integers(0, 32, int(rng.integers(1, 40)))),
    "100 kB": lambda rng: "lift the block " * 6700,
    "no motion word": _no_motion_words,
    "unknown object, no motion word": lambda rng: f"frobnicate the {rng.choice(['unicorn', 'teapot', 'zeppelin'])}",
    "random letters": lambda rng: "".join(rng.choice(list(string.ascii_letters + " "), int(rng.integers(1, 300)))),
    "non-ASCII": lambda rng: "".join(chr(int(c)) for c in rng.integers(0x3040, 0x30ff, int(rng.integers(1, 60)))),
}


def bad_commands(count: int, rng: np.random.Generator) -> list[tuple[str, str]]:
    """(kind, text) pairs: texts no teacher should act on (empty, huge, no motion word, ...)."""
    kinds = list(COMMAND_KINDS.items())
    return [(kinds[i % len(kinds)][0], kinds[i % len(kinds)][1](rng)) for i in range(count)]


def _cloud(rng: np.random.Generator, points: int | None = None) -> PointCloud2:
    n = int(points if points is not None else rng.integers(10, 2000))
    return numpy_to_cloud(rng.uniform(-0.5, 0.5, (n, 3)).astype(np.float32) + [0.5, 0.0, 0.5],
                          rng.uniform(0, 1, (n, 3)).astype(np.float32))


def _renamed_fields(rng):
    msg = _cloud(rng)
    msg.fields = [PointField(name=f"q{i}", offset=f.offset, datatype=f.datatype, count=f.count)
                  for i, f in enumerate(msg.fields)]
    return msg


def _zero_step(rng):
    msg = _cloud(rng)
    msg.point_step = 0
    return msg


def _wrong_row_step(rng):
    msg = _cloud(rng)
    msg.row_step += int(rng.integers(1, 64))
    return msg


def _truncated(rng):
    msg = _cloud(rng)
    msg.data = bytes(msg.data)[: int(rng.integers(0, len(msg.data)))]
    return msg


def _non_finite(value: float):
    def make(rng):
        msg = _cloud(rng)
        data = bytearray(msg.data)  # x, y, z are the first three float32 of every point
        offset = int(rng.integers(msg.width)) * msg.point_step + 4 * int(rng.integers(3))
        data[offset:offset + 4] = np.float32(value).tobytes()
        msg.data = bytes(data)
        return msg
    return make


def _declared_huge(rng):
    """Says 10 million points, carries a few: refused on the count before anything is decoded."""
    msg = _cloud(rng, 10)
    msg.width, msg.row_step = 10_000_000, msg.point_step * 10_000_000
    return msg


def _empty(rng):
    return numpy_to_cloud(np.zeros((0, 3), np.float32))


CLOUD_KINDS: dict[str, Callable[[np.random.Generator], PointCloud2]] = {
    "fields without x/y/z": _renamed_fields, "point_step 0": _zero_step, "row_step mismatch": _wrong_row_step,
    "truncated data": _truncated, "NaN point": _non_finite(float("nan")), "inf point": _non_finite(float("inf")),
    "10 M points declared": _declared_huge, "no points": _empty,
}


def bad_clouds(count: int, rng: np.random.Generator) -> list[tuple[str, PointCloud2]]:
    kinds = list(CLOUD_KINDS.items())
    return [(kinds[i % len(kinds)][0], kinds[i % len(kinds)][1](rng)) for i in range(count)]


def huge_cloud(points: int = 10_000_000) -> PointCloud2:
    """A real cloud of ``points`` points (160 MB at 10 M): refused by max_points_per_cloud."""
    xyz = np.zeros((points, 3), np.float32)
    xyz[:, 0] = np.linspace(0.3, 0.7, points, dtype=np.float32)
    return numpy_to_cloud(xyz)


def _flow_msg(rng: np.random.Generator, frames: int | None = None, points: int | None = None) -> ObjectFlow:
    from chord_core.formats.flow import Flow

    t = int(frames if frames is not None else rng.integers(2, 10))
    n = int(points if points is not None else rng.integers(1, 300))
    start = rng.uniform([0.4, -0.1, 0.0], [0.6, 0.1, 0.1], (n, 3)).astype(np.float32)
    traj = start[None] + np.linspace(0, 0.05, t, dtype=np.float32)[:, None, None] * rng.normal(size=3).astype(
        np.float32)
    return flow_to_msg(Flow(traj.astype(np.float32), np.zeros(n, np.int32), 10.0, "fuzz", ["block"]), "world")


def _one_frame(rng):
    return _flow_msg(rng, frames=1)


def _no_points(rng):
    msg = _flow_msg(rng)
    msg.num_points, msg.object_ids, msg.points, msg.trajectories = 0, [], [], []
    return msg


def _nan_trajectory(rng):
    msg = _flow_msg(rng)
    values = np.asarray(msg.trajectories, np.float32).copy()
    values[len(msg.points) + int(rng.integers(len(values) - len(msg.points)))] = np.nan  # after frame 0
    msg.trajectories = values.tolist()
    return msg


def _short_ids(rng):
    msg = _flow_msg(rng)
    msg.object_ids = list(msg.object_ids)[:-1]
    return msg


def _short_trajectories(rng):
    msg = _flow_msg(rng)
    msg.trajectories = list(msg.trajectories)[: -int(rng.integers(1, 4))]
    return msg


def _bad_rotations(rng):
    msg = _flow_msg(rng)
    msg.rotations = [1.0] * int(rng.integers(1, 40))
    return msg


def _bad_fps(rng):
    msg = _flow_msg(rng)
    msg.fps = float(rng.choice([0.0, -10.0, np.nan, np.inf]))
    return msg


def _points_not_frame_0(rng):
    msg = _flow_msg(rng)
    values = np.asarray(msg.points, np.float32) + 0.01
    msg.points = values.tolist()
    return msg


def _id_without_name(rng):
    msg = _flow_msg(rng)
    ids = np.asarray(msg.object_ids, np.int32).copy()
    ids[int(rng.integers(len(ids)))] = int(rng.integers(1, 50))
    msg.object_ids = ids.tolist()
    return msg


def _negative_id(rng):
    msg = _flow_msg(rng)
    msg.object_ids = (-np.ones(msg.num_points, np.int32)).tolist()
    return msg


FLOW_KINDS: dict[str, Callable[[np.random.Generator], ObjectFlow]] = {
    "a single frame": _one_frame, "no points": _no_points, "NaN": _nan_trajectory,
    "object_ids size mismatch": _short_ids, "trajectories size mismatch": _short_trajectories,
    "rotations size mismatch": _bad_rotations, "fps 0 / negative / NaN / inf": _bad_fps,
    "points differ from frame 0": _points_not_frame_0, "object id without a name": _id_without_name,
    "negative object id": _negative_id,
}


def bad_flows(count: int, rng: np.random.Generator) -> list[tuple[str, ObjectFlow]]:
    kinds = list(FLOW_KINDS.items())
    return [(kinds[i % len(kinds)][0], kinds[i % len(kinds)][1](rng)) for i in range(count)]


def bad_trajectories(count: int, rng: np.random.Generator, joint_names: list[str], current: np.ndarray,
                     lower: np.ndarray, upper: np.ndarray) -> list[tuple[str, JointTrajectory]]:
    """Trajectories for an arm at ``current`` (one value per name) that it must refuse."""
    names, current = list(joint_names), np.asarray(current, float)

    def point(q, t: float) -> JointTrajectoryPoint:
        p = JointTrajectoryPoint(positions=[float(v) for v in q])
        p.time_from_start.sec, p.time_from_start.nanosec = int(t), int((t % 1) * 1e9)
        return p

    def trajectory(qs, ts, joint_names=None) -> JointTrajectory:
        return JointTrajectory(joint_names=list(joint_names or names), points=[point(q, t) for q, t in zip(qs, ts)])

    def near(rng) -> np.ndarray:
        return current + rng.uniform(-0.05, 0.05, len(current))

    kinds: dict[str, Callable[[np.random.Generator], JointTrajectory]] = {
        "unknown joint names": lambda rng: trajectory([near(rng)], [1.0], [f"joint_{i}" for i in range(len(names))]),
        "repeated joint name": lambda rng: trajectory([near(rng)], [1.0], [names[0]] * len(names)),
        "positions size mismatch": lambda rng: trajectory([near(rng)[: -int(rng.integers(1, len(names)))]], [1.0]),
        "NaN position": lambda rng: trajectory([np.where(np.arange(len(names)) == rng.integers(len(names)), np.nan,
                                                         near(rng))], [1.0]),
        "outside the limits": lambda rng: trajectory([np.where(np.arange(len(names)) == rng.integers(len(names)),
                                                               upper + 0.5, near(rng))], [3.0]),
        "times not increasing": lambda rng: trajectory([near(rng), near(rng)], [2.0, float(rng.uniform(0.5, 2.0))]),
        "too fast": lambda rng: trajectory([np.clip(current + 1.5, lower, upper)], [0.05]),
        "no points": lambda rng: trajectory([], []),
        "first point far from the arm at t=0": lambda rng: trajectory([np.clip(current + 0.5, lower, upper)], [0.0]),
    }
    items = list(kinds.items())
    return [(items[i % len(items)][0], items[i % len(items)][1](rng)) for i in range(count)]


def bad_gripper_commands(count: int, rng: np.random.Generator, lower: float,
                         upper: float) -> list[tuple[str, tuple[float, float]]]:
    """(position, max_effort) of GripperCommand goals a gripper with finger range [lower, upper] must refuse."""
    kinds: dict[str, Callable[[np.random.Generator], tuple[float, float]]] = {
        "position above the range": lambda rng: (upper + float(rng.uniform(0.001, 1.0)), 40.0),
        "position below the range": lambda rng: (lower - float(rng.uniform(0.001, 1.0)), 40.0),
        "NaN position": lambda rng: (float("nan"), 40.0),
        "infinite position": lambda rng: (float(rng.choice([np.inf, -np.inf])), 40.0),
        "NaN max_effort": lambda rng: (float(rng.uniform(lower, upper)), float("nan")),
    }
    items = list(kinds.items())
    return [(items[i % len(items)][0], items[i % len(items)][1](rng)) for i in range(count)]

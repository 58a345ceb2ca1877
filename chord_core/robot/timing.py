"""Time parameterisation: rest-to-rest quintic segments, Cartesian lines, and the slowest-needed
uniform time scale that keeps a sampled joint path within velocity and acceleration limits."""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from chord_core.robot.model import RobotModel

# Peak |velocity| and |acceleration| of the unit quintic 10s^3-15s^4+6s^5 on [0, 1].
QUINTIC_PEAK_VELOCITY = 1.875
QUINTIC_PEAK_ACCELERATION = 10.0 / np.sqrt(3.0)


def smoothstep(s: np.ndarray) -> np.ndarray:
    """Minimum-jerk profile 10s^3 - 15s^4 + 6s^5 (rest to rest)."""
    return 10 * s**3 - 15 * s**4 + 6 * s**5


def finite_velocities(times: np.ndarray, q: np.ndarray) -> np.ndarray:
    """[K-1, n] segment velocities dq/dt between consecutive waypoints."""
    return np.diff(q, axis=0) / np.diff(times)[:, None]


def finite_accelerations(times: np.ndarray, q: np.ndarray) -> np.ndarray:
    """[K, n] accelerations at waypoints from the segment velocities, at rest before and after."""
    vel = finite_velocities(times, q)
    padded = np.vstack([np.zeros((1, q.shape[1])), vel, np.zeros((1, q.shape[1]))])
    dt = np.diff(times)
    span = np.concatenate([[dt[0]], (dt[:-1] + dt[1:]) / 2.0, [dt[-1]]]) if len(dt) else np.ones(1)
    return np.diff(padded, axis=0) / span[:, None]


def waypoint_velocities(times: np.ndarray, q: np.ndarray) -> np.ndarray:
    """[K, n] central-difference velocities, zero at the first and last waypoint (rest)."""
    vel = np.zeros_like(q)
    if len(q) > 2:
        vel[1:-1] = (q[2:] - q[:-2]) / (times[2:] - times[:-2])[:, None]
    return vel


def required_time_scale(q: np.ndarray, dt: float, vel_limits: np.ndarray,
                        acc_limits: np.ndarray) -> float:
    """Smallest s >= 1 such that sampling q every s*dt, from rest to rest, meets both limits
    (velocities scale with 1/s, accelerations with 1/s^2)."""
    if len(q) < 2:
        return 1.0
    times = np.arange(len(q)) * dt
    v = np.abs(finite_velocities(times, q)) / vel_limits
    a = np.abs(finite_accelerations(times, q)) / acc_limits
    return float(max(1.0, v.max(), np.sqrt(a.max())))


def quintic_joint_segment(q_a: np.ndarray, q_b: np.ndarray, vel_limits: np.ndarray,
                          acc_limits: np.ndarray, dt: float = 0.05,
                          min_duration: float = 0.5) -> np.ndarray:
    """[K, n] rest-to-rest joint path sampled every dt, slow enough for both limits (K >= 2)."""
    delta = np.abs(np.asarray(q_b) - np.asarray(q_a))
    duration = max(min_duration, float(np.max(QUINTIC_PEAK_VELOCITY * delta / vel_limits)),
                   float(np.sqrt(np.max(QUINTIC_PEAK_ACCELERATION * delta / acc_limits))))
    count = int(np.ceil(duration / dt)) + 1
    s = smoothstep(np.linspace(0.0, 1.0, count))
    return np.asarray(q_a)[None] + s[:, None] * (np.asarray(q_b) - np.asarray(q_a))[None]


def cartesian_line(model: RobotModel, q_start: np.ndarray, goal: np.ndarray,
                   steps: int = 12) -> tuple[np.ndarray, bool]:
    """[steps+1, n] joint path moving the ee on a straight line (slerped orientation) to goal,
    rest to rest (quintic in the path parameter); returns (path, every sample reached)."""
    start = model.fk(q_start)
    s = smoothstep(np.linspace(0.0, 1.0, steps + 1))
    slerp = Slerp([0.0, 1.0], Rotation.from_matrix(np.stack([start[:3, :3], goal[:3, :3]])))
    q, ok_all = [np.asarray(q_start, float)], True
    for si in s[1:]:
        pose = np.eye(4)
        pose[:3, :3] = slerp([si]).as_matrix()[0]
        pose[:3, 3] = (1 - si) * start[:3, 3] + si * goal[:3, 3]
        sol, ok = model.ik_local(pose, q[-1])
        ok_all &= ok
        q.append(sol)
    return np.array(q), ok_all

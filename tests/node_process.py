"""Helpers for tests that run chord nodes as separate processes and talk to them over DDS."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def start_node(module: str, params: dict, log: Path) -> subprocess.Popen:
    """`python -m chord_ros.nodes.<module> --ros-args -p k:=v ...`, output to `log`."""
    args = [sys.executable, "-m", f"chord_ros.nodes.{module}", "--ros-args"]
    for key, value in params.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        args += ["-p", f"{key}:={text}"]
    with open(log, "w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    proc.log_path = log  # a failing wait quotes the end of it
    return proc


def _death(proc: subprocess.Popen) -> str:
    log = getattr(proc, "log_path", None)
    tail = Path(log).read_text()[-2500:] if log is not None and Path(log).is_file() else ""
    return f"node process {proc.args[2]} exited with {proc.returncode}; its log ends:\n{tail}"


def stop_nodes(*procs: subprocess.Popen) -> None:
    """SIGINT (the runner's clean shutdown), then kill whatever is left."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def spin_until(executor, done: Callable[[], bool], timeout: float, procs=(), what: str = "") -> None:
    """Spin the test's executor until done() or fail, also failing when a node process died."""
    deadline = time.monotonic() + timeout
    while not done():
        for proc in procs:
            assert proc.poll() is None, _death(proc)
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        executor.spin_once(timeout_sec=0.05)


def wait_future(executor, future, timeout: float, procs=(), what: str = ""):
    spin_until(executor, future.done, timeout, procs, what)
    return future.result()


def rotation_angle_deg(quaternion) -> float:
    """Angle (degrees) of a geometry_msgs/Quaternion away from the identity."""
    w = abs(float(quaternion.w)) / float(np.linalg.norm([quaternion.x, quaternion.y, quaternion.z, quaternion.w]))
    return float(np.degrees(2.0 * np.arccos(min(1.0, w))))


def flow_target_centroid(flow, object_index: int = 0) -> np.ndarray:
    """Where the flow puts the object's frame-0 centroid at its last frame (rigid fit)."""
    from chord_core.robot.rigid_fit import kabsch

    traj = flow.trajectories[:, flow.object_ids == object_index].astype(float)
    fit = kabsch(traj[0], traj[-1])
    return fit[:3, :3] @ traj[0].mean(axis=0) + fit[:3, 3]

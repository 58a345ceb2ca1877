"""The one place where optional robot backends are chosen: grasp proposers and trajectory solvers.

Backends depend on the core (``grasp``, ``follow_problem``); the core never imports a backend.
AnyGrasp and PyRoki are optional: their modules import without the SDKs and only fail, with
the install instructions, when chosen and missing.
"""

from __future__ import annotations

from collections.abc import Callable

from chord_core.errors import ChordError
from chord_core.robot import anygrasp_backend, pyroki_backend
from chord_core.robot.config import TRAJECTORY_BACKENDS, RobotConfig
from chord_core.robot.grasp import AntipodalSampler, GraspProposer
from chord_core.robot.trajectory import follow_flow

GRASP_BACKENDS = ("auto", "antipodal", "anygrasp")


def make_grasp_proposer(config: RobotConfig, backend: str = "auto") -> GraspProposer:
    """'antipodal', 'anygrasp', or 'auto' (AnyGrasp when its SDK, license and checkpoint are set up)."""
    if backend not in GRASP_BACKENDS:
        raise ChordError(f"unknown grasp backend '{backend}'; use auto, antipodal or anygrasp")
    if backend == "anygrasp" or (backend == "auto" and anygrasp_backend.available()):
        return anygrasp_backend.AnyGraspProposer(config)
    return AntipodalSampler(config)


def resolve_backend(name: str | None) -> str:
    """'auto' (or None) -> 'pinocchio'; 'pyroki' only when PyRoki is importable (else a ChordError
    saying how to install it); anything else is a ChordError."""
    name = (name or "auto").strip().lower()
    if name not in TRAJECTORY_BACKENDS:
        raise ChordError(f"unknown trajectory backend '{name}'; use one of {TRAJECTORY_BACKENDS}")
    if name == "pyroki":
        pyroki_backend.require_pyroki()
        return "pyroki"
    return "pinocchio"


def select_follow(name: str | None) -> tuple[str, Callable]:
    """(resolved backend name, follow function with `trajectory.follow_flow`'s signature)."""
    resolved = resolve_backend(name)
    if resolved == "pyroki":
        return resolved, pyroki_backend.follow_flow_pyroki
    return resolved, follow_flow

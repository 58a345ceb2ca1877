"""Trajectory backend selection (auto | pinocchio | pyroki) and the optional PyRoki backend.

The selection, the missing-PyRoki error and the certification of a backend's result run
everywhere; the PyRoki solves themselves run only where `pyroki` imports (it is not on PyPI).
"""

import argparse
import subprocess
import sys

import numpy as np
import pytest

from chord_core.errors import ChordError
from chord_core.robot import backends, flow_cases, planner, pyroki_backend, trajectory
from chord_core.robot.config import load_robot_config
from chord_core.robot.grasp import AntipodalSampler
from chord_core.robot.planner import attached_points, plan_flow, plan_report
from chord_core.robot.safety import PlanRefused

MISSING = "pyroki: ModuleNotFoundError: No module named 'pyroki'"


@pytest.fixture
def pyroki_missing(monkeypatch):
    monkeypatch.setattr(pyroki_backend, "_import_error", lambda: MISSING)


@pytest.fixture
def small_case():
    return flow_cases.lift_and_move(t_count=9, n=200)


def test_auto_and_pinocchio_select_the_scipy_solver():
    for name in (None, "auto", "pinocchio", " Pinocchio "):
        assert backends.select_follow(name) == ("pinocchio", trajectory.follow_flow)


def test_unknown_backend_is_refused_by_selection_and_config():
    with pytest.raises(ChordError, match="unknown trajectory backend 'ceres'"):
        backends.resolve_backend("ceres")
    with pytest.raises(ChordError, match="trajectory_backend 'ceres'"):
        load_robot_config(None, trajectory_backend="ceres")
    assert load_robot_config("config/robot_panda.yaml").trajectory_backend == "auto"
    assert load_robot_config(None, trajectory_backend="pyroki").trajectory_backend == "pyroki"


def test_missing_pyroki_names_the_install_command(pyroki_missing):
    assert not pyroki_backend.pyroki_available()
    with pytest.raises(ChordError) as info:
        backends.select_follow("pyroki")
    message = str(info.value)
    assert "pip install git+https://github.com/chungmin99/pyroki" in message
    assert "GitHub access" in message and MISSING in message and "pinocchio" in message
    with pytest.raises(ChordError, match="chungmin99/pyroki"):
        pyroki_backend.follow_flow_pyroki(None, np.zeros(7), np.zeros((2, 3, 3)), 10.0)


def test_real_environment_agrees_with_availability():
    if pyroki_backend.pyroki_available():
        assert backends.resolve_backend("pyroki") == "pyroki"
    else:
        with pytest.raises(ChordError, match="not importable here"):
            backends.resolve_backend("pyroki")


def test_plan_with_missing_pyroki_is_a_config_error_not_a_refusal(panda, small_case, pyroki_missing):
    for plan in (plan_flow, plan_report):
        with pytest.raises(ChordError, match="chungmin99/pyroki") as info:
            plan(small_case.flow, small_case.scene, panda, "grasp", trajectory_backend="pyroki")
        assert not isinstance(info.value, PlanRefused)


def test_chord_core_imports_without_jax_or_pyroki():
    code = ("import sys; import chord_core.robot.pyroki_backend, chord_core.robot.planner, "
            "chord_core.commands.plan; bad = [m for m in ('jax', 'jaxls', 'pyroki') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_cli_passes_the_backend_option():
    from chord_core.commands import plan as plan_cli

    parser = argparse.ArgumentParser()
    plan_cli.add_arguments(parser)
    base = ["flow.npz", "--scene", "box.npz", "--out", "out"]
    assert parser.parse_args(base).trajectory_backend is None
    assert parser.parse_args(base + ["--trajectory-backend", "pyroki"]).trajectory_backend == "pyroki"
    with pytest.raises(SystemExit):
        parser.parse_args(base + ["--trajectory-backend", "ceres"])


def test_a_backend_result_goes_through_tracking_check_and_certification(panda, small_case, monkeypatch):
    """Whatever the selected backend returns is certified like the default one's: a stand-in for
    PyRoki (the scipy solve) yields an accepted plan labelled 'pyroki'; with certification rigged
    to refuse, the plan is refused; a backend returning garbage is refused by the tracking check."""
    calls = []

    def stand_in(*args, **kwargs):
        calls.append(1)
        return trajectory.follow_flow(*args, **kwargs)

    monkeypatch.setattr(pyroki_backend, "_import_error", lambda: None)
    monkeypatch.setattr(pyroki_backend, "follow_flow_pyroki", stand_in)
    proposer = AntipodalSampler(panda.config, num_samples=60)
    plan = plan_flow(small_case.flow, small_case.scene, panda, "grasp", proposer=proposer,
                     trajectory_backend="pyroki")
    assert calls and plan.accepted and plan.extra["trajectory_backend"] == "pyroki"

    def refuse(model, draft):
        raise PlanRefused(4, "certification ran")

    with monkeypatch.context() as patch:
        patch.setattr(planner, "check_trajectory", refuse)
        with pytest.raises(PlanRefused, match="certification ran"):
            plan_flow(small_case.flow, small_case.scene, panda, "grasp", proposer=proposer,
                      trajectory_backend="pyroki")

    def frozen(model, q0, traj, fps, push=False, **kwargs):
        sol = trajectory.follow_flow(model, q0, traj, fps, push=push, **kwargs)
        sol.q[:] = q0  # the arm never moves: the object would not follow the flow
        return sol

    monkeypatch.setattr(pyroki_backend, "follow_flow_pyroki", frozen)
    with pytest.raises(PlanRefused, match="unreachable"):
        plan_flow(small_case.flow, small_case.scene, panda, "grasp", proposer=proposer,
                  trajectory_backend="pyroki")


# -- PyRoki itself (skipped where it is not installed) ---------------------------------------------

RIGID_FRAMES = 15


def _follow_frames(plan, t_count):
    frame_q = {}
    for i, phase in enumerate(plan.phases):
        if phase in ("close", "follow"):
            frame_q.setdefault(int(plan.flow_frames[i]), plan.positions[i])
    return np.array([frame_q[t] for t in range(t_count)])


def test_pyroki_tracks_an_exactly_rigid_flow_below_one_millimetre(panda):
    pytest.importorskip("pyroki")
    case = flow_cases.lift_and_move(t_count=RIGID_FRAMES, n=300)
    plan = plan_flow(case.flow, case.scene, panda, "grasp", trajectory_backend="pyroki")
    assert plan.accepted and plan.extra["trajectory_backend"] == "pyroki"
    q = _follow_frames(plan, case.flow.num_frames)
    moved = attached_points(panda, q, q[0], case.flow.points.astype(float), push=False)
    assert np.linalg.norm(moved - case.flow.trajectories, axis=2).max() < 1e-3  # every point
    assert plan.max_tracking_error < 1e-3


@pytest.mark.parametrize("mode", ["grasp", "push"])
def test_pyroki_agrees_with_the_pinocchio_backend(panda, mode):
    pytest.importorskip("pyroki")
    case = (flow_cases.lift_and_move if mode == "grasp" else flow_cases.push_across)(t_count=RIGID_FRAMES, n=300)
    plan = plan_flow(case.flow, case.scene, panda, mode, trajectory_backend="pinocchio")
    q0 = _follow_frames(plan, case.flow.num_frames)[0]
    traj = case.flow.trajectories.astype(float)
    push = mode == "push"
    reference = trajectory.follow_flow(panda, q0, traj, case.flow.fps, push=push)
    sol = pyroki_backend.follow_flow_pyroki(panda, q0, traj, case.flow.fps, push=push)
    assert sol.q.shape == reference.q.shape and np.array_equal(sol.q[0], q0)
    assert sol.tracking_errors.max() < 1e-3
    assert abs(sol.tracking_errors.max() - reference.tracking_errors.max()) < 2e-4
    assert np.abs(sol.q - reference.q).max() < 2e-2

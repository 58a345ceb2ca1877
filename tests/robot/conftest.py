"""Shared fixtures: one kinematic model per session (URDF parsing is the slow part)."""

import pytest

from chord_core.robot.model import RobotModel


@pytest.fixture(scope="session")
def panda() -> RobotModel:
    return RobotModel()

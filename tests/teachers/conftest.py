"""Tiny random-weight Wan 2.2 checkpoints, written once per session in the diffusers layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from chord_core.teachers.tiny import build_tiny_wan


@pytest.fixture(scope="session")
def tiny_i2v_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_wan(tmp_path_factory.mktemp("wan-i2v"), "i2v-a14b")


@pytest.fixture(scope="session")
def tiny_ti2v_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_wan(tmp_path_factory.mktemp("wan-ti2v"), "ti2v-5b")


@pytest.fixture(scope="session")
def i2v_teacher(tiny_i2v_dir: Path):
    from chord_core.teachers import load_teacher

    teacher = load_teacher("wan-i2v-a14b", tiny_i2v_dir, "cpu")
    teacher.set_prompt("the man lowers the lamp head", "static")
    return teacher


@pytest.fixture(scope="session")
def ti2v_teacher(tiny_ti2v_dir: Path):
    from chord_core.teachers import load_teacher

    teacher = load_teacher("wan-ti2v-5b", tiny_ti2v_dir, "cpu")
    teacher.set_prompt("the robot arm pushes the box", "static")
    return teacher

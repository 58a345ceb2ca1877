"""Typed configuration: presets, the robot config and node parameters refuse wrong types on load with
one message naming the file, the key, the expected type and the value given."""

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from chord_core.distill.presets import PRESET_NAMES, load_preset
from chord_core.errors import ChordError
from chord_core.formats.config_files import check_fields, describe
from chord_core.robot.config import RobotConfig, load_robot_config

ROOT = Path(__file__).resolve().parents[1]
UNQUOTE = "; write numbers without quotes"
EXPONENT = "; YAML reads an exponent without a dot as text: write 1.0e-3, not 1e-3"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, message", [
    ("iterations: '200'\n", "iterations must be an integer, got '200' (str)" + UNQUOTE),
    ("iterations: 2.5\n", "iterations must be an integer, got 2.5 (float)"),
    ("frames: true\n", "frames must be an integer, got True (bool)"),
    ("fps: fast\n", "fps must be a number, got 'fast' (str)"),
    ("use_fine: 1\n", "use_fine must be a boolean (true/false), got 1 (int)"),
    ("device: 0\n", "device must be a string, got 0 (int)"),
    ("lr_deformation: [6e-3, 6e-5]\n",  # YAML 1.1 reads a dotless exponent as text
     "lr_deformation must be a list of numbers, got ['6e-3', '6e-5'] (list)" + EXPONENT),
    ("cfg: 25.0\n", "cfg must be a list of numbers, got 25.0 (float)"),
])
def test_preset_with_a_wrong_type_names_file_key_type_and_value(tmp_path, text, message):
    path = _write(tmp_path, "name: mine\n" + text)
    with pytest.raises(ChordError) as info:
        load_preset(str(path))
    assert str(info.value) == f"{path}: {message}"


@pytest.mark.parametrize("text, message", [
    ("velocity_scale: '0.8'\n", "velocity_scale must be a number, got '0.8' (str)" + UNQUOTE),
    ("palm_size: [0.05, 0.21]\n", "palm_size must be a list of 3 numbers, got [0.05, 0.21] (list)"),
    ("workspace_min: [0.05, '-0.7', 0.0]\n",
     "workspace_min must be a list of 3 numbers, got [0.05, '-0.7', 0.0] (list)" + UNQUOTE),
    ("arm_joints: panda_joint1\n", "arm_joints must be a list of strings, got 'panda_joint1' (str)"),
    ("home: [0, 0, 0, 0, 0, 0, null]\n", "home must be a list of numbers, got [0, 0, 0, 0, 0, 0, None] (list)"),
    ("extra: []\n", "extra must be a mapping, got [] (list)"),
])
def test_robot_config_with_a_wrong_type_names_file_key_type_and_value(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ChordError) as info:
        load_robot_config(path)
    assert str(info.value) == f"{path}: {message}"


def test_robot_config_overrides_are_checked_too():
    with pytest.raises(ChordError) as info:
        load_robot_config(None, urdf_path=5)
    assert str(info.value) == "robot config overrides: urdf_path must be a string, got 5 (int)"


@pytest.mark.parametrize("text, message", [
    ("- iterations\n", "a preset must be a mapping of Preset fields, got list"),
    ("iterations: [1\n", "not valid YAML"),
])
def test_a_preset_file_that_is_no_mapping_is_named(tmp_path, text, message):
    path = _write(tmp_path, text)
    with pytest.raises(ChordError) as info:
        load_preset(str(path))
    assert str(info.value).startswith(f"{path}: {message}")


def test_integers_pass_for_floats_and_lists_become_tuples(tmp_path):
    preset = load_preset(str(_write(tmp_path, "name: mine\nfps: 4\nlr_deformation: [1, 0.5]\ncfg: [25, 12]\n")))
    assert (preset.fps, preset.lr_deformation, preset.cfg) == (4, [1, 0.5], [25, 12])
    config = load_robot_config(_write(tmp_path, "velocity_scale: 1\nworkspace_min: [0, -1, 0]\nhome: [0, 1]\n"))
    assert config.velocity_scale == 1 and config.workspace_min == (0, -1, 0) and config.home == (0, 1)
    assert isinstance(config.workspace_min, tuple) and isinstance(config.home, tuple)


def test_range_checks_still_run_after_the_type_checks(tmp_path):
    with pytest.raises(ChordError, match="frames must be >= 2"):
        load_preset(str(_write(tmp_path, "frames: 1\n")))
    with pytest.raises(ChordError, match=r"velocity_scale in \(0, 1\]"):
        load_robot_config(_write(tmp_path, "velocity_scale: 2\n"))


def test_every_shipped_preset_file_is_named_and_loads():
    files = sorted((ROOT / "config" / "presets").glob("*.yaml"))
    assert {f.stem for f in files} == set(PRESET_NAMES)
    for path in files:
        assert load_preset(str(path)).name == path.stem


def test_the_shipped_robot_config_loads():
    assert load_robot_config(ROOT / "config" / "robot_panda.yaml") == RobotConfig()


@dataclass
class _Hinted:
    mode: Literal["grasp", "push"] = "grasp"
    limit: float | None = None
    pose: tuple[str, float] = ("a", 0.0)


@pytest.mark.parametrize("values, message", [
    ({"mode": "carry"}, "mode must be one of ['grasp', 'push'], got 'carry' (str)"),
    ({"limit": "1"}, "limit must be a number or null, got '1' (str)" + UNQUOTE),
    ({"pose": [0.0, "a"]}, "pose must be a list [a string, a number], got [0.0, 'a'] (list)"),
])
def test_literal_optional_and_mixed_tuple_hints(values, message):
    with pytest.raises(ChordError) as info:
        check_fields(_Hinted, values, "x.yaml", "test")
    assert str(info.value) == f"x.yaml: {message}"


def test_hints_accept_their_values_and_read_as_words():
    assert check_fields(_Hinted, {"mode": "push", "limit": None, "pose": ["b", 1]}, "x.yaml", "test") == {
        "mode": "push", "limit": None, "pose": ("b", 1)}
    assert check_fields(_Hinted, {"limit": 2}, "x.yaml", "test") == {"limit": 2}
    assert describe(list[tuple[float, float]]) == "a list of items, each a list of 2 numbers"


@pytest.mark.parametrize("given, default, good, message", [
    ("200", 0, 200, "must be an integer like its default 0: Trying to set parameter 'p' to '200' of type 'STRING'"),
    (2, 2.0, 2.5, "must be a number with a decimal point like its default 2.0: Trying to set parameter 'p' to '2'"),
    (3, [], ["x"], "must be a list of strings like its default []: Trying to set parameter 'p' to '3'"),
])
def test_a_node_parameter_of_the_wrong_type_is_a_chord_error(rclpy_context, given, default, good, message):
    from rclpy.node import Node
    from rclpy.parameter import Parameter

    from chord_ros.node_params import declare

    node = Node("typed", context=rclpy_context, parameter_overrides=[Parameter("p", value=given)])
    try:
        with pytest.raises(ChordError) as info:
            declare(node, "p", default, "a parameter")
        assert str(info.value).startswith(f"typed: parameter p (params file or -p) {message}")
        right = Node("typed_ok", context=rclpy_context, parameter_overrides=[Parameter("p", value=good)])
        assert declare(right, "p", default, "a parameter") == good
        right.destroy_node()
    finally:
        node.destroy_node()


def test_a_wrong_typed_override_ends_the_node_with_one_line_and_code_2():
    done = subprocess.run([sys.executable, "-m", "chord_ros.nodes.flow_recorder", "--ros-args",
                           "-p", "discovery_period:=1"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "error: flow_recorder: parameter discovery_period (params file or -p) must be a number with a " \
           "decimal point like its default 0.5" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("change, message", [({"vae_dtype": "fp32"}, "vae_dtype must be one of"),
                                             ({"transformer_dtype": "int8"}, "transformer_dtype must be one of"),
                                             ({"flow_shift": 0.0}, "flow_shift must be > 0")])
def test_wan_knobs_of_a_preset_are_checked(change, message):
    with pytest.raises(ChordError, match=message):
        load_preset("gpu-14b").replace(**change)

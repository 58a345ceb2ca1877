"""This repository in a colcon workspace: `colcon build` installs chord_ros, and an installed
chord_ros (copied or symlinked) finds its data files through the ament index, not the checkout."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def copy_checkout(destination: Path) -> None:
    """The repository's files (tracked and new, not ignored), as a fresh clone would have them."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)


def colcon_build(workspace: Path, *options: str) -> dict[str, str]:
    """Build the workspace with colcon; the environment of `source install/setup.sh`."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "AMENT_PREFIX_PATH": os.environ.get("AMENT_PREFIX_PATH", sys.prefix)}
    build = subprocess.run(["colcon", "build", *options], cwd=workspace, env=env, capture_output=True, text=True,
                           timeout=600)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    sourced = subprocess.run(["bash", "-c", ". install/setup.sh && env -0"], cwd=workspace, env=env,
                             capture_output=True, check=True).stdout.decode()
    return dict(line.split("=", 1) for line in sourced.split("\0") if "=" in line)


@pytest.mark.parametrize("symlink", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["copied", "symlinked"])
def test_an_installed_package_finds_its_data_in_its_share_directory(tmp_path, symlink):
    if shutil.which("colcon", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}") is None:
        pytest.fail("colcon is not installed: run scripts/setup.sh (pip-only) or source a ROS 2 install")
    copy_checkout(tmp_path / "src" / "chord_ros")
    env = colcon_build(tmp_path, *(["--symlink-install"] if symlink else []))
    share = tmp_path / "install" / "chord_ros" / "share" / "chord_ros"
    probe = ("import chord_core, json; from chord_core.distill.presets import preset_path; "
             "from chord_core.share import config_path; from chord_ros.graph import demo_scene, nodes; "
             "from chord_ros.middleware import use_service_profile; "
             "print(json.dumps([chord_core.__file__, str(preset_path('mini')), str(config_path('robot_panda.yaml')), "
             "[str(n.params_file) for n in nodes({})], demo_scene('chest'), str(use_service_profile({}))]))")
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    module, preset, robot, params, (chest_scans, chest_motion), dds_profile = json.loads(run.stdout)
    # copied: everything from install/; symlinked (setup.py develop): the workspace's source is live
    data = (tmp_path / "src" / "chord_ros") if symlink else share
    code = (tmp_path / "src" / "chord_ros") if symlink else tmp_path / "install" / "chord_ros"
    assert Path(module).resolve().is_relative_to(code)  # not the checkout this test runs from
    assert Path(preset) == data / "config" / "presets" / "mini.yaml"
    assert Path(robot) == data / "config" / "robot_panda.yaml"
    assert params and all(Path(p).parent == data / "config" and Path(p).is_file() for p in params)
    assert Path(preset).read_text() == (ROOT / "config" / "presets" / "mini.yaml").read_text()
    assert chest_scans == [str(data / "config" / "scenes" / "chest" / "chest.ply")] and Path(chest_motion).is_file()
    assert (data / "config" / "scenes" / "chest" / "chest.joint.yaml").is_file()  # the bundled scenes install whole
    assert Path(dds_profile) == data / "config" / "fastdds_services.xml" and Path(dds_profile).is_file()


@pytest.mark.slow  # about a minute: rosidl generates and compiles chord_msgs
def test_the_readme_workspace_steps_build_and_install_both_packages(tmp_path):
    copy_checkout(tmp_path / "src" / "chord_ros")
    (tmp_path / "src" / "chord_msgs").symlink_to("chord_ros/msg")  # README "Inside an existing ROS 2 workspace"
    # the pip-only ROS wheels need the interpreter named (a ROS 2 install finds its own)
    env = colcon_build(tmp_path, "--cmake-args", "-DBUILD_TESTING=OFF", f"-DPython3_EXECUTABLE={sys.executable}")
    probe = ("import json, chord_msgs, chord_ros; from chord_msgs.msg import ObjectFlow; "
             "from chord_ros.bag import chord_msgs_share; "
             "print(json.dumps([chord_msgs.__file__, chord_ros.__file__, str(chord_msgs_share())]))")
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    msgs_module, ros_module, msgs_share = json.loads(run.stdout)
    install = tmp_path / "install"
    assert Path(msgs_module).is_relative_to(install / "chord_msgs")
    assert Path(ros_module).is_relative_to(install / "chord_ros")
    assert Path(msgs_share) == install / "chord_msgs" / "share" / "chord_msgs"

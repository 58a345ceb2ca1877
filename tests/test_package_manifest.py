"""package.xml: valid for catkin_pkg (what rosdep and colcon read) and complete for rosdep."""

import re
from pathlib import Path

from catkin_pkg.package import parse_package

ROOT = Path(__file__).resolve().parents[1]


def test_manifest_is_valid_and_declares_every_ros_interface_package_the_code_imports():
    package = parse_package(ROOT / "package.xml")
    package.validate()
    declared = {d.name for d in package.exec_depends}
    imported = set()
    for source in (ROOT / "chord_ros").rglob("*.py"):
        imported |= set(re.findall(r"^\s*from (\w+)\.(?:msg|srv|action) import", source.read_text(), flags=re.M))
    assert imported - declared == set(), "imported but not in package.xml"
    assert "chord_msgs" in imported and "trajectory_msgs" in imported  # the scan found the imports


def test_manifest_has_no_key_rosdep_cannot_resolve_or_that_installs_a_second_torch():
    package = parse_package(ROOT / "package.xml")
    keys = {d.name for d in package.buildtool_depends + package.build_depends + package.exec_depends
            + package.test_depends}
    # ament_python is a build type, not a package (rosdep: "cannot resolve key"); python3-torch would
    # put the distribution's torch beside the pinned wheel of requirements.txt
    assert {"ament_python", "python3-torch"} & keys == set()
    assert package.get_build_type() == "ament_python"

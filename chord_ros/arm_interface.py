"""Which action types talk to the arm and the gripper (the `trajectory_interface` switch).

`control_msgs/action/FollowJointTrajectory` (arm) and `control_msgs/action/GripperCommand`
(gripper) are the ros2_control conventions but are not on PyPI; `chord_msgs/action/...` are our
field-compatible minimal copies. "auto" picks control_msgs when it imports (a full ROS 2 install),
else chord_msgs. Both ends of a link (planner and arm server) must resolve to the same type; DDS
refuses to match different types.
"""

from __future__ import annotations

from importlib import import_module

from chord_core.errors import ChordError

TRAJECTORY_INTERFACES = ("auto", "control_msgs", "chord_msgs", "topic")


def _action_type(name: str, interface: str):
    if interface not in TRAJECTORY_INTERFACES or interface == "topic":
        raise ChordError(f"trajectory_interface '{interface}' has no action type; "
                         f"use one of {TRAJECTORY_INTERFACES[:3]}")
    if interface in ("auto", "control_msgs"):
        try:
            return getattr(import_module("control_msgs.action"), name)
        except ImportError:
            if interface == "control_msgs":
                raise ChordError("trajectory_interface 'control_msgs' needs the control_msgs package "
                                 "(a full ROS 2 install); use 'chord_msgs' or 'auto'") from None
    return getattr(import_module("chord_msgs.action"), name)


def follow_joint_trajectory_type(interface: str = "auto"):
    """The arm's FollowJointTrajectory action class for `interface` ("auto", "control_msgs" or "chord_msgs")."""
    return _action_type("FollowJointTrajectory", interface)


def gripper_command_type(interface: str = "auto"):
    """The gripper's GripperCommand action class; "topic" (arm trajectories on a topic) uses "auto"."""
    return _action_type("GripperCommand", "auto" if interface == "topic" else interface)

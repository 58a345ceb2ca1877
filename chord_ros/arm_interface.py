"""Which FollowJointTrajectory action type talks to the arm (the `trajectory_interface` switch).

`control_msgs/action/FollowJointTrajectory` is the ros2_control convention but is not on PyPI;
`chord_msgs/action/FollowJointTrajectory` is our field-compatible minimal copy. "auto" picks
control_msgs when it imports (a full ROS 2 install), else chord_msgs. Both ends of a link (planner
and arm server) must resolve to the same type; DDS refuses to match different types.
"""

from __future__ import annotations

from chord_core.errors import ChordError

TRAJECTORY_INTERFACES = ("auto", "control_msgs", "chord_msgs", "topic")


def follow_joint_trajectory_type(interface: str = "auto"):
    """The action class for `interface` ("auto", "control_msgs" or "chord_msgs")."""
    if interface not in TRAJECTORY_INTERFACES or interface == "topic":
        raise ChordError(f"trajectory_interface '{interface}' has no action type; "
                         f"use one of {TRAJECTORY_INTERFACES[:3]}")
    if interface in ("auto", "control_msgs"):
        try:
            from control_msgs.action import FollowJointTrajectory
            return FollowJointTrajectory
        except ImportError:
            if interface == "control_msgs":
                raise ChordError("trajectory_interface 'control_msgs' needs the control_msgs package "
                                 "(a full ROS 2 install); use 'chord_msgs' or 'auto'") from None
    from chord_msgs.action import FollowJointTrajectory
    return FollowJointTrajectory

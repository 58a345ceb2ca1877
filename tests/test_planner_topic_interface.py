"""planner + sim_arm with trajectory_interface:=topic (its own module: the action-mode graph of
test_planner_node.py must not be running beside it)."""

import numpy as np
from node_process import flow_target_centroid, start_node, stop_nodes
from test_planner_node import Observer

from chord_core.formats.scans import Scan, save_scan
from chord_core.robot import flow_cases


def test_topic_interface_executes_the_plan(tmp_path, rclpy_context):
    """trajectory_interface:=topic on both ends: a plain JointTrajectory moves the box too (with
    auto_execute, so the plan goes out without an execute request)."""
    case = flow_cases.lift_and_move()
    scene = save_scan(Scan("box", case.scene["box"]), tmp_path / "box.npz")
    topic = {"trajectory_interface": "topic"}
    procs = [start_node("sim_arm", {"scene_files": f"['{scene}']", "real_time_factor": 20.0, **topic},
                        tmp_path / "sim_arm.log"),
             start_node("planner", {"grasp_backend": "antipodal", "auto_execute": True, **topic},
                        tmp_path / "planner.log")]
    observer = None
    try:
        observer = Observer(rclpy_context, procs)
        observer.spin_until(lambda: observer.flow_pub.get_subscription_count() > 0 and observer.pose is not None,
                            what="the planner's flow subscription and the simulated box")
        report = observer.plan(case.flow)
        assert report.accepted, report.reason
        target = flow_target_centroid(case.flow)

        def box_at_target() -> bool:
            p = observer.pose.pose.position
            return np.linalg.norm(np.array([p.x, p.y, p.z]) - target) <= 0.01

        observer.spin_until(box_at_target, timeout=120, what="the box to reach the flow's target")
        observer.spin_for(1.0)  # and stay there after the release
        assert box_at_target()
    finally:
        stop_nodes(*procs)
        if observer is not None:
            observer.node.destroy_node()

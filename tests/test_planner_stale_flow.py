"""planner + sim_arm as processes, their own graph: a flow that starts its object where the object
no longer is (its latest cloud on /chord/objects/<name>) is refused before anything moves. The
reliability soak met it: a flow distilled from the cloud of before an earlier plan carried the
block was planned where the block had been, and the gripper closed on nothing."""

import numpy as np
from sensor_msgs.msg import PointCloud2
from test_planner_node import planner_graph

from chord_core.robot import flow_cases
from chord_ros import names
from chord_ros.convert import numpy_to_cloud
from chord_ros.node_params import latched_qos


def test_a_flow_of_an_object_that_has_moved_since_is_refused_and_never_sent(tmp_path):
    case = flow_cases.lift_and_move()
    box = case.scene["box"].astype(np.float32)
    # sim_arm publishes no clouds here: the test is the perception, and says where the box is now
    with planner_graph(tmp_path, {"real_time_factor": 20.0, "publish_clouds": False},
                       {"grasp_backend": "antipodal", "auto_execute": False}) as graph:
        cloud_pub = graph.node.create_publisher(PointCloud2, names.object_cloud_topic("box"), latched_qos())

        def box_now_at(shift) -> None:
            cloud_pub.publish(numpy_to_cloud(box + np.asarray(shift, np.float32), None, "world"))
            graph.spin_for(1.5)  # the planner subscribes once it sees the topic (0.5 s discovery) and takes it

        before = set(graph.goals)
        box_now_at((0.0, 0.06, 0.0))
        report = graph.plan(case.flow)
        assert not report.accepted and report.offending_frame == 0
        assert "the flow starts 'box' 6.0 cm from where it is now" in report.reason, report.reason
        assert "moved since the command" in report.reason
        box_now_at((0.01, 0.0, 0.0))  # 1 cm: within max_start_offset (2 cm), e.g. a new scan of the same box
        report = graph.plan(case.flow)
        assert report.accepted, report.reason
        graph.spin_for(1.0)
        assert set(graph.goals) == before  # neither was sent (auto_execute off, no confirmation)

"""sim_arm with a scan that has a joint description (the bundled chest): the lid is simulated on
its hinge, and a planned opening turns the joint that /chord/object_joints and /tf report. Its own
module: the box module's sim_arm (a module fixture) must be gone, or two servers answer one goal."""

import numpy as np
from test_sim_arm_node import sim_arm

from chord_core.robot.model import RobotModel
from chord_core.robot.planner import plan_flow
from chord_ros import names


def test_a_described_lid_turns_on_its_hinge_and_its_joint_and_part_frame_are_published(tmp_path):
    """The bundled chest (chest.joint.yaml beside its scan): shut at rest on /chord/object_joints,
    the lid's frame on /tf at its scanned centroid; the scene's known 60 deg opening (motion.npz),
    planned and executed, leaves the joint within 5 deg of 60 and the lid's frame turned with it."""
    from scipy.spatial.transform import Rotation
    from tf2_msgs.msg import TFMessage

    from chord_core.formats.flow import Flow
    from chord_core.formats.reference_motion import ReferenceMotion
    from chord_core.formats.scans import load_scan
    from chord_core.robot.scene_joints import load_scan_joint
    from chord_ros import graph

    (scan_path,), motion_path = graph.demo_scene("chest")
    scan = load_scan(scan_path).points.astype(float)
    lid = scan[load_scan_joint(scan_path, scan).mask]
    opening = ReferenceMotion.load(motion_path).resampled(41).apply(scan)
    flow = Flow(opening, np.zeros(len(scan), np.int32), 10.0, "open the lid", ["chest"])
    with sim_arm(tmp_path, scan_path, "chest") as arm:
        got = {}
        arm.node.create_subscription(TFMessage, names.TF_TOPIC, lambda m: got.__setitem__("tf", m), 10)

        def part_frame():
            got.pop("tf", None)
            arm.spin_until(lambda: "tf" in got and any(t.child_frame_id == names.object_part_frame("chest")
                                                       for t in got["tf"].transforms), what="the lid on /tf")
            t = next(t.transform for t in got["tf"].transforms if t.child_frame_id == names.object_part_frame("chest"))
            return (np.array([t.translation.x, t.translation.y, t.translation.z]),
                    Rotation.from_quat([t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w]))

        arm.spin_until(lambda: arm.object_joints is not None, what="/chord/object_joints")
        assert list(arm.object_joints.name) == [names.object_joint_name("chest")]
        assert abs(arm.object_joints.position[0]) < 1e-3
        position, rotation = part_frame()
        np.testing.assert_allclose(position, lid.mean(axis=0), atol=1e-3)
        plan = plan_flow(flow, {"chest": scan}, RobotModel(), "grasp", q_start=arm.current()[:7])
        assert plan.extra.get("part") is not None, "the planner must take the lid, not the chest"
        arm.execute(plan)
        arm.object_joints = None
        arm.spin_until(lambda: arm.object_joints is not None, what="the joint after the opening")
        opened = arm.object_joints.position[0]
        assert abs(np.degrees(opened) - 60.0) <= 5.0, np.degrees(opened)
        position, rotation = part_frame()
        assert abs(rotation.magnitude() - opened) < np.radians(1.0)  # the frame turned with the joint
        assert position[2] > lid.mean(axis=0)[2] + 0.03  # and the lid went up

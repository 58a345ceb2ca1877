"""A second process for transport tests: publishes a flow or a cloud from an .npz file.

    python tests/ros_peer.py flow  IN.npz TOPIC
    python tests/ros_peer.py cloud IN.npz TOPIC   (IN.npz holds xyz and rgb)

Publishes every 0.2 s until killed, so the test's subscriber may join at any time.
"""

import sys
import time

import numpy as np
import rclpy

from chord_core.formats.flow import Flow
from chord_ros.convert import flow_to_msg, numpy_to_cloud


def main() -> None:
    kind, path, topic = sys.argv[1:4]
    if kind == "flow":
        from chord_msgs.msg import ObjectFlow as msg_type

        msg = flow_to_msg(Flow.load(path), frame_id="panda_link0")
    else:
        from sensor_msgs.msg import PointCloud2 as msg_type

        data = np.load(path)
        msg = numpy_to_cloud(data["xyz"], data["rgb"], frame_id="panda_link0")
    rclpy.init()
    node = rclpy.create_node("chord_test_peer")
    publisher = node.create_publisher(msg_type, topic, 1)
    deadline = time.monotonic() + 120.0
    while time.monotonic() < deadline:
        publisher.publish(msg)
        rclpy.spin_once(node, timeout_sec=0.2)


if __name__ == "__main__":
    main()

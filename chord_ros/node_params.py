"""Small helpers every chord node uses: described parameters and the QoS of latched topics."""

from __future__ import annotations

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy


def declare(node: Node, name: str, default, description: str):
    """Declare a parameter with its description (shown by `ros2 param describe`) and return its value."""
    descriptor = ParameterDescriptor(description=description)
    if isinstance(default, list) and not default:  # an empty list has no type to infer: say it is strings
        value = node.declare_parameter(name, Parameter.Type.STRING_ARRAY, descriptor).value
        return list(value) if value is not None else []
    return node.declare_parameter(name, default, descriptor).value


def latched_qos(depth: int = 1) -> QoSProfile:
    """Reliable + transient local: a late subscriber still gets the last message (flows, clouds, plans)."""
    return QoSProfile(depth=depth, reliability=QoSReliabilityPolicy.RELIABLE,
                      durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)


def matching_qos(depth: int = 1) -> QoSProfile:
    """Subscriber QoS that matches latched and volatile publishers alike (best-available policies)."""
    return QoSProfile(depth=depth, reliability=QoSReliabilityPolicy.BEST_AVAILABLE,
                      durability=QoSDurabilityPolicy.BEST_AVAILABLE)

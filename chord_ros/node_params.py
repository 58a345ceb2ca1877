"""Small helpers every chord node uses: described parameters and the QoS of latched topics."""

from __future__ import annotations

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSDurabilityPolicy, QoSProfile, QoSReliabilityPolicy

from chord_core.errors import ChordError
from chord_core.formats.config_files import describe


def declare(node: Node, name: str, default, description: str):
    """Declare a parameter with its description (shown by `ros2 param describe`) and return its value.

    The default fixes the type; a params file or `-p` override of another type (`iterations: '200'`,
    `log_period: 2` for a float) is a ChordError, one line from `run_node` instead of a traceback.
    """
    descriptor = ParameterDescriptor(description=description)
    try:
        if isinstance(default, list) and not default:  # an empty list has no type to infer: say it is strings
            value = node.declare_parameter(name, Parameter.Type.STRING_ARRAY, descriptor).value
            return list(value) if value is not None else []
        return node.declare_parameter(name, default, descriptor).value
    except InvalidParameterTypeException as error:
        hint = list[type(default[0]) if default else str] if isinstance(default, list) else type(default)
        # unlike the config files, ROS does not take an integer for a float parameter
        expected = "a number with a decimal point" if hint is float else describe(hint)
        raise ChordError(f"{node.get_name()}: parameter {name} (params file or -p) must be {expected} "
                         f"like its default {default!r}: {error}") from None


def latched_qos(depth: int = 1) -> QoSProfile:
    """Reliable + transient local: a late subscriber still gets the last message (flows, clouds, plans)."""
    return QoSProfile(depth=depth, reliability=QoSReliabilityPolicy.RELIABLE,
                      durability=QoSDurabilityPolicy.TRANSIENT_LOCAL)


def publishers_qos(node: Node, topic: str, depth: int = 10) -> QoSProfile | None:
    """Subscriber QoS that matches every publisher now on `topic` and gets latched history;
    None while the topic has no publisher (subscribe later, once one shows up).

    For subscriptions made after discovery (recorder, cloud cache). Fixed profiles do not work
    there: transient local rejects volatile publishers, and volatile misses latched samples;
    DDS's "best available" decides at creation, before late publishers exist.
    """
    publishers = node.get_publishers_info_by_topic(topic)
    if not publishers:
        return None
    durable = all(p.qos_profile.durability == QoSDurabilityPolicy.TRANSIENT_LOCAL
                                       for p in publishers)
    reliable = all(p.qos_profile.reliability == QoSReliabilityPolicy.RELIABLE for p in publishers)
    return QoSProfile(depth=depth,
                      reliability=QoSReliabilityPolicy.RELIABLE if reliable else QoSReliabilityPolicy.BEST_EFFORT,
                      durability=QoSDurabilityPolicy.TRANSIENT_LOCAL if durable else QoSDurabilityPolicy.VOLATILE)

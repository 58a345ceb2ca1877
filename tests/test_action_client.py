"""action_client.ActionClient: an executor that reaches the client while it registers can count it."""

from __future__ import annotations

import pytest


def counting_node(context, name: str, counted: list):
    """A node that, right after a waitable registers, counts its entities as a spinning executor
    may do at that moment."""
    import rclpy

    node = rclpy.create_node(name, context=context)
    register = node.add_waitable

    def register_and_count(waitable) -> None:
        register(waitable)
        counted.append(waitable.get_num_entities())

    node.add_waitable = register_and_count
    return node


def test_rclpy_client_cannot_be_counted_while_it_registers(rclpy_context):
    """The race this module works around (ros2/rclpy#1589). When an rclpy upgrade fixes it this
    test fails: then chord_ros.action_client can go."""
    from rclpy.action import ActionClient

    from chord_msgs.action import Choreograph

    counted: list = []
    node = counting_node(rclpy_context, "rclpy_client_race", counted)
    with pytest.raises(AttributeError, match="_lock"):
        ActionClient(node, Choreograph, "/action_client_test")
    assert counted == []


def test_chord_client_can_be_counted_while_it_registers(rclpy_context):
    from chord_msgs.action import Choreograph
    from chord_ros.action_client import ActionClient

    counted: list = []
    node = counting_node(rclpy_context, "chord_client_race", counted)
    client = ActionClient(node, Choreograph, "/action_client_test")
    # an action client waits on its goal, cancel and result services and its feedback and status topics
    assert [(n.num_clients, n.num_subscriptions) for n in counted] == [(3, 2)]
    assert not client.server_is_ready()
    client.destroy()
    node.destroy_node()

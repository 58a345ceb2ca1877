"""rclpy's ActionClient, safe to create on a node that another thread is spinning.

rclpy 9.1.2 (the kilted wheels this package installs) registers a new ActionClient with its node
before it creates the lock the executor takes to count the client's entities (ros2/rclpy#1589). An
executor spinning that node in another thread can reach the client in between; its thread then dies
with ``AttributeError: 'ActionClient' object has no attribute '_lock'``, and every future it would
have completed (goal responses, results) waits forever. `chord-ros command` and `chord-ros demo`
make their choreographer client on a node that is already spinning; measured: one dead spin thread
in about 20 clients made that way in the tests on a loaded 2-core CPU.
"""

from __future__ import annotations

import threading
from typing import Any

from rclpy.action import ActionClient as RclpyActionClient


class ActionClient(RclpyActionClient):
    """An ActionClient whose lock exists before its node can hand it to a spinning executor (rclpy's
    constructor then swaps in a lock of its own, while no request can have been made yet)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._lock = threading.Lock()
        super().__init__(*args, **kwargs)

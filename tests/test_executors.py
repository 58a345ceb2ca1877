"""executors.SubmitOnceExecutor: while every worker is busy, a due callback is queued once and the
spin thread waits instead of looping (rclpy 9.1.2's MultiThreadedExecutor re-queues it on every
pass, and with an action client in the wait set Fast DDS wakes it thousands of times a second)."""

import threading
import time

HOLD_S = 1.0  # how long the only worker stays busy


def settle(received: list, quiet_s: float = 0.3, limit_s: float = 10.0) -> None:
    """Wait until no message has arrived for `quiet_s`."""
    deadline = time.monotonic() + limit_s
    count = -1
    while count != len(received) and time.monotonic() < deadline:
        count = len(received)
        time.sleep(quiet_s)


def test_a_busy_pool_gets_each_callback_once_and_the_spin_thread_waits(rclpy_context, monkeypatch):
    import rclpy
    import rclpy.executors
    from rclpy.action import ActionClient
    from rclpy.callback_groups import ReentrantCallbackGroup
    from std_msgs.msg import Int32

    from chord_msgs.action import FollowJointTrajectory
    from chord_ros.executors import SubmitOnceExecutor

    waits = []  # time of each wait on the rcl wait set

    class CountingWaitSet(rclpy.executors._rclpy.WaitSet):
        def wait(self, timeout):
            waits.append(time.monotonic())
            return super().wait(timeout)

    real = rclpy.executors._rclpy

    class Bindings:
        WaitSet = CountingWaitSet

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(rclpy.executors, "_rclpy", Bindings())

    node = rclpy.create_node("executor_test", context=rclpy_context)
    group = ReentrantCallbackGroup()  # nothing waits for a callback group: only for the worker
    ActionClient(node, FollowJointTrajectory, "/executor_test_action", callback_group=group)
    release, held, received = threading.Event(), threading.Event(), []

    def on_message(msg: Int32) -> None:
        received.append(msg.data)
        if msg.data == 0 or not held.is_set():  # the first callback holds the only worker
            held.set()
            release.wait(30.0)

    node.create_subscription(Int32, "/executor_test", on_message, 100, callback_group=group)
    pub = node.create_publisher(Int32, "/executor_test", 100)
    executor = SubmitOnceExecutor(num_threads=1, context=rclpy_context)
    submitted = []
    pool_submit = executor._executor.submit
    monkeypatch.setattr(executor._executor, "submit", lambda fn, *a, **k: (submitted.append(fn),
                                                                            pool_submit(fn, *a, **k))[1])
    executor.add_node(node)
    spin = threading.Thread(target=executor.spin, daemon=True)
    spin.start()
    stop_publishing = threading.Event()

    def publish() -> None:
        count = 0
        while not stop_publishing.is_set():
            pub.publish(Int32(data=count))
            count += 1
            time.sleep(0.005)

    publisher = threading.Thread(target=publish, daemon=True)
    try:
        publisher.start()
        assert held.wait(30.0), "no message arrived"
        time.sleep(0.2)  # a next message is due: its callback waits for the worker
        start = time.monotonic()
        time.sleep(HOLD_S)
        waits_while_held = sum(1 for t in waits if t >= start)
        release.set()
        before = len(received)
        deadline = time.monotonic() + 30.0
        while len(received) < before + 10 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        release.set()
        stop_publishing.set()
        publisher.join(5.0)
        settle(received)  # a callback still queued at shutdown fails on the destroyed guard condition
        executor.shutdown(timeout_sec=10.0)
        spin.join(10.0)
        node.destroy_node()

    # ~200 messages arrived while the worker was held; the spin thread waited on the pool, not the wait set
    assert waits_while_held <= 2, waits_while_held
    assert len(submitted) == len({id(fn) for fn in submitted}), "a callback was queued twice"
    assert len(received) >= before + 10, "callbacks stopped after the worker was freed"

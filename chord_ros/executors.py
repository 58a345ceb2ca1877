"""The multi-threaded executor every chord_ros process spins: rclpy's, without its hot loops.

rclpy's MultiThreadedExecutor (9.1.2, the kilted wheels this package installs) goes back to the
wait set as soon as it has queued a callback on its thread pool, before a worker has started it.
Two things then keep the spin thread from ever blocking while the callback waits for a worker:
* the executor yields the queued task again on every pass and queues it once more
  (ros2/rclpy#1452, fixed upstream by ros2/rclpy#1547): measured queues of 4,000+ entries;
* with Fast DDS, a wait set that holds an action server or client returns at once, with nothing
  ready, while a subscription's message is still untaken (its callback queued): measured 5,000
  to 10,000 empty waits per second (the open ros2/rclpy#1223 shows the same symptom).
The spin thread then holds the GIL so much that the workers it feeds barely start: sim_arm's
physics ran a 30-simulated-second goal at real_time_factor 20 in 80 to 150 s instead of 1.5 s,
and its 100 Hz /clock and 50 Hz state timers fired 10 to 20 times a second.

Here the spin thread hands out nothing new until every callback it queued has started (the
worker takes the message first), so it waits on the wait set, or on the pool, as it should.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from rclpy.executors import MultiThreadedExecutor


class _StartTrackingPool(ThreadPoolExecutor):
    """A thread pool that can wait until every callable submitted to it has started."""

    def __init__(self, max_workers: int | None) -> None:
        super().__init__(max_workers)
        self._not_started = 0
        self._all_started = threading.Condition()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        with self._all_started:
            self._not_started += 1

        def start():
            with self._all_started:
                self._not_started -= 1
                self._all_started.notify_all()
            return fn(*args, **kwargs)

        return super().submit(start)

    def wait_all_started(self, timeout: float | None) -> bool:
        """True once nothing submitted waits for a worker; False if `timeout` s passed first."""
        with self._all_started:
            return self._all_started.wait_for(lambda: self._not_started == 0, timeout)


class SubmitOnceExecutor(MultiThreadedExecutor):
    """MultiThreadedExecutor whose spin thread waits for its queued callbacks to start (module doc)."""

    POLL_S = 0.1  # how often a spin thread that waits on the pool checks for shutdown

    def __init__(self, num_threads: int | None = None, **kwargs: Any) -> None:
        super().__init__(num_threads=num_threads, **kwargs)
        # rclpy's pool has started no thread yet (ThreadPoolExecutor starts them on submit)
        workers = self._executor._max_workers
        self._executor.shutdown(wait=False)
        self._executor = _StartTrackingPool(workers)

    def wait_for_ready_callbacks(self, timeout_sec: float | None = None, *args: Any, **kwargs: Any):
        """rclpy's, once every callback handed out before has started (at most `timeout_sec` later)."""
        budget = None if timeout_sec is None or timeout_sec < 0 else float(timeout_sec)
        while not self._is_shutdown and self._context.ok():
            wait = self.POLL_S if budget is None else min(self.POLL_S, budget)
            if self._executor.wait_all_started(wait):
                break
            if budget is not None:
                budget -= wait
                if budget <= 0.0:
                    break
        return super().wait_for_ready_callbacks(timeout_sec, *args, **kwargs)

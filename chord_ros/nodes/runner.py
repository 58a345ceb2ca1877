"""One `main` for every node: init, spin until Ctrl-C / SIGTERM, then close resources cleanly."""

from __future__ import annotations

import faulthandler
import signal
import sys
from collections.abc import Callable, Sequence

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node

from chord_core.errors import ChordError
from chord_ros.executors import SubmitOnceExecutor
from chord_ros.middleware import use_service_profile

#: A node still closing this long after Ctrl-C writes every thread's stack to its log: the
#: launcher kills nodes that take more than 10 s, and the stacks say what held one up.
SLOW_CLOSE_S = 7.0

#: How long the spin waits for work before it looks at the Ctrl-C note again: rclpy's handler wakes
#: the wait once, and may shut the context down only after that.
SIGNAL_POLL_S = 0.25


def run_node(make_node: Callable[[], Node], argv: Sequence[str] | None = None, threads: int = 2) -> int:
    """Spin the node built by `make_node`; its `close()` (if any) runs on every exit path.

    SIGINT gets Python's handler first, so a node started with SIGINT ignored (a background job of
    a script, and so every node it launches) still stops cleanly on the launcher's SIGINT. That
    handler only notes the Ctrl-C, and the spin looks at the note every `SIGNAL_POLL_S`. It never
    raises: a KeyboardInterrupt raised into rclpy's code left a node half-built and crashed it
    (SIGSEGV, measured 4 in 80 tries), or left a node handle "in use" so that `destroy_node()` hung
    at shutdown (1 in 12 launches). Nor does the spin wait for rclpy's own handler (chained to ours)
    to shut the context down: it wakes the executor first, and `executor.spin()` could go back to
    an endless wait before the context was down (a node hung until killed)."""
    interrupted = False

    def on_sigint(_signum, _frame) -> None:
        nonlocal interrupted
        interrupted = True

    # before rclpy.init, whose own handler (it wakes the executor) chains to this one
    signal.signal(signal.SIGINT, on_sigint)
    use_service_profile()  # read by Fast DDS when rclpy.init creates the participant
    rclpy.init(args=list(sys.argv if argv is None else argv))
    node, executor, code = None, None, 0
    try:
        node = make_node()
        executor = SubmitOnceExecutor(num_threads=threads)
        executor.add_node(node)
        while not interrupted and rclpy.ok():
            executor.spin_once(timeout_sec=SIGNAL_POLL_S)
    except ExternalShutdownException:
        pass
    except ChordError as error:  # bad parameters: one clear line, no traceback (before the generic
        print(f"error: {error}", file=sys.stderr)  # clause: ChordError is a ValueError)
        code = 2
    except Exception:
        if rclpy.ok():
            raise
        # Ctrl-C shut the context down while the executor was building its wait set (rclpy then
        # raises RCLError "context is not valid" instead of ExternalShutdownException): a normal stop
    finally:
        # the cleanup must finish: `ros2 launch` without a terminal sends its own SIGINT after the
        # operator's, and (when this handler still raised) it killed nodes inside close() with -2
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        faulthandler.dump_traceback_later(SLOW_CLOSE_S)
        if node is not None:
            close = getattr(node, "close", None)
            if close is not None:
                close()
            if executor is not None:  # its worker threads must be done with the node before it goes
                executor.shutdown(timeout_sec=10.0)
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
        faulthandler.cancel_dump_traceback_later()
    return code

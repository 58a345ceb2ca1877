"""nodes.runner.run_node: a Ctrl-C ends the spin without help from rclpy, a second one while a node
cleans up does not cut the cleanup short (`ros2 launch` without a terminal sends its own SIGINT
after the operator's), and a node slow to close writes its threads' stacks to its log."""

import signal
import subprocess
import sys


def ctrl_c(script: str, *args: str) -> tuple[int, str, str]:
    """Run a node script until it prints "ready", send one SIGINT (the operator's Ctrl-C), and
    return its exit code, stdout and stderr."""
    node = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert node.stdout.readline().strip() == "ready"
        node.send_signal(signal.SIGINT)
        out, err = node.communicate(timeout=60)
    finally:
        node.kill()
    return node.returncode, out, err


NODE = '''
import os, signal, sys, time
from rclpy.node import Node
from chord_ros.nodes.runner import run_node

class Twice(Node):
    def __init__(self):
        super().__init__("twice")
        self.timer = self.create_timer(0.01, self.ready)

    def ready(self):  # spinning: the Ctrl-C below interrupts the executor, as an operator's does
        self.timer.cancel()
        print("ready", flush=True)

    def close(self):
        os.kill(os.getpid(), signal.SIGINT)  # launch's own SIGINT, during the cleanup
        time.sleep(0.3)  # delivered here
        print("closed", flush=True)

    def destroy_node(self):
        super().destroy_node()
        print("destroyed", flush=True)

sys.exit(run_node(Twice))
'''


def test_a_second_sigint_during_close_lets_the_cleanup_finish():
    code, out, err = ctrl_c(NODE)
    assert code == 0, out + err
    assert out.split() == ["closed", "destroyed"]
    assert "KeyboardInterrupt" not in err


SLOW = '''
import sys, time
from rclpy.node import Node
from chord_ros.nodes import runner

runner.SLOW_CLOSE_S = 0.2

class Slow(Node):
    def __init__(self):
        super().__init__("slow")
        self.timer = self.create_timer(0.01, self.ready)

    def ready(self):
        self.timer.cancel()
        print("ready", flush=True)

    def close(self):
        time.sleep(float(sys.argv[1]))

sys.exit(runner.run_node(Slow, sys.argv[:1]))
'''


def test_a_node_slow_to_close_writes_where_it_waits():
    """The launcher kills a node that takes over 10 s to close; its log must then say where it hung."""
    code, _, err = ctrl_c(SLOW, "1.0")  # close() takes 1 s
    assert code == 0 and "Timeout" in err and 'line' in err and "in close" in err, err
    code, _, err = ctrl_c(SLOW, "0.0")
    assert code == 0 and "in close" not in err, err


ALONE = '''
import sys
import rclpy
from rclpy.node import Node
from rclpy.signals import uninstall_signal_handlers
from chord_ros.nodes.runner import run_node

class Alone(Node):
    def __init__(self):
        super().__init__("alone")
        uninstall_signal_handlers()  # a Ctrl-C now reaches only run_node's handler: no context shutdown
        self.timer = self.create_timer(0.01, self.ready)

    def ready(self):
        self.timer.cancel()
        print("ready", flush=True)

    def close(self):
        print("closed, context up:", rclpy.ok(), flush=True)

sys.exit(run_node(Alone))
'''


def test_a_ctrl_c_ends_the_spin_even_before_rclpy_shuts_the_context_down():
    """rclpy's handler wakes the executor before it shuts the context down; a spin that waited for
    the shutdown (`executor.spin()`) could go back to an endless wait in between. Here the shutdown
    never comes: the Ctrl-C alone must end the spin, and without a KeyboardInterrupt into rclpy."""
    code, out, err = ctrl_c(ALONE)
    assert code == 0, out + err
    assert out.strip() == "closed, context up: True"
    assert "KeyboardInterrupt" not in err

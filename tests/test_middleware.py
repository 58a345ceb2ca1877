"""middleware.use_service_profile: a node started by `run_node` waits 5 s for a client's response
reader before Fast DDS drops a service (or action) response, not Fast DDS's 100 ms.

The client below puts its response reader in a DDS partition no writer uses, so it never matches
and the server always waits its full max_blocking_time. The server measures that wait: from the
end of its callback to rclpy's warning "failed to send response (timeout)". With an operator's own
(empty) profiles file the product keeps it, and the wait is Fast DDS's default again."""

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from chord_core.share import config_path
from chord_ros.middleware import PROFILES_VARIABLES, use_service_profile

SERVER = '''
import sys, time, warnings
from rcl_interfaces.srv import GetParameters
from rclpy.node import Node
from chord_ros.nodes.runner import run_node

answered = []

def report(message, *_):
    print(f"waited {time.monotonic() - answered[-1]:.3f}", flush=True)

warnings.showwarning = report

class Server(Node):
    def __init__(self):
        super().__init__("chord_test_slow_client_server")
        self.create_service(GetParameters, "/chord_test/unmatched", self.answer)

    def answer(self, _request, response):
        answered.append(time.monotonic())
        return response

sys.exit(run_node(Server))
'''

CLIENT = '''
import rclpy
from rcl_interfaces.srv import GetParameters
rclpy.init()
node = rclpy.create_node("chord_test_slow_client")
client = node.create_client(GetParameters, "/chord_test/unmatched")
while True:  # until killed: a request sent before the server matched the request writer is lost
    client.call_async(GetParameters.Request())
    rclpy.spin_once(node, timeout_sec=1.0)
'''

#: the client's response reader in a partition of its own: no service writer ever matches it
UNMATCHED_READER = """<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns="http://www.eprosima.com"><profiles>
  <data_reader profile_name="client"><qos><partition><names><name>chord_test_nowhere</name></names>
  </partition></qos></data_reader>
</profiles></dds>
"""

EMPTY_PROFILES = """<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns="http://www.eprosima.com"><profiles/></dds>
"""


def response_wait(tmp_path: Path, server_profiles: str | None) -> float:
    """Seconds the server waited before dropping the unmatched client's response."""
    base = {k: v for k, v in os.environ.items() if k not in PROFILES_VARIABLES}
    server_env = dict(base)
    if server_profiles is not None:
        server_env["FASTDDS_DEFAULT_PROFILES_FILE"] = server_profiles
    (tmp_path / "client.xml").write_text(UNMATCHED_READER)
    client_env = {**base, "FASTDDS_DEFAULT_PROFILES_FILE": str(tmp_path / "client.xml")}
    server = subprocess.Popen([sys.executable, "-c", SERVER], env=server_env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    client = subprocess.Popen([sys.executable, "-c", CLIENT], env=client_env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    watchdog = threading.Timer(120.0, server.kill)  # a server that never hears the client: EOF below
    watchdog.start()
    try:
        line = server.stdout.readline()  # the first dropped response (or EOF: the server died)
        if not line.startswith("waited "):
            server.kill()
            pytest.fail(f"the server reported no dropped response: {line!r}\n{server.stderr.read()[-2000:]}")
        return float(line.split()[1])
    finally:
        watchdog.cancel()
        client.kill()
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        client.wait()


def test_node_waits_five_seconds_for_a_slow_client(tmp_path):
    assert response_wait(tmp_path, None) >= 4.9  # the profile's 5 s (a timed wait never ends early)


def test_operator_profiles_file_is_kept(tmp_path):
    (tmp_path / "own.xml").write_text(EMPTY_PROFILES)
    assert response_wait(tmp_path, str(tmp_path / "own.xml")) < 2.5  # Fast DDS's 100 ms, not 5 s


@pytest.mark.parametrize("own", list(PROFILES_VARIABLES))
def test_use_service_profile_sets_only_an_unset_profiles_file(own):
    profile = str(config_path("fastdds_services.xml"))
    environ = {}
    assert str(use_service_profile(environ)) == profile
    assert environ == {"FASTDDS_DEFAULT_PROFILES_FILE": profile}
    environ = {"ROS_DISTRO": "jazzy"}  # Fast DDS 2.x reads the older variable only
    use_service_profile(environ)
    assert environ == {"ROS_DISTRO": "jazzy", "FASTRTPS_DEFAULT_PROFILES_FILE": profile}
    environ = {own: "/etc/lab/fastdds.xml"}
    assert use_service_profile(environ) is None
    assert environ == {own: "/etc/lab/fastdds.xml"}

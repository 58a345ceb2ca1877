"""The DDS settings every chord_ros node starts with: Fast DDS's service profile.

Fast DDS (ROS 2's default RMW) drops a service or action response when the server has not yet
matched the client's response reader within 100 ms; the client then waits forever for the answer
to a goal the server accepted (seen on a loaded 2-core CI machine). config/fastdds_services.xml
gives every service's response writer 5 s to match: its comments say how.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

from chord_core.share import config_path

#: Where Fast DDS looks for an XML profiles file: 3.x (Kilted on, and the wheels scripts/setup.sh
#: installs) reads the first and warns that the second is deprecated; 2.x reads only the second.
PROFILES_VARIABLES = ("FASTDDS_DEFAULT_PROFILES_FILE", "FASTRTPS_DEFAULT_PROFILES_FILE")

#: ROS 2 distributions (ROS_DISTRO, set by sourcing their setup.bash) that ship Fast DDS 2.x
FAST_DDS_2_DISTROS = ("humble", "iron", "jazzy")

SERVICE_PROFILE = "fastdds_services.xml"


def use_service_profile(environ: MutableMapping[str, str] = os.environ) -> Path | None:
    """Point Fast DDS at config/fastdds_services.xml; returns it, or None where the operator named
    a profiles file of their own (it is kept: to keep the longer wait, it needs the `service`
    data_writer profile too). Call before `rclpy.init`: Fast DDS reads the file once per process.
    """
    if any(environ.get(name) for name in PROFILES_VARIABLES):
        return None
    path = config_path(SERVICE_PROFILE)
    fast_dds_2 = environ.get("ROS_DISTRO") in FAST_DDS_2_DISTROS
    environ[PROFILES_VARIABLES[1] if fast_dds_2 else PROFILES_VARIABLES[0]] = str(path)
    return path

"""The `chord-ros` command line: operator and lab tools over the ROS graph.

Same module protocol as `chord` (chord_core.cli): HELP, add_arguments(parser), run(args).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from chord_core.cli import build_parser, dispatch

COMMANDS: dict[str, str] = {
    "command": "chord_ros.command_cli",
    "execute": "chord_ros.execute_cli",
    "stop": "chord_ros.stop_cli",
    "launch": "chord_ros.launcher",
    "demo": "chord_ros.demo",
}
BENCHMARKS: dict[str, str] = {"reliability": "chord_ros.reliability"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser("chord-ros", "chord_ros: text-commanded manipulation over ROS 2.", COMMANDS, BENCHMARKS)
    return dispatch(parser, argv)


if __name__ == "__main__":
    sys.exit(main())

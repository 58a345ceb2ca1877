"""`chord-ros launch manipulate [name:=value ...]`: the manipulate graph without ROS 2's `launch`.

Starts one process per `chord_ros.graph.nodes()` entry (the description the launch file also
uses), each with its config/<node>.yaml and the argument-derived parameter overrides. Ctrl-C (or
SIGTERM) sends SIGINT to every node and waits for them to close cleanly; if any node exits on its
own, the others are stopped too (like `on_exit=Shutdown()` in the launch file).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from chord_core.errors import ChordError
from chord_ros import graph

HELP = "start the manipulate node graph (same arguments as launch/manipulate.launch.py)"
GRAPHS = ("manipulate",)


def parameter_value(value) -> str:
    """A `-p name:=value` literal that ROS parses back to the same type."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(f"'{item}'" for item in value) + "]"
    if isinstance(value, str):
        return f"'{value}'"
    return repr(value)


def node_command(spec: graph.NodeSpec) -> list[str]:
    """The command line of one node process (another package's tool: its executable on PATH)."""
    if not spec.is_chord_node:
        executable = shutil.which(spec.executable)
        if executable is None:
            raise ChordError(f"{spec.executable} (package {spec.package}) is not on PATH: source a ROS 2 install "
                             f"that has it, or leave its launch argument off")
        return [executable, *spec.arguments]
    command = [sys.executable, "-m", spec.module, "--ros-args", "-r", f"__node:={spec.name}"]
    if spec.params_file.is_file():
        command += ["--params-file", str(spec.params_file)]
    for name, value in spec.parameters.items():
        command += ["-p", f"{name}:={parameter_value(value)}"]
    return command


def parse_assignments(items: list[str]) -> dict[str, str]:
    """['use_sim:=false', ...] -> {'use_sim': 'false'} (the `ros2 launch` argument syntax)."""
    values = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise ChordError(f"launch arguments look like name:=value, got '{item}'")
        values[name] = value
    return values


class Graph:
    """The running processes of one graph; `stop()` shuts them down cleanly (SIGINT, then SIGKILL)."""

    def __init__(self, values: dict[str, str] | None = None, log_dir: str | Path | None = None) -> None:
        self.specs = graph.nodes(values)
        self.log_dir = Path(log_dir) if log_dir else None
        self.processes: dict[str, subprocess.Popen] = {}

    def start(self) -> Graph:
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        for spec in self.specs:
            # the node keeps its own copy of the descriptor; ours is closed right after Popen
            output = open(self.log_dir / f"{spec.name}.log", "w") if self.log_dir else None  # noqa: SIM115
            # own session: a terminal Ctrl-C reaches only the launcher, which then stops every node in order
            self.processes[spec.name] = subprocess.Popen(node_command(spec), stdout=output, stderr=subprocess.STDOUT
                                                         if output else None, start_new_session=True,
                                                         env=dict(os.environ))
            if output:
                output.close()
        return self

    def exited(self) -> dict[str, int]:
        """Nodes that have exited, with their return codes."""
        return {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}

    def stop(self, timeout: float = 10.0) -> dict[str, int]:
        """SIGINT to every node, wait up to `timeout` s, kill the stragglers; return codes."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return {name: p.returncode for name, p in self.processes.items()}


def _interrupt(*_) -> None:
    """SIGTERM behaves like Ctrl-C: stop the nodes cleanly."""
    raise KeyboardInterrupt


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("graph", choices=GRAPHS, help="which graph (launch/<graph>.launch.py)")
    parser.add_argument("assignments", nargs="*", metavar="name:=value",
                        help="; ".join(f"{a.name} (default '{a.default}'): {a.description}" for a in graph.ARGUMENTS))
    parser.add_argument("--show", action="store_true", help="print the node command lines and exit")


def run(args: argparse.Namespace) -> int:
    values = parse_assignments(args.assignments)
    if args.show:
        for spec in graph.nodes(values):
            print(" ".join(node_command(spec)))
        return 0
    running = Graph(values).start()
    print(f"started {', '.join(running.processes)}; Ctrl-C stops them", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored
    try:
        while not running.exited():
            time.sleep(0.2)
        print(f"node(s) exited: {running.exited()}; stopping the graph", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    codes = running.stop()
    failed = {name: code for name, code in codes.items() if code not in (0, -signal.SIGINT)}
    print(f"stopped: {codes}")
    return 1 if failed else 0

"""The `chord` command line.

Each subcommand lives in its own module exposing ``HELP`` (one line), ``add_arguments(parser)``
and ``run(args) -> int``; register it in COMMANDS (or BENCHMARKS for ``chord bench NAME``).
Modules keep heavy imports (torch, open3d, mujoco) inside ``run`` so ``chord --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from chord_core.errors import ChordError

COMMANDS: dict[str, str] = {
    "info": "chord_core.commands.info",
    "animate": "chord_core.commands.animate",
    "plan": "chord_core.commands.plan",
    "prior": "chord_core.commands.prior",
    "view": "chord_core.commands.view",
}
BENCHMARKS: dict[str, str] = {"render": "chord_core.bench.render", "planner": "chord_core.bench.planner",
                              "recovery": "chord_core.bench.recovery", "step": "chord_core.bench.step",
                              "wan-size": "chord_core.bench.wan_size", "gpu": "chord_core.bench.gpu",
                              "vae": "chord_core.bench.vae",
                              "text": "chord_core.bench.text", "ik": "chord_core.bench.ik"}


def _add_module_parsers(subparsers: argparse._SubParsersAction, registry: dict[str, str]) -> None:
    for name, module_name in registry.items():
        module = importlib.import_module(module_name)
        parser = subparsers.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(parser)
        parser.set_defaults(_run=module.run)


def build_parser(prog: str = "chord", description: str = "CHORD dense object flow tools.",
                 commands: dict[str, str] | None = None,
                 benchmarks: dict[str, str] | None = None) -> argparse.ArgumentParser:
    """A parser over subcommand modules (default: the `chord` commands and benchmarks)."""
    commands, benchmarks = (COMMANDS, BENCHMARKS) if commands is None else (commands, benchmarks or {})
    parser = argparse.ArgumentParser(prog=prog, description=description)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_module_parsers(subparsers, commands)
    if benchmarks:
        bench = subparsers.add_parser("bench", help="run a benchmark and print its table")
        _add_module_parsers(bench.add_subparsers(dest="benchmark", required=True, metavar="NAME"),
                            benchmarks)
    return parser


def dispatch(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Run the chosen subcommand; ChordError -> one clear line and exit code 2."""
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except ChordError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    return dispatch(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())

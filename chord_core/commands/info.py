"""`chord info FLOW.npz`: summarise a dense object flow file for an operator."""

from __future__ import annotations

import argparse

import numpy as np

from chord_core.formats.flow import Flow

HELP = "summarise a flow.npz: frames, points, objects and how far each object moves"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("flow", help="path to a flow.npz file (format: docs/formats.md)")


def object_displacements(flow: Flow) -> dict[int, tuple[float, float]]:
    """Per object id: (mean, max) distance of its points between the first and last frame (m)."""
    distance = np.linalg.norm(flow.trajectories[-1] - flow.trajectories[0], axis=1)
    return {
        int(obj): (float(distance[flow.object_ids == obj].mean()),
                   float(distance[flow.object_ids == obj].max()))
        for obj in np.unique(flow.object_ids)
    }


def run(args: argparse.Namespace) -> int:
    flow = Flow.load(args.flow)
    duration = (flow.num_frames - 1) / flow.fps
    print(f"flow: {args.flow}")
    print(f"prompt: {flow.prompt!r}")
    print(f"frames: {flow.num_frames} at {flow.fps:g} fps ({duration:.2f} s), points: {flow.num_points}")
    print(f"{'object':<20} {'points':>8} {'mean move (m)':>14} {'max move (m)':>13}")
    for obj, (mean, peak) in object_displacements(flow).items():
        name = flow.object_names[obj] if obj < len(flow.object_names) else f"#{obj}"
        count = int(np.count_nonzero(flow.object_ids == obj))
        print(f"{name:<20} {count:>8} {mean:>14.4f} {peak:>13.4f}")
    return 0

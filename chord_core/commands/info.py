"""`chord info FLOW.npz`: summarise a dense object flow file for an operator."""

from __future__ import annotations

import argparse

import numpy as np

from chord_core.formats.flow import Flow

HELP = "summarise a flow.npz: frames, points, objects, how far each object moves, its rigid parts and joints"


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


def articulation_of(flow: Flow):
    """(the flow's parts and joints, where they came from): the file's arrays, else computed now."""
    from chord_core.robot.articulation import Articulation, analyse_flow

    if flow.articulation is not None:
        return Articulation.from_arrays(flow.articulation), "from the file"
    return analyse_flow(flow.trajectories, flow.object_ids), "computed from the motion"


def joint_line(flow: Flow, articulation, joint) -> str:
    """One line per joint, e.g. 'chest: part 1 on part 0, revolute 58.3 deg about (0, -1, 0) at (0.40, 0, 0.10)'."""
    name = flow.name_of(int(articulation.part_objects[joint.child]))
    size = int(np.count_nonzero(articulation.part_ids == joint.child))
    head = f"{name}: part {joint.child} ({size} points) on part {joint.parent}, {joint.kind}"
    axis = "(" + ", ".join(f"{round(v, 2) + 0.0:.2f}" for v in joint.axis) + ")"  # + 0.0: no "-0.00"
    pivot = "(" + ", ".join(f"{round(v, 3) + 0.0:.3f}" for v in joint.pivot) + ")"
    final = joint.values[-1]
    if joint.kind == "revolute":
        return f"{head} {np.degrees(final):.1f} deg about {axis} through {pivot} (fit {joint.residual * 1000:.1f} mm)"
    if joint.kind == "prismatic":
        return f"{head} {final * 100:.1f} cm along {axis} (fit {joint.residual * 1000:.1f} mm)"
    return f"{head}: no hinge or slide explains it (best fit {joint.residual * 1000:.1f} mm off)"


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
    articulation, source = articulation_of(flow)
    counts = {flow.name_of(o): len(articulation.parts_of(o)) for o in np.unique(flow.object_ids)}
    print(f"rigid parts ({source}): " + ", ".join(f"{name} {n}" for name, n in counts.items()))
    for joint in articulation.joints:
        print("  " + joint_line(flow, articulation, joint))
    return 0

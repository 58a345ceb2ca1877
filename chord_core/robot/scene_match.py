"""Scan files matched to flow objects by geometry, names only as a check (`chord plan --scene`).

A flow's frame-0 points are its objects' input geometry (docs/formats.md), so the scan of a flow
object lies on them and a scan of anything else lies elsewhere. Matching by that overlap lets a
flow without `object_names` plan exactly like a named one (the object's own scan must never become
an obstacle), and it catches a scan whose file name says one object while it lies on another.

Rules:
* overlap(scan, object) = the fraction of the scan's points within MATCH_DISTANCE of the object's
  frame-0 points; pairs with an overlap of at least MIN_OVERLAP are chosen one to one maximising
  their total overlap (Hungarian);
* a paired scan is keyed by the flow object's name (`Flow.name_of`); an unpaired scan is an
  obstacle keyed by its own name;
* names are compared only when both sides have one: a scan named like one of the flow's objects
  (its `object_names`, or `object_<id>` for a flow without them, the names plans report) must be
  paired with that object, else ChordError: a name disagreeing with the geometry is not guessed
  around, the robot would grasp the wrong thing. Scan names the flow does not use are free;
* a second scan lying on an already paired object is a ChordError (one scan per object).

The same geometry tells whether a flow is stale: `start_offsets` measures how far each object now
lies from where the flow starts it (the planner node refuses a flow beyond `max_start_offset`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree

from chord_core.errors import ChordError
from chord_core.formats.flow import Flow
from chord_core.formats.scans import Scan

MATCH_DISTANCE = 0.01  # m: scan noise and re-sampling stay within this of the flow's points
MIN_OVERLAP = 0.5  # a scan half on an object is that object; a table touching it is far below


@dataclass
class SceneMatch:
    """The planner's and simulator's scene, and which scan became which flow object."""

    scene: dict[str, np.ndarray]  # flow object name or obstacle scan name -> [M, 3] cloud
    objects: dict[str, str]  # scan name -> the flow object it lies on
    obstacles: list[str]  # scans on no flow object

    def describe(self) -> str:
        """One line for the operator: what each scan was taken to be."""
        parts = [f"'{scan}' is object '{obj}'" for scan, obj in self.objects.items()]
        parts += [f"'{scan}' is an obstacle" for scan in self.obstacles]
        return "scans: " + "; ".join(parts)


def overlaps(flow: Flow, scans: list[Scan]) -> tuple[np.ndarray, np.ndarray]:
    """[S, O] fraction of each scan's points within MATCH_DISTANCE of each flow object's frame-0
    points, and the [O] object ids of the columns."""
    ids = np.unique(flow.object_ids)
    table = np.zeros((len(scans), len(ids)))
    for j, oid in enumerate(ids):
        tree = cKDTree(flow.points[flow.object_ids == oid])
        for i, scan in enumerate(scans):
            distance, _ = tree.query(scan.points, distance_upper_bound=MATCH_DISTANCE)
            table[i, j] = float(np.mean(np.isfinite(distance)))
    return table, ids


def match_scans(flow: Flow, scans: list[Scan]) -> SceneMatch:
    """Key each scan by the flow object it lies on, or by its own name as an obstacle (module rules)."""
    names = [scan.name for scan in scans]
    if len(set(names)) != len(names):
        raise ChordError(f"scan names must be unique (they name the objects), got {names}")
    table, ids = overlaps(flow, scans)
    flow_names = [flow.name_of(int(oid)) for oid in ids]
    if len(set(flow_names)) != len(flow_names):
        raise ChordError(f"the flow gives two objects the same name ({flow_names}); scans cannot be matched to them")
    valid = np.where(table >= MIN_OVERLAP, table, 0.0)  # so a scan left over never lies on an unpaired object
    rows, cols = linear_sum_assignment(valid, maximize=True)
    paired = {int(r): int(c) for r, c in zip(rows, cols) if valid[r, c] > 0.0}
    scene: dict[str, np.ndarray] = {}
    objects: dict[str, str] = {}
    obstacles: list[str] = []
    for i, scan in enumerate(scans):
        if i in paired:
            key = flow_names[paired[i]]
            if scan.name in flow_names and scan.name != key:
                raise ChordError(f"scan '{scan.name}' lies on the flow's object '{key}' "
                                 f"({table[i, paired[i]]:.0%} of its points within {MATCH_DISTANCE * 100:.0f} cm), "
                                 f"not on the flow's '{scan.name}': rename the scan or check the scene")
            objects[scan.name] = key
        else:
            best = int(np.argmax(table[i]))
            if table[i, best] >= MIN_OVERLAP:
                other = next(names[r] for r, c in paired.items() if c == best)
                raise ChordError(f"scans '{scan.name}' and '{other}' both lie on the flow's object "
                                 f"'{flow_names[best]}'; give one scan per object")
            if scan.name in flow_names:
                raise ChordError(f"scan '{scan.name}' is named like the flow's object but lies elsewhere "
                                 f"(at most {table[i].max():.0%} of its points within "
                                 f"{MATCH_DISTANCE * 100:.0f} cm of any flow object): check the scene")
            key = scan.name
            obstacles.append(key)
        scene[key] = scan.points
    return SceneMatch(scene, objects, obstacles)


def start_offsets(flow: Flow, clouds: dict[str, np.ndarray]) -> dict[str, float]:
    """Distance (m) from the centroid of each named flow object's first frame to the centroid of
    its cloud in ``clouds`` (name -> [M, 3], the object's latest), for the objects both name. The
    flow was distilled from the clouds of the moment the command was given; an object that has
    moved since (an earlier plan carried it, someone nudged it) is off by how far it moved, and a
    grasp planned on the flow would close on nothing."""
    offsets = {}
    for oid in np.unique(flow.object_ids):
        name = flow.name_of(int(oid))
        cloud = np.asarray(clouds.get(name, np.zeros((0, 3))), float).reshape(-1, 3)
        if len(cloud):
            start = flow.points[flow.object_ids == oid].astype(float).mean(axis=0)
            offsets[name] = float(np.linalg.norm(start - cloud.mean(axis=0)))
    return offsets

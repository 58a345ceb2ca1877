"""Parts and joints from a flow's motion, against flows built from known parts and joints."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from chord_core.robot.articulation import analyse_flow, segment_object
from chord_core.robot.rigid_fit import batch_kabsch, kabsch

FRAMES = 41


def box(rng, low, high, count):
    return rng.uniform(low, high, size=(count, 3))


def rotation(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def hinged(rng, final_deg, carried=(0.0, 0.0, 0.0), noise=0.0):
    """A chest body (400 points) and its lid (200 points) opening about the body's back top edge
    (axis -y through (0.40, 0, 0.10)) by final_deg; the whole chest carried by ``carried``."""
    body = box(rng, [0.40, -0.08, 0.0], [0.52, 0.08, 0.10], 400)
    lid = box(rng, [0.40, -0.08, 0.10], [0.52, 0.08, 0.12], 200)
    pivot, axis = np.array([0.40, 0.0, 0.10]), np.array([0.0, -1.0, 0.0])
    s = np.linspace(0, 1, FRAMES)
    smooth = s * s * (3 - 2 * s)
    frames = []
    for a in smooth:
        shift = a * np.asarray(carried)
        opened = (lid - pivot) @ rotation(axis, np.radians(final_deg) * a).T + pivot
        frames.append(np.concatenate([body + shift, opened + shift]))
    traj = np.array(frames)
    traj[1:] += rng.normal(0, noise, size=traj[1:].shape)
    labels = np.r_[np.zeros(400), np.ones(200)].astype(int)
    return traj, labels, pivot, axis, np.radians(final_deg) * smooth


def drawer(rng, travel=0.12, noise=0.0):
    """A cabinet (400 points) and a drawer (250 points) sliding out along +x by ``travel``."""
    cabinet = box(rng, [0.40, -0.10, 0.0], [0.55, 0.10, 0.20], 400)
    slider = box(rng, [0.36, -0.08, 0.05], [0.40, 0.08, 0.12], 250)
    s = np.linspace(0, 1, FRAMES)
    out = travel * s * s * (3 - 2 * s)
    traj = np.array([np.concatenate([cabinet, slider - [d, 0, 0]]) for d in out])
    traj[1:] += rng.normal(0, noise, size=traj[1:].shape)
    return traj, np.r_[np.zeros(400), np.ones(250)].astype(int), out


def agreement(found, truth):
    """Fraction of points in the found part that most of their true part got; 0 when two true parts
    share that found part (a missed split)."""
    majority = {k: np.bincount(found[truth == k]).argmax() for k in np.unique(truth)}
    if len(set(majority.values())) < len(majority):
        return 0.0
    return float(np.mean([found[i] == majority[truth[i]] for i in range(len(truth))]))


def test_batch_kabsch_matches_scipy_per_frame():
    """Noisy frames: the rotation scipy's align_vectors finds; the translation maps centroid to centroid."""
    rng = np.random.default_rng(1)
    source = rng.normal(size=(30, 3))
    targets = np.array([source @ rotation(rng.normal(size=3), rng.uniform(0, 3)).T + rng.normal(size=3)
                        for _ in range(5)]) + rng.normal(0, 0.01, size=(5, 30, 3))
    poses = batch_kabsch(source, targets)
    for pose, target in zip(poses, targets):
        expected, _ = Rotation.align_vectors(target - target.mean(0), source - source.mean(0))
        np.testing.assert_allclose(pose[:3, :3], expected.as_matrix(), atol=1e-8)
        np.testing.assert_allclose(pose[:3, :3] @ source.mean(0) + pose[:3, 3], target.mean(0), atol=1e-10)
    np.testing.assert_allclose(kabsch(source, targets[2]), poses[2], atol=1e-12)


@pytest.mark.parametrize("noise", [0.0, 0.002])
def test_a_lid_opening_on_a_carried_chest_is_a_revolute_joint(noise):
    rng = np.random.default_rng(2)
    traj, truth, pivot, axis, angles = hinged(rng, 60.0, carried=(0.05, 0.03, 0.0), noise=noise)
    result = analyse_flow(traj, np.zeros(traj.shape[1], dtype=np.int32))
    assert len(result.part_objects) == 2 and agreement(result.part_ids, truth) > 0.97
    (joint,) = result.joints
    assert joint.kind == "revolute"
    assert result.part_ids[truth == 0][0] == joint.parent  # the body is the base, though it moves too
    assert np.degrees(np.arccos(abs(joint.axis @ axis))) < 2.0
    # the pivot lies on the true hinge line
    off = (joint.pivot - pivot) - axis * np.dot(joint.pivot - pivot, axis)
    assert np.linalg.norm(off) < 0.005
    sign = np.sign(joint.axis @ axis)
    assert np.abs(np.degrees(sign * joint.values - angles)).max() < 2.0
    assert joint.residual < 0.005


def test_a_drawer_is_a_prismatic_joint_with_its_travel():
    rng = np.random.default_rng(3)
    traj, truth, travel = drawer(rng, noise=0.002)
    result = analyse_flow(traj, np.zeros(traj.shape[1], dtype=np.int32))
    assert agreement(result.part_ids, truth) > 0.97
    (joint,) = result.joints
    assert joint.kind == "prismatic" and np.degrees(np.arccos(abs(joint.axis @ [-1.0, 0, 0]))) < 2.0
    assert np.abs(np.abs(joint.values) - travel).max() < 0.003


def test_a_rigid_object_and_a_lid_that_barely_moves_are_one_part():
    rng = np.random.default_rng(4)
    traj, _, _, _, _ = hinged(rng, 1.0, carried=(0.08, 0.0, 0.02), noise=0.002)  # 1 deg: 2 mm at the lid's edge
    assert np.all(segment_object(traj) == 0)
    result = analyse_flow(traj, np.zeros(traj.shape[1], dtype=np.int32))
    assert len(result.part_objects) == 1 and not result.joints


def test_two_objects_are_analysed_separately_and_a_tumbling_part_is_free():
    rng = np.random.default_rng(5)
    chest, truth, *_ = hinged(rng, 45.0)
    base = box(rng, [0.3, 0.2, 0.0], [0.4, 0.3, 0.05], 300)
    loose = box(rng, [0.3, 0.2, 0.05], [0.4, 0.3, 0.08], 150)
    spin = [rotation([1.0, 1.0, 0.3], a) for a in np.linspace(0, 1.2, FRAMES)]
    centre = loose.mean(axis=0)
    other = np.array([np.concatenate([base, (loose - centre) @ r.T + centre + [0, 0, 0.1 * k / FRAMES]])
                      for k, r in enumerate(spin)])
    traj = np.concatenate([chest, other], axis=1)
    ids = np.r_[np.zeros(chest.shape[1]), np.ones(other.shape[1])].astype(np.int32)
    result = analyse_flow(traj, ids)
    assert list(result.part_objects) == [0, 0, 1, 1]
    assert set(np.unique(result.part_ids[ids == 0])) == {0, 1} and set(np.unique(result.part_ids[ids == 1])) == {2, 3}
    kinds = {result.part_objects[j.child]: j.kind for j in result.joints}
    assert kinds[0] == "revolute"
    assert kinds[1] == "free"  # rising while it spins about a tilted axis: no single hinge explains it


def test_parts_and_joints_round_trip_through_flow_npz_and_chord_info_prints_them(tmp_path, capsys):
    import argparse

    from chord_core.commands import info
    from chord_core.formats.flow import Flow
    from chord_core.robot.articulation import Articulation

    traj, *_ = hinged(np.random.default_rng(6), 50.0)
    flow = Flow(traj, np.zeros(traj.shape[1], dtype=np.int32), 10.0, "open the lid", ["chest"])
    info.run(argparse.Namespace(flow=str(flow.save(tmp_path / "plain.npz"))))
    computed = capsys.readouterr().out
    assert "rigid parts (computed from the motion): chest 2" in computed
    assert "chest: part 1 (200 points) on part 0, revolute 50.0 deg about (0.00, -1.00, 0.00)" in computed

    articulation = analyse_flow(flow.trajectories, flow.object_ids)
    flow.articulation = articulation.to_arrays(flow.num_frames)
    loaded = Flow.load(flow.save(tmp_path / "flow.npz"))
    back = Articulation.from_arrays(loaded.articulation)
    np.testing.assert_array_equal(back.part_ids, articulation.part_ids)
    (joint,), (original,) = back.joints, articulation.joints
    assert (joint.kind, joint.parent, joint.child) == (original.kind, original.parent, original.child)
    np.testing.assert_allclose(joint.values, original.values, atol=1e-6)  # float32 in the file
    info.run(argparse.Namespace(flow=str(tmp_path / "flow.npz")))
    assert "rigid parts (from the file): chest 2" in capsys.readouterr().out


@pytest.mark.parametrize("damage, message", [
    (lambda a: a.pop("joint_values"), "lacks \\['joint_values'\\]"),
    (lambda a: a.__setitem__("part_ids", a["part_ids"][:-1]), "part_ids must have shape"),
    (lambda a: a.__setitem__("part_objects", a["part_objects"] + 1), "another object"),
    (lambda a: a.__setitem__("joint_kinds", np.array(["hinge"])), "revolute, prismatic or free"),
])
def test_inconsistent_articulation_arrays_are_refused(damage, message):
    from chord_core.errors import ChordError
    from chord_core.formats.flow import Flow

    traj, *_ = hinged(np.random.default_rng(7), 50.0)
    ids = np.zeros(traj.shape[1], dtype=np.int32)
    arrays = analyse_flow(traj, ids).to_arrays(FRAMES)
    damage(arrays)
    with pytest.raises(ChordError, match=message):
        Flow(traj, ids, 10.0, articulation=arrays)

"""flow.npz contract (docs/formats.md): round trip and every malformed case."""

import numpy as np
import pytest

from chord_core.errors import ChordError
from chord_core.formats.flow import Flow


def random_flow(rng: np.random.Generator, frames: int = 5, points: int = 7, rotations: bool = True) -> Flow:
    rot = rng.normal(size=(frames, points, 4)).astype(np.float32) if rotations else None
    return Flow(
        trajectories=rng.normal(size=(frames, points, 3)),
        object_ids=rng.integers(0, 2, size=points),
        fps=12.5,
        prompt="lower the lamp head",
        object_names=["lamp", "table"],
        rotations=rot,
    )


def test_flow_save_load_round_trip(tmp_path):
    flow = random_flow(np.random.default_rng(0))
    loaded = Flow.load(flow.save(tmp_path / "flow.npz"))
    np.testing.assert_array_equal(loaded.trajectories, flow.trajectories)
    np.testing.assert_array_equal(loaded.object_ids, flow.object_ids)
    np.testing.assert_array_equal(loaded.rotations, flow.rotations)
    assert (loaded.fps, loaded.prompt, loaded.object_names) == (12.5, flow.prompt, ["lamp", "table"])


def test_flow_file_keys_follow_design_contract(tmp_path):
    path = random_flow(np.random.default_rng(1)).save(tmp_path / "flow.npz")
    with np.load(path) as data:
        assert data["points"].dtype == np.float32 and data["points"].shape == (7, 3)
        assert data["object_ids"].dtype == np.int32
        assert data["trajectories"].dtype == np.float32 and data["trajectories"].shape == (5, 7, 3)
        np.testing.assert_array_equal(data["points"], data["trajectories"][0])
        assert data["rotations"].shape == (5, 7, 4)
        assert float(data["fps"]) == 12.5 and str(data["prompt"]) == "lower the lamp head"


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(trajectories=np.zeros((4, 3))), "shape"),
        (dict(trajectories=np.zeros((0, 3, 3))), "at least one"),
        (dict(trajectories=np.zeros((2, 0, 3)), object_ids=np.zeros(0)), r"one point, got \(2, 0, 3\)"),
        (dict(trajectories=np.full((2, 3, 3), np.nan)), "NaN"),
        (dict(trajectories=np.full((2, 3, 3), np.inf)), "NaN or inf"),
        (dict(object_ids=np.zeros(4)), "object_ids"),
        (dict(object_ids=-np.ones(3)), ">= 0"),
        (dict(object_ids=np.array([0, 1, 2])), "object names"),
        (dict(fps=0.0), "fps"),
        (dict(rotations=np.zeros((2, 3, 3))), "rotations"),
    ],
)
def test_flow_rejects_malformed_arrays(change, message):
    fields = dict(trajectories=np.zeros((2, 3, 3)), object_ids=np.zeros(3), fps=10.0,
                  object_names=["a", "b"])
    fields.update(change)
    with pytest.raises(ChordError, match=message):
        Flow(**fields)


def test_flow_load_names_missing_file(tmp_path):
    with pytest.raises(ChordError, match="not found"):
        Flow.load(tmp_path / "nope.npz")


def test_flow_load_rejects_non_npz(tmp_path):
    path = tmp_path / "flow.npz"
    path.write_text("not a zip")
    with pytest.raises(ChordError, match="not a readable"):
        Flow.load(path)


def test_flow_load_names_missing_keys(tmp_path):
    path = tmp_path / "flow.npz"
    np.savez(path, points=np.zeros((3, 3)))
    with pytest.raises(ChordError, match="trajectories"):
        Flow.load(path)


def test_flow_load_rejects_points_that_disagree_with_frame_zero(tmp_path):
    path = tmp_path / "flow.npz"
    np.savez(path, points=np.ones((3, 3), np.float32), trajectories=np.zeros((2, 3, 3), np.float32),
             object_ids=np.zeros(3, np.int32), fps=10.0)
    with pytest.raises(ChordError, match="points"):
        Flow.load(path)


def test_flow_validate_can_demand_motion_frames():
    """The contract allows one frame; the planner asks for two and gets the reason, not an IndexError."""
    one = Flow(np.zeros((1, 3, 3)), np.zeros(3), 10.0)
    with pytest.raises(ChordError, match=r"flow has 1 frame\(s\) but at least 2 are needed"):
        one.validate(min_frames=2)
    Flow(np.zeros((2, 3, 3)), np.zeros(3), 10.0).validate(min_frames=2)


def test_flow_name_of_falls_back_to_the_object_id():
    named = Flow(np.zeros((2, 2, 3)), np.array([0, 1]), 10.0, object_names=["lid", "chest"])
    unnamed = Flow(np.zeros((2, 2, 3)), np.array([0, 1]), 10.0)
    assert [named.name_of(i) for i in (0, 1)] == ["lid", "chest"]
    assert [unnamed.name_of(i) for i in (0, 1)] == ["object_0", "object_1"]

"""planner + sim_arm as processes, their own graph (two planners would share the topics): a
grasp that closes on nothing never carries."""

import pytest
from test_planner_node import planner_graph

from chord_core.robot import flow_cases


@pytest.mark.slow  # a graph of its own (~10 s): `bash scripts/test.sh -m slow` (CI runs it)
def test_a_gripper_closing_on_nothing_stops_the_plan_before_the_carry(tmp_path):
    """The flow says the box is where the simulated one is not (it stands 30 cm to the right): the
    fingers close fully, the planner reports it and never sends the carry or the rest. The planner's
    start check (max_start_offset) is off here: it would refuse this flow from the box's cloud
    (test_planner_stale_flow.py); the gripper check is the last line for a move no cloud shows."""
    with planner_graph(tmp_path, {"real_time_factor": 20.0},
                       {"grasp_backend": "antipodal", "auto_execute": False, "max_start_offset": 0.0},
                       box_shift=(0.0, -0.3, 0.0)) as graph:
        report = graph.plan(flow_cases.lift_and_move().flow)
        assert report.accepted, report.reason
        before = set(graph.goals)
        outcome = graph.execute(report.plan_id)
        assert not outcome.success
        assert outcome.message.startswith("step 3/6, gripper close: the gripper closed on nothing"), outcome.message
        assert "done before: gripper open to 60 mm, arm approach+descend" in outcome.message
        graph.spin_for(1.0)
        assert len(set(graph.goals) - before) == 1  # the approach only

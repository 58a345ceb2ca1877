"""`chord bench planner`: plan and simulate lift-and-move, pour-like rotation and push cases."""

from __future__ import annotations

import argparse

HELP = "plan + simulate the three reference flows (lift and move, pour, push); print errors and timings"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--frames", type=int, default=41)
    parser.add_argument("--points", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3, help="planning runs per case (median time)")


def run(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from chord_core.robot.collision import CollisionChecker
    from chord_core.robot.config import FINAL_ERROR_TARGETS
    from chord_core.robot.flow_cases import PLANNING_CASES
    from chord_core.robot.model import RobotModel
    from chord_core.robot.planner import obstacle_clouds, plan_flow
    from chord_core.robot.sim import simulate_plan

    model = RobotModel()
    plan_flow(PLANNING_CASES["lift_and_move"](9, 200).flow, model=model)  # warm imports/caches
    header = (f"{'case':<14}{'mode':<7}{'T':>4}{'N':>6}{'plan s':>8}{'track mm':>10}{'sim pos mm':>12}"
              f"{'sim rot deg':>12}{'sim mean mm':>12}{'target':>16}  ok{'collision ms':>14}{'share':>7}")
    print(header)
    print("-" * len(header))
    all_ok = True
    for name, make in PLANNING_CASES.items():
        case = make(args.frames, args.points)
        times, plan = [], None
        for _ in range(max(1, args.repeats)):
            plan = plan_flow(case.flow, case.scene, model, case.mode)
            times.append(plan.planning_time)
        start = time.perf_counter()  # the continuous collision check certify runs, timed alone
        CollisionChecker(model, obstacle_clouds(case.flow, case.scene, plan.object_index)).first_contact(
            plan.positions, plan.gripper)
        check = time.perf_counter() - start
        result = simulate_plan(plan, case.flow, model.config, case.scene)
        pos_t, rot_t = FINAL_ERROR_TARGETS[case.mode]
        ok = result.final_position_error <= pos_t and result.final_rotation_error_deg <= rot_t
        all_ok &= ok
        target = f"<={pos_t * 100:.0f}cm" + (f",<={rot_t:.0f}deg" if case.mode == "grasp" else "")
        print(f"{name:<14}{case.mode:<7}{case.flow.num_frames:>4}{case.flow.num_points:>6}"
              f"{np.median(times):>8.2f}{plan.max_tracking_error * 1000:>10.3f}"
              f"{result.final_position_error * 1000:>12.2f}{result.final_rotation_error_deg:>12.2f}"
              f"{result.mean_point_error * 1000:>12.2f}{target:>16}  {'yes' if ok else 'NO ':<3}"
              f"{check * 1000:>13.0f}{check / np.median(times):>7.0%}")
    print("planning target: T=41, N=2000 in <= 5 s; track = max per-frame RMS attached-point error; collision = "
          "the continuous check of the certified path (included in plan s)")
    return 0 if all_ok else 1

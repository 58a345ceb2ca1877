"""`chord bench ik`: IK success rate and time per solve over random reachable poses.

Targets are the end-effector poses of uniform random configurations inside the joint limits (minus
the plan margin), so each has a solution; every solve starts from home, as the planner's do. The
same targets run with the default restart budget and smaller ones (0 = home alone, the baseline),
in this process. Two sets of poses no configuration reaches measure what a refusal costs: beyond
the reach ball (rejected before any descent) and just inside it with the gripper pointing back at
the first joint (the wrist would lie farther out than the joints before it can span). Times are
this process's CPU time per solve, so other work on the machine does not inflate them.
"""

from __future__ import annotations

import argparse

HELP = "IK success rate and ms per solve over random reachable poses, against smaller restart budgets"
TARGET_SUCCESS = 0.995


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--poses", type=int, default=1000, help="random reachable target poses")
    parser.add_argument("--unreachable", type=int, default=100, help="unreachable poses per kind")
    parser.add_argument("--budgets", type=int, nargs="+", default=[0, 4],
                        help="restart budgets compared with the default one (the first is the baseline)")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    import time

    import numpy as np

    from chord_core.robot.model import IK_RESTARTS, RobotModel

    model = RobotModel()
    rng = np.random.default_rng(args.seed)
    margin = model.config.joint_limit_margin
    targets = [model.fk(q) for q in rng.uniform(model.lower + margin, model.upper - margin,
                                                (args.poses, model.n))]
    started = time.process_time()
    table_size = len(model.seed_table[0])  # built once per model, on the first restart
    print(f"robot {model.config.ee_frame}: {args.poses} random reachable poses from home; "
          f"restart-seed table ({table_size} configurations) built in {time.process_time() - started:.2f} s")

    def solve_all(poses: list[np.ndarray], budget: int) -> tuple[list, np.ndarray]:
        results, times = [], []
        for target in poses:
            start = time.process_time()
            results.append(model.solve_ik(target, seeds=[model.home], restarts=budget))
            times.append(1000 * (time.process_time() - start))
        return results, np.array(times)

    header = (f"{'poses':<22}{'restarts':>9}{'success %':>11}{'med ms':>9}{'p95 ms':>9}{'max ms':>9}"
              f"{'seeds':>7}{'fails':>7}{'worst fail mm/deg':>19}{'med x':>7}{'fails x':>9}")
    print(header)
    print("-" * len(header))
    budgets = list(dict.fromkeys([*args.budgets, IK_RESTARTS]))
    base_median = base_fails = None
    success: dict[int, float] = {}
    for budget in budgets:
        results, times = solve_all(targets, budget)
        fails = [r for r in results if not r.success]
        success[budget] = 1 - len(fails) / len(results)
        worst_text = "-" if not fails else (f"{max(r.position_error for r in fails) * 1000:.1f}/"
                                            f"{np.degrees(max(r.rotation_error for r in fails)):.1f}")
        median = float(np.median(times))
        base_median = base_median or median
        base_fails = len(fails) if base_fails is None else base_fails
        fails_ratio = f"{len(fails) / base_fails:.3f}" if base_fails else "-"
        print(f"{'random reachable':<22}{budget:>9}{100 * success[budget]:>11.2f}{median:>9.2f}"
              f"{np.percentile(times, 95):>9.2f}{times.max():>9.1f}"
              f"{np.mean([r.attempts for r in results]):>7.2f}{len(fails):>7}{worst_text:>19}"
              f"{median / base_median:>7.2f}{fails_ratio:>9}")
    anchor, radius = model.reach
    directions = rng.normal(size=(args.unreachable, 2, 3))
    for name, scale, sign in (("beyond reach", 1.05, 1.0), ("pointing back", 0.95, -1.0)):
        poses = []
        for d, other in directions:
            d = d / np.linalg.norm(d)
            x = np.cross(other, d)
            x /= np.linalg.norm(x)
            pose = np.eye(4)
            pose[:3, :3] = np.stack([x, np.cross(sign * d, x), sign * d], axis=1)  # z = approach
            pose[:3, 3] = anchor + scale * radius * d
            poses.append(pose)
        results, times = solve_all(poses, IK_RESTARTS)
        solved = sum(r.success for r in results)
        print(f"{name:<22}{IK_RESTARTS:>9}{100 * solved / len(results):>11.2f}{np.median(times):>9.2f}"
              f"{np.percentile(times, 95):>9.2f}{times.max():>9.1f}"
              f"{np.mean([r.attempts for r in results]):>7.2f}")
    print(f"ms = CPU ms per solve; seeds = descents per solve (mean); med x / fails x = against restarts {budgets[0]}; "
          f"target: success >= {100 * TARGET_SUCCESS:.1f} % at the default budget ({IK_RESTARTS})")
    return 0 if success[IK_RESTARTS] >= TARGET_SUCCESS else 1

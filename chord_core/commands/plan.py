"""`chord plan FLOW.npz --scene SCAN... --out DIR`: grasp + certified arm trajectory (+ simulation)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "plan a grasp (or push) and a safe arm trajectory that makes the object follow a flow"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("flow", help="flow.npz (format: docs/formats.md)")
    parser.add_argument("--scene", nargs="+", required=True,
                        help="scan files: each is matched to the flow object it lies on (frame 0); "
                             "the others are obstacles. A file stem that names a flow object must lie on it")
    parser.add_argument("--mode", choices=("grasp", "push"), default="grasp")
    parser.add_argument("--object", default=None, help="object to manipulate (default: the one the flow moves most)")
    parser.add_argument("--robot-urdf", default=None, help="robot URDF (default: pybullet_data Panda)")
    parser.add_argument("--robot-config", default=None, help="RobotConfig YAML (e.g. config/robot_panda.yaml)")
    parser.add_argument("--grasp-backend", choices=("auto", "antipodal", "anygrasp"), default="auto")
    parser.add_argument("--trajectory-backend", choices=("auto", "pinocchio", "pyroki"), default=None,
                        help="flow-following solver (default: the robot config's trajectory_backend, auto = "
                             "pinocchio); pyroki is optional and not on PyPI, see docs/robot.md")
    parser.add_argument("--simulate", action="store_true", help="execute in MuJoCo and write sim.json + video")
    parser.add_argument("--video-fps", type=float, default=20.0)
    parser.add_argument("--out", required=True, help="output directory")


def run(args: argparse.Namespace) -> int:
    import os

    os.environ.setdefault("MUJOCO_GL", "egl")
    from chord_core.formats.flow import Flow
    from chord_core.formats.scans import load_scan
    from chord_core.robot.backends import make_grasp_proposer
    from chord_core.robot.config import load_robot_config
    from chord_core.robot.model import RobotModel
    from chord_core.robot.planner import plan_report
    from chord_core.robot.scene_joints import load_scan_joint
    from chord_core.robot.scene_match import match_scans
    from chord_core.robot.soft_objects import load_scan_soft

    flow = Flow.load(args.flow)
    scans = [load_scan(p) for p in args.scene]
    match = match_scans(flow, scans)
    print(match.describe())
    joints = {match.objects.get(scan.name, scan.name): joint for path, scan in zip(args.scene, scans)
              if (joint := load_scan_joint(path, scan.points)) is not None}
    soft = {match.objects.get(scan.name, scan.name): rope for path, scan in zip(args.scene, scans)
            if (rope := load_scan_soft(path, scan.points)) is not None}
    config = load_robot_config(args.robot_config, urdf_path=args.robot_urdf,
                               trajectory_backend=getattr(args, "trajectory_backend", None))
    model = RobotModel(config)
    proposer = make_grasp_proposer(config, args.grasp_backend) if args.mode == "grasp" else None
    plan = plan_report(flow, match.scene, model, args.mode, args.object, proposer=proposer, soft_objects=soft)
    out = Path(args.out)
    plan.write_dir(out)
    if not plan.accepted:
        print(f"plan refused at flow frame {plan.offending_frame}: {plan.reason}")
        return 1
    print(f"plan accepted: {len(plan.times)} waypoints over {plan.times[-1]:.2f} s, max tracking error "
          f"{plan.max_tracking_error * 1000:.2f} mm, planned in {plan.planning_time:.2f} s -> {out}")
    if args.simulate:
        from chord_core.formats.video import write_video
        from chord_core.robot.sim import simulate_plan

        result = simulate_plan(plan, flow, config, match.scene, video_fps=args.video_fps, joints=joints, soft=soft)
        summary = result.to_json()
        video = write_video(result.video_frames, out / "sim.mp4", args.video_fps)
        summary["video"] = str(video) if video else None
        if video is None:
            summary["video_skipped"] = "no GL backend (set MUJOCO_GL=egl or osmesa)"
        (out / "sim.json").write_text(json.dumps(summary, indent=2))
        print(f"simulated: final position error {result.final_position_error * 1000:.2f} mm, rotation "
              f"{result.final_rotation_error_deg:.2f} deg, mean point error "
              f"{result.mean_point_error * 1000:.2f} mm"
              + (f", rope's final mean point distance {result.soft['final_mean_point_distance_m'] * 1000:.2f} mm"
                 if result.soft else "") + (f", video {video}" if video else ", no video"))
    return 0

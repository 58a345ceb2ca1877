"""`chord view FLOW.npz [--plan DIR] [--scene SCAN...] [--run DIR]`: the flow, grasp and arm in a browser.

Serves the 3D viewer (`chord_core.view.server`) until Ctrl-C and prints its URL; with
``--screenshot out.png`` it instead saves one picture from headless Chromium and exits.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "show a flow (and its plan, scans and run summary) in a 3D web viewer"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("flow", help="flow.npz, or the run directory `chord animate --out` wrote")
    parser.add_argument("--plan", help="plan.npz or the directory `chord plan --out` wrote (grasp.json is read "
                                       "from beside it): the arm replays the plan in step with the flow")
    parser.add_argument("--scene", nargs="+", default=[], help="scan files drawn in their own colours")
    parser.add_argument("--run", help="run directory whose summary.json (prompt, teacher, losses) is shown "
                                      "(default: the flow's own directory when it holds one)")
    parser.add_argument("--robot-config", help="RobotConfig YAML the plan was made with (its URDF is drawn)")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to let other machines connect")
    parser.add_argument("--rate", type=float, default=20.0, help="ticks per second of plan time (with --plan)")
    parser.add_argument("--screenshot", help="save a picture of the page (headless Chromium) to this PNG and exit")
    parser.add_argument("--tick", type=int, default=-1,
                        help="with --screenshot: the frame (or plan tick) to show; -1 = the last")


def run(args: argparse.Namespace) -> int:
    from chord_core.errors import ChordError
    from chord_core.formats.flow import Flow
    from chord_core.formats.scans import load_scan
    from chord_core.robot.config import load_robot_config
    from chord_core.view.content import build_content, load_plan_dir, load_summary
    from chord_core.view.server import FlowViewer, wait_until_interrupted

    flow_path = Path(args.flow)
    if flow_path.is_dir():
        flow_path = flow_path / "flow.npz"
    flow = Flow.load(flow_path)
    run_dir = args.run or (flow_path.parent if (flow_path.parent / "summary.json").is_file() else None)
    plan, grasp = load_plan_dir(args.plan) if args.plan else (None, None)
    scans = [(s.name, s.points, s.colors) for s in (load_scan(p) for p in args.scene)]
    config = load_robot_config(args.robot_config)
    if args.rate <= 0:
        raise ChordError(f"--rate must be positive, got {args.rate}")
    content = build_content(flow, plan, grasp, scans, load_summary(run_dir) if run_dir else None, rate=args.rate,
                            table_height=config.table_height)
    viewer = FlowViewer(content, port=args.port, host=args.host, urdf_path=config.resolved_urdf())
    if args.screenshot:
        from chord_core.view.screenshot import PageCamera, save_png

        try:
            viewer.go_to(args.tick % content.ticks)
            with PageCamera(viewer.url) as camera:
                path = save_png(camera.take(), args.screenshot)
        finally:
            viewer.stop()
        print(f"saved {path} (tick {args.tick % content.ticks} of {content.ticks})")
        return 0
    print(f"viewer at {viewer.url}  ({content.ticks} {'plan ticks' if plan is not None else 'frames'}; "
          "Ctrl-C stops it)")
    wait_until_interrupted(viewer)
    return 0

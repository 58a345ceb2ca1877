"""`chord animate SCENE... --prompt TEXT --out DIR`: the CLI over :func:`chord_core.distill.pipeline.animate`."""

from __future__ import annotations

import argparse
import signal
import threading

import numpy as np

from chord_core.distill.pipeline import DEFAULT_PRESETS, TEACHERS, animate
from chord_core.distill.presets import PRESET_NAMES, load_preset
from chord_core.errors import ChordError
from chord_core.view.live import LiveView

HELP = "distil dense object flow for scanned objects and a text command"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scene", nargs="+", help="scan (.ply/.pcd/.npz) or mesh (.obj/.glb/.ply) files, one per object")
    parser.add_argument("--prompt", required=True, help="how the objects should move, e.g. 'lower the lamp head'")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--preset", help=f"one of {PRESET_NAMES} or a preset .yaml (default: the teacher's own, "
                                         f"{DEFAULT_PRESETS})")
    parser.add_argument("--teacher", choices=TEACHERS, default="mini",
                        help="mini: the shipped text-driven CPU prior (a fixed motion vocabulary); wan: Wan 2.2 "
                             "from --model-dir (open vocabulary, GPU); reference: known target motion (a test "
                             "instrument, ignores the words)")
    parser.add_argument("--model-dir", help="wan: local diffusers directory with Wan 2.2 weights; mini: a "
                                            "mini_prior.pt from `chord prior train` (default: the shipped one)")
    parser.add_argument("--reference-motion", help="motion.npz for --teacher reference (labels follow the "
                                                   "concatenated points of the SCENE files in order)")
    parser.add_argument("--frames", type=int, help="override the preset's frame count")
    parser.add_argument("--iterations", type=int, help="override the preset's iteration count")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="override the preset's device")
    parser.add_argument("--negative-prompt", help="what the guidance steers away from (default: the preset's; "
                                                  "empty there = the teacher's own, for Wan its default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.pt")
    parser.add_argument("--continue-from", help="a previous flow.npz: start where it ended (long-horizon chaining)")
    parser.add_argument("--view", action="store_true", help="watch the flow take shape in the 3D viewer "
                        "(`chord view`) while it distils; the page stays up after the run until Ctrl-C")
    parser.add_argument("--view-port", type=int, default=8080, help="the viewer's port (with --view)")
    parser.add_argument("--view-every", type=int, default=20, help="iterations between viewer updates (with --view)")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved configuration (cameras, tau "
                        "schedule and shift, negative prompt, dtypes, loss weights, framing) and stop; loads no "
                        "Wan weights and distils nothing")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    preset = load_preset(args.preset or DEFAULT_PRESETS[args.teacher])
    preset = preset.replace(frames=args.frames, iterations=args.iterations, device=args.device,
                            negative_prompt=args.negative_prompt)
    if args.dry_run:
        return _dry_run(args, preset)
    if args.teacher == "reference":
        print("note: the reference teacher follows a known target motion (--reference-motion); "
              "the prompt does not drive it.")
    elif args.teacher == "mini":
        print("teacher: mini prior (text-driven on CPU; knows slide/push/move/pull left/right/forward/back, "
              "lift, turn left/right, open/close the lid, and two joined by 'and')")
    from chord_core.distill.optimize import gradient_norm_line

    bar = tqdm(total=preset.iterations, unit="it", desc="distilling")
    cancel = threading.Event()
    # Ctrl-C finishes the current iteration and keeps a checkpoint instead of losing the run
    previous_handler = signal.signal(signal.SIGINT, lambda *_: cancel.set())

    def report(p) -> None:
        bar.n = p.iteration
        bar.set_postfix(phase=p.phase, tau=f"{p.tau:.3f}", sds=f"{p.losses['sds']:.3g}", refresh=False)
        bar.refresh()
        if "grad_sds" in p.losses:
            bar.write(gradient_norm_line(p.iteration, p.losses))

    live = LiveView(args.view_port) if args.view else None
    try:
        result = animate(args.prompt, args.out, preset, scene_paths=args.scene, teacher_kind=args.teacher,
                         model_dir=args.model_dir, reference_motion=args.reference_motion, seed=args.seed,
                         resume=args.resume, continue_from=args.continue_from, progress=report, cancel=cancel,
                         live_flow=live.show if live else None, live_every=args.view_every)
    except BaseException:
        if live is not None:
            live.close()
        raise
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        bar.close()
    if result.summary["cancelled"]:
        print(f"cancelled after {result.summary['iterations']} iterations; continue with --resume "
              f"(checkpoint {result.out_dir / 'checkpoint.pt'})")
    flow = result.flow
    if not result.summary["cancelled"]:  # the parts and joints go into flow.npz for the planner and viewers
        from chord_core.commands.info import joint_line
        from chord_core.robot.articulation import analyse_flow

        articulation = analyse_flow(flow.trajectories, flow.object_ids)
        flow.articulation = articulation.to_arrays(flow.num_frames)
        flow.validate()
        flow.save(result.out_dir / "flow.npz")
        for joint in articulation.joints:
            print("joint: " + joint_line(flow, articulation, joint))
    moved = np.linalg.norm(flow.trajectories[-1] - flow.trajectories[0], axis=1)
    print(f"flow: {result.out_dir / 'flow.npz'} ({flow.num_frames} frames, {flow.num_points} points, "
          f"max displacement {moved.max():.3f} m)")
    print(f"views: {result.out_dir / 'views.mp4'}  losses: {result.out_dir / 'losses.png'}  "
          f"summary: {result.out_dir / 'summary.json'}")
    if live is not None and live.viewer is not None:
        print(f"viewer still at {live.viewer.url}; Ctrl-C stops it")
        from chord_core.view.server import wait_until_interrupted

        wait_until_interrupted(live.viewer)
    return 0


def _dry_run(args: argparse.Namespace, preset) -> int:
    from chord_core.distill.run_plan import describe_run
    from chord_core.scene.load import load_scene

    if args.teacher == "wan":
        if not args.model_dir:
            raise ChordError("--teacher wan needs --model-dir DIR, a local diffusers Wan 2.2 directory")
        from chord_core.teachers.wan_loading import check_wan_dir

        check_wan_dir(args.model_dir, preset.teacher)
    scene = load_scene(args.scene, preset.gaussians_per_object)
    for line in describe_run(args.prompt, preset, args.teacher, scene, args.model_dir, args.seed):
        print(line)
    return 0

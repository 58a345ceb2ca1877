"""`chord prior train|sample`: rebuild the mini prior's weights, or look at what it believes.

``chord prior train --out DIR [--steps N] [--resume]`` renders its own training clips and trains
the network (`chord_core.prior.training`); ``chord prior sample SCENE... --prompt TEXT --out DIR``
writes the videos the prior itself generates for a scene and a command (`chord_core.prior.sampling`).
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

HELP = "train the mini text-to-motion video prior, or sample videos from it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="prior_command", required=True, metavar="ACTION")
    train = sub.add_parser("train", help="render training clips and train the prior (resumable)")
    train.add_argument("--out", required=True, help="run directory (data cache, checkpoint, losses.png, weights)")
    train.add_argument("--steps", type=int, help="training steps (default: the shipped weights' count)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out")
    train.add_argument("--preset", default="mini", help="the distillation preset whose cameras, size and frames "
                                                        "the clips copy")
    train.add_argument("--seed", type=int, default=0)
    sample = sub.add_parser("sample", help="write the videos the prior generates for a scene and a command")
    sample.add_argument("scene", nargs="+", help="scan files (.ply/.pcd/.npz), one per object")
    sample.add_argument("--prompt", required=True, help="the command, e.g. 'push the block forward'")
    sample.add_argument("--out", required=True, help="output directory")
    sample.add_argument("--weights", help="a mini_prior.pt (default: the shipped weights)")
    sample.add_argument("--preset", default="mini", help="the preset whose distillation arc the views sit on")
    sample.add_argument("--views", type=int, default=4, help="cameras on the preset's operator arc")
    sample.add_argument("--steps", type=int, default=30, help="Euler steps of the sampler")
    sample.add_argument("--guidance", type=float, default=5.0, help="classifier-free guidance scale")
    sample.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    return _train(args) if args.prior_command == "train" else _sample(args)


def _train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from chord_core.distill.presets import load_preset
    from chord_core.prior.clips import ClipSettings
    from chord_core.prior.training import PriorTrainer, TrainConfig

    preset = load_preset(args.preset)
    settings = ClipSettings(preset.prior_camera_arc(), preset.frames, preset.gaussians_per_object)
    config = TrainConfig(seed=args.seed)
    if args.steps is not None:
        config.steps = args.steps
    bars: dict[str, tqdm] = {}

    def report(p) -> None:
        bar = bars.get(p.phase)
        if bar is None:
            for other in bars.values():
                other.close()
            bar = bars[p.phase] = tqdm(total=p.total, initial=p.step - 1, unit="step" if p.phase == "train" else
                                       "motion", desc="training" if p.phase == "train" else "rendering clips")
        bar.n = p.step
        if p.phase == "train":
            bar.set_postfix(loss=f"{p.loss:.4f}", refresh=False)
        bar.refresh()

    cancel = threading.Event()
    # Ctrl-C finishes the current step and keeps a checkpoint instead of losing the run
    previous_handler = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    trainer = PriorTrainer(args.out, settings, config, progress=report, cancel=cancel)
    try:
        weights = trainer.run(resume=args.resume)
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        for bar in bars.values():
            bar.close()
    if weights is None:
        print(f"stopped at step {trainer.step}; continue with --resume (checkpoint in {args.out})")
        return 130
    print(f"weights: {weights}  losses: {Path(args.out) / 'losses.png'}  "
          f"({trainer.step} steps, {trainer.seconds / 60:.1f} min of training)")
    return 0


def _sample(args: argparse.Namespace) -> int:
    from chord_core.distill.presets import load_preset
    from chord_core.prior.sampling import sample_to_directory

    written = sample_to_directory(args.scene, args.prompt, args.out, weights=args.weights, views=args.views,
                                  steps=args.steps, guidance=args.guidance, seed=args.seed,
                                  arc=load_preset(args.preset).camera_arc())
    for path in written:
        print(path)
    return 0

"""`chord prior train`: the mini prior's training run, reproducible and resumable on a 2-core CPU.

Data: shards of clips from `prior.clips` (cached under ``DIR/data``; made once, deterministic
from the seed). Objective: Wan's rectified flow. For a clip x in [-1, 1], noise ε and
τ = shift(σ) with σ ~ U(0, 1) (the shifted-sigma training distribution whose density is the
W-RFSDS weighting w(τ), `distill.sds`), z_τ = (1 − τ) x + τ ε and the network regresses
v = ε − x, each pixel weighted by `moving_pixel_weights`: pixels the object crosses count
``moving_weight`` + 1 times a still one (mean weight 1 per clip). A turn's evidence is a few
pixels among a thousand still ones; an unweighted loss learnt slides but not a turn's sense, and
the weighted loss has the same minimiser (the true velocity field). The caption is dropped
(replaced by <cls> alone) for ``text_dropout`` of the batch so the same network gives the
unconditional branch of classifier-free guidance. An exponential moving average of the weights is
what ships. Checkpoints hold model, EMA, optimiser, RNG states and loss history, so ``--resume``
continues the same run.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from chord_core.errors import ChordError
from chord_core.formats.run_outputs import plot_losses
from chord_core.prior.clips import ClipSettings, load_or_make_shard
from chord_core.prior.model import MiniPriorNet, PriorConfig
from chord_core.prior.vocabulary import CLS, PAD, VOCABULARY
from chord_core.teachers.base import DEFAULT_FLOW_SHIFT, shift_sigma

CHECKPOINT_NAME = "training_checkpoint.pt"
WEIGHTS_NAME = "mini_prior.pt"


@dataclass
class TrainConfig:
    steps: int = 8000
    batch: int = 16
    lr: float = 4e-4
    lr_final_fraction: float = 0.1   # cosine decay to lr * this
    warmup_steps: int = 200
    weight_decay: float = 0.01
    ema_decay: float = 0.999
    text_dropout: float = 0.1
    moving_weight: float = 9.0        # extra loss weight of pixels the object crosses (0: plain MSE)
    flow_shift: float = DEFAULT_FLOW_SHIFT
    seed: int = 0
    shards: int = 4
    motions_per_shard: int = 800
    cameras_per_motion: int = 3
    validation_clips: int = 64
    validate_every: int = 250
    checkpoint_every: int = 250
    model: PriorConfig = field(default_factory=PriorConfig)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainProgress:
    step: int
    total: int
    loss: float
    elapsed: float
    eta: float
    phase: str  # "data" | "train"


def learning_rate(config: TrainConfig, step: int) -> float:
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    frac = (step - config.warmup_steps) / max(config.steps - config.warmup_steps, 1)
    floor = config.lr_final_fraction
    return config.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def to_model_space(videos_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 clips [B, F, H, W, 3] -> videos [B, 3, F, H, W] in [-1, 1] (the prior's latents)."""
    return videos_uint8.permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0


MOVING_THRESHOLD = 0.1  # colour change (in [-1, 1] units) from the first frame that marks a pixel as crossed


def moving_pixel_weights(x: torch.Tensor, moving_weight: float) -> torch.Tensor:
    """Per-pixel loss weights [B, 1, 1, H, W] for videos x [B, 3, F, H, W]: 1 + moving_weight where any
    frame differs from the first by more than MOVING_THRESHOLD, normalised to mean 1 per clip."""
    change = (x - x[:, :, :1]).abs().amax(dim=(1, 2), keepdim=True)
    weights = 1.0 + moving_weight * (change > MOVING_THRESHOLD).float()
    return weights / weights.mean(dim=(3, 4), keepdim=True)


def flow_matching_loss(net: MiniPriorNet, x: torch.Tensor, tokens: torch.Tensor, sigma: torch.Tensor,
                       eps: torch.Tensor, shift: float, pixel_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean (optionally pixel-weighted) squared error of v̂(z_τ) against v = ε − x at τ = shift(σ)
    (Wan's objective)."""
    tau = shift_sigma(sigma, shift)
    t = tau[:, None, None, None, None]
    z_tau = (1 - t) * x + t * eps
    error = (net(z_tau, tau, x[:, :, 0], tokens) - (eps - x)).square()
    return (error if pixel_weights is None else error * pixel_weights).mean()


def drop_text(tokens: torch.Tensor, probability: float, generator: torch.Generator) -> torch.Tensor:
    """Replace a random ``probability`` of the captions by <cls> alone (the unconditional branch)."""
    drop = torch.rand(len(tokens), generator=generator) < probability
    empty = torch.full_like(tokens, PAD)
    empty[:, 0] = CLS
    return torch.where(drop[:, None], empty, tokens)


class PriorTrainer:
    """One training run in ``out_dir`` (see the module docstring)."""

    def __init__(self, out_dir: str | Path, settings: ClipSettings, config: TrainConfig | None = None,
                 progress: Callable[[TrainProgress], None] | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.out_dir = Path(out_dir)
        self.cancel = cancel or threading.Event()
        self.settings, self.config = settings, config or TrainConfig()
        if self.config.steps < 1 or self.config.batch < 1:
            raise ChordError(f"--steps and the batch must be positive, got {self.config.steps}, {self.config.batch}")
        self.progress = progress
        torch.manual_seed(self.config.seed)
        self.net = MiniPriorNet(self.config.model)
        self.ema = MiniPriorNet(self.config.model)
        self.ema.load_state_dict(self.net.state_dict())
        self.ema.requires_grad_(False)
        self.optimizer = torch.optim.AdamW(self.net.parameters(), lr=self.config.lr,
                                           weight_decay=self.config.weight_decay)
        self.generator = torch.Generator().manual_seed(self.config.seed)
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.seconds = 0.0

    # ----------------------------------------------------------------- data
    def load_data(self) -> None:
        c = self.config
        start = time.perf_counter()
        shards = []
        for index in range(c.shards):
            def report(done: int, total: int, index: int = index) -> None:
                if self.progress is not None:
                    elapsed = time.perf_counter() - start
                    finished = index * total + done
                    self.progress(TrainProgress(finished, c.shards * total, float("nan"), elapsed,
                                                elapsed / finished * (c.shards * total - finished), "data"))

            shards.append(load_or_make_shard(self.out_dir / "data" / f"shard-{index:02d}.npz", self.settings,
                                             c.motions_per_shard, c.cameras_per_motion, seed=1000 + index,
                                             progress=report))
        videos = torch.as_tensor(np.concatenate([s["videos"] for s in shards]))
        tokens = torch.as_tensor(np.concatenate([s["tokens"] for s in shards]))
        # the last validation_clips clips (whole motions of the last shard) are never trained on
        held = c.validation_clips
        self.train_videos, self.train_tokens = videos[:-held], tokens[:-held]
        self.val_videos, self.val_tokens = videos[-held:], tokens[-held:]
        val_gen = torch.Generator().manual_seed(12345)
        self.val_sigma = torch.rand(held, generator=val_gen)
        self.val_eps = torch.randn((held, 3, *videos.shape[1:4]), generator=val_gen)

    # ----------------------------------------------------------------- steps
    def train_step(self) -> float:
        c = self.config
        index = torch.randint(len(self.train_videos), (c.batch,), generator=self.generator)
        x = to_model_space(self.train_videos[index])
        tokens = drop_text(self.train_tokens[index], c.text_dropout, self.generator)
        sigma = torch.rand(c.batch, generator=self.generator)
        eps = torch.randn(x.shape, generator=self.generator)
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(c, self.step)
        weights = moving_pixel_weights(x, c.moving_weight) if c.moving_weight else None
        loss = flow_matching_loss(self.net, x, tokens, sigma, eps, c.flow_shift, weights)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.optimizer.step()
        with torch.no_grad():
            for ema, live in zip(self.ema.parameters(), self.net.parameters()):
                ema.lerp_(live, 1.0 - c.ema_decay)
        self.step += 1
        return loss.item()

    @torch.no_grad()
    def validation_loss(self, net: MiniPriorNet | None = None) -> float:
        """Loss of ``net`` (default: the EMA) on the held-out clips with fixed noise."""
        net = net or self.ema
        total = 0.0
        for start in range(0, len(self.val_videos), 16):
            part = slice(start, start + 16)
            x = to_model_space(self.val_videos[part])
            total += float(flow_matching_loss(net, x, self.val_tokens[part], self.val_sigma[part],
                                              self.val_eps[part], self.config.flow_shift)) * len(x)
        return total / len(self.val_videos)

    # ----------------------------------------------------------------- run
    def run(self, resume: bool = False) -> Path | None:
        """Train to ``config.steps`` (continuing a checkpoint with ``resume``); returns the weights,
        or None when cancelled (the checkpoint then holds the last step, for ``--resume``)."""
        if resume:
            self.load_checkpoint()
        elif (self.out_dir / CHECKPOINT_NAME).is_file():
            raise ChordError(f"{self.out_dir} already holds a training run; pass --resume to continue it "
                             "or choose another --out")
        self.load_data()
        c = self.config
        start, first = time.perf_counter(), self.step
        while self.step < c.steps:
            if self.cancel.is_set():
                self.seconds += time.perf_counter() - start
                self.save_checkpoint(self.seconds)
                return None
            loss = self.train_step()
            record = {"loss": loss, "lr": learning_rate(c, self.step - 1)}
            if self.step % c.validate_every == 0 or self.step == c.steps:
                record["validation"] = self.validation_loss()
            self.history.append(record)
            elapsed = time.perf_counter() - start
            if self.step % c.checkpoint_every == 0:
                self.save_checkpoint(self.seconds + elapsed)
            if self.progress is not None:
                per_step = elapsed / (self.step - first)
                self.progress(TrainProgress(self.step, c.steps, loss, elapsed, per_step * (c.steps - self.step),
                                            "train"))
        self.seconds += time.perf_counter() - start
        self.save_checkpoint(self.seconds)
        plot_losses(self.history, self.out_dir / "losses.png", curves=("loss", "validation"), lower="lr",
                    x_label="step")
        return self.save_weights()

    def save_weights(self) -> Path:
        """The shipped file: EMA weights + everything the teacher needs to check and use them."""
        path = self.out_dir / WEIGHTS_NAME
        state = {
            "format": "chord-mini-prior-1",
            "model": self.config.model.to_dict(),
            "clip_settings": self.settings.to_dict(),
            "flow_shift": self.config.flow_shift,
            "vocabulary": list(VOCABULARY),
            "training": {"steps": self.step, "seconds": round(self.seconds, 1), "config": self.config.to_dict(),
                         "final_validation_loss": self.history[-1].get("validation")},
            "state_dict": {k: v.clone() for k, v in self.ema.state_dict().items()},
        }
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)
        return path

    def save_checkpoint(self, seconds: float) -> Path:
        path = self.out_dir / CHECKPOINT_NAME
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {"step": self.step, "net": self.net.state_dict(), "ema": self.ema.state_dict(),
                 "optimizer": self.optimizer.state_dict(), "generator": self.generator.get_state(),
                 "history": self.history, "seconds": seconds, "config": self.config.to_dict(),
                 "clip_settings": self.settings.to_dict()}
        tmp = path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(path)
        return path

    def load_checkpoint(self) -> None:
        path = self.out_dir / CHECKPOINT_NAME
        if not path.is_file():
            raise ChordError(f"cannot resume: no training checkpoint at {path}")
        state = torch.load(path, weights_only=False)
        same = {k: v for k, v in self.config.to_dict().items() if k != "steps"}
        saved = {k: v for k, v in state["config"].items() if k != "steps"}
        if same != saved or state["clip_settings"] != self.settings.to_dict():
            raise ChordError(f"{path} was trained with other settings; resume with the same preset and options "
                             "(only --steps may grow)")
        self.net.load_state_dict(state["net"])
        self.ema.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.step, self.history, self.seconds = state["step"], state["history"], state["seconds"]

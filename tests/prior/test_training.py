"""Training lowers the rectified-flow loss, resumes exactly, and writes weights the teacher loads."""

import threading

import pytest
import torch

from chord_core.distill.presets import load_preset
from chord_core.errors import ChordError
from chord_core.prior.clips import ClipSettings
from chord_core.prior.model import PriorConfig
from chord_core.prior.training import PriorTrainer, TrainConfig, flow_matching_loss, to_model_space
from chord_core.prior.weights import load_prior

TINY = PriorConfig(channels=(16, 32), blocks_per_level=1, text_width=32, text_layers=1, embedding=64)


def _config(steps: int) -> TrainConfig:
    return TrainConfig(steps=steps, batch=4, lr=2e-3, warmup_steps=2, shards=1, motions_per_shard=3,
                       cameras_per_motion=2, validation_clips=2, validate_every=5, checkpoint_every=5, model=TINY)


@pytest.fixture(scope="module")
def settings():
    preset = load_preset("mini")
    return ClipSettings(preset.prior_camera_arc(), preset.frames, preset.gaussians_per_object, scan_points=800)


def _fixed_loss(trainer: PriorTrainer, net) -> float:
    gen = torch.Generator().manual_seed(0)
    x = to_model_space(trainer.train_videos)
    sigma = torch.rand(len(x), generator=gen)
    eps = torch.randn(x.shape, generator=gen)
    with torch.no_grad():
        return float(flow_matching_loss(net, x, trainer.train_tokens, sigma, eps, trainer.config.flow_shift))


def test_a_few_steps_lower_the_loss(tmp_path, settings):
    trainer = PriorTrainer(tmp_path, settings, _config(40))
    trainer.load_data()
    before = _fixed_loss(trainer, trainer.net)
    trainer.run()
    after = _fixed_loss(trainer, trainer.net)
    assert after < 0.8 * before, (before, after)
    assert (tmp_path / "losses.png").stat().st_size > 1000


def test_resume_continues_the_same_run(tmp_path, settings):
    straight = PriorTrainer(tmp_path / "a", settings, _config(10))
    straight.run()
    cancel = threading.Event()
    first = PriorTrainer(tmp_path / "b", settings, _config(10), cancel=cancel,
                         progress=lambda p: cancel.set() if p.phase == "train" and p.step == 5 else None)
    assert first.run() is None and first.step == 5  # Ctrl-C: stopped with a checkpoint
    with pytest.raises(ChordError, match="--resume"):
        PriorTrainer(tmp_path / "b", settings, _config(10)).run()
    resumed = PriorTrainer(tmp_path / "b", settings, _config(10))
    resumed.run(resume=True)
    assert resumed.step == 10
    for a, b in zip(straight.net.state_dict().values(), resumed.net.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_weights_file_loads_into_the_same_network(tmp_path, settings):
    trainer = PriorTrainer(tmp_path, settings, _config(3))
    path = trainer.run()
    prior = load_prior(path)
    assert prior.settings == settings and prior.flow_shift == trainer.config.flow_shift
    gen = torch.Generator().manual_seed(1)
    z, first = torch.randn(2, 3, 9, 32, 32, generator=gen), torch.randn(2, 3, 32, 32, generator=gen)
    tokens = trainer.train_tokens[:2]
    tau = torch.tensor([0.3, 0.8])
    with torch.no_grad():
        torch.testing.assert_close(prior.net(z, tau, first, tokens), trainer.ema(z, tau, first, tokens))


def test_a_foreign_file_is_refused(tmp_path):
    bad = tmp_path / "mini_prior.pt"
    torch.save({"hello": 1}, bad)
    with pytest.raises(ChordError, match="not a mini prior"):
        load_prior(bad)
    with pytest.raises(ChordError, match="chord prior train"):
        load_prior(tmp_path / "missing.pt")

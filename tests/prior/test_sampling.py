"""Sampling the prior: the Euler ODE on the shifted grid keeps the given frame and refuses nonsense."""

from pathlib import Path

import pytest
import torch

from chord_core.cli import main
from chord_core.distill.presets import load_preset
from chord_core.errors import ChordError
from chord_core.prior.clips import ClipSettings
from chord_core.prior.model import MiniPriorNet, PriorConfig
from chord_core.prior.sampling import sample_videos
from chord_core.prior.weights import LoadedPrior

TINY = PriorConfig(channels=(16, 32), blocks_per_level=1, text_width=32, text_layers=1, embedding=64)


class ConstantVelocity(torch.nn.Module):
    """v = ε − x for a known clean video x: the exact velocity field of a one-video data set."""

    def __init__(self, clean: torch.Tensor) -> None:
        super().__init__()
        self.clean = clean

    def guided(self, z, tau, first, tokens, scale, uncond_tokens=None):
        # z_τ = (1−τ)x + τε  =>  ε − x = (z_τ − x)/τ
        return (z - self.clean) / max(tau, 1e-6)


def _prior(net) -> LoadedPrior:
    preset = load_preset("mini")
    settings = ClipSettings(preset.prior_camera_arc(), preset.frames, preset.gaussians_per_object)
    return LoadedPrior(net, settings, 5.0, {}, Path("test.pt"))


def test_euler_sampler_lands_on_the_clean_video_of_an_exact_velocity():
    gen = torch.Generator().manual_seed(0)
    clean = torch.rand(2, 3, 9, 32, 32, generator=gen) * 2 - 1
    videos = sample_videos(_prior(ConstantVelocity(clean)), (clean[:, :, 0] + 1) / 2, "lift it", steps=8,
                           generator=gen)
    torch.testing.assert_close(videos * 2 - 1, clean, atol=1e-4, rtol=0)


def test_the_given_first_frame_is_kept_and_commands_are_checked():
    prior = _prior(MiniPriorNet(TINY).eval())
    first = torch.rand(1, 3, 32, 32)
    videos = sample_videos(prior, first, "push it forward", steps=2)
    assert videos.shape == (1, 3, 9, 32, 32)
    torch.testing.assert_close(videos[:, :, 0], first)
    with pytest.raises(ChordError, match="does not understand"):
        sample_videos(prior, first, "paint it blue", steps=2)


def test_cli_refuses_an_unknown_command_with_one_line(tmp_path, capsys):
    code = main(["prior", "sample", str(tmp_path / "none.ply"), "--prompt", "dance", "--out", str(tmp_path)])
    assert code == 2
    assert "does not understand" in capsys.readouterr().err

"""The mini teacher behind the Teacher interface: CFG, conditioning, refusals, preset checks."""

from pathlib import Path

import pytest
import torch

from chord_core.distill.presets import load_preset
from chord_core.errors import ChordError
from chord_core.prior.clips import ClipSettings
from chord_core.prior.model import MiniPriorNet, PriorConfig
from chord_core.prior.teacher import MiniTeacher
from chord_core.prior.vocabulary import CLS, PAD, tokenize
from chord_core.prior.weights import LoadedPrior
from chord_core.teachers.base import Teacher

TINY = PriorConfig(channels=(16, 32), blocks_per_level=1, text_width=32, text_layers=1, embedding=64)


def _random_output_layer(net: MiniPriorNet) -> MiniPriorNet:
    # the output layer starts at zero; give it weights so the branches differ
    torch.nn.init.normal_(net.out.weight, std=0.1)
    for block in net.modules():
        if hasattr(block, "temporal"):
            torch.nn.init.normal_(block.temporal.weight, std=0.05)
    return net.eval()


@pytest.fixture
def teacher():
    torch.manual_seed(0)
    preset = load_preset("mini")
    settings = ClipSettings(preset.prior_camera_arc(), preset.frames, preset.gaussians_per_object)
    prior = LoadedPrior(_random_output_layer(MiniPriorNet(TINY)), settings, 5.0, {}, Path("test.pt"))
    return MiniTeacher(prior)


def test_it_is_a_teacher(teacher):
    assert isinstance(teacher, Teacher) and not teacher.is_reference and teacher.flow_shift == 5.0


def test_guidance_is_uncond_plus_scale_times_difference(teacher):
    gen = torch.Generator().manual_seed(2)
    video = torch.rand(2, 3, 9, 32, 32, generator=gen)
    teacher.set_prompt("slide the block to the left")
    cond = teacher.condition(video[:, :, 0], 9)
    z = teacher.encode(video)
    v = teacher.velocity(z, 0.6, cond, guidance_scale=7.0)
    tokens = torch.as_tensor(tokenize("slide the block to the left"))[None].expand(2, -1)
    empty = torch.full_like(tokens, PAD)
    empty[:, 0] = CLS
    tau = torch.full((2,), 0.6)
    with torch.no_grad():
        v_c = teacher.net(z, tau, video[:, :, 0] * 2 - 1, tokens)
        v_u = teacher.net(z, tau, video[:, :, 0] * 2 - 1, empty)
    expected = v_u + 7.0 * (v_c - v_u)
    # one batch of both branches vs two separate calls rounds differently (1.6e-5 on values up to 4.5
    # with the recipe-5 weights); a wrong scale or branch would be off by the text's whole effect
    torch.testing.assert_close(v, expected, rtol=0, atol=1e-4 * float(expected.abs().max()))
    assert (v_c - v_u).abs().max() > 1e-2  # the text changes the prediction


def test_encode_maps_renders_to_the_prior_range(teacher):
    video = torch.tensor([0.0, 0.5, 1.0]).reshape(1, 3, 1, 1, 1).expand(1, 3, 9, 32, 32)
    z = teacher.encode(video)
    assert z.min() == -1 and z.max() == 1 and teacher.latent_shape(1, 9, 32, 32) == tuple(z.shape)


def test_unknown_commands_are_refused(teacher):
    with pytest.raises(ChordError, match="does not understand"):
        teacher.set_prompt("make the block dance")


def test_a_preset_that_renders_differently_is_refused(teacher):
    other = load_preset("cpu-test")
    with pytest.raises(ChordError, match=r"width 64 \(trained: 32\)"):
        teacher.check_settings(ClipSettings(other.camera_arc(), other.frames, other.gaussians_per_object))
    mini = load_preset("mini")
    teacher.check_settings(ClipSettings(mini.camera_arc(), mini.frames, mini.gaussians_per_object))
    with pytest.raises(ChordError, match="9-frame"):
        teacher.condition(torch.rand(1, 3, 32, 32), 5)


def test_a_run_may_use_any_part_of_the_trained_azimuth_arc(teacher):
    """A run may distil from the prior's training arc or a narrower one inside it, never outside."""
    import dataclasses

    mini = load_preset("mini")
    assert tuple(mini.azimuth_deg) == tuple(mini.prior_azimuth_deg) == (175.0, 185.0)
    assert teacher.prior.settings.arc.azimuth_deg == (175.0, 185.0)

    def run_arc(lo: float, hi: float) -> ClipSettings:
        arc = dataclasses.replace(mini.camera_arc(), azimuth_deg=(lo, hi))
        return ClipSettings(arc, mini.frames, mini.gaussians_per_object)

    teacher.check_settings(run_arc(175.0, 185.0))
    teacher.check_settings(run_arc(179.0, 181.0))
    with pytest.raises(ChordError, match=r"azimuth_deg \(170.0, 185.0\) \(trained: \(175.0, 185.0\)"):
        teacher.check_settings(run_arc(170.0, 185.0))
    with pytest.raises(ChordError, match="prior_azimuth_deg must be"):
        mini.replace(prior_azimuth_deg=[178.0, 190.0])

"""`chord bench wan-size`: the real-size configuration, and the measured step on CPU at toy size."""

from __future__ import annotations

import pytest
import torch

from chord_core.bench.wan_size import (
    I2V_A14B_TRANSFORMER,
    measure,
    random_components,
    random_prompt_teacher,
)
from chord_core.distill.optimize import Distiller
from chord_core.distill.presets import load_preset
from chord_core.scene.objects import scene_from_scans
from chord_core.scene.scenarios import make_scenario

TINY_TRANSFORMER = dict(patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=36,
                        out_channels=16, text_dim=32, freq_dim=16, ffn_dim=32, num_layers=1, rope_max_seq_len=64)
TINY_VAE = dict(base_dim=8, z_dim=16, dim_mult=[1, 2, 2, 2], num_res_blocks=1, temperal_downsample=[False, True, True])


def tiny_preset():
    return load_preset("cpu-test").replace(width=32, height=32, frames=5, batch_cameras=1, iterations=4,
                                           gaussians_per_object=300, num_coarse=4, num_fine=8, arap_samples=300,
                                           teacher="wan-i2v-a14b")


def test_real_size_config_is_the_14b_expert_with_the_wan21_vae():
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    with torch.device("meta"):
        transformer = WanTransformer3DModel(**I2V_A14B_TRANSFORMER)
        vae = AutoencoderKLWan()
    assert 14.2e9 < sum(p.numel() for p in transformer.parameters()) < 14.4e9
    assert vae.config.z_dim == 16 and vae.config.scale_factor_spatial == 8 and vae.config.base_dim == 96
    assert transformer.config.in_channels == 2 * vae.config.z_dim + vae.config.scale_factor_temporal


@pytest.mark.parametrize("experts", [1, 2])
def test_random_components_cast_like_from_pretrained(experts):
    c = random_components("cpu", torch.bfloat16, experts, TINY_TRANSFORMER, TINY_VAE)
    assert (c.transformer is c.transformer_2) == (experts == 1)
    keep = set(c.transformer._keep_in_fp32_modules)
    for name, param in c.transformer.named_parameters():
        expected = torch.float32 if keep & set(name.split(".")) else torch.bfloat16
        assert param.dtype == expected, name
        assert not param.requires_grad
    assert torch.get_default_dtype() == torch.float32  # restored after building


def test_random_prompt_teacher_trains_the_motion_through_a_full_step():
    preset = tiny_preset()
    scenario = make_scenario("rigid_box", frames=preset.frames, points=600)
    scene = scene_from_scans(scenario.scans, preset.gaussians_per_object)
    teacher = random_prompt_teacher(random_components("cpu", torch.float32, 2, TINY_TRANSFORMER, TINY_VAE))
    distiller = Distiller(scene, teacher, preset, "slide the block", seed=0)
    assert teacher.prompt_embeds.shape == (1, 512, TINY_TRANSFORMER["text_dim"])
    assert not torch.equal(teacher.prompt_embeds, teacher.negative_prompt_embeds)
    before = distiller.motion.objects[0].coarse.deformation.translation_nodes.detach().clone()
    distiller.step()
    after = distiller.motion.objects[0].coarse.deformation.translation_nodes.detach()
    assert torch.isfinite(after).all() and not torch.equal(before, after)


def test_measure_reports_both_teachers_and_the_resident_parameters():
    result = measure(tiny_preset(), "cpu", experts=2, repeats=1, transformer_config=TINY_TRANSFORMER,
                     vae_config=TINY_VAE)
    for name in ("reference", "wan"):
        seconds, gigabytes = result[name]
        assert seconds > 0 and gigabytes > 0
    from diffusers import WanTransformer3DModel

    assert result["parameters"] == 2 * sum(p.numel() for p in WanTransformer3DModel(**TINY_TRANSFORMER).parameters())

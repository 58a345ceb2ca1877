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
        assert result[name].seconds > 0 and result[name].peak_gb > 0
    from diffusers import WanTransformer3DModel

    assert result["parameters"] == 2 * sum(p.numel() for p in WanTransformer3DModel(**TINY_TRANSFORMER).parameters())


TINY_TI2V_TRANSFORMER = dict(TINY_TRANSFORMER, in_channels=48, out_channels=48)
TINY_WAN22_VAE = dict(base_dim=8, decoder_base_dim=8, z_dim=48, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
                      temperal_downsample=[False, True, True], is_residual=True, in_channels=12, out_channels=12,
                      patch_size=2, scale_factor_spatial=16, latents_mean=[0.0] * 48, latents_std=[1.0] * 48)


def test_real_size_ti2v_config_is_the_5b_model_with_the_wan22_vae():
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    from chord_core.bench.wan_size import TI2V_5B_TRANSFORMER, WAN22_VAE

    with torch.device("meta"):
        transformer = WanTransformer3DModel(**TI2V_5B_TRANSFORMER)
        vae = AutoencoderKLWan(**WAN22_VAE)
    assert 4.9e9 < sum(p.numel() for p in transformer.parameters()) < 5.1e9
    assert vae.config.z_dim == 48 and vae.config.scale_factor_spatial == 16
    assert transformer.config.in_channels == vae.config.z_dim == len(vae.config.latents_mean)


def test_ti2v_random_teacher_is_the_ti2v_class_with_one_expert_and_counts_flops():
    from chord_core.teachers.wan import WanTI2VTeacher

    components = random_components("cpu", torch.float32, 2, TINY_TI2V_TRANSFORMER, TINY_WAN22_VAE,
                                   kind="wan-ti2v-5b")
    assert components.transformer_2 is None and components.expand_timesteps
    assert isinstance(random_prompt_teacher(components), WanTI2VTeacher)
    preset = tiny_preset().replace(teacher="wan-ti2v-5b", width=64, height=64)
    result = measure(preset, "cpu", repeats=1, transformer_config=TINY_TI2V_TRANSFORMER,
                     vae_config=TINY_WAN22_VAE, count_flops=True)
    from diffusers import WanTransformer3DModel

    assert result["parameters"] == sum(p.numel() for p in WanTransformer3DModel(**TINY_TI2V_TRANSFORMER).parameters())
    # The counted work is at least the two CFG passes' matrix products over every latent token.
    tokens = (1 + (preset.frames - 1) // 4) * (64 // 32) * (64 // 32)
    assert result["wan"].flops > 2 * 2 * tokens * result["parameters"]
    assert result["reference"].flops is None


def test_bench_gpu_refuses_a_machine_without_cuda(capsys, monkeypatch):
    from chord_core.cli import main

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert main(["bench", "gpu", "--out", "unused.json"]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err


def test_bench_vae_refuses_frame_counts_the_wan_vae_cannot_chunk(capsys):
    from chord_core.cli import main

    assert main(["bench", "vae", "--frames", "10"]) == 2
    assert "--frames must be 4k + 1" in capsys.readouterr().err


def test_random_components_build_the_vae_in_its_own_dtype():
    c = random_components("cpu", torch.bfloat16, 1, TINY_TRANSFORMER, TINY_VAE, vae_dtype=torch.float32)
    assert c.vae.dtype == torch.float32 and c.transformer.dtype == torch.bfloat16

"""Bad inputs at the teacher boundary raise ChordError naming the input and the fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from chord_core.errors import ChordError
from chord_core.teachers import load_teacher, missing_wan_files
from chord_core.teachers.base import VideoGeometry


def test_missing_model_dir_names_download_command(tmp_path: Path) -> None:
    with pytest.raises(ChordError, match="does not exist.*huggingface-cli download "
                                         "Wan-AI/Wan2.2-I2V-A14B-Diffusers"):
        load_teacher("wan-i2v-a14b", tmp_path / "nowhere", "cpu")


def test_incomplete_dir_lists_every_missing_file(tmp_path: Path, tiny_i2v_dir: Path) -> None:
    broken = Path(shutil.copytree(tiny_i2v_dir, tmp_path / "broken"))
    (broken / "transformer_2" / "diffusion_pytorch_model.safetensors").unlink()
    (broken / "tokenizer" / "tokenizer.json").unlink()
    shutil.rmtree(broken / "scheduler")
    with pytest.raises(ChordError) as info:
        load_teacher("wan-i2v-a14b", broken, "cpu")
    message = str(info.value)
    assert "incomplete" in message
    for missing in ("transformer_2/diffusion_pytorch_model.safetensors", "tokenizer/tokenizer.json",
                    "scheduler/scheduler_config.json"):
        assert missing in message
    assert "vae/" not in message and "text_encoder/" not in message


def test_missing_shards_of_sharded_weights_are_listed(tmp_path: Path, tiny_ti2v_dir: Path) -> None:
    broken = Path(shutil.copytree(tiny_ti2v_dir, tmp_path / "sharded"))
    vae = broken / "vae"
    single = vae / "diffusion_pytorch_model.safetensors"
    single.rename(vae / "diffusion_pytorch_model-00001-of-00002.safetensors")
    index = {"metadata": {}, "weight_map": {
        "a": "diffusion_pytorch_model-00001-of-00002.safetensors",
        "b": "diffusion_pytorch_model-00002-of-00002.safetensors"}}
    (vae / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps(index))
    assert missing_wan_files(broken, "ti2v-5b") == [
        "vae/diffusion_pytorch_model-00002-of-00002.safetensors"]
    # The TI2V checkpoint has no second expert and needs none.
    assert missing_wan_files(tiny_ti2v_dir, "ti2v-5b") == []


def test_wrong_kind_for_directory_is_refused(tiny_ti2v_dir: Path) -> None:
    with pytest.raises(ChordError, match="holds a wan-ti2v-5b checkpoint"):
        load_teacher("wan-i2v-a14b", tiny_ti2v_dir.parent / tiny_ti2v_dir.name, "cpu")


def test_mixed_components_are_refused(tmp_path: Path, tiny_i2v_dir: Path,
                                      tiny_ti2v_dir: Path) -> None:
    mixed = Path(shutil.copytree(tiny_i2v_dir, tmp_path / "mixed"))
    shutil.rmtree(mixed / "vae")
    shutil.copytree(tiny_ti2v_dir / "vae", mixed / "vae")  # 48-channel VAE under A14B experts
    with pytest.raises(ChordError, match="expected 100/48 .*mixes models"):
        load_teacher("wan-i2v-a14b", mixed, "cpu")


def test_unknown_kind_is_refused(tiny_ti2v_dir: Path) -> None:
    with pytest.raises(ChordError, match="not a Wan teacher"):
        load_teacher("sora", tiny_ti2v_dir, "cpu")


@pytest.mark.parametrize("frames, height, width, pattern", [
    (6, 32, 32, "6 frames is not 4k\\+1 \\(use 5 or 9\\)"),
    (5, 40, 32, "height 40 is not a multiple of 16 \\(use 32 or 48\\)"),
    (5, 32, 24, "width 24 is not a multiple of 16"),
])
def test_i2v_rejects_bad_video_sizes(i2v_teacher, frames, height, width, pattern) -> None:
    with pytest.raises(ChordError, match=pattern):
        i2v_teacher.encode(torch.rand(1, 3, frames, height, width))


def test_ti2v_needs_multiples_of_32(ti2v_teacher) -> None:
    with pytest.raises(ChordError, match="height 48 is not a multiple of 32"):
        ti2v_teacher.encode(torch.rand(1, 3, 5, 48, 64))
    with pytest.raises(ChordError, match="multiple of 32"):
        ti2v_teacher.latent_shape(1, 5, 48, 64)


def test_nan_video_is_refused(i2v_teacher) -> None:
    video = torch.rand(1, 3, 5, 32, 32)
    video[0, 1, 2, 3, 4] = float("nan")
    with pytest.raises(ChordError, match="NaN"):
        i2v_teacher.encode(video)
    frame = torch.rand(1, 3, 32, 32)
    frame[0, 0, 0, 0] = float("inf")
    with pytest.raises(ChordError, match="NaN or infinite"):
        i2v_teacher.condition(frame, 5)


def test_wrong_video_layout_is_refused(i2v_teacher) -> None:
    with pytest.raises(ChordError, match=r"\[B, 3, F, H, W\]"):
        i2v_teacher.encode(torch.rand(1, 5, 3, 32, 32))
    with pytest.raises(ChordError, match=r"\[B, 3, H, W\]"):
        i2v_teacher.condition(torch.rand(3, 32, 32), 5)


def test_velocity_rejects_mismatched_conditioning(i2v_teacher) -> None:
    cond = i2v_teacher.condition(torch.rand(1, 3, 32, 32), 9)
    z_tau = torch.randn(1, 16, 2, 4, 4)  # 5 frames, but cond was built for 9
    with pytest.raises(ChordError, match="does not match the conditioning"):
        i2v_teacher.velocity(z_tau, 0.5, cond, 1.0)
    with pytest.raises(ChordError, match="from this teacher's condition"):
        i2v_teacher.velocity(z_tau, 0.5, None, 1.0)


def test_velocity_before_set_prompt_is_refused(tiny_ti2v_dir: Path) -> None:
    teacher = load_teacher("ti2v-5b", tiny_ti2v_dir, "cpu")
    cond = teacher.condition(torch.rand(1, 3, 32, 64), 5)
    with pytest.raises(ChordError, match="set_prompt"):
        teacher.velocity(torch.randn(1, 48, 2, 2, 4), 0.5, cond, 1.0)
    with pytest.raises(ChordError, match="prompt"):
        teacher.set_prompt("   ")


def test_pixel_space_geometry_allows_any_frame_count() -> None:
    """The reference teacher's geometry (identity encode) places no 4k+1 rule."""
    geometry = VideoGeometry(1, 1, (1, 1, 1), 3)
    assert geometry.latent_shape(2, 6, 7, 9) == (2, 3, 6, 7, 9)

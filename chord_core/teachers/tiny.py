"""Tiny random-weight Wan 2.2 pipelines in the real diffusers layout (tests, ``chord bench step``).

The components are the real diffusers / transformers classes at toy sizes, assembled into the
real pipeline class and written with ``save_pretrained``, so loading them exercises exactly the
path a downloaded checkpoint takes. The channel layout matches the real models (I2V: 16-channel
Wan 2.1 VAE, 8x spatial, transformer in 36 = 16 + 4 + 16; TI2V: 48-channel Wan 2.2 VAE, 16x
spatial); only widths and depths are shrunk. Outputs are meaningless.
"""

from __future__ import annotations

from pathlib import Path

import torch

from chord_core.teachers.wan_loading import I2V_A14B, normalize_kind

_WORDS = [
    "the", "a", "an", "of", "to", "and", "with", "his", "her", "its", "on", "in", "at", "up",
    "down", "left", "right", "man", "woman", "robot", "arm", "hand", "lamp", "head", "box", "cup",
    "door", "drawer", "lid", "bottle", "chair", "table", "moves", "pushes", "pulls", "lifts",
    "lowers", "opens", "closes", "turns", "rotates", "slides", "falls", "rolls", "slowly", "quickly",
]

#: Shift written into the tiny scheduler configs: what diffusers' conversion script uses
#: (I2V-A14B 3.0, TI2V-5B 5.0), so the shift-from-config path is exercised.
TINY_FLOW_SHIFT = {"wan-i2v-a14b": 3.0, "wan-ti2v-5b": 5.0}


def _tiny_tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {word: i for i, word in enumerate(["<pad>", "</s>", "<unk>", *_WORDS])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(single="$A </s>",
                                                           special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>"), len(vocab)


def build_tiny_wan(directory: Path | str, kind: str = "i2v-a14b", seed: int = 0) -> Path:
    """Write a tiny random Wan 2.2 ``kind`` pipeline to ``directory``; returns the directory."""
    from diffusers import (
        AutoencoderKLWan,
        UniPCMultistepScheduler,
        WanImageToVideoPipeline,
        WanPipeline,
        WanTransformer3DModel,
    )
    from transformers import UMT5Config, UMT5EncoderModel

    kind = normalize_kind(kind)
    directory = Path(directory)
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        tokenizer, vocab_size = _tiny_tokenizer()
        text_dim = 32
        text_encoder = UMT5EncoderModel(UMT5Config(
            vocab_size=vocab_size, d_model=text_dim, d_kv=8, d_ff=64, num_layers=1, num_heads=4,
            relative_attention_num_buckets=8, relative_attention_max_distance=16,
            pad_token_id=0, eos_token_id=1, decoder_start_token_id=0))
        i2v = kind == I2V_A14B
        z_dim = 16 if i2v else 48
        # Non-trivial statistics so normalisation mistakes show up in tests.
        stats = torch.linspace(-0.5, 0.5, z_dim)
        vae_kwargs = dict(base_dim=8, z_dim=z_dim, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
                          temperal_downsample=[False, True, True],
                          latents_mean=stats.tolist(), latents_std=(1.0 + stats.abs()).tolist())
        if not i2v:
            vae_kwargs.update(decoder_base_dim=8, is_residual=True, in_channels=12,
                              out_channels=12, patch_size=2, scale_factor_spatial=16)
        vae = AutoencoderKLWan(**vae_kwargs)

        def transformer() -> WanTransformer3DModel:
            return WanTransformer3DModel(
                patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12,
                in_channels=2 * z_dim + 4 if i2v else z_dim, out_channels=z_dim,
                text_dim=text_dim, freq_dim=16, ffn_dim=32, num_layers=1, rope_max_seq_len=64)

        scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                            num_train_timesteps=1000,
                                            flow_shift=TINY_FLOW_SHIFT[kind])
        common = dict(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae,
                      scheduler=scheduler, transformer=transformer())
        if i2v:
            pipe = WanImageToVideoPipeline(transformer_2=transformer(), boundary_ratio=0.9,
                                           **common)
        else:
            pipe = WanPipeline(expand_timesteps=True, **common)
        pipe.save_pretrained(directory)
    finally:
        torch.random.set_rng_state(generator_state)
    return directory

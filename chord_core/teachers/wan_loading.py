"""Load Wan 2.2 components from a local diffusers-format directory, offline.

The directory is what ``huggingface-cli download Wan-AI/Wan2.2-I2V-A14B-Diffusers --local-dir D``
(or ``...TI2V-5B-Diffusers``) produces: ``model_index.json``, ``transformer/``,
``transformer_2/`` (A14B only), ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``.
Everything is read with ``local_files_only``; a missing or incomplete directory raises one
ChordError that lists every missing file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from chord_core.errors import ChordError

I2V_A14B = "wan-i2v-a14b"
TI2V_5B = "wan-ti2v-5b"
WAN_KINDS: tuple[str, ...] = (I2V_A14B, TI2V_5B)
HF_REPOS = {I2V_A14B: "Wan-AI/Wan2.2-I2V-A14B-Diffusers",
            TI2V_5B: "Wan-AI/Wan2.2-TI2V-5B-Diffusers"}

_DIFFUSERS_WEIGHTS = "diffusion_pytorch_model"
_TRANSFORMERS_WEIGHTS = "model"


def normalize_kind(kind: str) -> str:
    """Accept ``"wan-i2v-a14b"`` / ``"i2v-a14b"`` (and the TI2V twins); reject anything else."""
    name = kind.strip().lower()
    if not name.startswith("wan-"):
        name = "wan-" + name
    if name not in WAN_KINDS:
        raise ChordError(f"teacher kind {kind!r} is not a Wan teacher; use one of {WAN_KINDS}")
    return name


def default_dtype(device: torch.device | str) -> torch.dtype:
    """bf16 on CUDA (how Wan 2.2 is run), float32 elsewhere (CPU bf16 convs are slow)."""
    return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32


def _component_dirs(kind: str) -> dict[str, str]:
    dirs = {"transformer": _DIFFUSERS_WEIGHTS, "vae": _DIFFUSERS_WEIGHTS,
            "text_encoder": _TRANSFORMERS_WEIGHTS}
    if kind == I2V_A14B:
        dirs["transformer_2"] = _DIFFUSERS_WEIGHTS
    return dirs


def _missing_weights(folder: Path, stem: str) -> list[str]:
    """Missing weight files of one component: a single file, or an index plus all its shards."""
    if (folder / f"{stem}.safetensors").is_file() or (folder / f"{stem}.bin").is_file():
        return []
    index = folder / f"{stem}.safetensors.index.json"
    if not index.is_file():
        return [f"{folder.name}/{stem}.safetensors (or a sharded {stem}.safetensors.index.json)"]
    try:
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    except (ValueError, KeyError, TypeError) as exc:
        return [f"{folder.name}/{index.name} (unreadable: {exc})"]
    return [f"{folder.name}/{shard}" for shard in shards if not (folder / shard).is_file()]


def missing_wan_files(model_dir: Path | str, kind: str) -> list[str]:
    """Every file a Wan teacher of ``kind`` needs that ``model_dir`` lacks (relative paths)."""
    root = Path(model_dir)
    kind = normalize_kind(kind)
    missing: list[str] = []
    for rel in ("model_index.json", "scheduler/scheduler_config.json",
                "tokenizer/tokenizer_config.json"):
        if not (root / rel).is_file():
            missing.append(rel)
    tokenizer_files = ("tokenizer.json", "spiece.model")
    if not any((root / "tokenizer" / name).is_file() for name in tokenizer_files):
        missing.append("tokenizer/tokenizer.json (or tokenizer/spiece.model)")
    for component, stem in _component_dirs(kind).items():
        folder = root / component
        if not (folder / "config.json").is_file():
            missing.append(f"{component}/config.json")
        missing.extend(_missing_weights(folder, stem))
    return missing


def check_wan_dir(model_dir: Path | str, kind: str) -> Path:
    """Raise ChordError unless ``model_dir`` holds a complete Wan ``kind`` checkpoint."""
    kind = normalize_kind(kind)
    root = Path(model_dir).expanduser()
    fetch = (f"huggingface-cli download {HF_REPOS[kind]} --local-dir {root} "
             "(on a machine with network access; see docs/teachers.md)")
    if not root.is_dir():
        raise ChordError(f"--model-dir {root} does not exist; download the checkpoint with "
                         f"{fetch}")
    missing = missing_wan_files(root, kind)
    if missing:
        raise ChordError(f"--model-dir {root} is incomplete for {kind}; missing: "
                         + ", ".join(missing) + f". Finish the download with {fetch}")
    return root


def read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ChordError(f"{path} is not readable JSON ({exc}); re-download it") from exc
    if not isinstance(data, dict):
        raise ChordError(f"{path} does not hold a JSON object; re-download it")
    return data


def detect_wan_kind(model_dir: Path | str) -> str:
    """Which Wan 2.2 teacher a directory holds, from its ``model_index.json``."""
    root = Path(model_dir).expanduser()
    index_path = root / "model_index.json"
    if not index_path.is_file():
        raise ChordError(f"--model-dir {root} has no model_index.json; it is not a diffusers "
                         f"checkpoint directory (expected one of {tuple(HF_REPOS.values())})")
    index = read_json(index_path)
    if index.get("expand_timesteps"):
        return TI2V_5B
    if index.get("boundary_ratio") is not None:
        return I2V_A14B
    raise ChordError(f"{index_path} describes neither Wan 2.2 I2V-A14B (boundary_ratio) nor "
                     "TI2V-5B (expand_timesteps); use one of " + ", ".join(HF_REPOS.values()))


@dataclass
class WanComponents:
    """The loaded denoising parts of a Wan 2.2 pipeline (the text encoder is loaded on demand)."""

    kind: str
    model_dir: Path
    device: torch.device
    dtype: torch.dtype
    vae: Any
    transformer: Any
    transformer_2: Any | None
    scheduler_config: dict[str, Any]
    boundary_ratio: float | None
    expand_timesteps: bool


def load_wan_components(model_dir: Path | str, kind: str, device: torch.device | str = "cpu",
                        dtype: torch.dtype | None = None,
                        vae_dtype: torch.dtype | None = None) -> WanComponents:
    """Check the directory, then load VAE and transformer(s) frozen, in eval mode, on ``device``."""
    from diffusers import AutoencoderKLWan, WanTransformer3DModel

    kind = normalize_kind(kind)
    root = Path(model_dir).expanduser()
    if (root / "model_index.json").is_file():  # a wrong kind is a clearer error than missing files
        found = detect_wan_kind(root)
        if found != kind:
            raise ChordError(f"--model-dir {root} holds a {found} checkpoint, not {kind}; "
                             f"pass --teacher {found} or point --model-dir at {HF_REPOS[kind]}")
    root = check_wan_dir(root, kind)
    device = torch.device(device)
    dtype = dtype or default_dtype(device)
    index = read_json(root / "model_index.json")
    scheduler_config = read_json(root / "scheduler" / "scheduler_config.json")

    def load(cls: Any, subfolder: str, load_dtype: torch.dtype) -> Any:
        try:
            model = cls.from_pretrained(root, subfolder=subfolder, dtype=load_dtype,
                                        local_files_only=True)
        except (OSError, ValueError, RuntimeError) as exc:
            raise ChordError(f"could not load {root / subfolder} ({exc}); re-download "
                             f"{HF_REPOS[kind]}") from exc
        return model.to(device).eval().requires_grad_(False)

    vae = load(AutoencoderKLWan, "vae", vae_dtype or dtype)
    transformer = load(WanTransformer3DModel, "transformer", dtype)
    transformer_2 = (load(WanTransformer3DModel, "transformer_2", dtype) if kind == I2V_A14B
                     else None)
    components = WanComponents(kind, root, device, dtype, vae, transformer, transformer_2,
                               scheduler_config, index.get("boundary_ratio"),
                               bool(index.get("expand_timesteps", False)))
    _check_consistent(components)
    return components


def _check_consistent(c: WanComponents) -> None:
    """The channel layout the teacher relies on must match the loaded configs."""
    z_dim = c.vae.config.z_dim
    for name, model in (("transformer", c.transformer), ("transformer_2", c.transformer_2)):
        if model is None:
            continue
        cfg = model.config
        # I2V: [noisy z | temporal_factor mask channels | condition z]; TI2V: z only.
        mask_channels = c.vae.config.scale_factor_temporal
        expected_in = 2 * z_dim + mask_channels if c.kind == I2V_A14B else z_dim
        if cfg.in_channels != expected_in or cfg.out_channels != z_dim:
            raise ChordError(f"{c.model_dir / name}/config.json has in/out channels "
                             f"{cfg.in_channels}/{cfg.out_channels}, expected "
                             f"{expected_in}/{z_dim} for {c.kind} with a {z_dim}-channel VAE; "
                             "the directory mixes models")
        if cfg.image_dim is not None:
            raise ChordError(f"{c.model_dir / name} expects CLIP image embeddings (Wan 2.1 I2V); "
                             "only Wan 2.2 I2V-A14B and TI2V-5B are supported")
        if tuple(cfg.patch_size)[0] != 1:
            raise ChordError(f"{c.model_dir / name} has temporal patch {cfg.patch_size[0]}; "
                             "Wan 2.2 uses 1")
    if c.kind == I2V_A14B and not 0.0 < float(c.boundary_ratio) < 1.0:
        raise ChordError(f"{c.model_dir}/model_index.json boundary_ratio={c.boundary_ratio} must "
                         "lie in (0, 1) (Wan 2.2 I2V-A14B uses 0.9)")


def load_text_encoder(model_dir: Path, device: torch.device,
                      dtype: torch.dtype) -> tuple[Any, Any]:
    """UMT5 tokenizer and encoder, frozen; the caller drops them after embedding the prompts."""
    from transformers import AutoTokenizer, UMT5EncoderModel

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir / "tokenizer", local_files_only=True)
        encoder = UMT5EncoderModel.from_pretrained(model_dir / "text_encoder", dtype=dtype,
                                                   local_files_only=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ChordError(f"could not load the UMT5 text encoder from {model_dir} ({exc}); "
                         "re-download tokenizer/ and text_encoder/") from exc
    return tokenizer, encoder.to(device).eval().requires_grad_(False)

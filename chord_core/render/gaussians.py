"""3D Gaussians, the renderer's primitive (gsplat conventions); scenes and motions produce them."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch


@dataclass
class Gaussians:
    """A set of 3D Gaussians (gsplat conventions).

    Attributes: means [N, 3], quats [N, 4] wxyz, scales [N, 3] linear std devs, opacities [N]
    in (0, 1), colors [N, 3] in [0, 1], object_ids [N] int64.
    """

    means: torch.Tensor
    quats: torch.Tensor
    scales: torch.Tensor
    opacities: torch.Tensor
    colors: torch.Tensor
    object_ids: torch.Tensor

    def __len__(self) -> int:
        return int(self.means.shape[0])

    def replace(self, **fields: torch.Tensor) -> Gaussians:
        """A copy with some fields swapped (e.g. deformed means/quats of one frame)."""
        return replace(self, **fields)

    def to(self, device: torch.device | str) -> Gaussians:
        return Gaussians(*(getattr(self, f).to(device) for f in _FIELDS))

    @staticmethod
    def cat(parts: list[Gaussians]) -> Gaussians:
        return Gaussians(*(torch.cat([getattr(p, f) for p in parts], 0) for f in _FIELDS))


_FIELDS = ("means", "quats", "scales", "opacities", "colors", "object_ids")

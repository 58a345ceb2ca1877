"""Fenwick-tree (binary indexed tree) bookkeeping for per-frame deformations (paper Eq. 10–11).

Frame t (0-based) is the Fenwick prefix query BIT(t + 1) over 1-based nodes j = 1..T; node j
stores the sum of per-frame increments over the frame range (j − lowbit(j), j]. The whole
query is one linear map: values[t] = Σ_j M[t, j] · nodes[j] with M ∈ {0,1}^{T×T} lower
triangular with a unit diagonal, hence invertible — which makes initialisation and the
"split" reset exact (nodes = M⁻¹ · desired per-frame values).
"""

from __future__ import annotations

from functools import lru_cache

import torch


def lowbit(j: int) -> int:
    """Largest power of two dividing j (j >= 1)."""
    return j & (-j)


def bit_query_nodes(t: int) -> list[int]:
    """1-based node indices BIT(t) composed for the 1-based prefix t (Eq. 10)."""
    nodes = []
    while t > 0:
        nodes.append(t)
        t -= lowbit(t)
    return nodes


@lru_cache(maxsize=64)
def _query_matrix_cached(num_frames: int) -> torch.Tensor:
    m = torch.zeros(num_frames, num_frames, dtype=torch.float64)
    for frame in range(num_frames):
        for node in bit_query_nodes(frame + 1):
            m[frame, node - 1] = 1.0
    return m


def query_matrix(num_frames: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """M [T, T]: row t selects the nodes of BIT(t + 1) (0-based node columns)."""
    return _query_matrix_cached(num_frames).to(dtype)


def nodes_from_values(values: torch.Tensor) -> torch.Tensor:
    """Node contents [T, ...] whose Fenwick queries reproduce per-frame values [T, ...] exactly."""
    num_frames = values.shape[0]
    m = query_matrix(num_frames, torch.float64)
    flat = values.reshape(num_frames, -1).to(torch.float64)
    nodes = torch.linalg.solve_triangular(m, flat, upper=False, unitriangular=True)
    return nodes.reshape(values.shape).to(values.dtype)

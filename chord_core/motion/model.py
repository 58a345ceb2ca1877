"""Hierarchical 4D motion: control points, Mahalanobis LBS and Fenwick-tree deformations.

Implements paper §3.3 and appendix A.1:
* Eq. 5  μᵗ = Σ_k β_k (R_kᵗ(μ − p_k) + p_k + T_kᵗ)           (linear blend skinning)
* Eq. 6  qᵗ = (Σ_k β_k r_kᵗ) ⊗ q                              (blended rotation; normalised)
* Eq. 7  β_k ∝ exp(−½ (μ − p_k) Σ_k⁻¹ (μ − p_k)ᵀ) over the K nearest control points
* Eq. 8–9 a fine layer adds residuals: μ_final = Δμᵗ + μᵗ, q_final = Δqᵗ ⊗ qᵗ
* Eq. 10–11 T_kᵗ = Σ_{j∈BIT(t)} T_k^[j], r_kᵗ = norm(Σ_{j∈BIT(t)} r_k^[j])
Options (not in the paper) add a per-anchor offset to Eq. 7's exponent,
β_k ∝ exp(−½ (μ − p_k) Σ_k⁻¹ (μ − p_k)ᵀ + ℓ_{a,k}), where anchor a is the canonical Gaussian
nearest to the query point (scan points and ARAP samples use their nearest Gaussian's ℓ and
neighbour set). Both exist for parts that touch flush (a hinged lid on its chest): straight-line
distance blends them across the seam, and the geometry does not show where the seam is.
* appearance skinning (``appearance_sigma`` σ_c > 0): a fixed ℓ_{a,k} = −|χ_a − χ_k|² / (2σ_c²)
  on chromaticity χ = c / (c_r + c_g + c_b) (brightness-invariant, so shading and texture
  intensity do not count), χ_k = mean χ of the anchors nearest to control point k. A control
  point then barely moves Gaussians of another colour: the bilateral-filter idea applied to LBS.
  It helps where parts differ in colour and is neutral on uniformly coloured objects.
* learned skinning: a learnable ℓ starting at 0 (added to the appearance term, if any) lets
  the photometric gradient move a seam.
Control points p_k come from voxel centres inside the object (farthest-point sampling, then
k-means) and stay fixed; Σ_k starts isotropic with the mean distance to the 3 nearest control
points and is learnable (A.1). Frame 0 is the canonical scene and is frozen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from chord_core.errors import ChordError
from chord_core.motion import fenwick
from chord_core.motion.geometry import quat_multiply, quat_normalize, quat_to_rotmat

Frames = int | Sequence[int] | torch.Tensor


@dataclass
class MotionConfig:
    """Knobs of the motion model (defaults follow the paper where it gives numbers)."""

    num_frames: int = 41
    num_coarse: int = 32
    num_fine: int = 256
    neighbours: int = 4
    use_fenwick: bool = True  # False: one free SE(3) per frame (the "no Fenwick" ablation)
    use_fine: bool = True  # False: the fine layer is never built (ablation)
    learned_skinning: bool = False  # True: learnable per-anchor offsets on Eq. 7's exponent (module doc)
    appearance_sigma: float = 0.0  # > 0: chromaticity term in the skinning (module doc); 0: Eq. 7 alone
    scale_factor: float = 1.0  # initial Σ_k std = factor × mean distance to the 3 nearest control points (A.1: 1)
    kmeans_iters: int = 20
    seed: int = 0


def farthest_point_sampling(points: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Indices [k] of k points chosen greedily to maximise the minimum pairwise distance."""
    rng = np.random.default_rng(seed)
    chosen = np.empty(k, dtype=np.int64)
    chosen[0] = rng.integers(len(points))
    dist = np.linalg.norm(points - points[chosen[0]], axis=1)
    for i in range(1, k):
        chosen[i] = int(np.argmax(dist))
        dist = np.minimum(dist, np.linalg.norm(points - points[chosen[i]], axis=1))
    return chosen


def init_control_points(interior: np.ndarray, k: int, kmeans_iters: int = 20, seed: int = 0) -> np.ndarray:
    """Control points [k', 3] (k' = min(k, #distinct points)): FPS seeds refined by k-means (A.1)."""
    from scipy.cluster.vq import kmeans2

    interior = np.unique(np.asarray(interior, dtype=np.float64), axis=0)
    if len(interior) == 0:
        raise ChordError("control points: the object's occupancy is empty; give a non-empty object")
    if len(interior) <= k:
        return interior.astype(np.float32)
    seeds = interior[farthest_point_sampling(interior, k, seed)]
    centres, _ = kmeans2(interior, seeds, iter=kmeans_iters, minit="matrix", seed=seed)
    return centres.astype(np.float32)


def initial_control_scales(control_points: np.ndarray, fallback: float) -> np.ndarray:
    """Per-point isotropic std [k]: mean distance to the 3 nearest other control points (A.1)."""
    from scipy.spatial import cKDTree

    k = len(control_points)
    if k < 2:
        return np.full(k, fallback, dtype=np.float32)
    nn_count = min(3, k - 1)
    dist, _ = cKDTree(control_points).query(control_points, k=nn_count + 1)
    scales = dist[:, 1:].mean(axis=1)
    return np.where(scales > 0, scales, fallback).astype(np.float32)


def chromaticity(colors: torch.Tensor) -> torch.Tensor:
    """χ = c / (c_r + c_g + c_b) [N, 3]: colour without its brightness (black maps to grey)."""
    total = colors.sum(-1, keepdim=True)
    return torch.where(total > 1e-6, colors / total.clamp_min(1e-6), torch.full_like(colors, 1 / 3))


def appearance_offsets(anchors: torch.Tensor, colors: torch.Tensor, control_points: torch.Tensor,
                       neighbours: torch.Tensor, sigma: float) -> torch.Tensor:
    """Fixed skinning offsets ℓ_{a,k} = −|χ_a − χ_k|² / (2σ²) [A, K'] (module docstring).

    χ_k is the mean chromaticity of the anchors whose nearest control point is k (the anchor
    nearest to k when none is).
    """
    chroma = chromaticity(colors)
    nearest_control = torch.cdist(anchors, control_points).argmin(1)
    counts = torch.bincount(nearest_control, minlength=len(control_points)).to(chroma.dtype)
    sums = torch.zeros(len(control_points), 3, dtype=chroma.dtype).index_add_(0, nearest_control, chroma)
    own = chroma[torch.cdist(control_points, anchors).argmin(1)]
    control_chroma = torch.where(counts[:, None] > 0, sums / counts.clamp_min(1)[:, None], own)
    diff = chroma[:, None, :] - control_chroma[neighbours]
    return -(diff * diff).sum(-1) / (2 * sigma**2)


def _as_frames(frames: Frames, num_frames: int) -> torch.Tensor:
    idx = torch.as_tensor(frames, dtype=torch.long).reshape(-1)
    if len(idx) and (int(idx.min()) < 0 or int(idx.max()) >= num_frames):
        raise ChordError(f"frames {idx.tolist()} outside 0..{num_frames - 1}; ask for existing frames")
    return idx


class DeformationSequence(nn.Module):
    """Per-control-point SE(3) sequences (T_kᵗ, r_kᵗ), stored as Fenwick nodes (Eq. 10–11).

    Node 1 (frame 0) is a buffer, so frame 0 is exactly the identity and never trained.
    Parameters: ``translation_nodes`` [T−1, K, 3] and ``rotation_nodes`` [T−1, K, 4] (raw,
    unnormalised quaternion sums as in Eq. 11).
    """

    def __init__(self, num_points: int, num_frames: int, use_fenwick: bool = True) -> None:
        super().__init__()
        if num_frames < 1:
            raise ChordError(f"num_frames must be >= 1, got {num_frames}")
        self.num_frames = num_frames
        self.use_fenwick = use_fenwick
        matrix = fenwick.query_matrix(num_frames) if use_fenwick else torch.eye(num_frames)
        self.register_buffer("query", matrix, persistent=False)
        identity = torch.zeros(num_frames, num_points, 4)
        identity[..., 0] = 1.0
        t_nodes, r_nodes = self._nodes(torch.zeros(num_frames, num_points, 3)), self._nodes(identity)
        self.register_buffer("translation_frozen", t_nodes[:1].clone())
        self.register_buffer("rotation_frozen", r_nodes[:1].clone())
        self.translation_nodes = nn.Parameter(t_nodes[1:].clone())
        self.rotation_nodes = nn.Parameter(r_nodes[1:].clone())

    def _nodes(self, values: torch.Tensor) -> torch.Tensor:
        return fenwick.nodes_from_values(values) if self.use_fenwick else values.clone()

    def all_translation_nodes(self) -> torch.Tensor:
        """[T, K, 3] including the frozen node of frame 0."""
        return torch.cat((self.translation_frozen, self.translation_nodes), 0)

    def all_rotation_nodes(self) -> torch.Tensor:
        """[T, K, 4] including the frozen node of frame 0."""
        return torch.cat((self.rotation_frozen, self.rotation_nodes), 0)

    def translations(self, frames: torch.Tensor) -> torch.Tensor:
        """T_kᵗ [F, K, 3] by Eq. 10 (a 0/1 matrix row per frame selects BIT(t))."""
        return torch.einsum("ft,tkc->fkc", self.query[frames], self.all_translation_nodes())

    def rotations(self, frames: torch.Tensor) -> torch.Tensor:
        """r_kᵗ [F, K, 4] unit wxyz by Eq. 11."""
        return quat_normalize(torch.einsum("ft,tkc->fkc", self.query[frames], self.all_rotation_nodes()))

    @torch.no_grad()
    def reset_after(self, frame: int) -> None:
        """Set every frame > ``frame`` to frame ``frame``'s deformation (the A.1 "split")."""
        if not 0 <= frame < self.num_frames:
            raise ChordError(f"reset frame {frame} outside 0..{self.num_frames - 1}")
        for nodes, frozen in ((self.translation_nodes, self.translation_frozen),
                              (self.rotation_nodes, self.rotation_frozen)):
            raw = self.query.to(nodes.dtype) @ torch.cat((frozen, nodes), 0).reshape(self.num_frames, -1)
            raw[frame + 1:] = raw[frame]
            new = self._nodes(raw).reshape(self.num_frames, *nodes.shape[1:])
            nodes.copy_(new[1:])


class ControlLayer(nn.Module):
    """One layer of control points: fixed means p [K, 3], learnable Σ, SE(3) sequences.

    Σ_k = R_k diag(s_k²) R_kᵀ with ``log_scales`` [K, 3] and ``cov_quats`` [K, 4] learnable.
    """

    def __init__(self, control_points: np.ndarray, scales: np.ndarray, num_frames: int,
                 neighbours: int, use_fenwick: bool, anchors: np.ndarray | None = None,
                 anchor_colors: np.ndarray | None = None, learned_skinning: bool = False,
                 appearance_sigma: float = 0.0) -> None:
        super().__init__()
        k = len(control_points)
        self.register_buffer("control_points", torch.as_tensor(control_points, dtype=torch.float32))
        self.log_scales = nn.Parameter(torch.log(torch.as_tensor(scales, dtype=torch.float32))[:, None].repeat(1, 3))
        self.cov_quats = nn.Parameter(torch.tensor([[1.0, 0.0, 0.0, 0.0]]).repeat(k, 1))
        self.deformation = DeformationSequence(k, num_frames, use_fenwick)
        self.neighbours = min(neighbours, k)
        self.skin_logits: nn.Parameter | None = None
        self.register_buffer("skin_prior", None)  # fixed appearance offsets [A, K'] (module docstring)
        if anchors is None:
            return
        anchors_t = torch.as_tensor(anchors, dtype=torch.float32)  # per-anchor offsets (module docstring)
        self.register_buffer("anchors", anchors_t)
        self.register_buffer("anchor_neighbours", self._nearest(anchors_t))
        if appearance_sigma > 0:
            self.skin_prior = appearance_offsets(anchors_t, torch.as_tensor(anchor_colors, dtype=torch.float32),
                                                 self.control_points, self.anchor_neighbours, appearance_sigma)
        if learned_skinning:
            self.skin_logits = nn.Parameter(torch.zeros(len(anchors_t), self.neighbours))

    def _nearest(self, points: torch.Tensor) -> torch.Tensor:
        """Indices [M, K'] of the K' nearest control points (Euclidean; p is fixed)."""
        with torch.no_grad():
            return torch.cdist(points, self.control_points.to(points.dtype)).topk(
                self.neighbours, dim=1, largest=False).indices

    def blend_weights(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Neighbour indices [M, K'] and β [M, K'] (Eq. 7, plus ℓ with the skinning options).

        β is the softmax of −½·Mahalanobis², identical to Eq. 7's normalised exponentials but
        finite even when every exp underflows (a point far from all control points).
        """
        p = self.control_points.to(points.dtype)
        offset = None
        if self.skin_logits is None and self.skin_prior is None:
            idx = self._nearest(points)
        else:
            with torch.no_grad():
                anchor = torch.cdist(points, self.anchors.to(points.dtype)).argmin(1)
            idx = self.anchor_neighbours[anchor]
            offset = sum(o.to(points.dtype)[anchor] for o in (self.skin_prior, self.skin_logits) if o is not None)
        diff = points[:, None, :] - p[idx]  # [M, K', 3]
        rot = quat_to_rotmat(self.cov_quats.to(points.dtype))[idx]  # [M, K', 3, 3]
        local = torch.einsum("mkji,mkj->mki", rot, diff) / torch.exp(self.log_scales.to(points.dtype))[idx]
        logits = -0.5 * (local * local).sum(-1)
        return idx, torch.softmax(logits if offset is None else logits + offset, dim=1)

    def blend(self, points: torch.Tensor, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-point blended affine map and rotation for Eq. 5–6.

        Returns A [F, M, 3, 3], b [F, M, 3] with μᵗ = A μ + b, and Σβ r [F, M, 4] (unnormalised).
        """
        idx, beta = self.blend_weights(points)
        dtype = points.dtype
        trans = self.deformation.translations(frames).to(dtype)  # [F, K, 3]
        quats = self.deformation.rotations(frames).to(dtype)  # [F, K, 4]
        rots = quat_to_rotmat(quats)  # [F, K, 3, 3]
        p = self.control_points.to(dtype)
        offsets = p + trans - torch.einsum("fkij,kj->fki", rots, p)  # p + T − R p
        a = torch.einsum("mk,fmkij->fmij", beta, rots[:, idx])
        b = torch.einsum("mk,fmki->fmi", beta, offsets[:, idx])
        r = torch.einsum("mk,fmkc->fmc", beta, quats[:, idx])
        return a, b, r


class ObjectMotion(nn.Module):
    """Motion of one object: a coarse layer and an optional fine residual layer (Eq. 5–11)."""

    def __init__(self, interior_points: np.ndarray, config: MotionConfig, fallback_scale: float,
                 anchors: np.ndarray | None = None, anchor_colors: np.ndarray | None = None) -> None:
        super().__init__()
        self.config = config
        uses_anchors = config.learned_skinning or config.appearance_sigma > 0
        self.anchors = anchors if uses_anchors else None
        self.anchor_colors = anchor_colors
        if uses_anchors and anchors is None:
            raise ChordError("learned or appearance skinning needs anchor points "
                             "(the object's canonical Gaussian means)")
        if config.appearance_sigma > 0 and (anchor_colors is None or len(anchor_colors) != len(anchors)):
            raise ChordError("appearance skinning needs one RGB colour per anchor point")
        self.num_frames = config.num_frames
        self.coarse = self._layer(interior_points, config.num_coarse, fallback_scale, config.seed)
        self.fine = (self._layer(interior_points, config.num_fine, fallback_scale, config.seed + 1)
                     if config.use_fine else None)
        self.fine_enabled = False

    def _layer(self, interior: np.ndarray, k: int, fallback: float, seed: int) -> ControlLayer:
        points = init_control_points(interior, k, self.config.kmeans_iters, seed)
        scales = self.config.scale_factor * initial_control_scales(points, fallback)
        return ControlLayer(points, scales, self.config.num_frames, self.config.neighbours, self.config.use_fenwick,
                            self.anchors, self.anchor_colors, self.config.learned_skinning,
                            self.config.appearance_sigma)

    def enable_fine(self) -> None:
        """Switch the fine residual layer on (Eq. 8–9); its nodes start at the identity."""
        if self.fine is None:
            raise ChordError("this motion was built with use_fine=False; rebuild it with use_fine=True")
        self.fine_enabled = True

    def deform(self, points: torch.Tensor, frames: Frames,
               quats: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Deform canonical points [M, 3] (and wxyz rotations [M, 4]) to frames.

        Returns positions [F, M, 3] and rotations [F, M, 4] (None when ``quats`` is None).
        """
        frame_idx = _as_frames(frames, self.num_frames).to(points.device)
        a, b, r = self.coarse.blend(points, frame_idx)
        positions = torch.einsum("fmij,mj->fmi", a, points) + b  # Eq. 5
        blended = quat_normalize(r)  # Eq. 6's Σβ r, normalised to a rotation
        if self.fine is not None and self.fine_enabled:
            fa, fb, fr = self.fine.blend(points, frame_idx)
            positions = positions + (torch.einsum("fmij,mj->fmi", fa, points) + fb - points)  # Eq. 8
            blended = quat_multiply(quat_normalize(fr), blended)  # Eq. 9
        rotations = None if quats is None else quat_normalize(quat_multiply(blended, quats[None]))
        return positions, rotations

    def layers(self) -> list[ControlLayer]:
        return [self.coarse] + ([self.fine] if self.fine is not None else [])

    def reset_after(self, frame: int) -> None:
        """Copy frame ``frame``'s deformation to all later frames, in every layer (A.1 split)."""
        for layer in self.layers():
            layer.deformation.reset_after(frame)


class SceneMotion(nn.Module):
    """One ObjectMotion per scene object; deforms points or whole Gaussian sets."""

    def __init__(self, objects: list[ObjectMotion]) -> None:
        super().__init__()
        if not objects:
            raise ChordError("scene motion needs at least one object")
        self.objects = nn.ModuleList(objects)
        self.num_frames = objects[0].num_frames

    @classmethod
    def from_scene(cls, scene, config: MotionConfig | None = None) -> SceneMotion:
        """Build control points from each object's occupancy (``scene.Scene``)."""
        config = config or MotionConfig()
        motions = [ObjectMotion(obj.control_point_candidates(), config, obj.fallback_scale(),
                                anchors=obj.gaussians.means.detach().cpu().numpy(),
                                anchor_colors=obj.gaussians.colors.detach().cpu().numpy())
                   for obj in scene.objects]
        return cls(motions)

    def deform(self, points: torch.Tensor, object_index: int, frames: Frames,
               quats: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Positions [F, M, 3] (+ rotations [F, M, 4]) of points of one object at frames."""
        if not 0 <= object_index < len(self.objects):
            raise ChordError(f"object index {object_index} outside 0..{len(self.objects) - 1}")
        return self.objects[object_index].deform(points, frames, quats)

    def deform_gaussians(self, gaussians, frames: Frames) -> tuple[torch.Tensor, torch.Tensor]:
        """Means [F, N, 3] and wxyz quats [F, N, 4] of a scene's Gaussians (``object_ids`` route them)."""
        frame_idx = _as_frames(frames, self.num_frames)
        means = gaussians.means.new_zeros((len(frame_idx),) + tuple(gaussians.means.shape))
        quats = gaussians.quats.new_zeros((len(frame_idx),) + tuple(gaussians.quats.shape))
        for i, motion in enumerate(self.objects):
            mask = gaussians.object_ids == i
            if bool(mask.any()):
                pos, rot = motion.deform(gaussians.means[mask], frame_idx, gaussians.quats[mask])
                means = _put(means, mask, pos)
                quats = _put(quats, mask, rot)
        return means, quats

    def enable_fine(self) -> None:
        for motion in self.objects:
            motion.enable_fine()

    def reset_after(self, frame: int) -> None:
        for motion in self.objects:
            motion.reset_after(frame)

    def param_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters grouped for per-group learning rates (A.1): deformations, rotations, scales,
        and (learned skinning only) skinning."""
        groups: dict[str, list[nn.Parameter]] = {"deformations": [], "rotations": [], "scales": [], "skinning": []}
        for motion in self.objects:
            for layer in motion.layers():
                groups["deformations"].append(layer.deformation.translation_nodes)
                groups["rotations"].append(layer.deformation.rotation_nodes)
                groups["scales"] += [layer.log_scales, layer.cov_quats]
                if layer.skin_logits is not None:
                    groups["skinning"].append(layer.skin_logits)
        return groups


def _put(target: torch.Tensor, mask: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Out-of-place target[:, mask] = values, keeping autograd through values."""
    index = mask.nonzero().squeeze(1)
    return target.index_copy(1, index, values)

"""Pinhole cameras (OpenCV convention: x right, y down, z forward), orbit and operator-arc sampling.

Orbit sampling draws viewpoints on a sphere around the scene; the distillation loop widens the
azimuth range step by step (3to4D's incremental viewpoint widening), so ranges are arguments.
World frame: the robot base frame (REP 103), x forward, y left, z up (docs/formats.md). A
:class:`CameraArc` is the one rule for "which cameras see the scene" shared by the distillation
loop and the mini prior's training data: an arc of azimuths around the operator's viewpoint
(azimuth 180 deg = behind the robot base looking forward, so "left" in words is left in the image).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from chord_core.errors import ChordError


@dataclass
class Cameras:
    """A batch of C cameras: viewmats [C, 4, 4] world-to-camera, Ks [C, 3, 3], image size."""

    viewmats: torch.Tensor
    Ks: torch.Tensor
    width: int
    height: int

    def __len__(self) -> int:
        return int(self.viewmats.shape[0])

    def __getitem__(self, index: int | slice | torch.Tensor) -> Cameras:
        if isinstance(index, int):
            index = slice(index, index + 1)
        return Cameras(self.viewmats[index], self.Ks[index], self.width, self.height)

    def to(self, device: torch.device | str) -> Cameras:
        return Cameras(self.viewmats.to(device), self.Ks.to(device), self.width, self.height)


def intrinsics(fov_x_deg: float, width: int, height: int) -> torch.Tensor:
    """K [3, 3] with square pixels, horizontal field of view fov_x_deg, centred principal point."""
    if not 0 < fov_x_deg < 180:
        raise ChordError(f"field of view {fov_x_deg} deg must lie in (0, 180)")
    if width < 1 or height < 1:
        raise ChordError(f"image size {width}x{height} must be positive")
    focal = 0.5 * width / math.tan(math.radians(fov_x_deg) / 2)
    return torch.tensor([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])


def look_at(eyes: torch.Tensor, target: torch.Tensor, up: Sequence[float] = (0.0, 0.0, 1.0)) -> torch.Tensor:
    """World-to-camera viewmats [C, 4, 4] for cameras at eyes [C, 3] looking at target [3]."""
    eyes = torch.as_tensor(eyes, dtype=torch.float32).reshape(-1, 3)
    target = torch.as_tensor(target, dtype=torch.float32).reshape(3)
    forward = torch.nn.functional.normalize(target - eyes, dim=1)
    up_vec = torch.as_tensor(up, dtype=torch.float32).expand_as(forward)
    parallel = torch.cross(forward, up_vec, dim=1).norm(dim=1) < 1e-6
    up_vec = torch.where(parallel[:, None], torch.tensor([0.0, 1.0, 0.0]).expand_as(forward), up_vec)
    right = torch.nn.functional.normalize(torch.cross(forward, up_vec, dim=1), dim=1)
    down = torch.cross(forward, right, dim=1)
    rot = torch.stack((right, down, forward), dim=1)  # rows: camera axes in world
    view = torch.eye(4).repeat(len(eyes), 1, 1)
    view[:, :3, :3] = rot
    view[:, :3, 3] = -torch.einsum("cij,cj->ci", rot, eyes)
    return view


def orbit_cameras(center: Sequence[float], radius: float, num: int, width: int, height: int,
                  elevation_deg: tuple[float, float] = (0.0, 30.0),
                  azimuth_deg: tuple[float, float] = (-180.0, 180.0), fov_x_deg: float = 50.0,
                  distance: float | None = None, random: bool = True, seed: int | None = None) -> Cameras:
    """C = num cameras on a sphere around center, looking at it.

    Elevation/azimuth in degrees (azimuth 0 puts the camera on the +x side of the centre);
    random=False spaces them evenly over the ranges. distance defaults to the range at which a
    sphere of the given radius fills the narrower field of view with a 10% margin.
    """
    if num < 1:
        raise ChordError(f"orbit_cameras: num must be >= 1, got {num}")
    if radius <= 0 or not math.isfinite(radius):
        raise ChordError(f"orbit_cameras: radius must be positive and finite, got {radius}")
    k = intrinsics(fov_x_deg, width, height)
    if distance is None:
        half_fov = math.atan(min(width, height) / (2 * float(k[0, 0])))
        distance = 1.1 * radius / math.sin(half_fov)
    if random:
        rng = np.random.default_rng(seed)
        elev = rng.uniform(*elevation_deg, size=num)
        azim = rng.uniform(*azimuth_deg, size=num)
    else:
        elev = np.linspace(*elevation_deg, num) if num > 1 else np.array([np.mean(elevation_deg)])
        azim = np.linspace(*azimuth_deg, num, endpoint=(num > 1 and azimuth_deg[1] - azimuth_deg[0] < 360))
    e, a = np.radians(elev), np.radians(azim)
    offsets = np.stack((np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)), axis=1) * distance
    centre = torch.as_tensor(np.asarray(center, dtype=np.float32))
    eyes = centre + torch.as_tensor(offsets, dtype=torch.float32)
    return Cameras(look_at(eyes, centre), k.repeat(num, 1, 1), width, height)


@dataclass(frozen=True)
class CameraArc:
    """Where the cameras of a run sit and how they frame the scene (a preset's camera settings).

    The framing radius is the scene's bounding radius, at least ``min_frame_radius`` metres, so a
    small object still has room to move inside the view; cameras stand ``radius_scale`` framing
    radii from the centre on the elevation / azimuth ranges (degrees; azimuth 0 = on the +x side),
    times width / min(width, height): ``radius_scale`` frames the scene in the narrower side of
    the image as it would in a square one, so a wide video (832x464) does not cut objects off.
    """

    width: int
    height: int
    fov_deg: float
    radius_scale: float
    elevation_deg: tuple[float, float]
    azimuth_deg: tuple[float, float]
    min_frame_radius: float = 0.0

    def frame_radius(self, radius: float) -> float:
        return max(float(radius), self.min_frame_radius)

    def distance(self, radius: float) -> float:
        """Camera distance from the scene centre for a scene of bounding ``radius``."""
        return self.radius_scale * self.frame_radius(radius) * self.width / min(self.width, self.height)

    def sample(self, center: Sequence[float], radius: float, num: int, seed: int | None,
               azimuth_deg: tuple[float, float] | None = None) -> Cameras:
        """``num`` random cameras on the arc (or on the narrower ``azimuth_deg``) around the scene."""
        framing = self.frame_radius(radius)
        return orbit_cameras(center, framing, num, self.width, self.height, elevation_deg=tuple(self.elevation_deg),
                             azimuth_deg=tuple(azimuth_deg or self.azimuth_deg), fov_x_deg=self.fov_deg,
                             distance=self.distance(radius), seed=seed)


def inside_every_view(points: np.ndarray, cameras: Cameras) -> np.ndarray:
    """[N] bool: the point projects inside the image (in front of the camera) in every camera."""
    world = torch.as_tensor(np.asarray(points, dtype=np.float32))
    inside = torch.ones(len(world), dtype=torch.bool)
    for view, k in zip(cameras.viewmats, cameras.Ks):
        cam = world @ view[:3, :3].T + view[:3, 3]
        z = cam[:, 2]
        u = k[0, 0] * cam[:, 0] / z + k[0, 2]
        v = k[1, 1] * cam[:, 1] / z + k[1, 2]
        inside &= (z > 0) & (u >= 0) & (u <= cameras.width) & (v >= 0) & (v <= cameras.height)
    return inside.numpy()

"""Cameras and differentiable Gaussian rendering (CPU rasterizer, gsplat on CUDA, dense reference)."""

"""Objects as 3D Gaussians (from scans or fitted to meshes), distance fields, voxel samples."""

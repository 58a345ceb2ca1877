"""File contracts, in one place: flow.npz, motion.npz, scan files, run outputs, videos (docs/formats.md)
and the typed YAML config files (presets, robot config)."""

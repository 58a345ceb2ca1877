"""File contracts, in one place: flow.npz, motion.npz, scan files, run outputs and videos (docs/formats.md)."""

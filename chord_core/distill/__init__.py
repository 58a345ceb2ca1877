"""W-RFSDS, the regularizers, the distillation loop, presets and the end-to-end pipeline."""

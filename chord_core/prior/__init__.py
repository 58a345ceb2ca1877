"""The mini prior: a small text- and first-frame-conditioned rectified-flow video model trained here."""

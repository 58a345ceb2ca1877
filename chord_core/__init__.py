"""chord_core: the CHORD distillation engine (pure Python + torch, never imports rclpy).

Data flows scene -> motion -> render -> teachers -> distill -> flow -> robot (ARCHITECTURE.md).
"""

from chord_core.errors import ChordError

__all__ = ["ChordError"]

"""The one exception type raised at chord_core and chord_ros boundaries."""


class ChordError(ValueError):
    """Bad input or an impossible request; the message names the input and the fix."""

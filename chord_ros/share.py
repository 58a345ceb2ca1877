"""Where the installed package keeps its data (config/, launch/), in a ROS install or a checkout."""

from __future__ import annotations

from pathlib import Path

from chord_core.errors import ChordError

PACKAGE = "chord_ros"


def package_share() -> Path:
    """The source checkout for editable installs (its config/ is the live one), else share/chord_ros."""
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "config").is_dir():
        return checkout
    from ament_index_python.packages import get_package_share_directory

    try:
        return Path(get_package_share_directory(PACKAGE))
    except (LookupError, OSError) as error:
        raise ChordError(f"cannot find the installed {PACKAGE} share directory: {error}") from None


def config_path(*parts: str) -> Path:
    """A file under config/, e.g. config_path("choreographer.yaml")."""
    return package_share().joinpath("config", *parts)

"""Where the package's data files (config/, launch/) are, however chord_ros was installed.

Three installs, looked at in this order:
* a source checkout or editable pip install: the repository root, whose config/ is the live one;
* a colcon install, symlinked or copied: share/chord_ros found through the ament index
  (``ament_index_python``, i.e. the ``AMENT_PREFIX_PATH`` of a sourced workspace);
* a plain pip install: ``<sys.prefix>/share/chord_ros`` (setup.py's data_files).
chord_core stays usable without ROS: the ament index is only asked when it imports.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from chord_core.errors import ChordError

PACKAGE = "chord_ros"


def share_candidates() -> list[Path]:
    """Every directory that could hold the package's data, in lookup order."""
    candidates = [Path(__file__).resolve().parents[1]]  # the checkout's root (site-packages when installed)
    try:
        from ament_index_python.packages import get_package_share_directory
    except ImportError:
        pass
    else:
        with contextlib.suppress(LookupError, OSError):  # not in any sourced prefix
            candidates.append(Path(get_package_share_directory(PACKAGE)))
    candidates.append(Path(sys.prefix) / "share" / PACKAGE)
    return candidates


def package_share() -> Path:
    """The first candidate holding a config/ directory."""
    candidates = share_candidates()
    for directory in candidates:
        if (directory / "config").is_dir():
            return directory
    raise ChordError(f"cannot find the {PACKAGE} data files (config/); looked in "
                     f"{', '.join(str(c) for c in candidates)}. Source the workspace's install/setup.bash "
                     "after `colcon build`, or install with scripts/setup.sh")


def config_path(*parts: str) -> Path:
    """A file under config/, e.g. config_path("presets", "mini.yaml")."""
    return package_share().joinpath("config", *parts)

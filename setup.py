"""ament_python package `chord_ros` (also pip-installable): installs chord_core and chord_ros."""

from glob import glob

from setuptools import find_packages, setup

package_name = "chord_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(include=["chord_core", "chord_core.*", "chord_ros", "chord_ros.*"]),
    # the mini prior's shipped weights and model card (chord_core/prior/weights/)
    package_data={"chord_core.prior": ["weights/mini_prior.pt", "weights/MODEL_CARD.md"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/launch", glob("launch/*.py")),
        (f"share/{package_name}/config", glob("config/*.yaml") + glob("config/*.rviz") + glob("config/*.xml")),
        (f"share/{package_name}/config/presets", glob("config/presets/*.yaml")),
        *((f"share/{package_name}/{scene}", glob(f"{scene}/*")) for scene in sorted(glob("config/scenes/*"))),
    ],
    install_requires=["numpy", "scipy", "PyYAML"],
    zip_safe=False,
    maintainer="chord_ros maintainers",
    maintainer_email="chord-ros@example.org",
    description="Text-commanded object manipulation with CHORD dense object flow.",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "chord = chord_core.cli:main",
            "chord-ros = chord_ros.cli:main",
            "flow_recorder = chord_ros.nodes.flow_recorder:main",
            "sim_arm = chord_ros.nodes.sim_arm:main",
            "planner = chord_ros.nodes.planner:main",
            "choreographer = chord_ros.nodes.choreographer:main",
            "command = chord_ros.nodes.command:main",
        ],
    },
)

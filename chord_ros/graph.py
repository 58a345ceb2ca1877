"""The manipulate graph, described once: launch arguments and the nodes they configure.

`launch/manipulate.launch.py` (full ROS 2 installs) and `chord-ros launch manipulate` (our
launcher, no `launch` package needed) both build their processes from `ARGUMENTS` and `nodes()`,
so the two cannot drift apart. Each node also reads its YAML defaults from config/<node>.yaml;
the values set here override them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from chord_core.errors import ChordError
from chord_core.share import PACKAGE, config_path

#: Bundled scenes (config/scenes/<name>/: scans, motion.npz, scene.yaml with the prompt, joint files).
SCENES = ("demo", "chest")
#: The choreographer's teachers (chord_core.distill.pipeline.TEACHERS; spelled out so that launch
#: files need not import torch); mini is the default.
TEACHERS = ("mini", "wan", "reference")
#: What the mini prior understands, for the lines the demo and the choreographer print.
MINI_VOCABULARY = ("slide/push/move/pull it left/right/forward/back, lift it, turn it left/right or "
                   "(counter)clockwise, open/close the lid; two of these joined by 'and'")


@dataclass(frozen=True)
class Argument:
    name: str
    default: str
    description: str
    choices: tuple[str, ...] = ()


ARGUMENTS: tuple[Argument, ...] = (
    Argument("use_sim", "true", "start sim_arm (MuJoCo Panda) as the arm and the objects' perception; "
             "false = a real controller serves the trajectory action", ("true", "false")),
    Argument("auto_execute", "", "planner: send accepted plans to the arm at once; false = only when an operator "
             "confirms one (`chord-ros execute PLAN_ID`, `chord-ros command TEXT --execute`); empty = use_sim's "
             "value (true in simulation, false on a real arm)", ("", "true", "false")),
    Argument("device", "cpu", "where the choreographer distils", ("cpu", "cuda")),
    Argument("preset", "", "distillation preset: mini, cpu-test, gpu-5b, gpu-14b or a preset .yaml; "
             "empty = the teacher's own (mini: mini; wan, reference: cpu-test)"),
    Argument("teacher", "mini", "mini = the shipped text-driven prior on CPU (a fixed motion vocabulary); "
             "wan = Wan 2.2 from model_dir (open vocabulary, GPU); reference = the known target motion in "
             "reference_motion (a measurable test instrument that ignores the words)", TEACHERS),
    Argument("model_dir", "", "teacher wan: local diffusers Wan 2.2 directory; teacher mini: a mini_prior.pt "
             "(empty = the shipped weights)"),
    Argument("iterations", "0", "distillation iterations per command; 0 = the preset's"),
    Argument("record_bag", "false", "record the chord topics with flow_recorder", ("true", "false")),
    Argument("bag_path", "", "bag directory; empty = ~/.ros/chord_bags/chord_<date>_<time>"),
    Argument("scene", "", "comma-separated scan files of the simulated world; empty = the bundled demo scene"),
    Argument("reference_motion", "", "motion.npz of teacher reference; empty = the bundled demo motion"),
    Argument("work_dir", "", "where the choreographer writes its runs; empty = ~/.ros/chord_runs"),
    Argument("video_dir", "", "where sim_arm writes a video per executed trajectory; empty = none"),
    Argument("plan_dir", "", "where the planner writes each plan (plan_dir/<plan_id>/plan.npz, grasp.json) for "
             "`chord view --plan`; empty = none"),
    Argument("real_time_factor", "1.0", "simulation speed relative to real time (sim_arm)"),
    Argument("use_sim_time", "false", "every node (and RViz) reads time from sim_arm's /clock (simulated time, "
             "real_time_factor x the wall clock): stamps, bag times and timers in simulated seconds; needs use_sim",
             ("true", "false")),
    Argument("rviz", "false", "start RViz with config/chord.rviz (robot, object clouds, flow, grasp and plan "
             "markers); needs rviz2 from a ROS 2 install", ("true", "false")),
)
ARGUMENT_NAMES = tuple(a.name for a in ARGUMENTS)


@dataclass(frozen=True)
class NodeSpec:
    """One process of the graph: `ros2 run <package> <executable>` with parameters (chord_ros nodes:
    their config/<executable>.yaml first) or command-line arguments (other packages' tools)."""

    executable: str
    parameters: dict = field(default_factory=dict)
    package: str = PACKAGE
    arguments: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.executable

    @property
    def is_chord_node(self) -> bool:
        """A chord_ros node: it has a params file, and its exit ends the graph (closing RViz does not)."""
        return self.package == PACKAGE

    @property
    def params_file(self) -> Path | None:
        return config_path(f"{self.executable}.yaml") if self.is_chord_node else None

    @property
    def module(self) -> str:
        return f"chord_ros.nodes.{self.executable}"


def scene_directory(scene: str = "demo") -> Path:
    """A bundled scene by name (`SCENES`), or a directory laid out the same way."""
    directory = config_path("scenes", scene) if scene in SCENES else Path(scene)
    if not directory.is_dir() or not any(directory.glob("*.ply")):
        raise ChordError(f"scene '{scene}' is neither a bundled scene {list(SCENES)} nor a directory with .ply "
                         "scans (and motion.npz, scene.yaml beside them)")
    return directory


def demo_scene(scene: str = "demo") -> tuple[list[str], str]:
    """(scan files, motion.npz) of a bundled scene (default: the demo block) or a scene directory."""
    directory = scene_directory(scene)
    scans = sorted(str(p) for p in directory.glob("*.ply"))
    return scans, str(directory / "motion.npz")


def resolve(values: dict[str, str] | None = None) -> dict[str, str]:
    """Every argument's value (defaults filled in), checked against its choices."""
    values = dict(values or {})
    unknown = sorted(set(values) - set(ARGUMENT_NAMES))
    if unknown:
        raise ChordError(f"unknown launch argument(s) {unknown}; known: {list(ARGUMENT_NAMES)}")
    out = {a.name: str(values.get(a.name, a.default)) for a in ARGUMENTS}
    for a in ARGUMENTS:
        if a.choices and out[a.name] not in a.choices:
            raise ChordError(f"launch argument {a.name}:={out[a.name]} must be one of {list(a.choices)}")
    if out["use_sim_time"] == "true" and out["use_sim"] != "true":
        raise ChordError("use_sim_time:=true needs use_sim:=true: sim_arm publishes the simulated /clock")
    try:
        float(out["real_time_factor"])
        int(out["iterations"])
    except ValueError:
        raise ChordError(f"real_time_factor must be a number and iterations an integer, got "
                         f"'{out['real_time_factor']}' and '{out['iterations']}'") from None
    return out


def nodes(values: dict[str, str] | None = None) -> list[NodeSpec]:
    """The processes for these argument values, with typed parameter overrides."""
    v = resolve(values)
    scans, motion = demo_scene()
    scene = [s for s in v["scene"].split(",") if s] or scans
    # the bundled motion matches the bundled scene; only the reference teacher reads it
    reference_motion = v["reference_motion"] or (motion if v["teacher"] == "reference" else "")
    graph = [
        NodeSpec("choreographer", {"preset": v["preset"], "teacher": v["teacher"], "model_dir": v["model_dir"],
                                   "reference_motion": reference_motion, "device": v["device"],
                                   "work_dir": v["work_dir"]}),
        NodeSpec("command", {"iterations": int(v["iterations"])}),
        NodeSpec("planner", {"auto_execute": (v["auto_execute"] or v["use_sim"]) == "true", "plan_dir": v["plan_dir"]}),
    ]
    if v["use_sim"] == "true":
        graph.append(NodeSpec("sim_arm", {"scene_files": scene, "video_dir": v["video_dir"],
                                          "real_time_factor": float(v["real_time_factor"])}))
    if v["record_bag"] == "true":
        graph.append(NodeSpec("flow_recorder", {"bag_path": v["bag_path"]}))
    if v["rviz"] == "true":
        graph.append(NodeSpec("rviz2", package="rviz2", arguments=(
            "-d", str(config_path("chord.rviz")), "--ros-args", "-p", f"use_sim_time:={v['use_sim_time']}")))
    if v["use_sim_time"] == "true":
        for spec in graph:
            if spec.is_chord_node:
                spec.parameters["use_sim_time"] = True
    return graph

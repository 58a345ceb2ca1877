"""The manipulate graph description: every launch argument reaches a node, and the launch file
and `chord-ros launch` are both built from it (they cannot drift apart)."""

import ast
from pathlib import Path

import pytest
import yaml

from chord_core.errors import ChordError
from chord_ros import graph, names
from chord_ros.launcher import node_command, parse_assignments

ROOT = Path(__file__).resolve().parents[1]

# argument -> (value to set, node, parameter, value the node must receive); None node = presence
HONOURED = {
    "use_sim": ("false", "sim_arm", None, False),
    "auto_execute": ("false", "planner", "auto_execute", False),
    "device": ("cuda", "choreographer", "device", "cuda"),
    "preset": ("gpu-5b", "choreographer", "preset", "gpu-5b"),
    "teacher": ("wan", "choreographer", "teacher", "wan"),
    "model_dir": ("/models/wan", "choreographer", "model_dir", "/models/wan"),
    "iterations": ("7", "command", "iterations", 7),
    "record_bag": ("true", "flow_recorder", None, True),
    "bag_path": ("/tmp/b", "flow_recorder", "bag_path", "/tmp/b"),
    "scene": ("/s/a.ply,/s/b.ply", "sim_arm", "scene_files", ["/s/a.ply", "/s/b.ply"]),
    "reference_motion": ("/s/m.npz", "choreographer", "reference_motion", "/s/m.npz"),
    "work_dir": ("/w", "choreographer", "work_dir", "/w"),
    "video_dir": ("/v", "sim_arm", "video_dir", "/v"),
    "plan_dir": ("/p", "planner", "plan_dir", "/p"),
    "real_time_factor": ("3.5", "sim_arm", "real_time_factor", 3.5),
    "rviz": ("true", "rviz2", None, True),
    "use_sim_time": ("true", "planner", "use_sim_time", True),
}


def specs(values):
    return {spec.name: spec for spec in graph.nodes(values)}


def test_every_argument_is_honoured():
    assert set(HONOURED) == set(graph.ARGUMENT_NAMES), "a launch argument has no check of what it does"
    for name, (value, node, parameter, expected) in HONOURED.items():
        base = {"record_bag": "true"} if name == "bag_path" else {}
        got = specs({**base, name: value})
        if parameter is None:
            assert (node in got) == expected, name
            assert (node in specs({})) != expected, f"{name}: the default should differ"
        else:
            assert got[node].parameters[parameter] == expected, name


def test_defaults_run_the_text_driven_mini_teacher_on_the_demo_scene():
    default = specs({})
    assert set(default) == {"choreographer", "command", "planner", "sim_arm"}
    scans, motion = graph.demo_scene()
    choreographer = default["choreographer"].parameters
    # preset "" = the teacher's own (the choreographer resolves it: DEFAULT_PRESETS["mini"] == "mini")
    assert choreographer["teacher"] == "mini" and choreographer["preset"] == "" and choreographer["model_dir"] == ""
    assert choreographer["reference_motion"] == "", "the bundled motion is only for the reference teacher"
    assert default["sim_arm"].parameters["scene_files"] == scans
    assert all(Path(p).is_file() for p in [*scans, motion])


def test_the_planner_executes_without_confirmation_only_in_simulation_unless_told():
    """A real arm (use_sim:=false) moves only when an operator confirms a plan."""
    assert specs({})["planner"].parameters["auto_execute"] is True
    assert specs({"use_sim": "false"})["planner"].parameters["auto_execute"] is False
    assert specs({"use_sim": "false", "auto_execute": "true"})["planner"].parameters["auto_execute"] is True
    planner_yaml = yaml.safe_load(graph.NodeSpec("planner").params_file.read_text())["planner"]["ros__parameters"]
    assert planner_yaml["auto_execute"] is False, "a planner started on its own must wait for confirmations"


def test_reference_teacher_gets_the_bundled_motion_unless_one_is_named():
    _, motion = graph.demo_scene()
    assert specs({"teacher": "reference"})["choreographer"].parameters["reference_motion"] == motion
    assert specs({"teacher": "reference", "reference_motion": "/s/m.npz"})["choreographer"].parameters[
        "reference_motion"] == "/s/m.npz"
    assert specs({"teacher": "wan"})["choreographer"].parameters["reference_motion"] == ""


def test_teacher_and_preset_arguments_match_chord_core():
    from chord_core.distill.pipeline import DEFAULT_PRESETS, TEACHERS

    arguments = {a.name: a for a in graph.ARGUMENTS}
    assert graph.TEACHERS == TEACHERS and arguments["teacher"].choices == TEACHERS
    assert arguments["teacher"].default == "mini" and arguments["preset"].default == ""
    assert all(name in arguments["teacher"].description for name in TEACHERS)
    assert all(preset in arguments["preset"].description for preset in DEFAULT_PRESETS.values())
    with pytest.raises(ChordError, match="teacher"):
        graph.nodes({"teacher": "gpt"})


def test_node_yaml_defaults_match_the_graph_defaults():
    """config/choreographer.yaml starts the same teacher and preset as the launch defaults."""
    path = graph.NodeSpec("choreographer").params_file
    declared = yaml.safe_load(path.read_text())["choreographer"]["ros__parameters"]
    defaults = {a.name: a.default for a in graph.ARGUMENTS}
    assert declared["teacher"] == defaults["teacher"] == "mini"
    assert declared["preset"] == defaults["preset"] == ""


def test_bundled_demo_prompt_is_a_command_the_mini_prior_knows():
    from chord_core.prior.vocabulary import check_command, tokenize

    prompt = yaml.safe_load((Path(graph.demo_scene()[1]).parent / "scene.yaml").read_text())["prompt"]
    check_command(prompt)
    tokenize(prompt)


def test_overrides_name_parameters_the_nodes_declare():
    """Every override exists in the node's YAML defaults (which list every declared parameter)."""
    for spec in graph.nodes({"record_bag": "true"}):
        declared = yaml.safe_load(spec.params_file.read_text())[spec.name]["ros__parameters"]
        assert set(spec.parameters) <= set(declared), (spec.name, set(spec.parameters) - set(declared))


@pytest.mark.parametrize("values, message", [
    ({"use_sim": "maybe"}, "use_sim"), ({"unknown": "1"}, "unknown"), ({"real_time_factor": "fast"}, "number"),
    ({"iterations": "many"}, "integer"),
])
def test_bad_arguments_are_refused(values, message):
    with pytest.raises(ChordError, match=message):
        graph.nodes(values)


def test_assignment_syntax():
    assert parse_assignments(["use_sim:=false", "model_dir:=/a:=b"]) == {"use_sim": "false", "model_dir": "/a:=b"}
    with pytest.raises(ChordError, match="name:=value"):
        parse_assignments(["use_sim=false"])


def test_node_command_carries_params_file_and_typed_overrides():
    spec = specs({"scene": "/a.ply", "real_time_factor": "2"})["sim_arm"]
    command = node_command(spec)
    assert command[1:3] == ["-m", "chord_ros.nodes.sim_arm"]
    assert command[command.index("--params-file") + 1] == str(spec.params_file)
    assert "scene_files:=['/a.ply']" in command and "real_time_factor:=2.0" in command


def test_launch_file_is_built_from_the_shared_description():
    source = (ROOT / "launch" / "manipulate.launch.py").read_text()
    tree = ast.parse(source)
    imports = {(node.module, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               for alias in node.names}
    assert {("chord_ros.graph", "ARGUMENTS"), ("chord_ros.graph", "nodes")} <= imports
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)]
    declares = [c for c in calls if c.func.id == "DeclareLaunchArgument"]
    assert len(declares) == 1 and isinstance(declares[0].args[0], ast.Attribute), \
        "launch arguments must come from ARGUMENTS, not be spelled out"
    ros_nodes = [c for c in calls if c.func.id == "Node"]
    assert len(ros_nodes) == 1
    keywords = {k.arg: k.value for k in ros_nodes[0].keywords}
    assert isinstance(keywords["executable"], ast.Attribute) and keywords["executable"].attr == "executable"
    assert any(isinstance(c.func, ast.Name) and c.func.id == "nodes" for c in calls)
    literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert not literals & set(graph.ARGUMENT_NAMES), "an argument name is spelled out in the launch file"


def test_rviz_argument_starts_rviz_with_the_shipped_config_showing_the_chord_topics():
    spec = specs({"rviz": "true"})["rviz2"]
    assert spec.package == "rviz2" and not spec.is_chord_node and spec.params_file is None
    config = Path(spec.arguments[spec.arguments.index("-d") + 1])
    assert config == ROOT / "config" / "chord.rviz"
    manager = yaml.safe_load(config.read_text())["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == names.BASE_FRAME
    topics = {d["Class"].split("/")[-1]: d.get("Topic", d.get("Description Topic", {})).get("Value")
              for d in manager["Displays"]}
    assert topics["RobotModel"] == names.ROBOT_DESCRIPTION_TOPIC
    assert {names.FLOW_MARKERS_TOPIC, names.GRASP_MARKERS_TOPIC, names.object_cloud_topic("block")} <= \
        set(topics.values()) | {d.get("Topic", {}).get("Value") for d in manager["Displays"]}
    assert "rviz2" not in specs({})  # off by default


def test_a_missing_rviz2_is_a_clear_error_not_a_traceback(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ChordError, match="rviz2 .package rviz2. is not on PATH"):
        node_command(specs({"rviz": "true"})["rviz2"])


def test_use_sim_time_reaches_every_node_and_needs_the_simulation():
    got = specs({"use_sim_time": "true", "rviz": "true", "record_bag": "true"})
    chord_nodes = [spec for spec in got.values() if spec.is_chord_node]
    assert len(chord_nodes) == 5 and all(spec.parameters["use_sim_time"] is True for spec in chord_nodes)
    assert got["rviz2"].arguments[-1] == "use_sim_time:=true"  # TF stamps in simulated time need RViz on it too
    assert all("use_sim_time" not in spec.parameters for spec in specs({}).values())
    with pytest.raises(ChordError, match="use_sim_time:=true needs use_sim:=true"):
        graph.nodes({"use_sim_time": "true", "use_sim": "false"})

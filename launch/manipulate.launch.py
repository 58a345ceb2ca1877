"""ros2 launch chord_ros manipulate.launch.py [use_sim:=true] [auto_execute:=true|false (default: use_sim's)]
[device:=cpu] [teacher:=mini|wan|reference] [preset:=NAME (default: the teacher's own)]
[model_dir:=DIR|mini_prior.pt] [record_bag:=false] [rviz:=false] ...

With use_sim:=false the planner waits for an operator to confirm each plan (`chord-ros execute
PLAN_ID`, `chord-ros command TEXT --execute`) unless auto_execute:=true; `ros2 launch chord_ros
manipulate.launch.py --show-args` lists every argument with its description.

The arguments and nodes come from chord_ros.graph, the description `chord-ros launch manipulate`
also starts from (for machines without ROS 2's launch package), so both always agree.
"""

from launch.actions import DeclareLaunchArgument, OpaqueFunction, Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from chord_ros.graph import ARGUMENTS, nodes
from launch import LaunchDescription


def _nodes(context):
    values = {argument.name: LaunchConfiguration(argument.name).perform(context) for argument in ARGUMENTS}
    # a chord node that exits takes the graph down; closing RViz does not
    return [Node(package=spec.package, executable=spec.executable, name=spec.name, output="screen",
                 arguments=list(spec.arguments),
                 parameters=[str(spec.params_file), spec.parameters] if spec.is_chord_node else [],
                 **({"on_exit": Shutdown()} if spec.is_chord_node else {}))
            for spec in nodes(values)]


def generate_launch_description() -> LaunchDescription:
    arguments = [DeclareLaunchArgument(argument.name, default_value=argument.default,
                                       description=argument.description,
                                       **({"choices": list(argument.choices)} if argument.choices else {}))
                 for argument in ARGUMENTS]
    return LaunchDescription([*arguments, OpaqueFunction(function=_nodes)])

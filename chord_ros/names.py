"""Topic, action and frame names of the chord graph, in one place (README.md "ROS 2 graph").

Nodes take these as parameter defaults, so a lab can remap any of them; tests and the launcher
import them instead of repeating strings.
"""

COMMAND_TOPIC = "/chord/command"                 # std_msgs/String: the operator's text command
OBJECT_CLOUD_PREFIX = "/chord/objects"           # sensor_msgs/PointCloud2 per object: <prefix>/<name>
CHOREOGRAPH_ACTION = "/chord/choreograph"        # chord_msgs/action/Choreograph
FLOW_TOPIC = "/chord/flow"                       # chord_msgs/ObjectFlow: every distilled flow
PLAN_TOPIC = "/chord/plan"                       # chord_msgs/PlanReport: accepted plan or refusal
EXECUTE_SERVICE = "/chord/execute"               # chord_msgs/srv/ExecutePlan: an operator confirms a plan
STOP_SERVICE = "/chord/stop"                     # chord_msgs/srv/Stop: the planner cancels its arm goal
FLOW_MARKERS_TOPIC = "/chord/flow_markers"       # visualization_msgs/MarkerArray
GRASP_MARKERS_TOPIC = "/chord/grasp_markers"     # visualization_msgs/MarkerArray
OBJECT_POSE_PREFIX = "/chord/object_pose"        # geometry_msgs/PoseStamped per simulated object: <prefix>/<name>
JOINT_STATES_TOPIC = "/joint_states"             # sensor_msgs/JointState
ARM_ACTION = "/arm_controller/follow_joint_trajectory"   # ros2_control convention
ARM_TRAJECTORY_TOPIC = "/arm_controller/joint_trajectory"  # trajectory_msgs/JointTrajectory
GRIPPER_ACTION = "/gripper_controller/gripper_cmd"  # GripperCommand (ros2_control GripperActionController)
OBJECT_JOINTS_TOPIC = "/chord/object_joints"     # sensor_msgs/JointState: sim_arm's articulated objects' joints
TF_TOPIC = "/tf"                                 # tf2_msgs/TFMessage: sim_arm's links and objects
CLOCK_TOPIC = "/clock"                           # rosgraph_msgs/Clock: sim_arm's simulated time (use_sim_time)
ROBOT_DESCRIPTION_TOPIC = "/robot_description"   # std_msgs/String: the URDF (transient local), for RViz
BASE_FRAME = "world"                             # robot base frame, z up, table at z = 0


def object_cloud_topic(name: str, prefix: str = OBJECT_CLOUD_PREFIX) -> str:
    """Topic carrying the segmented cloud of object `name`."""
    return f"{prefix.rstrip('/')}/{name}"


def object_pose_topic(name: str, prefix: str = OBJECT_POSE_PREFIX) -> str:
    """Topic carrying the (simulated) pose of object `name`: its frame-0 centroid moved rigidly."""
    return f"{prefix.rstrip('/')}/{name}"


def object_frame(name: str) -> str:
    """The TF frame sim_arm gives object `name` (its frame-0 centroid, moved with it)."""
    return f"object_{name}"


def object_part_frame(name: str) -> str:
    """The TF frame of articulated object `name`'s moving part (its frame-0 centroid, moved with it)."""
    return f"object_{name}_part"


def object_joint_name(name: str) -> str:
    """The name of articulated object `name`'s joint on OBJECT_JOINTS_TOPIC (rad or m from the scanned pose)."""
    return f"{name}_joint"

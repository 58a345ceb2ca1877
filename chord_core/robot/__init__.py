"""Robot side of CHORD (paper §4.2): grasp proposal, flow-following arm trajectories, safety gate,
and a MuJoCo arm that executes them. Pure Python (pinocchio, scipy, open3d, mujoco); no rclpy.

Public entry points: `plan_flow` / `plan_report` (planner), `RobotModel`, `RobotConfig`,
`load_robot_config`, `PlanRefused`, `backends.make_grasp_proposer`, `simulate_plan` (sim).
"""

from chord_core.robot.config import RobotConfig, load_robot_config
from chord_core.robot.safety import PlanRefused

__all__ = ["RobotConfig", "load_robot_config", "PlanRefused"]

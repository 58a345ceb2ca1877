"""rclpy nodes of chord_ros: thin adapters that convert messages and call chord_core."""

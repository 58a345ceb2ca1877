"""chord_ros: thin ROS 2 adapters over chord_core (nodes, message conversions, launcher)."""

#!/usr/bin/env bash
# The main job of README.md: set up what is missing (idempotent), then run the whole chain on the
# bundled scene: command -> choreographer -> flow -> planner -> simulated arm, with a bag recorded.
# The default teacher is mini: the shipped text-driven prior on CPU (a fixed motion vocabulary), so
# --prompt changes the motion. Arguments go to `chord-ros demo` (see --help), e.g.
#   bash scripts/demo.sh --prompt "push the block forward"
#   bash scripts/demo.sh --teacher reference   # the known target motion: measurable, ignores the words
#   bash scripts/demo.sh --teacher wan --model-dir /models/Wan2.2-TI2V-5B-Diffusers --device cuda --preset gpu-5b
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/setup.sh"
export MUJOCO_GL="${MUJOCO_GL:-egl}"  # offscreen simulation video; osmesa crashes MuJoCo here
exec "$root/.venv/bin/chord-ros" demo "$@"

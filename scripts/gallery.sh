#!/usr/bin/env bash
# Regenerates the pictures of README.md's gallery (docs/images/) with the project's own commands:
# a distillation of the bundled demo scene (reference teacher: the known motion, so the pictures
# are reproducible), its plan, three `chord view --screenshot` pictures of flow + grasp + arm at the
# start, middle and end of the plan, the run's loss plot, and what the mini prior itself imagines
# for a command. About 5 minutes on a 2-core CPU. Usage: bash scripts/gallery.sh [OUT_DIR]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$root/scripts/setup.sh"
out=${1:-$root/docs/images}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chord="$root/.venv/bin/chord"
scene="$root/config/scenes/demo"
mkdir -p "$out"

"$chord" animate "$scene/block.ply" --teacher reference --reference-motion "$scene/motion.npz" \
    --prompt "slide the block to the left and turn it" --out "$work/run"
"$chord" plan "$work/run/flow.npz" --scene "$scene/block.ply" --out "$work/plan"
# the viewer shows the plan at 20 ticks per second of plan time (--rate): the middle is at T/2 * 20
middle=$("$root/.venv/bin/python" -c "import numpy as np, sys; print(int(np.load(sys.argv[1])['times'][-1] * 10))" \
    "$work/plan/plan.npz")
for name_tick in "plan_start:0" "plan_middle:$middle" "plan_end:-1"; do
    "$chord" view "$work/run" --plan "$work/plan" --scene "$scene/block.ply" \
        --screenshot "$out/view_${name_tick%%:*}.png" --tick "${name_tick##*:}"
done
cp "$work/run/losses.png" "$out/losses.png"
"$chord" prior sample "$scene/block.ply" --prompt "push the block to the left" --out "$work/prior"
cp "$work/prior/prior_samples.png" "$out/prior_samples.png"
echo "gallery pictures in $out"

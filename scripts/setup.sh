#!/usr/bin/env bash
# Idempotent setup for a machine without ROS 2 (Debian, Python 3.11): creates .venv, installs the
# pinned dependencies (CPU torch 2.13.0, ROS 2 kilted wheels with Fast DDS), the Debian libraries
# they need, builds the chord_msgs interfaces with colcon into .venv and installs chord_ros
# (editable). Each step remembers a hash of its inputs, so a second run does nothing and returns
# in seconds. Inside a full ROS 2 install use colcon instead (README "Inside a ROS 2 workspace").
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${CHORD_VENV:-$root/.venv}
python=${PYTHON:-python3.11}
state=$venv/.chord-setup
cd "$root"

say() { printf '[setup] %s\n' "$*"; }

# done_before STEP HASH: true when STEP already ran with inputs hashing to HASH.
done_before() { [ -f "$state/$1" ] && [ "$(cat "$state/$1")" = "$2" ]; }
mark_done() { mkdir -p "$state"; printf '%s' "$2" > "$state/$1"; }
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
# pip, without the notices this machine's pip config prints for every local index it skips.
pip_quiet() { "$venv/bin/python" -m pip "$@" 2>&1 | { grep -v "is ignored: it is neither" || true; }; }

# 1. Debian libraries: open3d needs libusb; MuJoCo renders offscreen with OSMesa or EGL;
#    `chord view --screenshot` (and the viewer's page tests) drive a headless Chromium.
debs="libusb-1.0-0 libosmesa6 libegl1 libgl1 chromium"
missing=""
for pkg in $debs; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  say "installing Debian packages:$missing"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq $missing >/dev/null
fi

# 2. The virtual environment.
if [ ! -x "$venv/bin/python" ]; then
  say "creating $venv with $python"
  "$python" -m venv "$venv"
fi
vpy=$venv/bin/python

# 3. Pinned Python dependencies (torch first, so nothing can pull a CUDA build).
deps_hash=$(hash_of requirements.txt requirements-ros.txt constraints.txt)
if ! done_before deps "$deps_hash"; then
  say "installing Python dependencies (first run: a few minutes)"
  pip_quiet install -q --upgrade pip
  pip_quiet install -q "torch==2.13.0"
  pip_quiet install -q -r requirements.txt -r requirements-ros.txt -c constraints.txt
  mark_done deps "$deps_hash"
fi

# 4. The ROS wheels' CMake exports name the include dirs of the interpreter they were built with
#    (/opt/python/cp3xx-...); point them at this interpreter so rosidl can compile chord_msgs.
py_inc=$("$vpy" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
np_inc=$("$vpy" -c "import numpy; print(numpy.get_include())")
baked=$(grep -rlE "/opt/python/cp3[0-9]+-cp3[0-9]+" "$venv/share" --include='*Export*.cmake' 2>/dev/null || true)
for f in $baked; do
  sed -i -E -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/lib/python3\.[0-9]+/site-packages/numpy/_core/include#$np_inc#g" \
            -e "s#/opt/python/cp3[0-9]+-cp3[0-9]+/include/python3\.[0-9]+#$py_inc#g" "$f"
done

# 5. chord_msgs, built with colcon and installed into the venv prefix, where the ROS wheels'
#    loader already looks for libraries (lib/) and the ament index (share/).
mkdir -p build
msgs_hash=$(find msg -type f | sort | xargs cat | cat - requirements-ros.txt | sha256sum | cut -d' ' -f1)
if ! done_before msgs "$msgs_hash" || ! "$vpy" -c "import chord_msgs.msg" 2>/dev/null; then
  say "building chord_msgs with colcon"
  (
    export VIRTUAL_ENV=$venv PATH=$venv/bin:$PATH AMENT_PREFIX_PATH=$venv
    "$venv/bin/colcon" --log-base build/colcon-log build --base-paths msg \
      --build-base build/colcon --install-base "$venv" --merge-install \
      --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$vpy" > build/colcon-chord_msgs.log 2>&1 \
      || { tail -40 build/colcon-chord_msgs.log; echo "[setup] chord_msgs build failed; full log: build/colcon-chord_msgs.log" >&2; exit 1; }
  )
  mark_done msgs "$msgs_hash"
fi

# 5b. tf2_msgs (sim_arm's /tf) where the environment has none: the PyPI wheels do not ship it, so
#     its TFMessage is built the same way from scripts/interfaces/tf2_msgs (never inside ROS 2).
tf_hash=$(find scripts/interfaces/tf2_msgs -type f | sort | xargs cat | cat - requirements-ros.txt | sha256sum | cut -d' ' -f1)
if { [ -f "$state/tf2_msgs" ] && ! done_before tf2_msgs "$tf_hash"; } || ! "$vpy" -c "import tf2_msgs.msg" 2>/dev/null; then
  say "building tf2_msgs (TFMessage) with colcon"
  (
    export VIRTUAL_ENV=$venv PATH=$venv/bin:$PATH AMENT_PREFIX_PATH=$venv
    "$venv/bin/colcon" --log-base build/colcon-log build --base-paths scripts/interfaces/tf2_msgs \
      --build-base build/colcon --install-base "$venv" --merge-install \
      --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$vpy" > build/colcon-tf2_msgs.log 2>&1 \
      || { tail -40 build/colcon-tf2_msgs.log; echo "[setup] tf2_msgs build failed; full log: build/colcon-tf2_msgs.log" >&2; exit 1; }
  )
  mark_done tf2_msgs "$tf_hash"
fi

# 6. chord_ros and chord_core themselves (editable, so edits take effect without reinstalling).
pkg_hash=$(hash_of setup.py package.xml)
if ! done_before package "$pkg_hash"; then
  say "installing chord_ros (editable)"
  pip_quiet install -q --no-deps --no-build-isolation -e .
  mark_done package "$pkg_hash"
fi

say "ready: $venv"

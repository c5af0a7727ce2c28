#!/usr/bin/env bash
# Installs everything qres needs to build, test and train on real data.
# Idempotent: a second run with everything present changes nothing and takes seconds.
# Installs system packages: run as root, or as a user with sudo (it asks sudo for itself):
#   tools/setup.sh
set -euo pipefail

readonly TORCH_VERSION="2.11.0"
readonly DEBIAN_PACKAGES=(
  bazel-bootstrap         # Bazel 4.2.3, builds offline with the shims in third_party/
  g++
  libabsl-dev             # Abseil 20220623
  libgflags-dev
  libgoogle-glog-dev
  libunwind-dev           # glog's stack traces
  libgtest-dev
  zlib1g-dev              # gzipped IDX files
  libpng-dev              # PNG plots written by //qres/tools:test
  libgloo-dev             # gloo's headers for c10d's ProcessGroupGloo (libtorch has gloo itself)
  dataset-fashion-mnist   # real Fashion-MNIST in /usr/share/datasets/fashion-mnist
  python3-pip
  python3-venv            # the Python package's wheel test installs it into a virtual environment
)

step() { echo "[setup] $*"; }
fail() { echo "[setup] FAILED at step: $*" >&2; exit 1; }

if [[ "$(id -u)" -ne 0 ]]; then
  # A user with sudo: the same script as root (a fresh container is root and has no sudo at all).
  command -v sudo >/dev/null || fail "permissions: run as root (this machine has no sudo)"
  step "installing system packages needs root: asking sudo"
  exec sudo -- bash "$(readlink -f "$0")" "$@"
fi

# 1. Debian packages: only call apt when something is missing.
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  step "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || fail "apt-get update"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || fail "apt-get install ${missing[*]}"
else
  step "Debian packages present"
fi

# 2. LibTorch, from the torch wheel that python3 imports (the GPU machine runs the same version),
#    numpy (torch warns without it; the golden-value generator runs under this python3),
#    tensorboard (to view the event files train writes; a test reads them with its reader), and
#    expecttest (torch.testing's optimizer test inputs import it; the Python package's tests use them).
pip_missing=()
installed_torch="$(python3 -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null || true)"
[[ "$installed_torch" == "$TORCH_VERSION" ]] || pip_missing+=("torch==${TORCH_VERSION}")
python3 -c 'import numpy' 2>/dev/null || pip_missing+=(numpy)
python3 -c 'import tensorboard' 2>/dev/null || pip_missing+=(tensorboard)
python3 -c 'import expecttest' 2>/dev/null || pip_missing+=(expecttest)
if ((${#pip_missing[@]})); then
  step "installing with pip: ${pip_missing[*]} (torch was: ${installed_torch:-none})"
  pip_install() { python3 -m pip install --quiet --disable-pip-version-check "$@"; }
  pip_install "${pip_missing[@]}" || PIP_BREAK_SYSTEM_PACKAGES=1 pip_install "${pip_missing[@]}" \
    || fail "pip install ${pip_missing[*]}"
else
  step "torch ${TORCH_VERSION}, numpy, tensorboard and expecttest present"
fi
torch_dir="$(python3 -c 'import os, torch; print(os.path.dirname(torch.__file__))')" \
  || fail "import torch"
[[ -f "$torch_dir/include/torch/script.h" && -f "$torch_dir/lib/libtorch_cpu.so" ]] \
  || fail "LibTorch headers/libraries missing under $torch_dir"

# 3. Real data for the default training run.
[[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]] \
  || fail "Fashion-MNIST files missing under /usr/share/datasets/fashion-mnist"

step "done: torch ${TORCH_VERSION} at ${torch_dir}"

"""qres's in-tree PEP 517 build backend (pyproject.toml): `pip install .` in a checkout builds the
Python package's wheel with Bazel, -c opt (//qres/python:wheel_opt, what `bazel run
//qres/python:install` installs) and hands it to pip. It needs what tools/setup.sh installs
(Bazel, and the torch wheel whose LibTorch the extension links); where one is missing, the build
stops with one line that says so. There is no editable install: the extension is built by Bazel,
outside the source tree.
"""
import os
import shutil
import subprocess
import sys

_TARGET = "//qres/python:wheel_opt"
_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class BuildError(RuntimeError):
    """One line for pip to show."""


def _environment():
    # pip's isolated build environment hides the system's site-packages from Python (PYTHONPATH,
    # PYTHONNOUSERSITE); Bazel finds LibTorch through the python3 that has torch, so it gets the
    # user's own environment back.
    env = dict(os.environ)
    for name in ("PYTHONPATH", "PYTHONNOUSERSITE", "PYTHONHOME"):
        env.pop(name, None)
    return env


def _check_prerequisites(env):
    if shutil.which("bazel", path=env.get("PATH")) is None:
        raise BuildError("qres: no `bazel` on PATH; run tools/setup.sh first (it installs Debian's Bazel 4.2.3)")
    probe = subprocess.run(["python3", "-c", "import torch"], env=env, capture_output=True, text=True)
    if probe.returncode != 0:
        raise BuildError("qres: the python3 on PATH cannot import torch; run tools/setup.sh first (it installs "
                         "the torch wheel whose LibTorch qres links)")


def _bazel(args, env):
    result = subprocess.run(["bazel"] + args, cwd=_ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if "ERROR" in line or "error:" in line]
        raise BuildError(f"qres: bazel {' '.join(args)} failed: {(lines or ['see bazel'])[-1].strip()}")
    return result.stdout


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    env = _environment()
    try:
        _check_prerequisites(env)
        print(f"qres: bazel build {_TARGET} (-c opt; minutes on a cold cache)", file=sys.stderr)
        _bazel(["build", _TARGET], env)
        built = _bazel(["cquery", _TARGET, "--output=starlark",
                        "--starlark:expr=' '.join([f.path for f in target.files.to_list()])"], env).split()
    except BuildError as error:
        sys.exit(str(error))  # one line, and pip says the build failed
    if len(built) != 1 or not built[0].endswith(".whl"):
        sys.exit(f"qres: {_TARGET} built {built}, not one wheel")
    name = os.path.basename(built[0])
    shutil.copyfile(os.path.join(_ROOT, built[0]), os.path.join(wheel_directory, name))
    return name


def get_requires_for_build_wheel(config_settings=None):
    return []

"""Build macros shared by every qres package."""

load("@rules_cc//cc:defs.bzl", "cc_library", "cc_test")

def qres_cc_library(name, **kwargs):
    """An ordinary qres library (interfaces, helpers): no self-registration inside."""
    cc_library(name = name, **kwargs)

def qres_plugin_library(name, **kwargs):
    """A library that registers components (models, datasets, optimizers) from static initializers.

    alwayslink keeps the registration object in every binary that depends on it, even though no
    symbol of it is referenced: without it the linker would silently drop the component.
    """
    cc_library(name = name, alwayslink = 1, **kwargs)

# A test whose results go through ATen's CPU kernels runs twice: as `name` on this machine's own
# kernels (AVX2 or AVX-512), and as `name_aten_default` on ATen's scalar kernels (no FMA), as on a
# CPU without AVX2. A result that depends on the CPU then fails on the developer's machine.
_ATEN_DEFAULT = {"ATEN_CPU_CAPABILITY": "default"}

def qres_cc_test(name, deps = [], size = "small", cpu_matrix = False, **kwargs):
    """A GoogleTest unit test with gtest_main; `cpu_matrix` adds `name`_aten_default."""
    for suffix, env in ([("", {}), ("_aten_default", _ATEN_DEFAULT)] if cpu_matrix else [("", {})]):
        cc_test(
            name = name + suffix,
            size = size,
            env = env,
            deps = deps + ["@com_google_googletest//:gtest_main"],
            **kwargs
        )

def qres_sh_test(name, binaries, data = [], size = "medium", cpu_matrix = False):
    """A shell test `name`.sh run as `name`.sh <each binary> <python3 that imports torch>.

    It sources //qres/tests:test_lib (fail, fresh_work_dir, free_port, finish); `data` are further
    files it reads or programs its binaries start. `cpu_matrix` adds `name`_aten_default.
    """
    for suffix, env in ([("", {}), ("_aten_default", _ATEN_DEFAULT)] if cpu_matrix else [("", {})]):
        native.sh_test(
            name = name + suffix,
            size = size,
            srcs = [name + ".sh"],
            env = env,
            args = ["$(location %s)" % binary for binary in binaries] + ["$(location @libtorch//:python3)"],
            data = binaries + data + ["@libtorch//:python3"],
            deps = ["//qres/tests:test_lib"],
        )

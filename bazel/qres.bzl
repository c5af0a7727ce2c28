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

def qres_cc_test(name, deps = [], size = "small", **kwargs):
    """A GoogleTest unit test with gtest_main."""
    cc_test(
        name = name,
        size = size,
        deps = deps + ["@com_google_googletest//:gtest_main"],
        **kwargs
    )

def qres_sh_test(name, binaries, data = [], size = "medium"):
    """A shell test `name`.sh run as `name`.sh <each binary> <python3 that imports torch>.

    It sources //qres/tests:test_lib (fail, fresh_work_dir, free_port, finish); `data` are further
    files it reads or programs its binaries start.
    """
    native.sh_test(
        name = name,
        size = size,
        srcs = [name + ".sh"],
        args = ["$(location %s)" % binary for binary in binaries] + ["$(location @libtorch//:python3)"],
        data = binaries + data + ["@libtorch//:python3"],
        deps = ["//qres/tests:test_lib"],
    )

"""`optimized(name, srcs)`: the files of `srcs` built with -c opt, whatever the command line says.

The Python wheel that users install goes through it: a wheel built as Bazel's default fastbuild
steps 1.2-2.9x slower (measured 2026-12-06), and `bazel run //qres/python:install` without -c opt
would otherwise install that one.
"""

def _opt_transition_impl(settings, attr):
    return {"//command_line_option:compilation_mode": "opt"}

_opt_transition = transition(
    implementation = _opt_transition_impl,
    inputs = [],
    outputs = ["//command_line_option:compilation_mode"],
)

def _optimized_impl(ctx):
    files = depset(transitive = [src[DefaultInfo].files for src in ctx.attr.srcs])
    return [DefaultInfo(files = files, runfiles = ctx.runfiles(transitive_files = files))]

optimized = rule(
    implementation = _optimized_impl,
    attrs = {
        "srcs": attr.label_list(cfg = _opt_transition, allow_files = True),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
)

"""Files of other targets built in another configuration, whatever the command line says.

    optimized(name, srcs)           -c opt: the Python wheel that users install goes through it
                                    (built as Bazel's default fastbuild, stepping is 1.2-2.9x slower,
                                    measured 2026-12-06)
    address_sanitized(name, srcs)   with AddressSanitizer (.bazelrc's --config=asan), so that a test
                                    in `bazel test //...` runs the Python extension under it
"""

def _optimized_impl(settings, attr):
    return {"//command_line_option:compilation_mode": "opt"}

_to_optimized = transition(
    implementation = _optimized_impl,
    inputs = [],
    outputs = ["//command_line_option:compilation_mode"],
)

_ASAN = ["-fsanitize=address", "-fno-omit-frame-pointer"]

def _address_sanitized_impl(settings, attr):
    return {
        "//command_line_option:copt": settings["//command_line_option:copt"] + _ASAN + ["-O1"],
        "//command_line_option:linkopt": settings["//command_line_option:linkopt"] + ["-fsanitize=address"],
        "//command_line_option:strip": "never",
    }

_to_address_sanitized = transition(
    implementation = _address_sanitized_impl,
    inputs = ["//command_line_option:copt", "//command_line_option:linkopt"],
    outputs = ["//command_line_option:copt", "//command_line_option:linkopt", "//command_line_option:strip"],
)

def _files_impl(ctx):
    files = depset(transitive = [src[DefaultInfo].files for src in ctx.attr.srcs])
    return [DefaultInfo(files = files, runfiles = ctx.runfiles(transitive_files = files))]

def _configured_rule(to):
    return rule(
        implementation = _files_impl,
        attrs = {
            "srcs": attr.label_list(cfg = to, allow_files = True),
            "_allowlist_function_transition": attr.label(
                default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
            ),
        },
    )

optimized = _configured_rule(_to_optimized)
address_sanitized = _configured_rule(_to_address_sanitized)

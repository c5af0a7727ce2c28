"""A repository made of files from //third_party/shims (offline stand-ins for downloads)."""

def _shim_repository_impl(rctx):
    rctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % rctx.name)
    if rctx.attr.build_file:
        rctx.symlink(rctx.path(rctx.attr.build_file), "BUILD")
    else:
        rctx.file("BUILD", "")
    for label, target in rctx.attr.files.items():
        rctx.symlink(rctx.path(label), target)
        if "/" in target:
            package = target.rsplit("/", 1)[0]
            if not rctx.path(package + "/BUILD").exists:
                rctx.file(package + "/BUILD", "")

shim_repository = repository_rule(
    implementation = _shim_repository_impl,
    attrs = {
        "files": attr.label_keyed_string_dict(doc = "file -> the path it takes in the repository"),
        "build_file": attr.label(doc = "the repository's root BUILD file, if any"),
    },
    doc = "Lays out files from this workspace as an external repository.",
)

"""qres_dependencies(): every external repository qres needs, offline, from what the machine has.

Another Bazel workspace that depends on qres calls this from its WORKSPACE:

    local_repository(name = "qres", path = "/path/to/qres")
    load("@qres//bazel:repositories.bzl", "qres_dependencies")
    qres_dependencies()
"""

load("//bazel:libtorch.bzl", "cuda_repository", "libtorch_repository")
load("//bazel:shims.bzl", "shim_repository")

def _maybe_system(name, build_file):
    # Debian installs headers under /usr/include, which the compiler already searches, and static
    # archives under /usr/lib/<triplet>, which the linker already searches. The repository only
    # holds the BUILD file that names the archives.
    if name not in native.existing_rules():
        native.new_local_repository(name = name, path = "/usr/include", build_file = str(build_file))

def qres_dependencies():
    """Defines the offline shims, the Debian-provided libraries, LibTorch and CUDA."""

    # Bazel 4.2.3 without network: Bazel itself references these three repositories.
    if "rules_cc" not in native.existing_rules():
        shim_repository(
            name = "rules_cc",
            files = {Label("//third_party/shims:rules_cc_defs.bzl"): "cc/defs.bzl"},
        )
    if "rules_java" not in native.existing_rules():
        shim_repository(
            name = "rules_java",
            files = {Label("//third_party/shims:rules_java_defs.bzl"): "java/defs.bzl"},
        )
    if "remote_coverage_tools" not in native.existing_rules():
        shim_repository(
            name = "remote_coverage_tools",
            build_file = Label("//third_party/shims:remote_coverage_tools.BUILD"),
            files = {Label("//third_party/shims:coverage_report_generator.sh"): "coverage_report_generator.sh"},
        )

    _maybe_system("com_google_absl", Label("//third_party:absl.BUILD"))
    _maybe_system("com_github_gflags_gflags", Label("//third_party:gflags.BUILD"))
    _maybe_system("com_github_google_glog", Label("//third_party:glog.BUILD"))
    _maybe_system("com_google_googletest", Label("//third_party:googletest.BUILD"))
    _maybe_system("zlib", Label("//third_party:zlib.BUILD"))
    _maybe_system("libpng", Label("//third_party:libpng.BUILD"))

    if "libtorch" not in native.existing_rules():
        libtorch_repository(name = "libtorch")
    if "local_cuda" not in native.existing_rules():
        cuda_repository(name = "local_cuda")

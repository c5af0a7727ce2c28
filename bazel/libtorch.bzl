"""Repository rules that find LibTorch and CUDA on the machine.

LibTorch: $QRES_LIBTORCH_DIR if set, otherwise the `torch` package that `python3` imports (the
torch==2.11.0 wheel that tools/setup.sh installs ships include/ and lib/).
CUDA: $QRES_CUDA_DIR if set, otherwise /usr/local/cuda. Only --config=cuda builds use it.
"""

_SETUP_HINT = "run `tools/setup.sh` (installs the torch==2.11.0 wheel) or set QRES_LIBTORCH_DIR to a LibTorch directory"

def _find_libtorch(rctx):
    path = rctx.os.environ.get("QRES_LIBTORCH_DIR", "")
    if path:
        return path, "QRES_LIBTORCH_DIR"
    python = rctx.which("python3")
    if not python:
        return None, "python3 is not on PATH"
    result = rctx.execute([python, "-c", "import os, torch; print(os.path.dirname(torch.__file__))"])
    if result.return_code != 0:
        return None, "python3 cannot import torch"
    return result.stdout.strip(), "python3's torch"

def _libtorch_repository_impl(rctx):
    path, source = _find_libtorch(rctx)
    if not path:
        fail("qres: LibTorch not found (%s): %s" % (source, _SETUP_HINT))
    root = rctx.path(path)
    if not root.get_child("include").get_child("torch").exists or not root.get_child("lib").get_child("libtorch_cpu.so").exists:
        fail("qres: %s (from %s) is not a LibTorch directory (no include/torch or lib/libtorch_cpu.so): %s" % (path, source, _SETUP_HINT))

    # The wheel's CUDA libraries (cuDNN, cuBLAS, ...) sit beside it in site-packages/nvidia; the
    # linker must see them to link libtorch_cuda.so and the binaries find them through torch's rpath.
    nvidia = root.dirname.get_child("nvidia")
    nvidia_dirs = []
    if nvidia.exists:
        for package in nvidia.readdir():
            if package.get_child("lib").exists:
                nvidia_dirs.append(str(package.get_child("lib")))

    rctx.symlink(root.get_child("include"), "include")

    # NCCL's header for c10d's NCCL backend (--config=cuda builds); its library is libtorch_cuda's.
    nccl_include = nvidia.get_child("nccl").get_child("include")
    if nccl_include.exists:
        rctx.symlink(nccl_include, "nccl_include")
    cudart = nvidia.get_child("cu13").get_child("lib")

    # The Python interpreter that imports this torch, for the golden-file freshness test.
    python = rctx.which("python3")
    interpreter = ""
    if python:
        result = rctx.execute([python, "-c", "import sys, torch; print(sys.executable)"])
        if result.return_code == 0:
            interpreter = result.stdout.strip()
    if interpreter:
        rctx.file("python3", "#!/bin/sh\nexec '%s' \"$@\"\n" % interpreter, executable = True)
    else:
        rctx.file("python3", "#!/bin/sh\necho 'qres: no python3 that imports torch was found when the build started: %s' >&2\nexit 1\n" % _SETUP_HINT, executable = True)

    rctx.template("BUILD", rctx.attr.build_template, {
        "%{lib_dir}": str(root.get_child("lib")),
        "%{rpath_link}": ":".join(sorted(nvidia_dirs)) or str(root.get_child("lib")),
        "%{cudart_dir}": str(cudart),
    }, executable = False)

libtorch_repository = repository_rule(
    implementation = _libtorch_repository_impl,
    attrs = {"build_template": attr.label(default = Label("//third_party:libtorch.BUILD.tpl"))},
    environ = ["QRES_LIBTORCH_DIR", "PATH"],
    local = True,
)

def _cuda_repository_impl(rctx):
    path = rctx.os.environ.get("QRES_CUDA_DIR", "") or "/usr/local/cuda"
    root = rctx.path(path)
    found = root.get_child("bin").get_child("nvcc").exists and root.get_child("include").get_child("cuda_runtime.h").exists
    if found:
        rctx.symlink(root.get_child("include"), "include")
        rctx.symlink(root.get_child("bin").get_child("nvcc"), "nvcc")
    rctx.file("defs.bzl", "CUDA_FOUND = %s\nNVCC = \"%s\"\nCUDA_DIR = \"%s\"\n" % (
        "True" if found else "False",
        str(root.get_child("bin").get_child("nvcc")),
        path,
    ))
    rctx.template("BUILD", rctx.attr.build_template, {
        "%{cuda_dir}": path,
        "%{found}": "True" if found else "False",
        "%{lib_dir}": str(root.get_child("lib64")),
    }, executable = False)

cuda_repository = repository_rule(
    implementation = _cuda_repository_impl,
    attrs = {"build_template": attr.label(default = Label("//third_party:cuda.BUILD.tpl"))},
    environ = ["QRES_CUDA_DIR"],
    local = True,
)

"""qres_cuda_library: CUDA kernels compiled by nvcc, wrapped as a cc_library.

Each .cu is compiled by one genrule (nvcc -c, sm_90 code plus compute_90 PTX, -fmad=false so that
the kernels fuse a multiply-add only where they call __fmaf_rn, as the CPU loops do; -DNDEBUG under
-c opt, so device asserts are debug-build checks); the objects
become the srcs of a cc_library that links the static CUDA runtime. The targets are incompatible
(skipped by `bazel build //...`) unless --config=cuda. A .cu includes no torch header.
"""

load("@local_cuda//:defs.bzl", "CUDA_FOUND", "NVCC")
load("@rules_cc//cc:defs.bzl", "cc_library")

_NVCC_FLAGS = " ".join([
    "-std=c++17",
    "-O3",
    "-fmad=false",
    "-Xcompiler -fPIC",
    "-gencode arch=compute_90,code=sm_90",
    "-gencode arch=compute_90,code=compute_90",
])

_CUDA_ONLY = select({
    "//bazel:cuda_enabled": [],
    "//conditions:default": ["//bazel:incompatible"],
})

def qres_cuda_library(name, srcs, hdrs = [], cu_deps = [], deps = [], **kwargs):
    """Compiles `srcs` (.cu) with nvcc; `cu_deps` are the headers the .cu files include."""
    objects = []
    for src in srcs:
        obj = "%s_%s.o" % (name, src.replace("/", "_").replace(".cu", ""))
        if CUDA_FOUND:
            cmd = "%s %s -I. -Iexternal/qres -c $(location %s) -o $@" % (NVCC, _NVCC_FLAGS, src) + select({
                "//bazel:opt": " -DNDEBUG",
                "//conditions:default": "",
            })
        else:
            cmd = "echo 'qres: --config=cuda needs the CUDA toolkit (nvcc) at /usr/local/cuda or QRES_CUDA_DIR' >&2; exit 1"
        native.genrule(
            name = obj.replace(".o", "_nvcc"),
            srcs = [src] + hdrs + cu_deps,
            outs = [obj],
            cmd = cmd,
            target_compatible_with = _CUDA_ONLY,
            message = "nvcc %s" % src,
        )
        objects.append(obj)
    cc_library(
        name = name,
        srcs = objects,
        hdrs = hdrs,
        deps = deps + ["@local_cuda//:cudart_static"],
        target_compatible_with = _CUDA_ONLY,
        **kwargs
    )

def cuda_only():
    """target_compatible_with for the C++ targets that use the kernels."""
    return _CUDA_ONLY

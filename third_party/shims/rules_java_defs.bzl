"""@rules_java//java:defs.bzl for offline Bazel 4.2.3: its rules are the native ones."""

java_binary = native.java_binary
java_import = native.java_import
java_library = native.java_library
java_runtime = native.java_runtime
java_toolchain = native.java_toolchain

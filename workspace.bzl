"""The repositories Kiln's build needs, all local: Kiln's own WORKSPACE and any workspace using Kiln
call kiln_repositories(). A workspace that uses Kiln (docs/using-kiln.md):

    local_repository(name = "kiln", path = "/path/to/kiln")

    load("@kiln//:workspace.bzl", "kiln_repositories")

    kiln_repositories()
"""

def _kiln_directory_impl(repository_ctx):
    # Links the files of a directory of Kiln's checkout into this repository.
    source = repository_ctx.path(repository_ctx.attr._kiln_workspace).dirname
    for part in repository_ctx.attr.directory.split("/"):
        source = source.get_child(part)
    for child in source.readdir():
        repository_ctx.symlink(child, child.basename)

# A repository made of a directory inside Kiln's checkout, wherever the checkout is.
_kiln_directory = repository_rule(
    implementation = _kiln_directory_impl,
    attrs = {
        "directory": attr.string(mandatory = True),
        "_kiln_workspace": attr.label(default = Label("//:WORKSPACE")),
    },
    local = True,
)

def kiln_repositories():
    """Defines what Kiln's BUILD files refer to; a repository already defined is left as it is.

    Bazel's default WORKSPACE suffix would download rules_cc, rules_java, platforms and
    remote_coverage_tools; defining them first stops that, so nothing is downloaded.
    """
    existing = native.existing_rules()

    # Stub: re-exports the native C++ rules (Debian's bazel-rules-cc needs Bazel 5+).
    if "rules_cc" not in existing:
        _kiln_directory(name = "rules_cc", directory = "third_party/rules_cc")

    # Stub: coverage is not available offline, but every cc_test depends on this repository.
    if "remote_coverage_tools" not in existing:
        _kiln_directory(name = "remote_coverage_tools", directory = "third_party/remote_coverage_tools")

    # Debian's bazel-rules-java and bazel-platforms.
    if "rules_java" not in existing:
        native.local_repository(name = "rules_java", path = "/usr/share/bazel/rules/java")
    if "platforms" not in existing:
        native.local_repository(name = "platforms", path = "/usr/share/bazel/tools/platforms")

    # LLVM/MLIR 22 (llvm-22-dev, libmlir-22-dev): headers plus the shared libLLVM.so / libMLIR.so.
    if "llvm" not in existing:
        native.new_local_repository(
            name = "llvm",
            build_file = str(Label("//third_party:llvm.BUILD")),
            path = "/usr/lib/llvm-22",
        )

"""cc_sources: the C++ sources and headers of cc_library targets, as runfiles plus a list.

Used to compile Kiln's libraries with another compiler than Bazel's (the libFuzzer build in
testing/fuzz_build_and_run.sh): whatever a library's BUILD rule lists, generated files included, is
what gets compiled, so new files under graph/ need no change here.
"""

_SourcesInfo = provider(fields = ["files"])

def _sources_aspect_impl(target, ctx):
    direct = []
    for attr in ("srcs", "hdrs", "textual_hdrs"):
        direct += getattr(ctx.rule.files, attr, [])
    transitive = [d[_SourcesInfo].files for d in getattr(ctx.rule.attr, "deps", []) if _SourcesInfo in d]
    return [_SourcesInfo(files = depset(direct, transitive = transitive))]

_sources_aspect = aspect(
    implementation = _sources_aspect_impl,
    attr_aspects = ["deps"],
)

def _cc_sources_impl(ctx):
    files = depset(ctx.files.srcs, transitive = [d[_SourcesInfo].files for d in ctx.attr.deps])
    file_list = files.to_list()
    manifest = ctx.actions.declare_file(ctx.label.name + ".txt")
    ctx.actions.write(manifest, "".join([f.short_path + "\n" for f in file_list]))
    return [DefaultInfo(
        files = depset([manifest]),
        runfiles = ctx.runfiles(files = file_list + [manifest]),
    )]

cc_sources = rule(
    implementation = _cc_sources_impl,
    doc = "Writes <name>.txt listing the srcs and the sources and headers of deps (transitively), " +
          "one workspace-relative path a line, and makes them all runfiles.",
    attrs = {
        "srcs": attr.label_list(allow_files = True),
        "deps": attr.label_list(aspects = [_sources_aspect]),
    },
)

"""Kiln's install tree, made from Bazel's own build graph (install/BUILD, ./install.sh).

kiln_package(name, ...) makes one installed library, libkiln_<name>.a and libkiln_<name>.so, from the objects
of the cc_librarys in `libs`; the other installed libraries it links against are `needs`. What else
it links (Abseil, oneDNN, zlib, threads...) is read from the libraries' own linkopts, so the
installed link lines cannot drift from the build's. kiln_install_tree lays the packages, their
headers, kilnc and the CMake and pkg-config files out as an install prefix.
"""

KilnPackageInfo = provider(
    doc = "One installed library.",
    fields = {
        "name": "the library is libkiln_<name>",
        "static": "File: libkiln_<name>.a",
        "shared": "File: libkiln_<name>.so",
        "needs": "names of the installed libraries it links against, nearest first",
        "shared_closure": "depset of the shared libraries of it and its needs",
        "link_flags": "system link flags (list of strings)",
        "owners": "labels (strings) of the cc_librarys whose objects it holds, or that it needs",
        "headers": "depset of Kiln's header files it exposes",
    },
)

def _is_kiln(label):
    # Kiln's own code: the repository holding this file, outside third_party/ (system libraries).
    return label.workspace_name == Label("//:kiln.bzl").workspace_name and \
           not label.package.startswith("third_party")

def _kiln_package_impl(ctx):
    name = ctx.label.name
    own = {str(lib.label): True for lib in ctx.attr.libs}
    covered = {}
    needs = []
    for need in ctx.attr.needs:
        info = need[KilnPackageInfo]
        covered.update({owner: True for owner in info.owners})
        for n in [info.name] + info.needs:
            if n not in needs:
                needs.append(n)

    archives, flags, headers, private = [], [], [], []
    for lib in ctx.attr.libs:
        cc = lib[CcInfo]
        headers.append(cc.compilation_context.headers)
        private += cc.compilation_context.direct_private_headers
        for linker_input in cc.linking_context.linker_inputs.to_list():
            owner = str(linker_input.owner)
            if owner in covered:
                continue
            has_code = [l for l in linker_input.libraries if l.pic_static_library or l.static_library]
            if owner in own:
                for l in has_code:
                    archive = l.pic_static_library or l.static_library
                    if archive not in archives:
                        archives.append(archive)
            elif has_code and _is_kiln(linker_input.owner):
                fail("%s needs %s, which is in no installed library it needs" % (ctx.label, owner))
            for flag in linker_input.user_link_flags:
                if flag not in flags:
                    flags.append(flag)

    static = ctx.actions.declare_file("libkiln_%s.a" % name)
    script = "CREATE %s\n" % static.path + "".join(["ADDLIB %s\n" % a.path for a in archives]) + "SAVE\nEND\n"
    ctx.actions.run_shell(
        inputs = archives,
        outputs = [static],
        use_default_shell_env = True,
        command = "ar -M <<'EOF'\n%sEOF\n" % script,
        mnemonic = "KilnArchive",
        progress_message = "Archiving %s" % static.short_path,
    )

    # The shared library links the static one whole, against the libraries it needs (found beside
    # it at run time: $ORIGIN), and must leave no symbol undefined.
    shared = ctx.actions.declare_file("libkiln_%s.so" % name)
    need_files = depset(transitive = [n[KilnPackageInfo].shared_closure for n in ctx.attr.needs]).to_list()
    lib_dirs = {f.dirname: True for f in need_files}
    toolchain = ctx.attr._cc_toolchain[cc_common.CcToolchainInfo]
    ctx.actions.run_shell(
        inputs = depset([static] + need_files, transitive = [toolchain.all_files]),
        outputs = [shared],
        use_default_shell_env = True,
        command = " ".join(
            [toolchain.compiler_executable, "-shared", "-o", shared.path, "-Wl,-soname,libkiln_%s.so" % name,
             "-Wl,--no-undefined", "'-Wl,-rpath,$ORIGIN'",
             "-Wl,--whole-archive", static.path, "-Wl,--no-whole-archive"] +
            ["-L" + d for d in lib_dirs] + ["-lkiln_" + n for n in needs] + flags +
            ["-lstdc++", "-lm"],  # the toolchain's compiler is gcc
        ),
        mnemonic = "KilnSharedLibrary",
        progress_message = "Linking %s" % shared.short_path,
    )

    return [
        DefaultInfo(files = depset([static, shared]), runfiles = ctx.runfiles(files = [static, shared])),
        KilnPackageInfo(
            name = name,
            static = static,
            shared = shared,
            needs = needs,
            shared_closure = depset([shared], transitive = [n[KilnPackageInfo].shared_closure for n in ctx.attr.needs]),
            link_flags = flags,
            owners = list(own.keys()) + list(covered.keys()),
            headers = depset([h for h in depset(transitive = headers).to_list() if h not in private]),
        ),
    ]

kiln_package = rule(
    implementation = _kiln_package_impl,
    attrs = {
        "libs": attr.label_list(providers = [CcInfo], mandatory = True),
        "needs": attr.label_list(providers = [KilnPackageInfo]),
        "_cc_toolchain": attr.label(default = Label("@bazel_tools//tools/cpp:current_cc_toolchain")),
    },
)

def _cmake_list(items):
    return ";".join(items)

def _kiln_install_tree_impl(ctx):
    tree = ctx.actions.declare_directory(ctx.label.name)
    packages = [p[KilnPackageInfo] for p in ctx.attr.packages]
    copies = []  # (source File, path in the tree)
    copies.append((ctx.executable.kilnc, "bin/kilnc"))
    copies.append((ctx.executable.kiln, "bin/kiln"))
    headers = {}
    for p in packages:
        copies.append((p.static, "lib/" + p.static.basename))
        copies.append((p.shared, "lib/" + p.shared.basename))
        for h in p.headers.to_list():
            if _is_kiln(h.owner) and h.short_path not in headers:
                headers[h.short_path] = h
    for path, h in headers.items():
        copies.append((h, "include/kiln/" + path))
    for f in ctx.files.cmake:
        copies.append((f, "lib/cmake/Kiln/" + f.basename))

    # What the CMake package and the pkg-config files say about each library.
    libraries = ctx.actions.declare_file(ctx.label.name + "_KilnLibraries.cmake")
    ctx.actions.write(libraries, "".join([
        "# Generated by //install (install.bzl) from Bazel's build graph: each installed library, the\n",
        "# installed libraries it needs, and its system link flags.\n",
    ] + [
        '_kiln_library(%s "%s" "%s")\n' % (p.name, _cmake_list(p.needs), _cmake_list(p.link_flags))
        for p in packages
    ] + ['set(Kiln_VERSION "%s")\n' % ctx.attr.version]))
    copies.append((libraries, "lib/cmake/Kiln/KilnLibraries.cmake"))
    version = ctx.actions.declare_file(ctx.label.name + "_KilnConfigVersion.cmake")
    ctx.actions.expand_template(
        template = ctx.file.cmake_version,
        output = version,
        substitutions = {"@VERSION@": ctx.attr.version},
    )
    copies.append((version, "lib/cmake/Kiln/KilnConfigVersion.cmake"))

    by_name = {p.name: p for p in packages}
    for pc_name, pc in ctx.attr.pkgconfig.items():
        libs_part, description = pc.split(" ", 1)
        names = libs_part.split(",")
        order, flags = [], []
        for n in names:
            for m in [n] + by_name[n].needs:
                if m not in order:
                    order.append(m)

        # A library before those it needs (for static links): `needs` is transitive, so a library
        # needs more than any library it needs.
        order = [m for _, m in sorted([(-len(by_name[m].needs), m) for m in order])]
        for m in order:
            for f in by_name[m].link_flags:
                if f not in flags:
                    flags.append(f)
        for static in [False, True]:
            out = ctx.actions.declare_file("%s_%s%s.pc" % (ctx.label.name, pc_name, "-static" if static else ""))
            if static:
                libs = " ".join(["${libdir}/libkiln_%s.a" % m for m in order])
            else:
                libs = "-L${libdir} -Wl,-rpath,${libdir} " + " ".join(["-lkiln_" + m for m in order])
            ctx.actions.write(out, "\n".join([
                "prefix=${pcfiledir}/../..",
                "libdir=${prefix}/lib",
                "includedir=${prefix}/include/kiln",
                "",
                "Name: %s%s" % (pc_name, "-static" if static else ""),
                "Description: %s%s" % (description, " (static libraries)" if static else ""),
                "Version: %s" % ctx.attr.version,
                "Cflags: -I${includedir}",
                "Libs: %s %s" % (libs, " ".join(flags)),
                "",
            ]))
            copies.append((out, "lib/pkgconfig/%s%s.pc" % (pc_name, "-static" if static else "")))

    ctx.actions.run_shell(
        inputs = [f for f, _ in copies],
        outputs = [tree],
        command = "\n".join([
            "set -e",
        ] + [
            "mkdir -p %s/$(dirname %s) && cp %s %s/%s" % (tree.path, dest, f.path, tree.path, dest)
            for f, dest in copies
        ] + ["chmod -R u+w,go-w %s" % tree.path]),
        mnemonic = "KilnInstallTree",
        progress_message = "Laying out the install tree %s" % tree.short_path,
    )
    return [DefaultInfo(files = depset([tree]), runfiles = ctx.runfiles(files = [tree]))]

kiln_install_tree = rule(
    implementation = _kiln_install_tree_impl,
    attrs = {
        "packages": attr.label_list(providers = [KilnPackageInfo]),
        "kilnc": attr.label(executable = True, cfg = "target"),
        "kiln": attr.label(executable = True, cfg = "target"),
        "cmake": attr.label_list(allow_files = [".cmake"]),
        "cmake_version": attr.label(allow_single_file = True),
        # pkg-config name → "lib1,lib2 Description".
        "pkgconfig": attr.string_dict(),
        "version": attr.string(mandatory = True),
    },
)

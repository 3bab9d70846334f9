# kiln_add_aot_library(<name> GRAPH <file> [TARGET <spec>] [STATIC_RUNTIME])
#
# The CMake twin of Bazel's kiln_aot_library: runs kilnc at build time on the graph file and makes
# a static library <name> holding the compiled object, with <name>.h on its include path (class
# kiln_generated::<CamelCaseName>, C functions kiln_<name>_init / kiln_<name>_run; docs/aot.md).
# It links Kiln's runtime and the target's kernel library (oneDNN for x86_64 unless
# ",library=none"; Kiln::cuda for cuda), shared, or static with STATIC_RUNTIME.
#
#   <name>   the library and the generated symbols' base name: a C identifier
#   GRAPH    a graph file (binary, or text when it ends in .pbtxt). A relative path names a file
#            of the source directory if one is there, else one of the binary directory (a graph
#            another rule of this directory writes at build time); the compile reruns when it
#            changes.
#   TARGET   a target spec, as kilnc compile --target takes (`kilnc targets`): x86_64 (default),
#            x86_64-native, x86_64,library=none, cuda[:sm_XX]. The cross targets' objects need
#            a runtime built for their machine and are not accepted here.
function(kiln_add_aot_library name)
  cmake_parse_arguments(PARSE_ARGV 1 KILN "STATIC_RUNTIME" "GRAPH;TARGET" "")
  if(KILN_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "kiln_add_aot_library(${name}): unknown arguments ${KILN_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT name MATCHES "^[A-Za-z_][A-Za-z0-9_]*$")
    message(FATAL_ERROR "kiln_add_aot_library: name '${name}' is not a C identifier (letters, digits, _)")
  endif()
  if(NOT KILN_GRAPH)
    message(FATAL_ERROR "kiln_add_aot_library(${name}): GRAPH <file> is required")
  endif()
  if(NOT KILN_TARGET)
    set(KILN_TARGET "x86_64")
  endif()

  if(IS_ABSOLUTE "${KILN_GRAPH}")
    set(graph "${KILN_GRAPH}")
  elseif(EXISTS "${CMAKE_CURRENT_SOURCE_DIR}/${KILN_GRAPH}")
    set(graph "${CMAKE_CURRENT_SOURCE_DIR}/${KILN_GRAPH}")
  else()
    set(graph "${CMAKE_CURRENT_BINARY_DIR}/${KILN_GRAPH}")
  endif()

  # What the target's code links: the runtime, and the kernel library its calls go to.
  string(REPLACE "," ";" options "${KILN_TARGET}")
  list(GET options 0 family)
  string(REGEX REPLACE ":.*" "" family "${family}")
  set(libs runtime)
  if(family STREQUAL "x86_64" OR family STREQUAL "x86_64-native")
    if(NOT "library=none" IN_LIST options)
      list(APPEND libs dnnl_kernels)
    endif()
  elseif(family STREQUAL "cuda")
    list(APPEND libs cuda)
  else()
    message(FATAL_ERROR "kiln_add_aot_library(${name}): target '${KILN_TARGET}' does not run on "
                        "this machine's runtime (x86_64, x86_64-native, cuda)")
  endif()
  set(suffix "")
  if(KILN_STATIC_RUNTIME)
    set(suffix "_static")
  endif()
  list(TRANSFORM libs PREPEND "Kiln::")
  list(TRANSFORM libs APPEND "${suffix}")

  set(out "${CMAKE_CURRENT_BINARY_DIR}/kiln_aot/${name}")
  add_custom_command(
    OUTPUT "${out}/${name}.o" "${out}/${name}.h"
    COMMAND "${Kiln_KILNC}" compile "${graph}" --out "${out}" --name "${name}"
            --target "${KILN_TARGET}"
    DEPENDS "${graph}" "${Kiln_KILNC}"
    COMMENT "kilnc: compiling ${KILN_GRAPH} for ${KILN_TARGET}"
    VERBATIM)
  add_library(${name} STATIC "${out}/${name}.o" "${out}/${name}.h")
  set_target_properties(${name} PROPERTIES LINKER_LANGUAGE CXX)
  target_include_directories(${name} PUBLIC "${out}")
  target_link_libraries(${name} PUBLIC ${libs} m)
endfunction()

# find_package(Kiln): Kiln's libraries as imported targets, its compiler, and kiln_add_aot_library().
#
#   Kiln::graph          the builder API: graphs, ops, autodiff, interpreter, layers, graph files
#   Kiln::runtime        the runtime compiled graphs link (core: libc, libm, libstdc++, threads)
#   Kiln::dnnl_kernels   oneDNN matmuls and convolutions for x86_64 targets
#   Kiln::checkpoint     checkpoints of a compiled graph's variables
#   Kiln::data           IDX and TFRecord files, in-memory datasets
#   Kiln::metrics        progress lines, CSV logs, TensorBoard event files
#   Kiln::bundle         opens and runs `.kiln` bundles (docs/bundle.md)
#   Kiln::cuda           compiled graphs on NVIDIA GPUs (the driver is opened at run time)
#   Kiln::kilnc          the compiler, an imported executable
#
# Each library is shared; Kiln::<name>_static is the same library, static. Headers are included as
# in Kiln's tree: #include "graph/graph.h", "runtime/checkpoint/checkpoint.h". They need Abseil and
# protobuf's headers (Debian's libabsl-dev and libprotobuf-dev), and C++17.
get_filename_component(_kiln_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)
set(Kiln_INCLUDE_DIR "${_kiln_prefix}/include/kiln")
set(Kiln_KILNC "${_kiln_prefix}/bin/kilnc")

if(NOT TARGET Kiln::kilnc)
  add_executable(Kiln::kilnc IMPORTED)
  set_target_properties(Kiln::kilnc PROPERTIES IMPORTED_LOCATION "${Kiln_KILNC}")

  # Kiln::<name> and Kiln::<name>_static, linking the installed libraries in `needs` and the system
  # link flags `flags` (KilnLibraries.cmake lists them, as Bazel's build graph has them).
  function(_kiln_library name needs flags)
    foreach(suffix IN ITEMS "" "_static")
      set(deps "")
      foreach(need IN LISTS needs)
        list(APPEND deps "Kiln::${need}${suffix}")
      endforeach()
      list(APPEND deps ${flags})
      if(suffix STREQUAL "")
        add_library(Kiln::${name} SHARED IMPORTED)
        set_target_properties(Kiln::${name} PROPERTIES
          IMPORTED_LOCATION "${_kiln_prefix}/lib/libkiln_${name}.so"
          IMPORTED_SONAME "libkiln_${name}.so")
      else()
        add_library(Kiln::${name}_static STATIC IMPORTED)
        set_target_properties(Kiln::${name}_static PROPERTIES
          IMPORTED_LOCATION "${_kiln_prefix}/lib/libkiln_${name}.a")
      endif()
      set_target_properties(Kiln::${name}${suffix} PROPERTIES
        INTERFACE_INCLUDE_DIRECTORIES "${Kiln_INCLUDE_DIR}"
        INTERFACE_COMPILE_FEATURES cxx_std_17
        INTERFACE_LINK_LIBRARIES "${deps}")
    endforeach()
  endfunction()

  include("${CMAKE_CURRENT_LIST_DIR}/KilnLibraries.cmake")
endif()

include("${CMAKE_CURRENT_LIST_DIR}/KilnAot.cmake")

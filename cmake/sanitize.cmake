# Sanitizer and fuzzing instrumentation for one whole build tree (scripts/sanitize.sh configures it
# as build-san with clang). Included from the root CMakeLists.txt before any target is defined, so
# the flags reach every target, third-party reference code included.
#
#   TICKGRAPH_SANITIZE  AddressSanitizer (with LeakSanitizer) and UndefinedBehaviorSanitizer on
#                       everything; any UB report aborts (-fno-sanitize-recover).
#   TICKGRAPH_TSAN      ThreadSanitizer on everything (its own tree, build-tsan: it cannot be
#                       combined with AddressSanitizer); any report fails the process.
#   TICKGRAPH_FUZZ      the libFuzzer targets of tests/fuzz (clang, with TICKGRAPH_SANITIZE). Their
#                       code is instrumented for coverage there (tests/fuzz/CMakeLists.txt), not
#                       here: the rest of the `tickgraph` binary does not need it.
if(TICKGRAPH_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

if(TICKGRAPH_TSAN)
  if(TICKGRAPH_SANITIZE)
    message(FATAL_ERROR "TICKGRAPH_TSAN and TICKGRAPH_SANITIZE need separate build trees")
  endif()
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()

if(TICKGRAPH_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "TICKGRAPH_FUZZ needs clang (libFuzzer): configure with CXX=clang++")
  endif()
  if(NOT TICKGRAPH_SANITIZE)
    # The coverage hooks in the libraries need a sanitizer runtime in every binary linking them.
    message(FATAL_ERROR "TICKGRAPH_FUZZ needs TICKGRAPH_SANITIZE=ON")
  endif()
endif()

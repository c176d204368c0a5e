# Builds TA-Lib's C library from the source shipped in the npm package `talib` (installed by
# scripts/bootstrap.sh into scripts/deps/node_modules). It is a test-time oracle and benchmark
# reference only: nothing in src/ links it, and none of its code is copied into this repository.
set(TALIB_ROOT ${TICKGRAPH_NPM_DEPS}/talib/src/lib)
if(EXISTS ${TALIB_ROOT}/include/ta_libc.h)
  file(GLOB TALIB_FUNC_SOURCES ${TALIB_ROOT}/src/ta_func/*.c)
  add_library(talib_ref STATIC ${TALIB_FUNC_SOURCES} ${TALIB_ROOT}/src/ta_common/ta_global.c
                               ${TALIB_ROOT}/src/ta_common/ta_retcode.c
                               ${TALIB_ROOT}/src/ta_common/ta_version.c)
  target_include_directories(talib_ref SYSTEM PUBLIC ${TALIB_ROOT}/include
                             PRIVATE ${TALIB_ROOT}/src/ta_common ${TALIB_ROOT}/src/ta_func)
  target_compile_options(talib_ref PRIVATE -O2 -w)
  set(TICKGRAPH_HAVE_TALIB ON)
  message(STATUS "TA-Lib reference: ${TALIB_ROOT}")
else()
  set(TICKGRAPH_HAVE_TALIB OFF)
  message(WARNING "TA-Lib reference not found at ${TALIB_ROOT}; run scripts/bootstrap.sh")
endif()

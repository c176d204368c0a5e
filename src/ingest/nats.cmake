# NATS: the scale-out bus (plain NATS) and the JetStream tick source, on libnats (cnats).
# Debian's cnats CMake package names a static library it does not install; pkg-config works.
pkg_check_modules(NATS REQUIRED IMPORTED_TARGET libnats)

add_library(tickgraph_nats STATIC
  nats_bus.cc
  nats_source.cc
)
target_include_directories(tickgraph_nats PUBLIC ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(tickgraph_nats
  PUBLIC tickgraph_ingest PkgConfig::NATS
  PRIVATE tickgraph_warnings)

if(TICKGRAPH_BUILD_TESTS)
  # Runs real nats-server processes (/usr/sbin/nats-server, or $TICKGRAPH_NATS_SERVER).
  add_executable(nats_tests
    nats_test.cc
    testing/nats_server.cc
  )
  target_link_libraries(nats_tests PRIVATE tickgraph_nats tickgraph_warnings GTest::gtest_main)
  gtest_discover_tests(nats_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300 LABELS nats)
endif()

# Kafka: the consumer-group tick source, on librdkafka (pkg-config only on Debian).
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)

add_library(tickgraph_kafka STATIC kafka_source.cc)
target_include_directories(tickgraph_kafka PUBLIC ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(tickgraph_kafka
  PUBLIC tickgraph_ingest PkgConfig::RDKAFKA
  PRIVATE tickgraph_warnings)

if(TICKGRAPH_BUILD_TESTS)
  # Against librdkafka's mock cluster (real Kafka protocol on 127.0.0.1), made in the test.
  add_executable(kafka_tests kafka_source_test.cc)
  target_link_libraries(kafka_tests PRIVATE tickgraph_kafka tickgraph_warnings GTest::gtest_main)
  gtest_discover_tests(kafka_tests DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 300 LABELS kafka)
endif()

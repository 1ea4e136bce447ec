# SPDX-License-Identifier: Apache-2.0
# Included by the consumer projects once beacon is available (found or added): checks that
# beacon::cuda exists exactly when the producer build had it, and builds consumer.cpp against
# beacon::beacon. The driver (run_consumer.cmake) finds the executable through
# consumer_path_<CONFIG>.txt in the build directory.
foreach(var BEACON_EXPECT_VERSION BEACON_EXPECT_CUDA BEACON_EXPECT_OPENMP)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "consumer: pass -D${var}=... (the producer build's value)")
  endif()
endforeach()

if(NOT TARGET beacon::beacon)
  message(FATAL_ERROR "consumer: beacon::beacon is not defined")
endif()
if(BEACON_EXPECT_CUDA AND NOT TARGET beacon::cuda)
  message(FATAL_ERROR "consumer: the producer build had CUDA, but beacon::cuda is not defined")
elseif(NOT BEACON_EXPECT_CUDA AND TARGET beacon::cuda)
  message(FATAL_ERROR "consumer: the producer build had no CUDA, but beacon::cuda is defined")
endif()
if(TARGET beacon::cuda)
  set(_beacon_has_cuda ON)
else()
  set(_beacon_has_cuda OFF)
endif()
message(STATUS "consumer: beacon::beacon defined, beacon::cuda ${_beacon_has_cuda} (expected ${BEACON_EXPECT_CUDA})")

if(BEACON_EXPECT_OPENMP)
  set(_beacon_expect_openmp 1)
else()
  set(_beacon_expect_openmp 0)
endif()
add_executable(beacon_consumer "${CMAKE_CURRENT_LIST_DIR}/consumer.cpp")
target_link_libraries(beacon_consumer PRIVATE beacon::beacon)
target_compile_definitions(beacon_consumer PRIVATE
  BEACON_EXPECTED_VERSION="${BEACON_EXPECT_VERSION}" BEACON_EXPECT_OPENMP=${_beacon_expect_openmp})
file(GENERATE OUTPUT "${CMAKE_BINARY_DIR}/consumer_path_$<CONFIG>.txt" CONTENT "$<TARGET_FILE:beacon_consumer>")

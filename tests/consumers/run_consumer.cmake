# SPDX-License-Identifier: Apache-2.0
# Driver for the "package" tests, run by ctest as `cmake -D... -P run_consumer.cmake [-- args]`.
#
#   MODE=install  BUILD_DIR PREFIX INCLUDEDIR DATADIR
#       Installs the producer build tree into a fresh PREFIX and checks the installed layout.
#   MODE=project  SOURCE WORK GENERATOR [MAKE_PROGRAM] CXX [-- extra consumer configure args]
#       Configures the consumer project SOURCE in a fresh WORK directory (Release, same compiler
#       and generator as the producer), builds it with -j2 and runs the consumer executable.
cmake_minimum_required(VERSION 3.25)

# A `make test` recipe exports the outer make's flags; they must not reach the consumer builds.
unset(ENV{MAKEFLAGS})
unset(ENV{MFLAGS})
unset(ENV{MAKELEVEL})

function(run_step what)
  list(JOIN ARGN " " shown)
  message(STATUS "${what}: ${shown}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}): ${shown}")
  endif()
endfunction()

function(require_vars)
  foreach(var IN LISTS ARGN)
    if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
      message(FATAL_ERROR "run_consumer.cmake (MODE=${MODE}): -D${var}=... is required")
    endif()
  endforeach()
endfunction()

if(MODE STREQUAL "install")
  require_vars(BUILD_DIR PREFIX INCLUDEDIR DATADIR)
  file(REMOVE_RECURSE "${PREFIX}")
  run_step("install" "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}")
  foreach(f "${INCLUDEDIR}/beacon/beacon.hpp"
            "${INCLUDEDIR}/beacon/backend/cpu/softmax_top_k.hpp"
            "${DATADIR}/cmake/beacon/beaconConfig.cmake"
            "${DATADIR}/cmake/beacon/beaconConfigVersion.cmake"
            "${DATADIR}/cmake/beacon/beaconTargets.cmake"
            "${DATADIR}/pkgconfig/beacon.pc")
    if(NOT EXISTS "${PREFIX}/${f}")
      message(FATAL_ERROR "install: ${PREFIX}/${f} is missing")
    endif()
  endforeach()
  file(READ "${PREFIX}/${DATADIR}/pkgconfig/beacon.pc" pc)
  message(STATUS "installed ${PREFIX}/${DATADIR}/pkgconfig/beacon.pc:\n${pc}")
elseif(MODE STREQUAL "project")
  require_vars(SOURCE WORK GENERATOR CXX)
  set(extra "")
  set(after_dashes FALSE)
  math(EXPR last "${CMAKE_ARGC} - 1")
  foreach(i RANGE ${last})
    if(after_dashes)
      list(APPEND extra "${CMAKE_ARGV${i}}")
    elseif(CMAKE_ARGV${i} STREQUAL "--")
      set(after_dashes TRUE)
    endif()
  endforeach()
  set(configure "${CMAKE_COMMAND}" -S "${SOURCE}" -B "${WORK}" -G "${GENERATOR}"
    -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_COMPILER=${CXX}")
  if(MAKE_PROGRAM)
    list(APPEND configure "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
  endif()
  file(REMOVE_RECURSE "${WORK}")
  run_step("configure" ${configure} ${extra})
  run_step("build" "${CMAKE_COMMAND}" --build "${WORK}" --config Release -j 2)
  file(READ "${WORK}/consumer_path_Release.txt" exe)
  run_step("run" "${exe}")
elseif(MODE STREQUAL "examples")
  # The installed examples folder built against the installed package, then its tests run.
  require_vars(SOURCE WORK GENERATOR CXX PREFIX)
  file(REMOVE_RECURSE "${WORK}")
  set(configure "${CMAKE_COMMAND}" -S "${SOURCE}" -B "${WORK}" -G "${GENERATOR}" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_CXX_COMPILER=${CXX}"
    "-DCMAKE_PREFIX_PATH=${PREFIX}" -DBEACON_EXAMPLES_CUDA=OFF)  # the .cu examples are built (once) by the main build
  if(MAKE_PROGRAM)
    list(APPEND configure "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
  endif()
  if(Eigen3_DIR)
    list(APPEND configure "-DEigen3_DIR=${Eigen3_DIR}")
  endif()
  run_step("configure" ${configure})
  run_step("build" "${CMAKE_COMMAND}" --build "${WORK}" --config Release -j 2)
  run_step("test" "${CMAKE_CTEST_COMMAND}" --test-dir "${WORK}" --output-on-failure)
else()
  message(FATAL_ERROR "run_consumer.cmake: MODE must be install, project or examples, not '${MODE}'")
endif()

# ctest script: install mcsc from the build tree into a scratch prefix, then configure, build and
# run tests/consumer against that installed copy with find_package(mcsc).
# Variables: BUILD_DIR, SOURCE_DIR, WORK_DIR, Kokkos_DIR, GENERATOR; MPI (ON: tests/consumer_mpi
# too, through find_package(mcsc COMPONENTS mpi), run on 2 ranks with MPIRUN).
file(REMOVE_RECURSE "${WORK_DIR}")
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()
run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${WORK_DIR}/prefix")
if(NOT EXISTS "${WORK_DIR}/prefix/include/mcsc/mcsc.hpp")
  message(FATAL_ERROR "mcsc.hpp was not installed")
endif()
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer" -B "${WORK_DIR}/build" -G "${GENERATOR}"
    "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix" "-DKokkos_DIR=${Kokkos_DIR}" -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
run("${WORK_DIR}/build/consumer")
if(MPI)
  run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer_mpi" -B "${WORK_DIR}/build_mpi" -G "${GENERATOR}"
      "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix" "-DKokkos_DIR=${Kokkos_DIR}" -DCMAKE_BUILD_TYPE=Release)
  run(${CMAKE_COMMAND} --build "${WORK_DIR}/build_mpi")
  run(${MPIRUN} -np 2 "${WORK_DIR}/build_mpi/consumer_mpi")
endif()

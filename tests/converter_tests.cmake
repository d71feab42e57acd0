# Official CU-Net .pth files -> mcsc checkpoints with tools/convert_cunet_pth.py (standard-library
# Python, no PyTorch), then test_converted_checkpoint loads the results. Included by
# tests/CMakeLists.txt after mcsc_add_test() and MCSC_TEST_ENV are defined.
#
#   convert_cunet_<name>             converts ../shared/weights/cunet/<name>.pth (fixture setup)
#   convert_cunet_depth_ks9_float64  the same with --dtype float64
#   convert_cunet_rejects_non_pth    the converter fails on a file that is not a checkpoint
#   convert_cunet_error_messages     exit status 2, a message and no traceback for bad inputs
#   convert_cunet_fuzz_regressions   the inputs tools/fuzz_convert.py found (tests/fuzz/corpus/
#                                    convert), each refused cleanly within 2 GiB of address space
#   test_converted_checkpoint        C++: load, compare with the raw exports, run the model

# /usr/bin/python3 first: a pyenv/virtualenv shim earlier on PATH may not be usable from ctest.
find_program(MCSC_PYTHON3 NAMES python3 HINTS /usr/bin DOC "Python 3 for tools/convert_cunet_pth.py")

set(MCSC_CUNET_CONVERTER ${PROJECT_SOURCE_DIR}/tools/convert_cunet_pth.py)
set(MCSC_CUNET_WEIGHTS_DIR ${PROJECT_SOURCE_DIR}/../shared/weights/cunet)
set(MCSC_CONVERTED_DIR ${CMAKE_CURRENT_BINARY_DIR}/converted)
set(MCSC_CUNET_CHECKPOINTS depth_ks9 denoise25 denoise50 denoise75 multi_exposure multi_focus)

set(mcsc_cunet_converted FALSE)
if(NOT MCSC_PYTHON3)
  message(STATUS "mcsc: no python3, the CU-Net .pth converter is not tested")
else()
  file(MAKE_DIRECTORY ${MCSC_CONVERTED_DIR})
  if(NOT EXISTS ${MCSC_CUNET_WEIGHTS_DIR})
    message(STATUS "mcsc: no ${MCSC_CUNET_WEIGHTS_DIR}, the official CU-Net weights are not converted")
  else()
    set(mcsc_cunet_converted TRUE)
    foreach(name ${MCSC_CUNET_CHECKPOINTS})
      add_test(NAME convert_cunet_${name}
               COMMAND ${MCSC_PYTHON3} ${MCSC_CUNET_CONVERTER} ${MCSC_CUNET_WEIGHTS_DIR}/${name}.pth
                       ${MCSC_CONVERTED_DIR}/${name}.mcsc)
      set_tests_properties(convert_cunet_${name} PROPERTIES FIXTURES_SETUP cunet_converted)
    endforeach()
    add_test(NAME convert_cunet_depth_ks9_float64
             COMMAND ${MCSC_PYTHON3} ${MCSC_CUNET_CONVERTER} --dtype float64 ${MCSC_CUNET_WEIGHTS_DIR}/depth_ks9.pth
                     ${MCSC_CONVERTED_DIR}/depth_ks9.float64.mcsc)
    set_tests_properties(convert_cunet_depth_ks9_float64 PROPERTIES FIXTURES_SETUP cunet_converted)
  endif()

  # What the converter fuzz loop found, replayed: a clear refusal, no traceback, within 2 GiB.
  add_test(NAME convert_cunet_fuzz_regressions
           COMMAND ${MCSC_PYTHON3} ${PROJECT_SOURCE_DIR}/tools/fuzz_convert.py --memory-limit 2
                   --replay ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/convert)

  # Not a checkpoint (this very file): the converter must fail.
  add_test(NAME convert_cunet_rejects_non_pth
           COMMAND ${MCSC_PYTHON3} ${MCSC_CUNET_CONVERTER} ${CMAKE_CURRENT_LIST_FILE}
                   ${MCSC_CONVERTED_DIR}/not_a_checkpoint.mcsc)
  set_tests_properties(convert_cunet_rejects_non_pth PROPERTIES WILL_FAIL TRUE)  # status and message: below

  # ... and fail properly: status 2, an "error:" line, no Python traceback, no output file. The
  # inputs: a text file, a missing file, a zip that is not a checkpoint, a legacy-format file whose
  # object is not a state_dict, and (with the weights) truncated legacy and zip checkpoints.
  set(work ${CMAKE_CURRENT_BINARY_DIR}/converter_errors)
  set(script ${CMAKE_CURRENT_BINARY_DIR}/converter_error_messages.cmake)
  file(WRITE ${script} [=[
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
file(WRITE ${WORK}/text.pth "this is not a checkpoint\n")
# A zip without data.pkl, a legacy-format pickle sequence holding a dict of floats, and truncated
# copies of a legacy and a zip checkpoint (when the weights are there).
execute_process(COMMAND ${PYTHON} -c [[
import collections, os, pickle, sys, zipfile
work, weights = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(work + "/other.pth", "w") as z:
    z.writestr("archive/readme.txt", "hello")
with open(work + "/not_cunet.pth", "wb") as f:
    for obj in (0x1950a86a20f9469cfc6c, 1001, {"protocol_version": 1001, "little_endian": True},
                {"model": collections.OrderedDict(foo=1.0)}, []):
        pickle.dump(obj, f, protocol=2)
for src, dst, n in (("depth_ks9.pth", "truncated_legacy.pth", 500000),
                    ("multi_exposure.pth", "truncated_zip.pth", 1000000)):
    if os.path.exists(weights + "/" + src):
        with open(weights + "/" + src, "rb") as f, open(work + "/" + dst, "wb") as g:
            g.write(f.read(n))
if os.path.exists(weights + "/depth_ks9.pth"):  # one key renamed (same length) in the pickle
    with open(weights + "/depth_ks9.pth", "rb") as f, open(work + "/renamed_key.pth", "wb") as g:
        g.write(f.read().replace(b"decoder.conv_2.weight", b"decoder.conv_9.weight", 1))
    # The legacy format ends with the last storage's raw data: its last float becomes a NaN.
    with open(weights + "/depth_ks9.pth", "rb") as f, open(work + "/nan_weight.pth", "wb") as g:
        g.write(f.read()[:-4] + b"\x00\x00\xc0\x7f")
]] ${WORK} ${WEIGHTS} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "could not make the test inputs")
endif()
set(cases "text.pth|not a PyTorch checkpoint" "missing.pth|does not exist"
          "other.pth|not a PyTorch checkpoint" "not_cunet.pth|does not hold a CU-Net state_dict")
if(EXISTS ${WORK}/truncated_legacy.pth)
  list(APPEND cases "truncated_legacy.pth|truncated" "truncated_zip.pth|truncated"
                    "renamed_key.pth|missing keys: decoder.conv_2.weight.*unexpected keys: decoder.conv_9.weight"
                    "nan_weight.pth|parameter '[^']+' holds 1 NaN/Inf value")
endif()
foreach(case ${cases})
  string(REPLACE "|" ";" parts "${case}")
  list(GET parts 0 input)
  list(GET parts 1 expected)
  execute_process(COMMAND ${PYTHON} ${CONVERTER} ${WORK}/${input} ${WORK}/out.mcsc
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  message(STATUS "${input}: status ${rc}: ${err}")
  if(NOT rc EQUAL 2 OR NOT err MATCHES "error: .*${expected}" OR err MATCHES "Traceback" OR EXISTS ${WORK}/out.mcsc)
    message(FATAL_ERROR "${input}: expected status 2 and an error mentioning '${expected}', got status ${rc}:\n${err}")
  endif()
endforeach()
# The output path naming the input itself is refused, and the input is left as it was.
file(WRITE ${WORK}/self.pth "this is not a checkpoint either\n")
execute_process(COMMAND ${PYTHON} ${CONVERTER} ${WORK}/self.pth ${WORK}/./self.pth
                RESULT_VARIABLE rc ERROR_VARIABLE err)
file(READ ${WORK}/self.pth left)
if(NOT rc EQUAL 2 OR NOT err MATCHES "error: the output '.*self.pth' is the input file" OR NOT left MATCHES "^this is not")
  message(FATAL_ERROR "output = input: expected status 2 and 'is the input file', got status ${rc}:\n${err}")
endif()
]=])
  add_test(NAME convert_cunet_error_messages
           COMMAND ${CMAKE_COMMAND} -DPYTHON=${MCSC_PYTHON3} -DCONVERTER=${MCSC_CUNET_CONVERTER}
                   -DWEIGHTS=${MCSC_CUNET_WEIGHTS_DIR} -DWORK=${work} -P ${script})
endif()

mcsc_add_test(test_converted_checkpoint)
set_tests_properties(test_converted_checkpoint PROPERTIES
                     ENVIRONMENT "${MCSC_TEST_ENV};MCSC_CONVERTED_DIR=${MCSC_CONVERTED_DIR}")
if(mcsc_cunet_converted)
  set_tests_properties(test_converted_checkpoint PROPERTIES FIXTURES_REQUIRED cunet_converted)
endif()

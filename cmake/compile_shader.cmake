# Compile one compute shader to SPIR-V embedded as a uint32 C array; any warning or error
# fails the build. Called as: cmake -DGLSLANG=.. -DSRC=.. -DOUT=.. -DDEP=.. -DVAR=.. -DINC=.. -P
execute_process(
  COMMAND "${GLSLANG}" -V --target-env vulkan1.1 "-I${INC}" --vn "${VAR}" --depfile "${DEP}" -o "${OUT}" "${SRC}"
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(REPLACE "${SRC}" "" rest "${out}${err}")
string(STRIP "${rest}" rest)
if(NOT rc EQUAL 0 OR rest MATCHES "WARNING|ERROR|warning|error")
  file(REMOVE "${OUT}")
  message(FATAL_ERROR "shader ${SRC} failed to compile cleanly:\n${out}${err}")
endif()
# Count the storage-buffer bindings the shader declares (they must be numbered 0..n-1 in the
# .comp file itself) and append the count for the registry.
file(READ "${SRC}" text)
string(REGEX MATCHALL "binding[ \t]*=[ \t]*[0-9]+" bindings "${text}")
set(n 0)
foreach(b IN LISTS bindings)
  string(REGEX REPLACE ".*=[ \t]*" "" idx "${b}")
  math(EXPR next "${idx} + 1")
  if(next GREATER n)
    set(n ${next})
  endif()
endforeach()
file(APPEND "${OUT}" "\nstatic const uint32_t ${VAR}_bindings = ${n};\n")

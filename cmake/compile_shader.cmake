# Compile one compute shader (with optional -D definitions) to SPIR-V embedded as a uint32 C array; any warning or error
# fails the build. Called as: cmake -DGLSLANG=.. -DSRC=.. -DOUT=.. -DDEP=.. -DVAR=.. -DINC=.. -P
set(defs)
foreach(d IN LISTS DEFINES)
  list(APPEND defs "-D${d}")
endforeach()
execute_process(
  COMMAND "${GLSLANG}" -V --target-env vulkan1.1 ${defs} "-I${INC}" --vn "${VAR}" --depfile "${DEP}" -o "${OUT}" "${SRC}"
  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(REPLACE "${SRC}" "" rest "${out}${err}")
string(STRIP "${rest}" rest)
if(NOT rc EQUAL 0 OR rest MATCHES "WARNING|ERROR|warning|error")
  file(REMOVE "${OUT}")
  message(FATAL_ERROR "shader ${SRC} failed to compile cleanly:\n${out}${err}")
endif()
# Count the storage-buffer bindings the shader declares (numbered 0..n-1, in the .comp file
# or its includes: the preprocessed text is searched) and append the count for the registry.
execute_process(
  COMMAND "${GLSLANG}" -E ${defs} "-I${INC}" "${SRC}"
  OUTPUT_VARIABLE text ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "shader ${SRC} failed to preprocess:\n${err}")
endif()
string(REGEX MATCHALL "binding[ \t]*=[ \t]*[0-9]+" bindings "${text}")
set(n 0)
foreach(b IN LISTS bindings)
  string(REGEX REPLACE ".*=[ \t]*" "" idx "${b}")
  math(EXPR next "${idx} + 1")
  if(next GREATER n)
    set(n ${next})
  endif()
endforeach()
# Bindings declared as `uniform samplerBuffer` are uniform texel buffers: a bit mask for the
# registry.
string(REGEX MATCHALL "binding[ \t]*=[ \t]*[0-9]+[ \t]*\\)[ \t]*uniform[ \t]+samplerBuffer" texels "${text}")
set(mask 0)
foreach(b IN LISTS texels)
  string(REGEX REPLACE "binding[ \t]*=[ \t]*([0-9]+).*" "\\1" idx "${b}")
  math(EXPR mask "${mask} | (1 << ${idx})")
endforeach()
file(APPEND "${OUT}" "\nstatic const uint32_t ${VAR}_bindings = ${n};\nstatic const uint32_t ${VAR}_texel = ${mask};\n")
# The _nosg variant must not declare any subgroup capability (OpCapability = 0x00020011,
# GroupNonUniform* = 61..68): a device without them would reject the module.
list(FIND DEFINES KW_NO_SUBGROUP nosg)
if(nosg GREATER -1)
  file(READ "${OUT}" spv)
  string(REGEX REPLACE "[ \t\r\n]" "" spv "${spv}")
  if(spv MATCHES "0x00020011,0x0000003[def]|0x00020011,0x0000004[0-4]")
    file(REMOVE "${OUT}")
    message(FATAL_ERROR "${SRC} compiled with KW_NO_SUBGROUP still declares a subgroup capability: guard its "
                        "#extension lines and subgroup code with #ifndef KW_NO_SUBGROUP")
  endif()
endif()

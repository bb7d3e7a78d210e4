# mapfile_gen_codec(OUT_VAR HEADER STRUCT DIR): at build time, run this
# build's `mapf gen HEADER --struct STRUCT --out DIR`; OUT_VAR gets the
# generated DIR/STRUCT_codec.c, to compile into a target (with
# MF_CODEC_STATIC to link it in). Needs mapf gen (TARGET mapfile_libclang).
# Used by the generated codec's fuzzer, its corpus replay and the bench.
function(mapfile_gen_codec out header struct dir)
  set(codec ${dir}/${struct}_codec.c)
  # mapf may be a sanitizer build; libclang's own leaks are not ours.
  add_custom_command(OUTPUT ${codec}
    COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=0
            $<TARGET_FILE:mapf> gen ${header} --struct ${struct} --out ${dir}
    DEPENDS mapf ${header}
    COMMENT "mapf gen ${header} --struct ${struct}"
    VERBATIM)
  set(${out} ${codec} PARENT_SCOPE)
endfunction()

# mapfile_gen_evolved_codec(OUT_VAR INCLUDE_VAR STRUCT DIR HEADER...): at
# build time, run this build's mapf gen on each HEADER in turn (copied to
# DIR/src/STRUCT.h, the name the codec includes) into one folder, DIR/STRUCT,
# whose STRUCT.schema gains a version each time: the codec of the last
# HEADER then reads every earlier version (tests/gen_evolve.sh does the same
# with an installed mapf). DIR is emptied first, so a rebuild starts at
# version 1 again. OUT_VAR gets the codec, INCLUDE_VAR the folder holding the
# last HEADER as STRUCT.h.
function(mapfile_gen_evolved_codec out include_out struct dir)
  set(codec ${dir}/${struct}/${struct}_codec.c)
  set(steps COMMAND ${CMAKE_COMMAND} -E rm -rf ${dir}
            COMMAND ${CMAKE_COMMAND} -E make_directory ${dir}/src)
  foreach(header ${ARGN})
    list(APPEND steps
      COMMAND ${CMAKE_COMMAND} -E copy ${header} ${dir}/src/${struct}.h
      COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=0
              $<TARGET_FILE:mapf> gen ${dir}/src/${struct}.h --struct ${struct}
              --out ${dir}/${struct})
  endforeach()
  string(REPLACE ";" ", " headers "${ARGN}")
  add_custom_command(OUTPUT ${codec} ${steps}
    DEPENDS mapf ${ARGN}
    COMMENT "mapf gen --struct ${struct}: ${headers} in turn"
    VERBATIM)
  set(${out} ${codec} PARENT_SCOPE)
  set(${include_out} ${dir}/src PARENT_SCOPE)
endfunction()

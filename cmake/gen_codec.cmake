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

# libclang.cmake - find libclang (Debian: libclang-dev) for `mapf gen`.
# Sets MAPFILE_LIBCLANG_FOUND and the imported target mapfile_libclang.
# Looks where llvm-config says first (llvm-config, then llvm-config-N for
# the newest N on PATH), then in the versioned /usr/lib/llvm-N folders,
# newest first, so a machine with several LLVMs picks one consistent pair
# of header and library.
set(MAPFILE_LIBCLANG_FOUND OFF)
set(_mf_llvm_roots "")
find_program(MAPFILE_LLVM_CONFIG NAMES llvm-config
  llvm-config-19 llvm-config-18 llvm-config-17 llvm-config-16 llvm-config-15
  llvm-config-14 llvm-config-13)
if(MAPFILE_LLVM_CONFIG)
  execute_process(COMMAND "${MAPFILE_LLVM_CONFIG}" --prefix
    OUTPUT_VARIABLE _mf_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE _mf_rc ERROR_QUIET)
  if(_mf_rc EQUAL 0 AND _mf_prefix)
    list(APPEND _mf_llvm_roots "${_mf_prefix}")
  endif()
endif()
file(GLOB _mf_versioned LIST_DIRECTORIES true /usr/lib/llvm-[0-9]*)
list(SORT _mf_versioned COMPARE NATURAL ORDER DESCENDING)
list(APPEND _mf_llvm_roots ${_mf_versioned})
foreach(root IN LISTS _mf_llvm_roots)
  unset(_mf_inc CACHE)
  unset(_mf_lib CACHE)
  find_path(_mf_inc clang-c/Index.h PATHS "${root}/include" NO_DEFAULT_PATH)
  find_library(_mf_lib NAMES clang libclang PATHS "${root}/lib" NO_DEFAULT_PATH)
  if(_mf_inc AND _mf_lib)
    set(MAPFILE_LIBCLANG_FOUND ON)
    set(MAPFILE_LIBCLANG_INCLUDE "${_mf_inc}")
    set(MAPFILE_LIBCLANG_LIBRARY "${_mf_lib}")
    break()
  endif()
endforeach()
unset(_mf_inc CACHE)
unset(_mf_lib CACHE)
if(MAPFILE_LIBCLANG_FOUND AND NOT TARGET mapfile_libclang)
  add_library(mapfile_libclang UNKNOWN IMPORTED GLOBAL) # package.cmake reads it
  set_target_properties(mapfile_libclang PROPERTIES
    IMPORTED_LOCATION "${MAPFILE_LIBCLANG_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${MAPFILE_LIBCLANG_INCLUDE}")
endif()

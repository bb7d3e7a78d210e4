# install.cmake - what `cmake --install` puts in a prefix, in zstd's and
# libuv's style: headers, libmapfile (shared and static), the CMake package
# (find_package(mapfile CONFIG) -> mapfile::mapfile, mapfile::mapfile_static,
# mapfile::sdk, mapfile::hist) and pkg-config files (mapfile, mapfile-sdk,
# mapfile-hist).
#
# Included from the end of the top-level CMakeLists.txt, after every target
# exists. Plugins install themselves (plugins/CMakeLists.txt).
include(CMakePackageConfigHelpers)

set(MAPFILE_CMAKE_INSTALL_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/mapfile")
set(MAPFILE_PLUGIN_INSTALL_RELDIR "${CMAKE_INSTALL_LIBDIR}/mapfile/plugins")

# --- Headers ----------------------------------------------------------------
# install(DIRECTORY) is evaluated at install time, so a header added later to
# one of these folders is installed without re-running CMake.
install(DIRECTORY
    "${PROJECT_SOURCE_DIR}/core/include/mapfile"
    "${PROJECT_SOURCE_DIR}/sdk/include/mapfile"
  DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
  FILES_MATCHING PATTERN "*.h")
# Plugins may publish the structs they decode (plugins/NAME/include/mapfile).
file(GLOB MAPFILE_PLUGIN_HEADER_DIRS LIST_DIRECTORIES true CONFIGURE_DEPENDS
  "${PROJECT_SOURCE_DIR}/plugins/*/include/mapfile")
foreach(dir IN LISTS MAPFILE_PLUGIN_HEADER_DIRS)
  if(IS_DIRECTORY "${dir}")
    install(DIRECTORY "${dir}" DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
      FILES_MATCHING PATTERN "*.h")
  endif()
endforeach()

# --- Libraries and the export set -------------------------------------------
# Names seen by find_package users: mapfile::mapfile (shared),
# mapfile::mapfile_static (libmapfile.a), mapfile::sdk (headers only,
# EXPORT_NAME set in sdk/CMakeLists.txt) and mapfile::hist (libmapfile_hist.a:
# the histogram classes linked into a producer; it needs libm).
set_target_properties(mapfile PROPERTIES EXPORT_NAME mapfile)
set_target_properties(mapfile_static PROPERTIES EXPORT_NAME mapfile_static)

install(TARGETS mapfile mapfile_static mapfile_sdk mapfile_hist
  EXPORT mapfileTargets
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}")

install(EXPORT mapfileTargets
  NAMESPACE mapfile::
  FILE mapfileTargets.cmake
  DESTINATION "${MAPFILE_CMAKE_INSTALL_DIR}")

# --- CMake package ------------------------------------------------------------
configure_package_config_file(
  "${CMAKE_CURRENT_LIST_DIR}/mapfileConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/mapfileConfig.cmake"
  INSTALL_DESTINATION "${MAPFILE_CMAKE_INSTALL_DIR}"
  PATH_VARS MAPFILE_PLUGIN_INSTALL_RELDIR CMAKE_INSTALL_INCLUDEDIR)

# 0.x releases promise nothing across minors in general, but the plugin ABI
# has its own version check at load time; SameMajorVersion is what a 1.x
# user will want.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/mapfileConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMajorVersion)

install(FILES
    "${PROJECT_BINARY_DIR}/mapfileConfig.cmake"
    "${PROJECT_BINARY_DIR}/mapfileConfigVersion.cmake"
  DESTINATION "${MAPFILE_CMAKE_INSTALL_DIR}")

# --- The codec template (mapf new-codec copies it) -------------------------------
install(DIRECTORY "${PROJECT_SOURCE_DIR}/sdk/template/"
  DESTINATION "${CMAKE_INSTALL_DATADIR}/mapfile/template")
# Its generated variant: CMake runs `mapf gen` on the struct (issue 18).
install(DIRECTORY "${PROJECT_SOURCE_DIR}/sdk/template-gen/"
  DESTINATION "${CMAKE_INSTALL_DATADIR}/mapfile/template-gen")

# --- pkg-config ---------------------------------------------------------------
# The .pc files locate the prefix from their own folder (${pcfiledir}), so an
# install with `cmake --install --prefix DIR` or a DESTDIR copy stays usable.
# Paths configured as absolute outside the prefix are kept as they are.
function(mapfile_pc_path out dir)
  if(IS_ABSOLUTE "${dir}")
    set(${out} "${dir}" PARENT_SCOPE)
  else()
    set(${out} "\${prefix}/${dir}" PARENT_SCOPE)
  endif()
endfunction()

if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(MAPFILE_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH MAPFILE_PC_UP
    "${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig"
    "${CMAKE_INSTALL_PREFIX}")
  string(REGEX REPLACE "/$" "" MAPFILE_PC_UP "${MAPFILE_PC_UP}")
  set(MAPFILE_PC_PREFIX "\${pcfiledir}/${MAPFILE_PC_UP}")
endif()
mapfile_pc_path(MAPFILE_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
mapfile_pc_path(MAPFILE_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
mapfile_pc_path(MAPFILE_PC_PLUGINDIR "${MAPFILE_PLUGIN_INSTALL_RELDIR}")

# What libmapfile.a needs besides libxxhash and libffi (Requires.private):
# threads, dlopen and libm.
set(MAPFILE_PC_LIBS_PRIVATE "${CMAKE_THREAD_LIBS_INIT}")
foreach(lib IN LISTS CMAKE_DL_LIBS ITEMS m)
  string(APPEND MAPFILE_PC_LIBS_PRIVATE " -l${lib}")
endforeach()
string(STRIP "${MAPFILE_PC_LIBS_PRIVATE}" MAPFILE_PC_LIBS_PRIVATE)

configure_file("${CMAKE_CURRENT_LIST_DIR}/mapfile.pc.in"
  "${PROJECT_BINARY_DIR}/mapfile.pc" @ONLY)
configure_file("${CMAKE_CURRENT_LIST_DIR}/mapfile-sdk.pc.in"
  "${PROJECT_BINARY_DIR}/mapfile-sdk.pc" @ONLY)
configure_file("${CMAKE_CURRENT_LIST_DIR}/mapfile-hist.pc.in"
  "${PROJECT_BINARY_DIR}/mapfile-hist.pc" @ONLY)
install(FILES
    "${PROJECT_BINARY_DIR}/mapfile.pc"
    "${PROJECT_BINARY_DIR}/mapfile-sdk.pc"
    "${PROJECT_BINARY_DIR}/mapfile-hist.pc"
  DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")

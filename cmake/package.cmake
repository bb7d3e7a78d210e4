# package.cmake - CPack: `cd build && cpack -G DEB` makes
# mapfile_<version>_<arch>.deb from what `cmake --install` installs (the
# library, mapf and the demo, the plugins, headers, CMake and pkg-config
# files, the codec template, and when built the web view with its JSROOT,
# the Redis mirror and the Python module), under /usr. The install is relocatable, so the
# package needs nothing configured for /usr.
set(CPACK_PACKAGE_NAME "mapfile")
set(CPACK_PACKAGE_VENDOR "mapfile")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_DEBIAN_FILE_NAME "DEB-DEFAULT")
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "mapfile developers <mapfile@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION "libs")
# What libmapfile.so links (Debian 12 names); the -dev packages are only
# needed to link libmapfile.a.
# Plus what the optional parts link, when they are built.
set(MAPFILE_DEB_DEPENDS "libc6, libxxhash0, libffi8")
if(TARGET mapfile_web)
  string(APPEND MAPFILE_DEB_DEPENDS ", libmicrohttpd12")
endif()
if(TARGET mapfile_mirror)
  string(APPEND MAPFILE_DEB_DEPENDS ", libhiredis0.14")
endif()
if(TARGET mapfile_python)
  string(APPEND MAPFILE_DEB_DEPENDS ", python3")
endif()
# mapf gen links libclang N from /usr/lib/llvm-N: Debian's libclang1-N.
if(TARGET mapfile_libclang)
  get_target_property(_mf_clang mapfile_libclang IMPORTED_LOCATION)
  if(_mf_clang MATCHES "/llvm-([0-9]+)/")
    string(APPEND MAPFILE_DEB_DEPENDS ", libclang1-${CMAKE_MATCH_1}")
  endif()
endif()
set(CPACK_DEBIAN_PACKAGE_DEPENDS "${MAPFILE_DEB_DEPENDS}")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libxxhash-dev, libffi-dev, pkg-config, cmake, python3-numpy")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "libmapfile, the mapf command-line tool, the histogram and shape codec
 plugins, headers, CMake and pkg-config files, and the codec template.")
include(CPack)

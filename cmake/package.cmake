# package.cmake - CPack: `cd build && cpack -G DEB` makes
# mapfile_<version>_<arch>.deb from what `cmake --install` installs (the
# library, mapf and the demo, the plugins, headers, CMake and pkg-config
# files, the codec template), under /usr. The install is relocatable, so the
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
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libc6, libxxhash0, libffi8")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libxxhash-dev, libffi-dev, pkg-config, cmake")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "libmapfile, the mapf command-line tool, the histogram and shape codec
 plugins, headers, CMake and pkg-config files, and the codec template.")
include(CPack)

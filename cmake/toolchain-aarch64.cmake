# cmake/toolchain-aarch64.cmake -- cross-compile Dtact for aarch64 Linux (glibc)
# with Debian's gcc-aarch64-linux-gnu, and run the built programs (ctest,
# try_run) under qemu-aarch64-static. Used by scripts/test-aarch64.sh:
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(DTACT_CROSS_TRIPLE aarch64-linux-gnu CACHE STRING "GNU triple of the aarch64 cross toolchain")
set(DTACT_CROSS_SYSROOT /usr/${DTACT_CROSS_TRIPLE} CACHE PATH "Target libraries (qemu -L and find root)")

set(CMAKE_C_COMPILER ${DTACT_CROSS_TRIPLE}-gcc)
set(CMAKE_ASM_COMPILER ${DTACT_CROSS_TRIPLE}-gcc)
find_program(_dtact_cross_cxx ${DTACT_CROSS_TRIPLE}-g++)
if(_dtact_cross_cxx)
  set(CMAKE_CXX_COMPILER ${_dtact_cross_cxx})
endif()

set(CMAKE_FIND_ROOT_PATH ${DTACT_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static -L ${DTACT_CROSS_SYSROOT})

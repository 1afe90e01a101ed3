# Sourced on the GPU machine: points compilers, CMake, pkg-config and the loader at the packages
# scripts/fetch-devdeps.sh unpacked into .devdeps (carried with the working tree).
if [ -d "$PWD/.devdeps/usr" ]; then
  _kt_deps=$PWD/.devdeps/usr
  export PATH=$_kt_deps/bin:$PATH
  export LD_LIBRARY_PATH=$_kt_deps/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export PKG_CONFIG_PATH=$_kt_deps/lib/x86_64-linux-gnu/pkgconfig:$_kt_deps/share/pkgconfig
  export CMAKE_PREFIX_PATH=$_kt_deps${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}
  unset _kt_deps
fi

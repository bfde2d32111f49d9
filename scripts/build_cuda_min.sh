#!/usr/bin/env bash
# Builds the CUDA backend's test and benchmark (test_backend_ops, bench_cuda_ops) with nvcc
# and gcc alone: only the core, tensor and CUDA sources, none of the media/text libraries
# the full CMake build needs. For GPU machines that lack those Debian -dev packages.
# Usage: scripts/build_cuda_min.sh [out_dir] (default build-cuda-min); CUDA_ARCH=90 by default.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-build-cuda-min}
arch=${CUDA_ARCH:-90}
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
cuda_home=${CUDA_HOME:-$(dirname "$(dirname "$(readlink -f "$nvcc")")")}
libdir=$cuda_home/lib64
[ -e "$libdir/libcublas.so" ] || libdir=$cuda_home/targets/x86_64-linux/lib
jobs=$(nproc 2>/dev/null || echo 2)
mkdir -p "$out/obj"

cflags="-O2 -g -std=c17 -D_GNU_SOURCE -DVLM_HAVE_CUDA=1 -fopenmp -Wall -Wno-unused-parameter -Wno-format-truncation -Iinclude -Isrc -Itests"
csrc=(src/core/error.c src/core/alloc.c src/tensor/*.c src/tensor/cpu/*.c)
cusrc=(src/tensor/cuda/*.cu)

compile_c() { gcc $cflags -c "$1" -o "$2"; }
compile_cu() { "$nvcc" -O3 -std=c++17 -arch=sm_$arch -Iinclude -Isrc -Xcompiler=-Wall -c "$1" -o "$2"; }
export -f compile_c compile_cu
export cflags nvcc arch

objs=()
jobs_list=()
for f in "${csrc[@]}"; do
  o=$out/obj/$(echo "$f" | tr / _).o
  objs+=("$o")
  jobs_list+=("compile_c $f $o")
done
for f in "${cusrc[@]}"; do
  o=$out/obj/$(echo "$f" | tr / _).o
  objs+=("$o")
  jobs_list+=("compile_cu $f $o")
done
printf '%s\n' "${jobs_list[@]}" | xargs -P "$jobs" -I{} bash -c '{}'

libs=(-L"$libdir" -Wl,-rpath,"$libdir" -lcublas -lcudart -lstdc++ -fopenmp -lm -lpthread -ldl)
gcc $cflags tests/test_backend_ops.c "${objs[@]}" "${libs[@]}" -o "$out/test_backend_ops"
gcc $cflags bench/cuda_ops/main.c "${objs[@]}" "${libs[@]}" -o "$out/bench_cuda_ops"
echo "built $out/test_backend_ops $out/bench_cuda_ops (sm_$arch, cuda libs in $libdir)"

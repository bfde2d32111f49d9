#!/usr/bin/env bash
# Packs CUDA builds of vlm.c programs for the lent GPU machine, whose image lacks the Debian
# -dev packages the full build links against. Builds the named CMake targets here with
# VLM_CUDA=ON (sm_90 by default), copies the programs into OUT/bin and every shared library
# they need that is neither libc's nor CUDA's into OUT/lib. FFmpeg's libraries (hundreds of
# MB with their codecs) are replaced by stubs that keep the SONAMEs and fail every call:
# programs that decode video cannot run there; everything else does.
# On the device: LD_LIBRARY_PATH=OUT/lib:/usr/local/cuda/lib64 OUT/bin/<program>.
# Usage: tools/device/pack.sh OUT target... (e.g. .carry/gpu vlm_cli bench_qwen2_vl)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=$1; shift
build=${BUILD_CUDA:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DVLM_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}" >/dev/null
cmake --build "$build" -j "$(nproc)" --target "$@"
rm -rf "$out"; mkdir -p "$out/bin" "$out/lib"
progs=()
for t in "$@"; do
  p=$(find "$build" -type f -executable \( -name "$t" -o -name "${t%_cli}" \) | head -1)
  [ -n "$p" ] || { echo "pack: no program for target $t" >&2; exit 1; }
  cp "$p" "$out/bin/"; strip --strip-debug "$out/bin/$(basename "$p")"; progs+=("$p")
done
skip='^(linux-vdso|ld-linux|libc\.|libm\.|libpthread|libdl\.|librt\.|libstdc\+\+|libgcc_s|libcuda|libcublas|libcudart|libnvrtc)'
ffmpeg='^lib(avformat|avcodec|avutil|swscale|swresample)\.'
declare -A stubs=()
# The closure of the programs' needed libraries, FFmpeg's branch cut off (its codecs are
# not wanted), libc's and CUDA's left to the machine.
cache=$(ldconfig -p)
find_lib() { awk -v n="$1" '$1 == n && /x86-64/ {print $NF; exit}' <<<"$cache"; }
queue=()
for p in "${progs[@]}"; do queue+=("$p"); done
declare -A seen=()
while [ ${#queue[@]} -gt 0 ]; do
  f=${queue[0]}; queue=("${queue[@]:1}")
  for n in $(readelf -d "$f" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p'); do
    [ -n "${seen[$n]:-}" ] && continue; seen[$n]=1
    if [[ $n =~ $ffmpeg ]]; then stubs[$n]=1; continue; fi
    [[ $n =~ $skip ]] && continue
    path=$(find_lib "$n"); [ -n "$path" ] || { echo "pack: $n not found" >&2; exit 1; }
    cp -L "$path" "$out/lib/$n"; queue+=("$path")
  done
done
if [ ${#stubs[@]} -gt 0 ]; then
  syms=$(for p in "${progs[@]}"; do nm -D --undefined-only "$p"; done |
         awk '{print $2}' | sed 's/@.*//' | grep -E '^(av|sws_|swr_)' | sort -u)
  src=$(mktemp --suffix=.c)
  { echo '/* generated stub: every FFmpeg entry point fails */'
    for s in $syms; do echo "long $s(void) { return -1; }"; done; } >"$src"
  for n in "${!stubs[@]}"; do
    gcc -shared -fPIC -o "$out/lib/$n" -Wl,-soname,"$n" "$src"
  done
  rm -f "$src"
fi
du -sh "$out"

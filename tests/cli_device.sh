#!/usr/bin/env bash
# --device on `vlm generate`, `vlm chat` and `vlm preprocess`: where no GPU can be used (no
# driver, no device, or a build without CUDA), `--device cuda` exits 1 with exactly one line
# on stderr naming the device and why, before any weight is read; a malformed device name is
# refused the same way; `--device cpu` is the default and works. Where a GPU is usable, the
# cuda cases are skipped (the GPU parity test covers them).
set -u
VLM=${1:?usage: cli_device.sh path/to/vlm}
FIX=tests/fixtures/qwen2_vl_model/qwen2_vl/hub
[ -d "$FIX" ] || { echo "SKIP: $FIX missing"; exit 77; }
IMG=tests/fixtures/qwen2_vl_model/media/img_150x130.png
fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# expect_fail NAME PATTERN CMD...: exit 1, one stderr line matching PATTERN, empty stdout
expect_fail() {
  local name=$1 pat=$2; shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"; local rc=$?
  local lines; lines=$(wc -l <"$tmp/err")
  if [ "$rc" != 1 ] || [ "$lines" != 1 ] || ! grep -q -- "$pat" "$tmp/err" || [ -s "$tmp/out" ]; then
    echo "FAIL: $name: rc $rc, $lines stderr line(s): $(cat "$tmp/err") / stdout: $(head -c 200 "$tmp/out")"
    fail=1
  fi
}

gpu=0
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q GPU; then gpu=1; fi
if [ $gpu = 0 ]; then
  for dev in cuda cuda:0 cuda:3; do
    expect_fail "generate --device $dev" "device '$dev'" \
      "$VLM" generate --model "$FIX" --prompt hi --max-tokens 2 --device "$dev"
  done
  expect_fail "chat --device cuda" "device 'cuda'" "$VLM" chat --model "$FIX" --device cuda </dev/null
  expect_fail "preprocess --device cuda" "device 'cuda'" \
    "$VLM" preprocess --model "$FIX" --prompt hi --out "$tmp/p.safetensors" --device cuda
  [ -e "$tmp/p.safetensors" ] && { echo "FAIL: preprocess wrote a file"; fail=1; }
else
  echo "note: a GPU is present; the no-GPU cases are skipped"
fi
for dev in gpu cuda:x cuda:-1 "cuda:" CPU; do
  expect_fail "generate --device '$dev'" "expected cpu, cuda or cuda:N" \
    "$VLM" generate --model "$FIX" --prompt hi --max-tokens 2 --device "$dev"
done
# cpu explicitly: same tokens as the default
"$VLM" generate --model "$FIX" --image "$IMG" --prompt "What is in the picture?" --max-tokens 5 \
  --ignore-eos --json --threads 2 >"$tmp/a.json" 2>/dev/null || { echo "FAIL: default device"; fail=1; }
"$VLM" generate --model "$FIX" --image "$IMG" --prompt "What is in the picture?" --max-tokens 5 \
  --ignore-eos --json --threads 2 --device cpu >"$tmp/b.json" 2>/dev/null || { echo "FAIL: --device cpu"; fail=1; }
/usr/bin/python3 -c '
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["tokens"] == b["tokens"] and len(a["tokens"]) == 5, (a["tokens"], b["tokens"])
' "$tmp/a.json" "$tmp/b.json" || { echo "FAIL: --device cpu differs from the default"; fail=1; }
[ $fail = 0 ] && echo "cli_device: ok"
exit $fail

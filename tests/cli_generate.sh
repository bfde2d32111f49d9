#!/usr/bin/env bash
# `vlm generate` and `vlm chat` end to end on the transformers-made tiny checkpoints:
# --json output equals transformers' prompt ids and 20 greedy tokens (the "image" case:
# one image then the question, default system prompt, as the CLI builds it); a repo id is
# found in a Hugging Face cache layout; bad input exits 1 with a message naming the file;
# the chat loop handles /image, /clear, /quit; valgrind finds no leak in generate.
set -u
VLM=${1:?usage: cli_generate.sh path/to/vlm}
PY=/usr/bin/python3
FIX=tests/fixtures/qwen2_vl_model
[ -d "$FIX" ] || { echo "SKIP: $FIX missing"; exit 77; }
fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
IMG=$FIX/media/img_150x130.png

for fam in qwen2_vl qwen2_5_vl; do
  for layout in hub t5 mlx; do
    "$VLM" generate --model "$FIX/$fam/$layout" --image "$IMG" --prompt "What is in the picture?" \
      --max-tokens 20 --ignore-eos --json --threads 2 >"$tmp/out.json" 2>"$tmp/err" || {
      echo "FAIL: generate $fam/$layout: $(cat "$tmp/err")"; fail=1; continue; }
    "$PY" - "$tmp/out.json" "$FIX/$fam/cases/image.safetensors" <<'PYEOF' || { echo "FAIL: $fam/$layout differs"; fail=1; }
import json, struct, sys
got = json.load(open(sys.argv[1]))
f = open(sys.argv[2], "rb"); n = struct.unpack("<Q", f.read(8))[0]; h = json.loads(f.read(n)); base = 8 + n
def ints(name):
    t = h[name]; a, b = t["data_offsets"]; f.seek(base + a); raw = f.read(b - a)
    return list(struct.unpack("<%dq" % ((b - a) // 8), raw))
assert got["prompt_ids"] == ints("input_ids"), "prompt ids"
assert got["tokens"] == ints("greedy"), (got["tokens"], ints("greedy"))
assert got["generated_tokens"] == 20 and got["prompt_tokens"] == len(got["prompt_ids"])
for k in ("text", "prompt_tps", "generation_tps"):
    assert k in got, k
PYEOF
  done
done

# a repo id in the local Hugging Face cache
hub="$tmp/hf/hub/models--tiny-org--tiny-qwen"
mkdir -p "$hub/refs" "$hub/snapshots/0123abcd"
cp "$FIX/qwen2_vl/t5/"* "$hub/snapshots/0123abcd/"
echo 0123abcd >"$hub/refs/main"
HF_HOME="$tmp/hf" "$VLM" generate --model tiny-org/tiny-qwen --prompt "Hi" --max-tokens 3 >/dev/null 2>"$tmp/err" || {
  echo "FAIL: HF cache lookup: $(cat "$tmp/err")"; fail=1; }
HF_HOME="$tmp/hf" "$VLM" generate --model tiny-org/absent --prompt "Hi" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "tiny-org/absent" "$tmp/err" || { echo "FAIL: absent repo id"; fail=1; }

# bad input
"$VLM" generate --model "$FIX/qwen2_vl/hub" --image "$tmp/nope.jpg" --prompt "x" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] && grep -q "nope.jpg" "$tmp/err" || { echo "FAIL: missing image: $(cat "$tmp/err")"; fail=1; }
"$VLM" generate --model "$FIX/qwen2_vl/hub" --prompt "x" --bogus 1 >/dev/null 2>&1
[ $? -eq 2 ] || { echo "FAIL: unknown option"; fail=1; }
"$VLM" generate --model "$FIX/qwen2_vl/hub" --prompt "x" --top-p 7 >/dev/null 2>&1
[ $? -eq 2 ] || { echo "FAIL: top-p range"; fail=1; }

# chat: media, a turn, /clear, another turn, /quit
printf '/image %s\nWhat is in the picture?\n/clear\nHi\n/quit\n' "$IMG" |
  "$VLM" chat --model "$FIX/qwen2_5_vl/hub" --max-tokens 3 >"$tmp/chat.out" 2>"$tmp/chat.err" || {
  echo "FAIL: chat: $(cat "$tmp/chat.err")"; fail=1; }
[ "$(grep -c '^generation:' "$tmp/chat.err")" -eq 2 ] || { echo "FAIL: chat turns: $(cat "$tmp/chat.err")"; fail=1; }
grep -q "conversation cleared" "$tmp/chat.err" || { echo "FAIL: /clear"; fail=1; }

# no leaks (libgomp's thread stacks show as "possibly lost": not counted)
# (an ASan build checks leaks itself and cannot run under valgrind)
if command -v valgrind >/dev/null 2>&1 && ! grep -q __asan_init "$VLM"; then
  OMP_NUM_THREADS=2 valgrind -q --suppressions=tests/valgrind.supp --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --error-exitcode=9 "$VLM" generate --model "$FIX/qwen2_5_vl/hub" --image "$IMG" \
    --prompt "What?" --max-tokens 4 >/dev/null 2>"$tmp/vg"
  [ $? -eq 0 ] || { echo "FAIL: valgrind:"; tail -30 "$tmp/vg"; fail=1; }
fi

[ $fail -eq 0 ] && echo "cli_generate: ok"
exit $fail

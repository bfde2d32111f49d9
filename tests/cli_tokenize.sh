#!/usr/bin/env bash
# `vlm tokenize`: ids for stdin text equal the HF references in tests/fixtures/tokenizers
# (transformers 5.17 / tokenizers 0.23), with and without --special; invalid UTF-8 and a
# missing tokenizer fail with exit 1 and a message; bad usage exits 2.
set -u
VLM=${1:?usage: cli_tokenize.sh path/to/vlm}
SRC=${VLM_SOURCE_DIR:-.}
CACHE=${VLM_CACHE_DIR:-$SRC/.cache}
FIX=$SRC/tests/fixtures/tokenizers
PY=/usr/bin/python3
fail=0

# expected REF_FILE TEXT KEY: prints {"ids": [...]} from the reference case with that text.
expected() {
  "$PY" - "$1" "$2" "$3" <<'PYEOF'
import json, sys
ref = json.load(open(sys.argv[1], encoding="utf-8"))
for c in ref["cases"]:
    if c["text"] == sys.argv[2]:
        print('{"ids": [' + ", ".join(str(i) for i in c[sys.argv[3]]) + "]}")
        sys.exit(0)
sys.exit("no case with that text")
PYEOF
}

check() { # NAME TOKENIZER_DIR REF TEXT [--special]
  local name=$1 dir=$2 ref=$3 text=$4 flag=${5:-}
  local key=ids; [ -n "$flag" ] && key=ids_special
  local want got
  want=$(expected "$ref" "$text" "$key") || { echo "FAIL $name: reference missing"; fail=1; return; }
  got=$(printf '%s' "$text" | "$VLM" tokenize "$dir" $flag) || { echo "FAIL $name: exit $?"; fail=1; return; }
  if [ "$got" != "$want" ]; then echo "FAIL $name: got $got want $want"; fail=1; else echo "ok $name"; fi
}

check syn_a "$FIX/syn_a_nfkc_lower_whitespace_template" "$FIX/syn_a_nfkc_lower_whitespace_template.ref.json" "Hello, world!"
check syn_a_special "$FIX/syn_a_nfkc_lower_whitespace_template" "$FIX/syn_a_nfkc_lower_whitespace_template.ref.json" "Hello, world!" --special
if [ -s "$CACHE/tokenizers/qwen3/tokenizer.json" ] && [ -s "$CACHE/tokenizers/gemma3/tokenizer.json" ]; then
  check qwen3 "$CACHE/tokenizers/qwen3" "$FIX/qwen3.ref.json" "The quick brown fox jumps over the lazy dog."
  check qwen3_file "$CACHE/tokenizers/qwen3/tokenizer.json" "$FIX/qwen3.ref.json" "Привет, мир! Как дела?"
  check gemma3_special "$CACHE/tokenizers/gemma3" "$FIX/gemma3.ref.json" "Hello, world!" --special
else
  echo "note: real tokenizers absent (scripts/fetch_test_data.sh); checked the fixture tokenizer only"
fi

# Invalid UTF-8 on stdin: exit 1, message names UTF-8.
err=$(printf 'ok \xff bad' | "$VLM" tokenize "$FIX/syn_a_nfkc_lower_whitespace_template" 2>&1 >/dev/null); rc=$?
if [ $rc -ne 1 ] || ! grep -q "UTF-8" <<<"$err"; then echo "FAIL invalid utf-8: rc=$rc err=$err"; fail=1; else echo "ok invalid utf-8"; fi
# Missing tokenizer: exit 1.
printf 'x' | "$VLM" tokenize /nonexistent-dir >/dev/null 2>&1; rc=$?
if [ $rc -ne 1 ]; then echo "FAIL missing dir: rc=$rc"; fail=1; else echo "ok missing dir"; fi
# Usage: exit 2.
"$VLM" tokenize >/dev/null 2>&1; rc=$?
if [ $rc -ne 2 ]; then echo "FAIL usage: rc=$rc"; fail=1; else echo "ok usage"; fi
exit $fail

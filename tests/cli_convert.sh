#!/usr/bin/env bash
# `vlm convert` against mlx-vlm's layout as the transformers-made fixtures hold it
# (tests/fixtures/qwen2_vl_model/<family>/mlx, written by tools/refgen's emulation of
# mlx-vlm's convert): converting the Hub, transformers-5 and mlx checkpoints of both families
# gives that checkpoint's tensors byte for byte (names, dtypes, shapes, data, channels-last
# Conv3d kernel), the same model.safetensors.index.json and the same config.json text.
# Also: --dtype f32 widens exactly; sharding splits and still loads to the same greedy
# tokens; a quantized conversion loads and its config carries "quantization"; bad input
# exits 1 (bad usage 2) with one line naming the problem. Comparisons are done by Python
# reading the files itself. --quantize is compared, for every bits x group size, with
# tools/refgen/mlx_quant_refs.py's independent numpy implementation of MLX's quantization.
set -u
VLM=${1:?usage: cli_convert.sh path/to/vlm}
PY=/usr/bin/python3
FIX=tests/fixtures/qwen2_vl_model
fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/cmp.py" <<'PYEOF'
import json, struct, sys
def load(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {k: (v["dtype"], tuple(v["shape"]), b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])
           for k, v in h.items() if k != "__metadata__"}
    return out, h.get("__metadata__")
got, gm = load(sys.argv[1])
want, wm = load(sys.argv[2])
assert gm == wm == {"format": "mlx"}, (gm, wm)
assert sorted(got) == sorted(want), sorted(set(got) ^ set(want))[:5]
bad = [k for k in got if got[k] != want[k]]
assert not bad, f"{len(bad)} tensors differ, e.g. {bad[:3]}"
PYEOF

for fam in qwen2_vl qwen2_5_vl; do
  for lay in hub t5 mlx; do
    out="$tmp/$fam-$lay"
    if ! "$VLM" convert --model "$FIX/$fam/$lay" --out "$out" 2>"$tmp/err"; then
      echo "FAIL: convert $fam/$lay: $(cat "$tmp/err")"; fail=1; continue
    fi
    "$PY" "$tmp/cmp.py" "$out/model.safetensors" "$FIX/$fam/mlx/model.safetensors" ||
      { echo "FAIL: $fam/$lay tensors"; fail=1; }
    cmp -s "$out/model.safetensors.index.json" "$FIX/$fam/mlx/model.safetensors.index.json" ||
      { echo "FAIL: $fam/$lay index differs"; fail=1; }
    # config.json: what mlx-vlm's save_config writes from the input's config (Python's own
    # json.dump, indent 4, sorted keys, _name_or_path and torch_dtype dropped); from the Hub
    # and mlx configs that is the fixture's file byte for byte
    "$PY" - "$FIX/$fam/$lay/config.json" "$out/config.json" <<'PYEOF' || { echo "FAIL: $fam/$lay config.json"; fail=1; }
import json, sys
cfg = json.load(open(sys.argv[1]))
for k in ("_name_or_path", "torch_dtype"):
    cfg.pop(k, None)
want = json.dumps(dict(sorted(cfg.items())), indent=4)
got = open(sys.argv[2]).read()
assert got == want, (got[:200], want[:200])
PYEOF
    if [ "$lay" != t5 ]; then
      cmp -s "$out/config.json" "$FIX/$fam/mlx/config.json" || { echo "FAIL: $fam/$lay config.json differs from the fixture's"; fail=1; }
    fi
    for f in tokenizer.json tokenizer_config.json; do
      cmp -s "$out/$f" "$FIX/$fam/$lay/$f" || { echo "FAIL: $fam/$lay $f not copied"; fail=1; }
    done
  done
done

# --dtype f32: every tensor is the exact f32 of the bf16 original
"$VLM" convert --model "$FIX/qwen2_vl/hub" --out "$tmp/f32" --dtype f32 2>"$tmp/err" ||
  { echo "FAIL: --dtype f32: $(cat "$tmp/err")"; fail=1; }
"$PY" - "$tmp/f32/model.safetensors" "$FIX/qwen2_vl/mlx/model.safetensors" <<'PYEOF' || fail=1
import json, struct, sys
import numpy as np
def load(path):
    b = open(path, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    return {k: (v["dtype"], v["shape"], b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])
            for k, v in h.items() if k != "__metadata__"}
got, want = load(sys.argv[1]), load(sys.argv[2])
assert sorted(got) == sorted(want)
for k, (dt, shape, data) in want.items():
    assert dt == "BF16" and got[k][0] == "F32" and got[k][1] == shape, (k, got[k][:2])
    ref = (np.frombuffer(data, np.uint16).astype(np.uint32) << 16).view(np.float32)
    assert np.array_equal(np.frombuffer(got[k][2], np.float32), ref), k
PYEOF

# quantized, sharded one tensor per file and not: same greedy tokens; config names the quantization
"$VLM" convert --model "$FIX/qwen2_5_vl/t5" --out "$tmp/q" --quantize --bits 6 --group-size 32 2>"$tmp/err" ||
  { echo "FAIL: --quantize: $(cat "$tmp/err")"; fail=1; }
"$VLM" convert --model "$FIX/qwen2_5_vl/t5" --out "$tmp/qs" --quantize --bits 6 --group-size 32 --shard-mb 0 2>"$tmp/err" ||
  { echo "FAIL: --quantize sharded: $(cat "$tmp/err")"; fail=1; }
"$PY" - "$tmp/q" "$tmp/qs" <<'PYEOF' || fail=1
import json, os, sys
q, qs = sys.argv[1], sys.argv[2]
cfg = json.load(open(os.path.join(q, "config.json")))
want = {"group_size": 32, "bits": 6, "mode": "affine"}
assert cfg["quantization"] == want and cfg["quantization_config"] == want, cfg.get("quantization")
assert list(cfg["quantization"]) == ["group_size", "bits", "mode"]
idx = json.load(open(os.path.join(qs, "model.safetensors.index.json")))
files = sorted(set(idx["weight_map"].values()))
n = len(idx["weight_map"])
assert len(files) == n and files[0] == "model-00001-of-%05d.safetensors" % n, files[:2]
assert all(os.path.exists(os.path.join(qs, f)) for f in files)
assert "language_model.model.layers.0.mlp.down_proj.scales" in idx["weight_map"]
assert "vision_tower.blocks.0.attn.qkv.scales" in idx["weight_map"]  # vision quantized by default
assert not any(k.startswith("vision_tower.patch_embed") and k.endswith("scales") for k in idx["weight_map"])
PYEOF
a=$("$VLM" generate --model "$tmp/q" --prompt "Describe the color of the sky." --max-tokens 8 --threads 1 --json 2>"$tmp/err") ||
  { echo "FAIL: generate on the quantized conversion: $(cat "$tmp/err")"; fail=1; }
b=$("$VLM" generate --model "$tmp/qs" --prompt "Describe the color of the sky." --max-tokens 8 --threads 1 --json 2>"$tmp/err") ||
  { echo "FAIL: generate on the sharded conversion: $(cat "$tmp/err")"; fail=1; }
tok() { "$PY" -c 'import json, sys; print(json.loads(sys.argv[1])["tokens"])' "$1"; }
[ -n "$a" ] && [ "$(tok "$a")" = "$(tok "$b")" ] || { echo "FAIL: sharded and single-file outputs differ: $a / $b"; fail=1; }

# --skip-vision leaves every vision_tower tensor as it was
"$VLM" convert --model "$FIX/qwen2_vl/mlx" --out "$tmp/sv" --quantize --skip-vision 2>"$tmp/err" ||
  { echo "FAIL: --skip-vision: $(cat "$tmp/err")"; fail=1; }
"$PY" - "$tmp/sv/model.safetensors" "$FIX/qwen2_vl/mlx/model.safetensors" <<'PYEOF' || fail=1
import json, struct, sys
def load(path):
    b = open(path, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    return {k: (v["dtype"], v["shape"], b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]])
            for k, v in h.items() if k != "__metadata__"}
got, want = load(sys.argv[1]), load(sys.argv[2])
vis = [k for k in want if k.startswith("vision_tower.")]
assert vis and all(got[k] == want[k] for k in vis)
assert not any(k.startswith("vision_tower.") and k.endswith(".scales") for k in got)
assert got["language_model.lm_head.weight"][0] == "U32"
PYEOF

# --quantize against tools/refgen's independent numpy quantizer (mlx_quant_refs.quantize):
# every bits x group size, every quantized module's words, scales and biases byte for byte;
# and the 4-bit fixture it wrote (tests/fixtures/mlx_quant/qwen2_vl_4bit/q) file by file
"$VLM" convert --model "$FIX/qwen2_vl/mlx" --out "$tmp/a4" --quantize --skip-vision 2>"$tmp/err" ||
  { echo "FAIL: convert 4-bit: $(cat "$tmp/err")"; fail=1; }
"$PY" "$tmp/cmp.py" "$tmp/a4/model.safetensors" tests/fixtures/mlx_quant/qwen2_vl_4bit/q/model.safetensors ||
  { echo "FAIL: 4-bit conversion differs from the numpy fixture"; fail=1; }
for f in config.json model.safetensors.index.json; do
  cmp -s "$tmp/a4/$f" "tests/fixtures/mlx_quant/qwen2_vl_4bit/q/$f" || { echo "FAIL: 4-bit $f differs"; fail=1; }
done
for bits in 2 3 4 5 6 8; do
  for g in 32 64 128; do
    "$VLM" convert --model "$FIX/qwen2_5_vl/mlx" --out "$tmp/b$bits-$g" --quantize --bits $bits --group-size $g 2>"$tmp/err" ||
      { echo "FAIL: convert $bits-bit group $g: $(cat "$tmp/err")"; fail=1; }
  done
done
"$PY" - "$FIX/qwen2_5_vl/mlx/model.safetensors" "$tmp" <<'PYEOF' || fail=1
import os, sys
import numpy as np
sys.path.insert(0, "tools/refgen")
import mlx_quant_refs as R
src, _ = R.st_read(sys.argv[1])
checked = 0
for bits in (2, 3, 4, 5, 6, 8):
    for g in (32, 64, 128):
        got, meta = R.st_read(os.path.join(sys.argv[2], f"b{bits}-{g}", "model.safetensors"))
        for name, (dt, shape, raw) in src.items():
            quantized = (len(shape) == 2 and name.endswith(".weight") and shape[1] % g == 0
                         and shape[0] * shape[1] % 64 == 0)
            m = name[:-7]
            if not quantized:
                assert got[name] == (dt, shape, raw), (bits, g, name)
                assert m + ".scales" not in got, (bits, g, name)
                continue
            words, s, b, _ = R.quantize(R.bf16_to_f32(raw, shape), bits, g)
            assert got[name] == ("U32", words.shape, words.astype("<u4").tobytes()), (bits, g, name)
            assert got[m + ".scales"][2] == R.f32_to_bf16(s).astype("<u2").tobytes(), (bits, g, m)
            assert got[m + ".biases"][2] == R.f32_to_bf16(b).astype("<u2").tobytes(), (bits, g, m)
            checked += 1
assert checked > 300, checked
PYEOF

# bad input: one line on stderr, exit 1 (usage: 2)
expect() { # status needle args...
  local want=$1 needle=$2; shift 2
  "$VLM" convert "$@" >/dev/null 2>"$tmp/err"; local st=$?
  [ $st -eq "$want" ] || { echo "FAIL: convert $*: exit $st, expected $want"; fail=1; }
  grep -q -- "$needle" "$tmp/err" || { echo "FAIL: convert $*: message '$(cat "$tmp/err")' lacks '$needle'"; fail=1; }
}
expect 1 "already quantized" --model "$tmp/q" --out "$tmp/qq"
expect 2 "bits 2, 3, 4, 5, 6, 8" --model "$FIX/qwen2_vl/hub" --out "$tmp/x" --quantize --bits 7
expect 2 "need --quantize" --model "$FIX/qwen2_vl/hub" --out "$tmp/x" --bits 4
expect 1 "the output directory is the input" --model "$tmp/f32" --out "$tmp/f32"
expect 1 "nonexistent" --model "$tmp/nonexistent" --out "$tmp/x"
mkdir -p "$tmp/other" && printf '{"model_type": "gemma3"}' >"$tmp/other/config.json"
expect 1 "model_type 'gemma3'" --model "$tmp/other" --out "$tmp/x"
exit $fail

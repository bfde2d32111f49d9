#!/usr/bin/env bash
# `vlm inspect --json` on the crafted checkpoints: every key the issue names, with the
# weights figures checked against Python's own reading of the safetensors headers and
# the config fields read straight from the JSON files; bad input exits 1 with one line
# on stderr naming the file.
set -u
VLM=${1:?usage: cli_inspect.sh path/to/vlm}
PY=/usr/bin/python3
FIX=tests/fixtures/checkpoints
fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

for d in "$FIX"/qwen2_vl_hub "$FIX"/qwen2_5_vl_t5_sharded "$FIX"/qwen2_5_vl_mlx_4bit; do
  start=$(date +%s%N)
  if ! "$VLM" inspect "$d" --json >"$tmp/out.json" 2>"$tmp/err"; then
    echo "FAIL: vlm inspect $d: $(cat "$tmp/err")"; fail=1; continue
  fi
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  [ "$ms" -lt 1000 ] || { echo "FAIL: inspect $d took ${ms} ms"; fail=1; }
  "$PY" - "$d" "$tmp/out.json" <<'PYEOF' || fail=1
import json, os, struct, sys, glob
d, out = sys.argv[1], sys.argv[2]
got = json.load(open(out))
cfg = json.load(open(os.path.join(d, "config.json")))
keys = ["model_type", "model_type_raw", "supported", "processor_class", "processor_class_raw",
        "processor_config_file", "eos_token_ids", "quantization", "weights"]
bad = [k for k in keys if k not in got]
assert not bad, f"{d}: missing keys {bad}"
assert got["model_type_raw"] == cfg["model_type"], got
assert isinstance(got["supported"], bool)
assert got["quantization"] == cfg.get("quantization"), (got["quantization"], cfg.get("quantization"))
pre = os.path.join(d, "preprocessor_config.json")
proc = os.path.join(d, "processor_config.json")
if os.path.exists(pre):
    assert got["processor_config_file"] == "preprocessor_config.json"
    assert got["processor_class_raw"] == json.load(open(pre)).get("processor_class")
elif os.path.exists(proc):
    assert got["processor_config_file"] == "processor_config.json"
    assert got["processor_class_raw"] == json.load(open(proc)).get("processor_class")
# weights, from the headers
idx = os.path.join(d, "model.safetensors.index.json")
files = sorted(set(json.load(open(idx))["weight_map"].values())) if os.path.exists(idx) \
    else [os.path.basename(p) for p in sorted(glob.glob(os.path.join(d, "*.safetensors")))]
bits = {"BF16": 16, "F16": 16, "F32": 32, "U32": 32, "I64": 64, "U8": 8}
n = params = nbytes = 0
dtypes = {}
for f in files:
    with open(os.path.join(d, f), "rb") as fh:
        hl = struct.unpack("<Q", fh.read(8))[0]
        h = json.loads(fh.read(hl))
    for name, t in h.items():
        if name == "__metadata__":
            continue
        n += 1
        p = 1
        for s in t["shape"]:
            p *= s
        params += p
        nbytes += t["data_offsets"][1] - t["data_offsets"][0]
        dtypes[t["dtype"]] = dtypes.get(t["dtype"], 0) + 1
w = got["weights"]
want = {"files": len(files), "tensors": n, "parameters": params, "bytes": nbytes, "dtypes": dtypes}
assert w == want, f"{d}: weights {w} != {want}"
PYEOF
done

# eos rules on the fixtures: generation_config.json replaces, text_config is promoted
"$VLM" inspect "$FIX/qwen2_vl_hub" --json | "$PY" -c 'import json,sys; g=json.load(sys.stdin); assert g["eos_token_ids"]==[151645,151643], g' || fail=1
"$VLM" inspect "$FIX/qwen2_5_vl_t5_sharded" --json | "$PY" -c 'import json,sys; g=json.load(sys.stdin); assert g["eos_token_ids"]==[151645], g' || fail=1

# remapped and unknown model types
mkdir -p "$tmp/lfm" && cp "$FIX/qwen2_vl_hub/model.safetensors" "$tmp/lfm/"
echo '{"model_type": "lfm2-vl"}' >"$tmp/lfm/config.json"
"$VLM" inspect "$tmp/lfm" --json | "$PY" -c 'import json,sys; g=json.load(sys.stdin); assert g["model_type"]=="lfm2_vl" and g["model_type_raw"]=="lfm2-vl" and g["supported"] is False and g["processor_class"] is None and g["processor_config_file"] is None and g["eos_token_ids"]==[], g' || fail=1

# the human-readable form works too
"$VLM" inspect "$FIX/qwen2_vl_hub" | grep -q "^model_type *qwen2_vl" || { echo "FAIL: text output"; fail=1; }

# bad input: exit 1, exactly one line on stderr that names the file
expect_bad() { # dir, text the message must contain
  "$VLM" inspect "$1" --json >"$tmp/o" 2>"$tmp/e"; rc=$?
  lines=$(wc -l <"$tmp/e")
  if [ $rc -ne 1 ] || [ "$lines" -ne 1 ] || ! grep -qF -- "$2" "$tmp/e" || [ -s "$tmp/o" ]; then
    echo "FAIL: inspect $1: rc=$rc lines=$lines stderr=$(cat "$tmp/e")"; fail=1
  fi
}
mkdir -p "$tmp/b1" && echo '{"model_type": ' >"$tmp/b1/config.json"; expect_bad "$tmp/b1" "config.json"
mkdir -p "$tmp/b2" && echo '{"model_type": "x"}' >"$tmp/b2/config.json" && head -c 100 "$FIX/qwen2_vl_hub/model.safetensors" >"$tmp/b2/model.safetensors"
expect_bad "$tmp/b2" "model.safetensors"
mkdir -p "$tmp/b3" && mkfifo "$tmp/b3/config.json"; expect_bad "$tmp/b3" "config.json"
mkdir -p "$tmp/b4" && echo '{"model_type": "x", "eos_token_id": "2"}' >"$tmp/b4/config.json"; expect_bad "$tmp/b4" "eos_token_id"
mkdir -p "$tmp/b5" && echo '{"model_type": "x"}' >"$tmp/b5/config.json"; expect_bad "$tmp/b5" "$tmp/b5"
expect_bad "$tmp/nonexistent" "nonexistent"

[ $fail -eq 0 ] && echo "cli_inspect: ok"
exit $fail

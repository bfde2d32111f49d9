#!/usr/bin/env bash
# `vlm preprocess` on the committed checkpoints and media: tensor names, dtypes and shapes as
# transformers names them, and the values against an independent pipeline — the ffmpeg CLI's
# RGB frames (same conversion flags as the decode test), Pillow's BICUBIC resize and numpy's
# rescale/normalize and patch layout, written as transformers' PIL-path code states them
# (tolerance 1e-6). Qwen2.5-VL adds second_per_grid_ts = 2 / sampled fps. When refgen's
# transformers outputs exist (tests/fixtures/qwen2_vl_processor/index.json) the image cases
# are compared with them too (1e-6). Bad input exits 1 (2 for usage) with one line on stderr.
set -u
VLM=${1:?usage: cli_preprocess.sh path/to/vlm}
PY=/usr/bin/python3
CK=tests/fixtures/checkpoints
VID=tests/fixtures/media/video
IMG=tests/fixtures/media/decode/jpeg_baseline_420.jpg
fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
command -v ffmpeg >/dev/null || { echo "SKIP: ffmpeg not installed"; exit 77; }
"$PY" -c "import numpy, PIL" 2>/dev/null || { echo "SKIP: /usr/bin/python3 lacks numpy/Pillow"; exit 77; }

run() { # run NAME ARGS...: vlm preprocess, expecting success
  local name=$1; shift
  if ! "$VLM" preprocess "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
    echo "FAIL: $name: vlm preprocess $*: $(cat "$tmp/$name.err")"; fail=1; return 1
  fi
}

# Qwen2-VL (Hub layout): one image and one video, every frame (the checkpoint does not turn
# sampling on), video min/max_pixels from preprocessor_config.json as transformers falls back.
run hub --model $CK/qwen2_vl_hub --prompt "Describe." --image "$IMG" \
    --video $VID/testsrc_h264.mp4 --out "$tmp/hub.safetensors" &&
ffmpeg -nostdin -v error -threads 1 -i $VID/testsrc_h264.mp4 -map 0:v:0 -fps_mode passthrough \
    -sws_flags bilinear -pix_fmt rgb24 -f rawvideo "$tmp/hub.rgb" &&
"$PY" - "$tmp/hub.safetensors" "$IMG" "$tmp/hub.rgb" 64 48 all 3136 12845056 0 <<'PYEOF' || fail=1
import json, math, struct, sys
import numpy as np
from PIL import Image
path, img_path, rgb_path, W, H, mode, mn, mx, want_spg = sys.argv[1:10]
W, H, mn, mx = int(W), int(H), int(mn), int(mx)

def read_st(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    meta = hdr.pop("__metadata__", {})
    out = {}
    for k, v in hdr.items():
        s, e = v["data_offsets"]
        dt = {"F32": np.float32, "I64": np.int64}[v["dtype"]]
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype=dt).reshape(v["shape"])
    return out, meta

def smart_resize(h, w, f=28, mn=3136, mx=12845056):  # transformers' rule, restated
    hb, wb = round(h / f) * f, round(w / f) * f
    if hb * wb > mx:
        b = math.sqrt(h * w / mx)
        hb, wb = max(f, math.floor(h / b / f) * f), max(f, math.floor(w / b / f) * f)
    elif hb * wb < mn:
        b = math.sqrt(mn / (h * w))
        hb, wb = math.ceil(h * b / f) * f, math.ceil(w * b / f) * f
    return hb, wb

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)

def pil_path(frames, mn, mx):  # frames: list of HxWx3 uint8 -> pixel rows, grid
    h, w = frames[0].shape[:2]
    rh, rw = smart_resize(h, w, 28, mn, mx)
    out = []
    for f in frames:
        r = np.asarray(Image.fromarray(f).resize((rw, rh), Image.BICUBIC, reducing_gap=None))
        x = (r.astype(np.float64) * (1 / 255)).astype(np.float32)
        x = ((x - MEAN) / STD).astype(np.float32)
        out.append(x.transpose(2, 0, 1))
    p = np.stack(out)
    if p.shape[0] % 2:
        p = np.concatenate([p, np.repeat(p[-1:], 2 - p.shape[0] % 2, axis=0)])
    t, c = p.shape[0] // 2, 3
    gh, gw = rh // 14, rw // 14
    p = p.reshape(t, 2, c, gh // 2, 2, 14, gw // 2, 2, 14).transpose(0, 3, 6, 4, 7, 2, 1, 5, 8)
    return p.reshape(t * gh * gw, c * 2 * 14 * 14), [t, gh, gw]

t, meta = read_st(path)
ok = True
def check(cond, msg):
    global ok
    if not cond:
        print("FAIL:", msg); ok = False

want = {"pixel_values", "image_grid_thw", "pixel_values_videos", "video_grid_thw"}
if want_spg == "1": want.add("second_per_grid_ts")
if img_path == "-": want -= {"pixel_values", "image_grid_thw"}
check(set(t) == want, f"tensor names {sorted(t)} != {sorted(want)}")
check(meta.get("prompt") == "Describe.", f"metadata {meta}")
if img_path != "-" and "pixel_values" in t:
    im = np.asarray(Image.open(img_path).convert("RGB"))
    ref, grid = pil_path([im], 3136, 12845056)
    check(t["image_grid_thw"].tolist() == [grid], f"image grid {t['image_grid_thw'].tolist()} vs {grid}")
    check(t["pixel_values"].shape == ref.shape, f"pixel_values {t['pixel_values'].shape} vs {ref.shape}")
    if t["pixel_values"].shape == ref.shape:
        d = float(np.abs(t["pixel_values"] - ref).max())
        check(d <= 1e-6, f"pixel_values max |diff| {d}")
raw = np.fromfile(rgb_path, dtype=np.uint8).reshape(-1, H, W, 3)
total = raw.shape[0]
if mode == "all":
    idx = list(range(total))
else:  # an explicit index list
    idx = [int(x) for x in mode.split(",")]
ref, grid = pil_path([raw[i] for i in idx], mn, mx)
check(t["video_grid_thw"].tolist() == [grid], f"video grid {t['video_grid_thw'].tolist()} vs {grid}")
check(t["pixel_values_videos"].shape == ref.shape, f"videos {t['pixel_values_videos'].shape} vs {ref.shape}")
if t["pixel_values_videos"].shape == ref.shape:
    d = float(np.abs(t["pixel_values_videos"] - ref).max())
    check(d <= 1e-6, f"pixel_values_videos max |diff| {d}")
check(t["pixel_values_videos"].dtype == np.float32 and t["video_grid_thw"].dtype == np.int64, "dtypes")
if want_spg == "1":
    spg = t["second_per_grid_ts"]
    # transformers: temporal_patch_size / (len(indices) / total * fps); fps = total / duration
    check(spg.dtype == np.float32 and spg.shape == (1,), f"second_per_grid_ts {spg.dtype} {spg.shape}")
    check(abs(float(spg[0]) - float(sys.argv[10])) < 1e-6, f"second_per_grid_ts {spg} vs {sys.argv[10]}")
sys.exit(0 if ok else 1)
PYEOF

# Qwen2.5-VL (transformers-5 layout, video class defaults), sampled at 2 fps: 12 s at 30 fps
# gives indices 0, 15, ..., 345 (24 frames) and second_per_grid_ts = 2 / 2.0 = 1.0.
run q25 --model $CK/qwen2_5_vl_t5_sharded --prompt "Describe." --video $VID/testsrc_h264_long.mp4 \
    --fps 2 --out "$tmp/q25.safetensors" &&
ffmpeg -nostdin -v error -threads 1 -i $VID/testsrc_h264_long.mp4 -map 0:v:0 -fps_mode passthrough \
    -sws_flags bilinear -pix_fmt rgb24 -f rawvideo "$tmp/q25.rgb" &&
"$PY" - "$tmp/q25.safetensors" - "$tmp/q25.rgb" 64 48 "$(seq -s, 0 15 345)" 100352 602112 1 1.0 \
    < <(sed -n '/^import json, math/,/^sys.exit/p' "$0") || fail=1

# Count sampling on the odd-sized VP9: 7 of 15 frames -> round(3.5) * 2 = 8 frames, indices
# int(i * 15 / 8) (transformers' arange); odd count padding is exercised by 15 frames / all.
run cnt --model $CK/qwen2_vl_hub --prompt "Describe." --video $VID/odd_vp9.mkv --num-frames 7 \
    --out "$tmp/cnt.safetensors" &&
ffmpeg -nostdin -v error -threads 1 -i $VID/odd_vp9.mkv -map 0:v:0 -fps_mode passthrough \
    -sws_flags bilinear -pix_fmt rgb24 -f rawvideo "$tmp/cnt.rgb" &&
"$PY" - "$tmp/cnt.safetensors" - "$tmp/cnt.rgb" 63 47 "0,1,3,5,7,9,11,13" 3136 12845056 0 \
    < <(sed -n '/^import json, math/,/^sys.exit/p' "$0") || fail=1
run odd --model $CK/qwen2_vl_hub --prompt "Describe." --video $VID/odd_vp9.mkv \
    --out "$tmp/odd.safetensors" &&
"$PY" - "$tmp/odd.safetensors" - "$tmp/cnt.rgb" 63 47 all 3136 12845056 0 \
    < <(sed -n '/^import json, math/,/^sys.exit/p' "$0") || fail=1

# transformers' own image outputs, when refgen has made them.
IDX=tests/fixtures/qwen2_vl_processor/index.json
if [ -f "$IDX" ]; then
  mkdir -p "$tmp/m" && cp $CK/qwen2_vl_hub/config.json "$tmp/m/" &&
  cp tests/fixtures/qwen2_vl_processor/preprocessor_config.json "$tmp/m/"
  "$PY" - "$IDX" <<'PYEOF' >"$tmp/cases" || fail=1
import json, sys
for c in json.load(open(sys.argv[1]))["cases"]:
    if c.get("kind") == "image" and not c.get("from_pretrained_kwargs"):
        print(c["case"], c["file"], " ".join(c["inputs"]))
PYEOF
  while read -r case file inputs; do
    args=(); for f in $inputs; do args+=(--image "tests/fixtures/media/$f"); done
    run "ref_$case" --model "$tmp/m" --prompt "Describe." "${args[@]}" --out "$tmp/$case.safetensors" &&
    "$PY" - "$tmp/$case.safetensors" "tests/fixtures/qwen2_vl_processor/$file" <<'PYEOF' || fail=1
import json, struct, sys
import numpy as np
def read_st(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    h.pop("__metadata__", None)
    return {k: np.frombuffer(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]],
            dtype={"F32": np.float32, "I64": np.int64}[v["dtype"]]).reshape(v["shape"]) for k, v in h.items()}
a, r = read_st(sys.argv[1]), read_st(sys.argv[2])
assert a["image_grid_thw"].tolist() == r["image_grid_thw"].tolist(), (a["image_grid_thw"], r["image_grid_thw"])
d = float(np.abs(a["pixel_values"] - r["pixel_values"]).max())
assert d <= 1e-6, f"{sys.argv[2]}: max |diff| {d}"
PYEOF
  done <"$tmp/cases"
else
  echo "note: $IDX absent; transformers' processor outputs not compared"
fi

# Bad input.
bad() { # bad WANT_RC NEEDLE ARGS...
  local want=$1 needle=$2; shift 2
  "$VLM" preprocess "$@" >"$tmp/bad.out" 2>"$tmp/bad.err"; local rc=$?
  if [ $rc -ne "$want" ] || ! grep -q -- "$needle" "$tmp/bad.err"; then
    echo "FAIL: vlm preprocess $*: rc $rc (want $want), stderr: $(cat "$tmp/bad.err")"; fail=1
  fi
}
mkfifo "$tmp/fifo.mp4"
printf 'not a video at all' >"$tmp/junk.mp4"
bad 2 "required" --prompt x --out "$tmp/x.safetensors"
bad 2 "exclude each other" --model $CK/qwen2_vl_hub --prompt x --fps 2 --num-frames 4 --out "$tmp/x.safetensors"
bad 1 "missing.mp4: no such file" --model $CK/qwen2_vl_hub --prompt x --video "$tmp/missing.mp4" --out "$tmp/x.safetensors"
bad 1 "is a FIFO" --model $CK/qwen2_vl_hub --prompt x --video "$tmp/fifo.mp4" --out "$tmp/x.safetensors"
bad 1 "junk.mp4: not a video" --model $CK/qwen2_vl_hub --prompt x --video "$tmp/junk.mp4" --out "$tmp/x.safetensors"
bad 1 "exceeds" --model $CK/qwen2_vl_hub --prompt x --video $VID/testsrc_h264.mp4 --num-frames 40 --out "$tmp/x.safetensors"
bad 1 "more than the limit of 100" --model $CK/qwen2_vl_hub --prompt x --video $VID/testsrc_h264_long.mp4 --max-frames 100 --out "$tmp/x.safetensors"
bad 1 "config.json" --model "$tmp" --prompt x --video $VID/testsrc_h264.mp4 --out "$tmp/x.safetensors"
[ ! -e "$tmp/x.safetensors" ] || { echo "FAIL: a failed run left an output file"; fail=1; }

[ $fail -eq 0 ] && echo "cli_preprocess: ok"
exit $fail

#!/usr/bin/env bash
# `vlm preprocess` end to end on the transformers-made tiny checkpoints
# (tests/fixtures/qwen2_vl_model): what it writes is what the model is given.
#  1. transformers' references: input_ids, position_ids (M-RoPE, transformers 4.x rule),
#     rope_deltas (the json's rope_delta), pixel tensors (1e-6), grids and Qwen2.5-VL's
#     second_per_grid_ts equal cases/{text,image,two_images,video}.safetensors for both
#     families' Hub checkpoints. The CLI's message is the fixture's: the media, then the text,
#     with the default system prompt, or --system for two_images. The video case's 8 frames
#     (84x56, 2 fps) go in as a lossless FFV1 file made here with the ffmpeg CLI, every frame
#     kept, as the fixture's do_sample_frames=False call with fps 2.
#  2. An independent pipeline for the pixels: the ffmpeg CLI's RGB frames (same conversion
#     flags as the decode test), Pillow's BICUBIC resize and numpy's rescale/normalize and
#     patch layout, written as transformers' PIL-path code states them (tolerance 1e-6); the
#     frame indices are transformers' sampling rule worked out by hand in the comments.
#     Token counts agree with the grids and rope_deltas with the positions.
#  3. transformers' image processor outputs (tests/fixtures/qwen2_vl_processor), 1e-6.
#  4. Bad input exits 1 with one line on stderr (2 and the usage for bad options), no file.
set -u
VLM=${1:?usage: cli_preprocess.sh path/to/vlm}
PY=/usr/bin/python3
FIX=tests/fixtures/qwen2_vl_model
VID=tests/fixtures/media/video
IMG=tests/fixtures/media/decode/jpeg_baseline_420.jpg
Q2=$FIX/qwen2_vl/hub
Q25=$FIX/qwen2_5_vl/hub
fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
[ -d "$FIX" ] || { echo "SKIP: $FIX missing"; exit 77; }
command -v ffmpeg >/dev/null || { echo "SKIP: ffmpeg not installed"; exit 77; }
"$PY" -c "import numpy, PIL" 2>/dev/null || { echo "SKIP: /usr/bin/python3 lacks numpy/Pillow"; exit 77; }

run() { # run NAME ARGS...: vlm preprocess, expecting success
  local name=$1; shift
  if ! "$VLM" preprocess "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
    echo "FAIL: $name: vlm preprocess $*: $(cat "$tmp/$name.err")"; fail=1; return 1
  fi
}

# A safetensors reader (struct + json + numpy), shared by the checks below.
cat >"$tmp/st.py" <<'PYEOF'
import json, struct
import numpy as np
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
PYEOF

# ---- 1. transformers' references
ffmpeg -nostdin -v error -framerate 2 -i "$FIX/media/frame_%d.png" -c:v ffv1 -pix_fmt bgr0 \
    "$tmp/frames.mkv" || { echo "FAIL: ffmpeg could not write the FFV1 video"; fail=1; }
for fam in qwen2_vl qwen2_5_vl; do
  for case in text image two_images video; do
    args=()
    case $case in
      text) args=(--prompt "Describe the color of the sky.") ;;
      image) args=(--image "$FIX/media/img_150x130.png" --prompt "What is in the picture?") ;;
      two_images) args=(--system "You are a careful assistant." --image "$FIX/media/img_120x90.png"
                        --image "$FIX/media/img_64x48.png" --prompt "Which picture is larger?") ;;
      video) args=(--video "$tmp/frames.mkv" --all-frames --prompt "What happens?") ;;
    esac
    run "$fam-$case" --model "$FIX/$fam/hub" "${args[@]}" --out "$tmp/$fam-$case.safetensors" &&
    "$PY" - "$tmp" "$tmp/$fam-$case.safetensors" "$FIX/$fam/cases/$case" <<'PYEOF' || { echo "FAIL: $fam $case"; fail=1; }
import json, sys
sys.path.insert(0, sys.argv[1])
from st import read_st
import numpy as np
got, _ = read_st(sys.argv[2])
ref, _ = read_st(sys.argv[3] + ".safetensors")
info = json.load(open(sys.argv[3] + ".json"))
# the media tensors transformers' processor gave the model's forward (Qwen2-VL takes no
# second_per_grid_ts, although the fixture stores it for both families)
names = {"input_ids", "position_ids", "rope_deltas"}
names |= set(info["forward_inputs"]) & {"pixel_values", "image_grid_thw", "pixel_values_videos",
                                        "video_grid_thw", "second_per_grid_ts"}
assert set(got) == names, f"tensors {sorted(got)}, want {sorted(names)}"
for k in names - {"rope_deltas"}:
    a, r = got[k], ref[k]
    assert a.dtype == r.dtype and a.shape == r.shape, f"{k}: {a.dtype} {a.shape} vs {r.dtype} {r.shape}"
    if a.dtype == np.int64:
        assert (a == r).all(), f"{k} differs at {np.argwhere(a != r)[:5].tolist()}"
    else:
        d = float(np.abs(a - r).max())
        assert d <= 1e-6, f"{k}: max |diff| {d}"
assert got["rope_deltas"].tolist() == [info["rope_delta"]], (got["rope_deltas"], info["rope_delta"])
PYEOF
  done
done

# ---- 2. the independent pixel pipeline
cat >"$tmp/pixels.py" <<'PYEOF'
# pixels.py OUT.safetensors IMG|- RGB W H IDX MIN MAX WANT_SPG [SPG]
import math, sys
sys.path.insert(0, sys.argv[0].rsplit("/", 1)[0])
from st import read_st
import numpy as np
from PIL import Image
path, img_path, rgb_path, W, H, mode, mn, mx, want_spg = sys.argv[1:10]
W, H, mn, mx = int(W), int(H), int(mn), int(mx)

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

want = {"input_ids", "position_ids", "rope_deltas", "pixel_values", "image_grid_thw",
        "pixel_values_videos", "video_grid_thw"}
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
idx = list(range(raw.shape[0])) if mode == "all" else [int(x) for x in mode.split(",")]
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
# one <|image_pad|> (507) / <|video_pad|> (508) per merged patch (2x2), rope_deltas from the
# positions: max + 1 - n
ids, pos = t["input_ids"], t["position_ids"]
grids = {507: t.get("image_grid_thw", np.zeros((0, 3), np.int64)), 508: t["video_grid_thw"]}
for tok, g in grids.items():
    check(int((ids == tok).sum()) == int(np.prod(g, axis=1).sum()) // 4, f"token {tok} count")
check(pos.shape == (3, ids.shape[0]), f"position_ids shape {pos.shape}")
check(t["rope_deltas"].tolist() == [int(pos.max()) + 1 - ids.shape[0]], f"rope_deltas {t['rope_deltas']}")
sys.exit(0 if ok else 1)
PYEOF
rgb() { # rgb VIDEO OUT: every frame as RGB24, as the decoder converts them
  ffmpeg -nostdin -v error -threads 1 -i "$1" -map 0:v:0 -fps_mode passthrough \
      -sws_flags bilinear -pix_fmt rgb24 -f rawvideo "$2"
}
rgb $VID/testsrc_h264.mp4 "$tmp/h264.rgb"
rgb $VID/testsrc_h264_long.mp4 "$tmp/long.rgb"
rgb $VID/odd_vp9.mkv "$tmp/odd.rgb"

# Qwen2-VL (Hub layout, video min/max_pixels from preprocessor_config.json as transformers
# falls back): one image and one video, every frame.
run hub --model "$Q2" --prompt "Describe." --image "$IMG" --video $VID/testsrc_h264.mp4 \
    --all-frames --out "$tmp/hub.safetensors" &&
"$PY" "$tmp/pixels.py" "$tmp/hub.safetensors" "$IMG" "$tmp/h264.rgb" 64 48 all 3136 12845056 0 || fail=1

# No sampling option: the checkpoint leaves do_sample_frames off, and generation samples a
# file at 2 fps instead: 20 frames at 10 fps -> n = max(20 / 10 * 2, min_frames 4) = 4,
# indices arange(0, 20, 5) = 0, 5, 10, 15.
run dflt --model "$Q2" --prompt "Describe." --video $VID/testsrc_h264.mp4 \
    --out "$tmp/dflt.safetensors" &&
"$PY" "$tmp/pixels.py" "$tmp/dflt.safetensors" - "$tmp/h264.rgb" 64 48 0,5,10,15 3136 12845056 0 || fail=1

# Qwen2.5-VL sampled at 2 fps: 12 s at 30 fps gives indices 0, 15, ..., 345 (24 frames) and
# second_per_grid_ts = 2 / 2.0 = 1.0.
run q25 --model "$Q25" --prompt "Describe." --video $VID/testsrc_h264_long.mp4 --fps 2 \
    --out "$tmp/q25.safetensors" &&
"$PY" "$tmp/pixels.py" "$tmp/q25.safetensors" - "$tmp/long.rgb" 64 48 "$(seq -s, 0 15 345)" \
    3136 12845056 1 1.0 || fail=1

# Count sampling on the odd-sized VP9: 7 of 15 frames -> round(3.5) * 2 = 8 frames, indices
# int(i * 15 / 8) (transformers' arange); odd count padding is exercised by 15 frames / all.
run cnt --model "$Q2" --prompt "Describe." --video $VID/odd_vp9.mkv --num-frames 7 \
    --out "$tmp/cnt.safetensors" &&
"$PY" "$tmp/pixels.py" "$tmp/cnt.safetensors" - "$tmp/odd.rgb" 63 47 0,1,3,5,7,9,11,13 3136 12845056 0 || fail=1
run odd --model "$Q2" --prompt "Describe." --video $VID/odd_vp9.mkv --all-frames \
    --out "$tmp/odd.safetensors" &&
"$PY" "$tmp/pixels.py" "$tmp/odd.safetensors" - "$tmp/odd.rgb" 63 47 all 3136 12845056 0 || fail=1

# ---- 3. transformers' own image processor outputs, when refgen has made them.
IDX=tests/fixtures/qwen2_vl_processor/index.json
if [ -f "$IDX" ]; then
  mkdir -p "$tmp/m" && cp "$Q2"/* "$tmp/m/" &&
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
    "$PY" - "$tmp" "$tmp/$case.safetensors" "tests/fixtures/qwen2_vl_processor/$file" <<'PYEOF' || fail=1
import sys
sys.path.insert(0, sys.argv[1])
from st import read_st
import numpy as np
a, r = read_st(sys.argv[2])[0], read_st(sys.argv[3])[0]
assert a["image_grid_thw"].tolist() == r["image_grid_thw"].tolist(), (a["image_grid_thw"], r["image_grid_thw"])
d = float(np.abs(a["pixel_values"] - r["pixel_values"]).max())
assert d <= 1e-6, f"{sys.argv[3]}: max |diff| {d}"
PYEOF
  done <"$tmp/cases"
else
  echo "note: $IDX absent; transformers' processor outputs not compared"
fi

# ---- 4. bad input
bad() { # bad WANT_RC NEEDLE ARGS...
  local want=$1 needle=$2; shift 2
  "$VLM" preprocess "$@" >"$tmp/bad.out" 2>"$tmp/bad.err"; local rc=$?
  if [ $rc -ne "$want" ] || ! grep -q -- "$needle" "$tmp/bad.err" ||
     { [ "$want" -eq 1 ] && [ "$(wc -l <"$tmp/bad.err")" -ne 1 ]; }; then
    echo "FAIL: vlm preprocess $*: rc $rc (want $want), stderr: $(cat "$tmp/bad.err")"; fail=1
  fi
}
mkfifo "$tmp/fifo.mp4"
printf 'not a video at all' >"$tmp/junk.mp4"
mkdir -p "$tmp/empty"
X="$tmp/x.safetensors"
bad 2 "required" --prompt x --out "$X"
bad 2 "exclude each other" --model "$Q2" --prompt x --fps 2 --num-frames 4 --out "$X"
bad 2 "exclude each other" --model "$Q2" --prompt x --all-frames --fps 2 --out "$X"
bad 2 "positive count" --model "$Q2" --prompt x --num-frames 0 --out "$X"
bad 1 "missing.mp4: no such file" --model "$Q2" --prompt x --video "$tmp/missing.mp4" --out "$X"
bad 1 "missing.png: no such file" --model "$Q2" --prompt x --image "$tmp/missing.png" --out "$X"
bad 1 "is a FIFO" --model "$Q2" --prompt x --video "$tmp/fifo.mp4" --out "$X"
bad 1 "junk.mp4: not a video" --model "$Q2" --prompt x --video "$tmp/junk.mp4" --out "$X"
bad 1 "exceeds" --model "$Q2" --prompt x --video $VID/testsrc_h264.mp4 --num-frames 40 --out "$X"
bad 1 "config.json" --model "$tmp/empty" --prompt x --video $VID/testsrc_h264.mp4 --out "$X"
bad 1 "tokenizer.json" --model tests/fixtures/checkpoints/qwen2_vl_hub --prompt x --out "$X"
bad 1 "not a directory" --model "$tmp/nowhere" --prompt x --out "$X"
[ ! -e "$X" ] || { echo "FAIL: a failed run left an output file"; fail=1; }

[ $fail -eq 0 ] && echo "cli_preprocess: ok"
exit $fail

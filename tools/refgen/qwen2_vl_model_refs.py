#!/usr/bin/env python3
"""Tiny random-weight Qwen2-VL and Qwen2.5-VL checkpoints, written by transformers, with
reference outputs for the parity tests (issue 6). Runs where torch + transformers 5.x are
installed (the GPU machine; CPU is enough):

    python3 tools/refgen/qwen2_vl_model_refs.py OUT_DIR [SRC_TARBALL]

OUT_DIR/<family>/ gets, for family in qwen2_vl, qwen2_5_vl:
  hub/    Hub layout: transformers 4.x config.json written by hand (flat text fields,
          rope_scaling with mrope_section, torch_dtype, vision_config.in_chans), weights with
          Hub names in two shards + model.safetensors.index.json, chat_template.json,
          preprocessor_config.json as the Hub ships it (no video_preprocessor_config.json),
          tokenizer files, generation_config.json
  t5/     transformers-5 layout: what save_pretrained writes (nested text_config,
          rope_parameters, dtype), single model.safetensors, processor files as saved
  mlx/    mlx-community layout as mlx-vlm's convert writes it: names from mlx-vlm's
          Model.sanitize (visual.* -> vision_tower.*, model.* -> language_model.model.*,
          lm_head -> language_model.lm_head), Conv3d weight channels-last [out,t,h,w,in],
          model.safetensors (metadata format=mlx) + model.safetensors.index.json (sorted,
          indent 4), config.json = the Hub config sorted, minus torch_dtype; Hub processor files
  cases/<case>.safetensors + cases/<case>.json   reference tensors per case
OUT_DIR/media/  the images and video frames the cases use (PNG, made here with Pillow).
OUT_DIR/SUMMARY.json  what ran, classes, flags, failures.
With SRC_TARBALL, transformers' own Qwen2-VL / Qwen2.5-VL sources are packed there (to read
the exact API the references came from).

Tiny configs: text hidden 64, 2 layers, 4 heads / 2 KV heads (head_dim 16), untied head,
mrope_section [2, 3, 3], rope_theta 1e6; Qwen2-VL vision embed_dim 32, depth 2, 2 heads,
mlp_ratio 2, merger to 64; Qwen2.5-VL vision hidden 32, depth 4, 2 heads, SwiGLU 64,
window_size 56 (2 merged units, so several windows and their padding show on these small
inputs), full-attention blocks 1 and 3, tokens_per_second 2. Vocabulary: a byte-level BPE
trained here (~500 tokens) + the 14 Qwen specials.
Weights: bf16 on disk; references computed in float32 from the bf16 checkpoint reloaded
(dtype=torch.float32), so they are what a loader sees. Init widened (REFERENCE_NOTES §7):
matrices N(0, 0.08), norm weights 1 + 0.1 N(0,1), biases N(0, 0.05); untied LM head so greedy
output varies. Images go through the PIL image processor (backend="pil"); videos through the
video processor transformers picks for a Hub directory (preprocessor_config.json only).
Position ids: computed here with the transformers 4.x get_rope_index rule (what the models
were trained with) and passed to the model explicitly for every case; transformers' own
get_rope_index result is recorded beside it (`hf_position_ids_equal`, and `hf_position_ids`
when different) for information. Greedy: a manual loop (no EOS stop) of 20 tokens with
explicit positions (decode position = cache index + rope_delta on all three axes).
"""
import copy
import inspect
import json
import os
import shutil
import sys
import tarfile
import traceback

import numpy as np
import torch
import transformers
from PIL import Image
from safetensors.torch import load_file, save_file

OUT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "qwen2_vl_refs")
SRC_TAR = sys.argv[2] if len(sys.argv) > 2 else None
SEED = 20261122
N_GREEDY = 20
BPE_VOCAB = 512          # learned BPE vocabulary (256 bytes + merges); specials come after
VIDEO_FPS = 2.0          # the frames' fps, given as video_metadata; Qwen2.5-VL
                         # second_per_grid_t = temporal_patch_size / fps = 1.0
IMAGE_SIZES = {"img_150x130.png": (150, 130, 1), "img_120x90.png": (120, 90, 2),
               "img_64x48.png": (64, 48, 3)}
# 8 frames -> 4 temporal grid steps; 84x56 -> merged 2x3 per frame, so the 4.x rule's next text
# position (block max + 1) differs from transformers 5.17's (start + max(h, w)) for both families
N_FRAMES, FRAME_W, FRAME_H = 8, 84, 56

QWEN2_VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture "
    "{{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video "
    "{{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>",
            "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>",
            "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
            "<|image_pad|>", "<|video_pad|>"]

QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+"
               r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

SUMMARY = {"failures": [], "notes": []}


def log(*a):
    print("[qwen2_vl_model_refs]", *a, file=sys.stderr, flush=True)


def sig(obj):
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError) as e:
        return "?" + repr(e)


def jsonable(v):
    try:
        json.dumps(v)
        return v
    except TypeError:
        if hasattr(v, "__dataclass_fields__"):
            return {f: jsonable(getattr(v, f)) for f in v.__dataclass_fields__}
        if isinstance(v, dict) or hasattr(v, "items"):
            return {str(k): jsonable(x) for k, x in dict(v.items()).items()}
        if isinstance(v, (list, tuple)):
            return [jsonable(x) for x in v]
        return repr(v)


def proc_settings(p):
    keys = ["size", "min_pixels", "max_pixels", "patch_size", "temporal_patch_size", "merge_size",
            "image_mean", "image_std", "do_resize", "resample", "do_rescale", "rescale_factor",
            "do_normalize", "do_convert_rgb", "do_sample_frames", "fps", "min_frames",
            "max_frames", "num_frames", "backend", "cap_pixels_per_frame"]
    return {k: jsonable(getattr(p, k)) for k in keys if hasattr(p, k)}


# ---------------------------------------------------------------- tokenizer
def build_tokenizer(d):
    """A small byte-level BPE in Qwen2's format (NFC, Qwen2 split regex + ByteLevel,
    ByteLevel decoder), specials appended after the learned vocabulary. Returns the raw
    tokenizers.Tokenizer (saved as d/tokenizer.json)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers, processors, trainers
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, trim_offsets=False, use_regex=False)
    tok.post_processor = processors.ByteLevel(add_prefix_space=False, trim_offsets=False,
                                              use_regex=False)
    words = ("the a an of to in is on at with and what where how many which color shape "
             "circle square triangle red green blue yellow left right top bottom picture "
             "image video describe there are two three four one small large big frame "
             "you assistant user system helpful answer question this that it happens sky "
             "careful larger").split()
    rng = np.random.default_rng(SEED)
    corpus = []
    for _ in range(4000):
        n = int(rng.integers(3, 14))
        s = " ".join(words[int(i)] for i in rng.integers(0, len(words), n))
        corpus.append(s.capitalize() + rng.choice([".", "?", "!", ",", ":"]))
    corpus += ["0123456789 10 25 100 2026", "Hello, world! Ça va? 你好 😀"]
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[])
    tok.train_from_iterator(corpus, trainer)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, "tokenizer.json"))
    return tok


def save_tokenizer_files(raw_dir, d):
    """transformers' own tokenizer files (what save_pretrained writes) for raw_dir's
    tokenizer.json, eos <|im_end|>, pad <|endoftext|>."""
    from transformers import PreTrainedTokenizerFast
    fast = PreTrainedTokenizerFast(tokenizer_file=os.path.join(raw_dir, "tokenizer.json"),
                                   eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   chat_template=QWEN2_VL_TEMPLATE)
    fast.save_pretrained(d)
    return fast


# ---------------------------------------------------------------- media
def make_media(d):
    """Deterministic pictures (shapes on gradients) and N_FRAMES video frames."""
    os.makedirs(d, exist_ok=True)

    def picture(w, h, seed):
        r = np.random.default_rng(seed)
        y, x = np.mgrid[0:h, 0:w]
        img = np.stack([(x * 255 / max(w - 1, 1)), (y * 255 / max(h - 1, 1)),
                        np.full((h, w), 128.0)], -1)
        for _ in range(4):
            cx, cy, rad = r.integers(0, w), r.integers(0, h), r.integers(4, max(5, min(w, h) // 3))
            col = r.integers(0, 256, 3)
            img[(x - cx) ** 2 + (y - cy) ** 2 < rad * rad] = col
        img += r.normal(0, 6, img.shape)
        return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")

    for name, (w, h, seed) in IMAGE_SIZES.items():
        picture(w, h, seed).save(os.path.join(d, name))
    frames = []
    for t in range(N_FRAMES):
        name = f"frame_{t}.png"
        picture(FRAME_W, FRAME_H, 100 + t).save(os.path.join(d, name))
        frames.append(name)
    return frames


# ---------------------------------------------------------------- configs
MROPE = [2, 3, 3]   # head_dim 16 -> 8 frequencies: T 2, H 3, W 3


def text_cfg(vocab, tok_ids, legacy_rope=False):
    t = dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6,
             max_position_embeddings=4096, max_window_layers=2, tie_word_embeddings=False,
             bos_token_id=tok_ids["<|endoftext|>"], eos_token_id=tok_ids["<|im_end|>"])
    if legacy_rope:
        t.update(rope_theta=1000000.0, rope_scaling={"type": "mrope", "mrope_section": MROPE})
    else:
        t["rope_parameters"] = {"rope_type": "default", "rope_theta": 1000000.0,
                                "mrope_section": list(MROPE)}
    return t


def vision_cfg(family):
    if family == "qwen2_vl":
        return dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2,
                    in_channels=3, patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
    return dict(depth=4, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                in_channels=3, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
                window_size=56, fullatt_block_indexes=[1, 3], tokens_per_second=2,
                hidden_act="silu")


def hub_config(family, vocab, tok_ids):
    """The 4.x layout as Hub checkpoints have it: flat text fields, rope_scaling,
    vision_config with in_chans and spatial_patch_size."""
    t = text_cfg(vocab, tok_ids)
    v = vision_cfg(family)
    v = {("in_chans" if k == "in_channels" else k): val for k, val in v.items()}
    v["spatial_patch_size"] = 14
    cfg = {
        "architectures": ["Qwen2VLForConditionalGeneration" if family == "qwen2_vl"
                          else "Qwen2_5_VLForConditionalGeneration"],
        "model_type": family, "attention_dropout": 0.0, "hidden_act": "silu",
        "bos_token_id": t["bos_token_id"], "eos_token_id": t["eos_token_id"],
        "vision_start_token_id": tok_ids["<|vision_start|>"],
        "vision_end_token_id": tok_ids["<|vision_end|>"],
        "vision_token_id": tok_ids["<|vision_pad|>"],
        "image_token_id": tok_ids["<|image_pad|>"], "video_token_id": tok_ids["<|video_pad|>"],
        "hidden_size": t["hidden_size"], "intermediate_size": t["intermediate_size"],
        "initializer_range": 0.02,
        "num_hidden_layers": t["num_hidden_layers"],
        "num_attention_heads": t["num_attention_heads"],
        "num_key_value_heads": t["num_key_value_heads"], "rms_norm_eps": t["rms_norm_eps"],
        "max_position_embeddings": t["max_position_embeddings"], "max_window_layers": 2,
        "rope_theta": 1000000.0, "sliding_window": 4096, "use_sliding_window": False,
        "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "transformers_version": "4.49.0", "use_cache": True, "vocab_size": vocab,
        "vision_config": v,
        "rope_scaling": {"type": "mrope", "mrope_section": list(MROPE)},
    }
    return cfg


def hub_preprocessor(family):
    return {"min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14,
            "temporal_patch_size": 2, "merge_size": 2, "image_mean": CLIP_MEAN,
            "image_std": CLIP_STD, "image_processor_type": "Qwen2VLImageProcessor",
            "processor_class": "Qwen2VLProcessor" if family == "qwen2_vl"
            else "Qwen2_5_VLProcessor"}


# ---------------------------------------------------------------- model
def widen_init(model):
    g = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * 0.08)
            elif name.endswith("weight") and ("norm" in name or "ln_q" in name):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)


def model_classes(family):
    if family == "qwen2_vl":
        return transformers.Qwen2VLConfig, transformers.Qwen2VLForConditionalGeneration
    return transformers.Qwen2_5_VLConfig, transformers.Qwen2_5_VLForConditionalGeneration


def rope_params_of(cfg):
    tc = getattr(cfg, "text_config", cfg)
    for attr in ("rope_parameters", "rope_scaling"):
        v = getattr(tc, attr, None)
        if v:
            return attr, jsonable(v)
    return None, None


def build_model(family, vocab, tok_ids):
    Cfg, Model = model_classes(family)
    log(family, "config __init__", sig(Cfg.__init__)[:300])
    common = dict(vision_config=vision_cfg(family),
                  image_token_id=tok_ids["<|image_pad|>"], video_token_id=tok_ids["<|video_pad|>"],
                  vision_start_token_id=tok_ids["<|vision_start|>"],
                  vision_end_token_id=tok_ids["<|vision_end|>"], tie_word_embeddings=False)
    cfg, how, first = None, None, None
    for legacy in (False, True):
        try:
            c = Cfg(text_config=text_cfg(vocab, tok_ids, legacy), **common)
            first = first or c
            attr, rp = rope_params_of(c)
            ok = isinstance(rp, dict) and list(rp.get("mrope_section", [])) == MROPE
            log(family, "config try legacy_rope=%s ->" % legacy, attr, rp, "ok" if ok else "NO")
            if ok:
                cfg, how = c, ("rope_scaling (legacy)" if legacy else "rope_parameters")
                break
        except Exception as e:
            log(family, "config try legacy_rope=%s failed:" % legacy, repr(e)[:300])
    if cfg is None:
        if first is None:
            raise RuntimeError("no config construction worked")
        cfg, how = first, "UNVERIFIED: mrope_section not found where expected"
        SUMMARY["notes"].append(family + ": " + how)
        log(family, "WARNING", how, "text_config:", jsonable(first.text_config.to_dict()))
    torch.manual_seed(SEED)
    model = Model(cfg)
    widen_init(model)
    names = [n for n, _ in model.named_parameters()]
    log(family, Model.__name__, "params", sum(p.numel() for p in model.parameters()),
        "first names", names[:3], "last", names[-2:])
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings().weight
    tied = emb.data_ptr() == head.data_ptr()
    log(family, "lm_head tied to embeddings:", tied)
    if tied:
        SUMMARY["notes"].append(family + ": lm_head is TIED to embed_tokens despite the config")
    SUMMARY[family + "_config_rope_via"] = how
    SUMMARY[family + "_config_text_rope"] = rope_params_of(cfg)[1]
    return model.to(torch.bfloat16).eval(), Model


# ---------------------------------------------------------------- positions (4.x rule)
def rope_index_4x(ids, image_grids, video_grids, second_per_grid, family, cfg):
    """transformers 4.x get_rope_index for one unpadded sequence: text (p,p,p); a vision block
    starts at s = (max so far) + 1 with (s+T_off, s+row, s+col) over the merged grid;
    Qwen2-VL video T_off = t, Qwen2.5-VL video T_off = t * int(second_per_grid_t) *
    tokens_per_second (4.5x casts second_per_grid_t to the int64 dtype of the range before
    multiplying; 4.49 multiplied in float and truncated after: the same for the whole-number
    second_per_grid_t used here), images T_off = 0 (grid t = 1); next text starts at block
    max + 1. transformers 5.17 agrees on the block's positions but starts the next text at
    s + max(h, w) (merged units), which differs when the temporal extent is larger."""
    img_id, vid_id = cfg["image_token_id"], cfg["video_token_id"]
    tps = cfg["tokens_per_second"]
    merge = 2
    L = len(ids)
    pos = np.zeros((3, L), dtype=np.int64)
    cur, i, ii, vi = 0, 0, 0, 0
    while i < L:
        if ids[i] in (img_id, vid_id):
            is_video = ids[i] == vid_id
            t, h, w = (video_grids[vi] if is_video else image_grids[ii])
            spg = float(second_per_grid[vi]) if is_video else 0.0
            h, w = h // merge, w // merge
            n = t * h * w
            if ids[i:i + n] != [ids[i]] * n:
                raise RuntimeError("pad run at %d shorter than grid %s" % (i, (t, h, w)))
            k = i
            for tt in range(t):
                if family == "qwen2_5_vl":
                    toff = tt * int(spg) * tps if is_video else 0
                else:
                    toff = tt
                for hh in range(h):
                    for ww in range(w):
                        pos[:, k] = (cur + toff, cur + hh, cur + ww)
                        k += 1
            if is_video:
                vi += 1
            else:
                ii += 1
            cur = int(pos[:, i:k].max()) + 1
            i = k
        else:
            pos[:, i] = cur
            cur += 1
            i += 1
    delta = int(pos.max()) + 1 - L
    return pos, delta


# ---------------------------------------------------------------- processor
def make_processor(family, d):
    """The processor for directory d (tokenizer files + preprocessor_config.json +
    chat_template.json), image side on the PIL backend. Tries AutoProcessor first, then
    builds it from its parts."""
    Proc = transformers.Qwen2VLProcessor if family == "qwen2_vl" else transformers.Qwen2_5_VLProcessor
    tries = []
    try:
        p = transformers.AutoProcessor.from_pretrained(d, backend="pil")
        tries.append("AutoProcessor(backend=pil): %s/%s" % (type(p).__name__,
                                                           type(p.image_processor).__name__))
        if type(p.image_processor).__name__.endswith("Pil"):
            return p, 'AutoProcessor.from_pretrained(dir, backend="pil")', tries
    except Exception as e:
        tries.append("AutoProcessor(backend=pil) failed: " + repr(e)[:300])
    ip = transformers.AutoImageProcessor.from_pretrained(d, backend="pil")
    vp = transformers.AutoVideoProcessor.from_pretrained(d)
    for tok_how in ("AutoTokenizer", "Qwen2Tokenizer"):
        try:
            tk = (transformers.AutoTokenizer if tok_how == "AutoTokenizer"
                  else transformers.Qwen2Tokenizer).from_pretrained(d)
            p = Proc(image_processor=ip, tokenizer=tk, video_processor=vp,
                     chat_template=QWEN2_VL_TEMPLATE)
            return p, "%s(AutoImageProcessor(backend=pil), %s, AutoVideoProcessor)" % (
                Proc.__name__, tok_how), tries
        except Exception as e:
            tries.append("%s with %s failed: %s" % (Proc.__name__, tok_how, repr(e)[:300]))
    raise RuntimeError("no processor: " + " | ".join(tries))


# ---------------------------------------------------------------- cases
def cases_for(frames):
    q = "What is in the picture?"
    return {
        "text": [{"role": "user", "content": "Describe the color of the sky."}],
        "image": [{"role": "user", "content": [{"type": "image", "image": "img_150x130.png"},
                                               {"type": "text", "text": q}]}],
        "two_images": [{"role": "system", "content": "You are a careful assistant."},
                       {"role": "user", "content": [
                           {"type": "image", "image": "img_120x90.png"},
                           {"type": "image", "image": "img_64x48.png"},
                           {"type": "text", "text": "Which picture is larger?"}]}],
        "video": [{"role": "user", "content": [{"type": "video", "video": frames},
                                               {"type": "text", "text": "What happens?"}]}],
    }


def features(out):
    """(merged embeddings [N, hidden], pre-merger states or None). 5.x returns an output
    object (.pooler_output: per-image list of merged embeddings, .last_hidden_state);
    4.x a tensor or a tuple of tensors."""
    pre = None
    if hasattr(out, "pooler_output"):
        pre = getattr(out, "last_hidden_state", None)
        out = out.pooler_output if out.pooler_output is not None else pre
    if isinstance(out, (list, tuple)):
        out = torch.cat([o.reshape(-1, o.shape[-1]) for o in out], 0)
    if isinstance(pre, (list, tuple)):
        pre = torch.cat([o.reshape(-1, o.shape[-1]) for o in pre], 0)
    return out, pre


def accepted(fn, kw):
    """kw restricted to the named parameters of fn."""
    params = inspect.signature(fn).parameters
    return {k: v for k, v in kw.items() if k in params}


def run_case(family, model, processor, tokraw, hubcfg, media_dir, name, messages, out_dir):
    meta = {"case": name, "family": family, "messages": messages, "add_generation_prompt": True}
    try:
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        meta["prompt_rendered_by"] = "processor.apply_chat_template(tokenize=False)"
    except Exception as e:
        log(family, name, "processor.apply_chat_template failed:", repr(e)[:200])
        text = processor.tokenizer.apply_chat_template(messages, tokenize=False,
                                                       add_generation_prompt=True,
                                                       chat_template=QWEN2_VL_TEMPLATE)
        meta["prompt_rendered_by"] = "tokenizer.apply_chat_template(tokenize=False)"
    if isinstance(text, list):
        text = text[0]
    meta["prompt"] = text
    images, videos = [], []
    for m in messages:
        if isinstance(m["content"], list):
            for part in m["content"]:
                if part["type"] == "image":
                    images.append(Image.open(os.path.join(media_dir, part["image"])).convert("RGB"))
                elif part["type"] == "video":
                    videos.append(np.stack([
                        np.asarray(Image.open(os.path.join(media_dir, f)).convert("RGB"))
                        for f in part["video"]]))
    kw = {}
    if videos:
        # frames given as an array carry no fps: transformers 5.17 then assumes 24 fps
        # (VideoMetadata.sampled_fps) and Qwen2.5-VL's second_per_grid_t becomes 2/24; the
        # frames' real rate goes in as video_metadata
        kw = {"videos": videos, "do_sample_frames": False,
              "video_metadata": [{"total_num_frames": len(v), "fps": VIDEO_FPS,
                                  "frames_indices": list(range(len(v)))} for v in videos]}
    try:
        inputs = processor(text=[text], images=images or None, return_tensors="pt", **kw)
    except Exception as e:
        if not videos:
            raise
        log(family, name, "processor with video_metadata failed, retrying with fps:", repr(e)[:300])
        kw.pop("video_metadata")
        kw["fps"] = VIDEO_FPS
        inputs = processor(text=[text], images=images or None, return_tensors="pt", **kw)
    meta["processor_call_kwargs"] = {k: v for k, v in kw.items() if k != "videos"}
    meta["fps"] = VIDEO_FPS if videos else None
    if videos:
        meta["video_input_form"] = "list of one uint8 numpy array [T, H, W, 3] (%s)" % (
            list(videos[0].shape),)
    log(family, name, "processor outputs", {k: (list(v.shape), str(v.dtype)) for k, v in inputs.items()})
    ids = inputs["input_ids"][0].tolist()
    img_grids = inputs["image_grid_thw"].tolist() if "image_grid_thw" in inputs else []
    vid_grids = inputs["video_grid_thw"].tolist() if "video_grid_thw" in inputs else []
    # the raw tokenizers library on the prompt with its pads expanded must give the same ids
    expanded = text
    for pad, grids in (("<|image_pad|>", img_grids), ("<|video_pad|>", vid_grids)):
        for g in grids:
            expanded = expanded.replace(pad, "<|placeholder|>" * (g[0] * g[1] * g[2] // 4), 1)
        expanded = expanded.replace("<|placeholder|>", pad)
    meta["input_ids_equal_raw_tokenizer"] = tokraw.encode(expanded, add_special_tokens=False).ids == ids
    if "second_per_grid_ts" in inputs:
        spg = [float(x) for x in torch.as_tensor(inputs["second_per_grid_ts"]).reshape(-1).tolist()]
    else:
        spg = [2.0 / VIDEO_FPS] * len(vid_grids)
    pos, delta = rope_index_4x(ids, img_grids, vid_grids, spg, family, hubcfg)
    n_img_pad = sum(1 for x in ids if x == hubcfg["image_token_id"])
    n_vid_pad = sum(1 for x in ids if x == hubcfg["video_token_id"])

    tensors = {"input_ids": torch.tensor(ids, dtype=torch.int64),
               "position_ids": torch.from_numpy(pos)}
    hf_equal, hf_pos = None, None
    try:
        fn = model.model.get_rope_index
        rk = accepted(fn, {k: inputs[k] for k in ("mm_token_type_ids", "image_grid_thw",
                                                    "video_grid_thw", "second_per_grid_ts",
                                                    "attention_mask") if k in inputs})
        if "second_per_grid_ts" in rk:
            rk["second_per_grid_ts"] = torch.as_tensor(rk["second_per_grid_ts"])
        r = fn(inputs["input_ids"], **rk)
        hf_pos = r[0] if isinstance(r, (tuple, list)) else r
        if hf_pos.shape[0] == 4:
            hf_pos = hf_pos[1:]
        hf_pos = hf_pos[:, 0].to(torch.int64)
        hf_equal = bool(np.array_equal(hf_pos.numpy(), pos))
        meta["hf_get_rope_index"] = "model.model.get_rope_index" + sig(fn)
        meta["hf_rope_delta"] = jsonable(r[1].tolist()) if isinstance(r, (tuple, list)) else None
    except Exception as e:  # recorded, not fatal: our rule is the reference
        log(family, name, "get_rope_index not comparable:", repr(e)[:300])
        meta["hf_get_rope_index_error"] = repr(e)[:300]
    if hf_equal is False:
        tensors["hf_position_ids"] = hf_pos.contiguous()

    with torch.no_grad():
        if images:
            tensors["pixel_values"] = inputs["pixel_values"].float().contiguous()
            tensors["image_grid_thw"] = inputs["image_grid_thw"].to(torch.int64)
            f = model.model.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"])
            meta["get_image_features_returns"] = type(f).__name__
            emb, pre = features(f)
            tensors["image_embeds"] = emb.float().contiguous()
            if pre is not None:
                tensors["image_pre_merger"] = pre.float().contiguous()
        if videos:
            tensors["pixel_values_videos"] = inputs["pixel_values_videos"].float().contiguous()
            tensors["video_grid_thw"] = inputs["video_grid_thw"].to(torch.int64)
            f = model.model.get_video_features(inputs["pixel_values_videos"],
                                               inputs["video_grid_thw"])
            meta["get_video_features_returns"] = type(f).__name__
            emb, pre = features(f)
            tensors["video_embeds"] = emb.float().contiguous()
            if pre is not None:
                tensors["video_pre_merger"] = pre.float().contiguous()
            tensors["second_per_grid_ts"] = torch.tensor(spg, dtype=torch.float32)

        # the processor's whole output goes to the model (5.x wants mm_token_type_ids);
        # restricted to forward's named parameters only if the model refuses a key
        fwd = {k: v for k, v in inputs.items() if k != "input_ids"}
        position_ids = torch.from_numpy(pos).view(3, 1, -1)
        try:
            out = model(input_ids=inputs["input_ids"], position_ids=position_ids, use_cache=True,
                        **fwd)
        except TypeError as e:
            log(family, name, "forward refused the whole processor output:", repr(e)[:200])
            fwd = accepted(model.forward, fwd)
            out = model(input_ids=inputs["input_ids"], position_ids=position_ids, use_cache=True,
                        **fwd)
        meta["forward_inputs"] = sorted(fwd)
        logits = out.logits[0].float()
        tensors["logits_last"] = logits[-1].contiguous()
        tensors["argmax"] = logits.argmax(-1).to(torch.int64)
        tensors["logsumexp"] = torch.logsumexp(logits, -1).contiguous()
        # transformers' own positions, for information: equal logits when positions agree
        try:
            o2 = model(input_ids=inputs["input_ids"], use_cache=False, **fwd)
            meta["max_abs_logit_diff_vs_hf_default_positions"] = float(
                (o2.logits[0, -1].float() - logits[-1]).abs().max())
        except Exception as e:
            meta["hf_default_positions_forward_error"] = repr(e)[:300]
        # greedy, manual: decode position = cache index + delta on all three axes
        past = out.past_key_values
        L = len(ids)
        nxt = int(logits[-1].argmax())
        greedy = [nxt]
        mask = inputs["attention_mask"]
        for step in range(1, N_GREEDY):
            cache_index = L + step - 1
            p = torch.full((3, 1, 1), cache_index + delta, dtype=torch.int64)
            mask = torch.cat([mask, torch.ones((1, 1), dtype=mask.dtype)], 1)
            o = model(input_ids=torch.tensor([[nxt]]), position_ids=p, attention_mask=mask,
                      past_key_values=past, use_cache=True)
            past = o.past_key_values
            nxt = int(o.logits[0, -1].float().argmax())
            greedy.append(nxt)
        tensors["greedy"] = torch.tensor(greedy, dtype=torch.int64)
        # transformers' generate (its own positions, stops on EOS), for information
        try:
            gc = copy.deepcopy(model.generation_config)
            gc.do_sample = False
            gc.max_new_tokens = N_GREEDY
            gc.eos_token_id = None
            gc.pad_token_id = hubcfg["bos_token_id"]
            g = model.generate(**inputs, generation_config=gc)
            g = g[0, L:].tolist()
            meta["hf_generate_tokens"] = g
            meta["hf_generate_equals_greedy"] = g == greedy
        except Exception as e:
            meta["hf_generate_error"] = repr(e)[:300]

    os.makedirs(out_dir, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()},
              os.path.join(out_dir, f"{name}.safetensors"),
              metadata={"transformers": transformers.__version__, "torch": torch.__version__})
    meta.update({
        "rope_delta": delta, "seq_len": len(ids), "image_pad_tokens": n_img_pad,
        "video_pad_tokens": n_vid_pad, "image_grid_thw": img_grids, "video_grid_thw": vid_grids,
        "second_per_grid_ts": spg if vid_grids else [],
        "tokens_per_second": hubcfg["tokens_per_second"] if family == "qwen2_5_vl" else None,
        "hf_position_ids_equal": hf_equal, "greedy": greedy,
        "greedy_text": processor.tokenizer.decode(greedy),
        "tensors": {k: {"dtype": str(v.dtype).replace("torch.", ""), "shape": list(v.shape)}
                    for k, v in tensors.items()},
        "processor_class": type(processor).__name__,
        "image_processor_class": type(processor.image_processor).__name__,
        "image_processor_settings": proc_settings(processor.image_processor),
        "video_processor_class": type(getattr(processor, "video_processor", None)).__name__,
        "video_processor_settings": proc_settings(getattr(processor, "video_processor", None)),
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "transformers_version": transformers.__version__, "torch_version": torch.__version__,
        "compute": "float32 from the bf16 checkpoint (t5 layout) on CPU",
    })
    with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
        f.write("\n")
    log(family, name, "L", len(ids), "grids", img_grids, vid_grids, "spg", spg, "delta", delta,
        "greedy", greedy[:10], "hf_pos_equal", hf_equal,
        "logit diff vs hf positions", meta.get("max_abs_logit_diff_vs_hf_default_positions"),
        "generate==greedy", meta.get("hf_generate_equals_greedy"))
    return meta


# ---------------------------------------------------------------- layouts
def load_dir_weights(src_dir):
    w = {}
    for f in sorted(os.listdir(src_dir)):
        if f.endswith(".safetensors"):
            w.update(load_file(os.path.join(src_dir, f)))
    return w


def hub_names(src_dir):
    """Tensor names as Hub checkpoints have them (model.layers.*, visual.*, lm_head.*)."""
    out = {}
    for k, v in load_dir_weights(src_dir).items():
        if k.startswith("model.visual."):
            k = "visual." + k[len("model.visual."):]
        elif k.startswith("model.language_model."):
            k = "model." + k[len("model.language_model."):]
        out[k] = v.contiguous()
    return out


def to_mlx(hub_tensors, dst_dir, hubcfg):
    """mlx-vlm's convert: Model.sanitize on the Hub names (mlx_vlm/models/qwen2_vl/qwen2_vl.py
    and qwen2_5_vl/qwen2_5_vl.py: 'visual' -> 'vision_tower'; a key without 'language_model'
    that contains 'model' gets 'model' -> 'language_model.model', else 'lm_head' ->
    'language_model.lm_head'), then VisionModel.sanitize (patch_embed.proj.weight
    [out, in, t, h, w] -> [out, t, h, w, in]); save_weights writes model.safetensors with
    metadata format=mlx and a sorted model.safetensors.index.json (indent 4); save_config
    drops torch_dtype/_name_or_path and sorts the keys (indent 4)."""
    os.makedirs(dst_dir, exist_ok=True)
    out = {}
    for k, v in hub_tensors.items():
        k2 = k
        if "vision_tower" not in k2:
            k2 = k2.replace("visual", "vision_tower")
        if "language_model" not in k2:
            if "model" in k2:
                k2 = k2.replace("model", "language_model.model")
            elif "lm_head" in k2:
                k2 = k2.replace("lm_head", "language_model.lm_head")
        if "patch_embed.proj.weight" in k2:
            v = v.permute(0, 2, 3, 4, 1)
        out[k2] = v.contiguous()
    save_file(out, os.path.join(dst_dir, "model.safetensors"), metadata={"format": "mlx"})
    total = sum(v.numel() * v.element_size() for v in out.values())
    with open(os.path.join(dst_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total},
                   "weight_map": {k: "model.safetensors" for k in sorted(out)}}, f, indent=4)
    cfg = {k: v for k, v in hubcfg.items() if k not in ("torch_dtype", "_name_or_path")}
    with open(os.path.join(dst_dir, "config.json"), "w") as f:
        json.dump(dict(sorted(cfg.items())), f, indent=4)
    return sorted(out)


def write_sharded(tensors, d, n_shards=2):
    names = list(tensors)
    per = (len(names) + n_shards - 1) // n_shards
    weight_map, total = {}, 0
    for s in range(n_shards):
        part = {k: tensors[k] for k in names[s * per:(s + 1) * per]}
        fname = f"model-{s + 1:05d}-of-{n_shards:05d}.safetensors"
        save_file(part, os.path.join(d, fname), metadata={"format": "pt"})
        for k, v in part.items():
            weight_map[k] = fname
            total += v.numel() * v.element_size()
    with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


def hub_tokenizer_config(d):
    """The Hub's tokenizer_config.json carries the chat template and names Qwen2Tokenizer;
    4.x had no chat_template.jinja."""
    p = os.path.join(d, "tokenizer_config.json")
    with open(p) as f:
        tc = json.load(f)
    for k in ("backend", "is_local", "local_files_only", "processor_class"):
        tc.pop(k, None)
    tok = json.load(open(os.path.join(d, "tokenizer.json")))
    tc.update({
        "add_prefix_space": False,
        "added_tokens_decoder": {str(a["id"]): {k: a[k] for k in (
            "content", "lstrip", "normalized", "rstrip", "single_word", "special")}
            for a in tok["added_tokens"]},
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>", "<|object_ref_start|>",
                                      "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
                                      "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
                                      "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>",
                                      "<|video_pad|>"],
        "bos_token": None, "chat_template": QWEN2_VL_TEMPLATE,
        "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>", "errors": "replace",
        "model_max_length": 32768, "pad_token": "<|endoftext|>", "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer", "unk_token": None})
    with open(p, "w") as f:
        json.dump(tc, f, indent=2, ensure_ascii=False)
    j = os.path.join(d, "chat_template.jinja")
    if os.path.exists(j):
        os.remove(j)


def family_run(family, fam, media, frames, rawtok_dir, tokraw, tok_ids, vocab):
    hubcfg = hub_config(family, vocab, tok_ids)
    rope_cfg = dict(hubcfg, tokens_per_second=vision_cfg(family).get("tokens_per_second", 2))
    model, Model = build_model(family, vocab, tok_ids)

    # processor files as the Hub has them: tokenizer + preprocessor_config + chat_template.json
    proc_dir = os.path.join(fam, "_proc")
    save_tokenizer_files(rawtok_dir, proc_dir)
    log(family, "tokenizer files saved by transformers:", sorted(os.listdir(proc_dir)))
    with open(os.path.join(proc_dir, "preprocessor_config.json"), "w") as f:
        json.dump(hub_preprocessor(family), f, indent=2)
    with open(os.path.join(proc_dir, "chat_template.json"), "w") as f:
        json.dump({"chat_template": QWEN2_VL_TEMPLATE}, f, indent=2)
    processor, proc_how, tries = make_processor(family, proc_dir)
    log(family, "processor", proc_how, type(processor).__name__,
        type(processor.image_processor).__name__, type(processor.tokenizer).__name__,
        type(getattr(processor, "video_processor", None)).__name__, "tries", tries)
    log(family, "image processor settings", proc_settings(processor.image_processor))
    log(family, "video processor settings",
        proc_settings(getattr(processor, "video_processor", None)))
    SUMMARY[family + "_processor"] = {
        "how": proc_how, "tries": tries, "class": type(processor).__name__,
        "tokenizer_class": type(processor.tokenizer).__name__,
        "image": [type(processor.image_processor).__name__, proc_settings(processor.image_processor)],
        "video": [type(getattr(processor, "video_processor", None)).__name__,
                  proc_settings(getattr(processor, "video_processor", None))]}

    # t5 layout: exactly what transformers writes
    t5 = os.path.join(fam, "t5")
    model.save_pretrained(t5)
    processor.save_pretrained(t5)
    t5w = load_dir_weights(t5)
    log(family, "t5 files", sorted(os.listdir(t5)), "tensor names", sorted(t5w)[:4], "...",
        len(t5w), "tensors", "dtypes", sorted({str(v.dtype) for v in t5w.values()}))
    SUMMARY[family + "_t5_files"] = sorted(os.listdir(t5))

    # hub layout: 4.x config by hand, Hub tensor names, sharded, Hub processor files
    hub = os.path.join(fam, "hub")
    os.makedirs(hub)
    hubw = hub_names(t5)
    write_sharded(hubw, hub)
    with open(os.path.join(hub, "config.json"), "w") as f:
        json.dump(hubcfg, f, indent=2)
    for fn in os.listdir(proc_dir):
        shutil.copy(os.path.join(proc_dir, fn), hub)
    hub_tokenizer_config(hub)
    with open(os.path.join(hub, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": hubcfg["bos_token_id"],
                   "eos_token_id": [hubcfg["eos_token_id"], tok_ids["<|endoftext|>"]],
                   "pad_token_id": tok_ids["<|endoftext|>"], "do_sample": False,
                   "transformers_version": "4.49.0"}, f, indent=2)

    # mlx layout
    mlx = os.path.join(fam, "mlx")
    names = to_mlx(hubw, mlx, hubcfg)
    for fn in os.listdir(hub):
        if fn in ("tokenizer.json", "tokenizer_config.json", "chat_template.json",
                  "preprocessor_config.json", "generation_config.json",
                  "special_tokens_map.json"):
            shutil.copy(os.path.join(hub, fn), mlx)
    log(family, "mlx names", names[:3], "...", names[-3:])
    shutil.rmtree(proc_dir)

    # references: float32 from the bf16 checkpoint on disk
    ref = Model.from_pretrained(t5, dtype=torch.float32).eval()
    log(family, "reference model dtype", next(ref.parameters()).dtype,
        "attn", getattr(ref.config, "_attn_implementation", None),
        "forward", sig(ref.forward)[:400])
    log(family, "get_rope_index", sig(ref.model.get_rope_index))
    log(family, "get_image_features", sig(ref.model.get_image_features))
    metas = {}
    for name, msgs in cases_for(frames).items():
        try:
            metas[name] = run_case(family, ref, processor, tokraw, rope_cfg, media, name, msgs,
                                   os.path.join(fam, "cases"))
        except Exception:
            traceback.print_exc()
            SUMMARY["failures"].append(family + "/" + name)

    # the hand-written Hub layout loads in transformers 5 to the same model
    try:
        hubm = Model.from_pretrained(hub, dtype=torch.float32).eval()
        sd1, sd2 = ref.state_dict(), hubm.state_dict()
        same = sorted(sd1) == sorted(sd2) and all(torch.equal(sd1[k], sd2[k]) for k in sd1)
        _, rp = rope_params_of(hubm.config)
        SUMMARY[family + "_hub_layout_loads_same_weights"] = same
        SUMMARY[family + "_hub_layout_text_rope"] = rp
        log(family, "hub layout loads in transformers: same weights", same, "rope", rp)
    except Exception as e:
        SUMMARY[family + "_hub_layout_load_error"] = repr(e)[:300]
        log(family, "hub layout does not load:", repr(e)[:300])
    # the Hub layout's tokenizer files (tokenizer_class Qwen2Tokenizer) as transformers loads them
    try:
        tk = transformers.AutoTokenizer.from_pretrained(hub)
        same = all(tk(m["prompt"], add_special_tokens=False)["input_ids"] ==
                   tokraw.encode(m["prompt"], add_special_tokens=False).ids for m in metas.values())
        SUMMARY[family + "_hub_tokenizer"] = {"class": type(tk).__name__,
                                              "ids_equal_tokenizer_json_on_prompts": same}
        log(family, "hub tokenizer", type(tk).__name__, "ids equal on prompts", same)
    except Exception as e:
        SUMMARY[family + "_hub_tokenizer_error"] = repr(e)[:300]
        log(family, "hub tokenizer does not load:", repr(e)[:300])
    SUMMARY[family + "_cases"] = {k: {"hf_position_ids_equal": m["hf_position_ids_equal"],
                                      "seq_len": m["seq_len"],
                                      "hf_generate_equals_greedy": m.get("hf_generate_equals_greedy"),
                                      "logit_diff_vs_hf_positions":
                                          m.get("max_abs_logit_diff_vs_hf_default_positions")}
                                  for k, m in metas.items()}


def pack_sources(path):
    base = os.path.dirname(transformers.__file__)
    with tarfile.open(path, "w:xz") as tf:
        for rel in ("models/qwen2_vl", "models/qwen2_5_vl", "video_processing_utils.py",
                    "processing_utils.py", "modeling_rope_utils.py", "video_utils.py",
                    "image_processing_backends.py", "image_processing_utils.py"):
            p = os.path.join(base, rel)
            if os.path.exists(p):
                tf.add(p, arcname="transformers/" + rel,
                       filter=lambda ti: None if "__pycache__" in ti.name else ti)


def main():
    log("python", sys.version.split()[0], "torch", torch.__version__, "transformers",
        transformers.__version__)
    if SRC_TAR:
        try:
            pack_sources(SRC_TAR)
        except Exception:
            traceback.print_exc()
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    try:  # before any from_pretrained (loading was seen to change what a fresh instance reports)
        SUMMARY["video_processor_class_defaults"] = proc_settings(transformers.Qwen2VLVideoProcessor())
        log("Qwen2VLVideoProcessor() defaults", SUMMARY["video_processor_class_defaults"])
    except Exception as e:
        log("Qwen2VLVideoProcessor() failed", repr(e)[:200])
    torch.set_num_threads(4)
    media = os.path.join(OUT, "media")
    frames = make_media(media)
    rawtok_dir = os.path.join(OUT, "_tok")
    tokraw = build_tokenizer(rawtok_dir)
    tok_ids = {s: tokraw.token_to_id(s) for s in SPECIALS}
    vocab = tokraw.get_vocab_size(with_added_tokens=True)
    log("tokenizer vocab", vocab, "specials", tok_ids)
    SUMMARY.update({"transformers": transformers.__version__, "torch": torch.__version__,
                    "tokenizers": __import__("tokenizers").__version__,
                    "safetensors": __import__("safetensors").__version__,
                    "numpy": np.__version__, "pillow": Image.__version__,
                    "python": sys.version.split()[0],
                    "script": "tools/refgen/qwen2_vl_model_refs.py", "seed": SEED,
                    "vocab_size": vocab, "special_ids": tok_ids})
    for family in ("qwen2_vl", "qwen2_5_vl"):
        try:
            family_run(family, os.path.join(OUT, family), media, frames, rawtok_dir, tokraw,
                       tok_ids, vocab)
        except Exception:
            traceback.print_exc()
            SUMMARY["failures"].append(family)
    shutil.rmtree(rawtok_dir)
    with open(os.path.join(OUT, "SUMMARY.json"), "w") as f:
        json.dump(SUMMARY, f, indent=1, ensure_ascii=False)
        f.write("\n")
    log("done", OUT, "failures", SUMMARY["failures"])
    return 1 if SUMMARY["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Tiny random-weight Qwen2-VL and Qwen2.5-VL checkpoints, written by transformers, with
reference outputs for the parity tests (issue 6). Runs where torch + transformers 5.x are
installed (the GPU machine; CPU is enough):

    python3 tools/refgen/qwen2_vl_model_refs.py OUT_DIR

OUT_DIR/<family>/ gets, for family in qwen2_vl, qwen2_5_vl:
  hub/    Hub layout: transformers 4.x config.json written by hand (flat text fields,
          rope_scaling with mrope_section, torch_dtype), weights sharded, chat_template.json,
          preprocessor_config.json as the Hub ships it
  t5/     transformers-5 layout: what save_pretrained writes (nested text_config,
          rope_parameters, dtype), single model.safetensors, processor files as saved
  mlx/    mlx-community layout: mlx-vlm weight names (language_model.model.*,
          language_model.lm_head, vision_tower.*), Conv3d weight channels-last
  cases/<case>.safetensors + cases/<case>.json   reference tensors per case
OUT_DIR/media/  the images and video frames the cases use (PNG, made here with Pillow).

Weights: bf16 on disk; references computed in float32 from the bf16 checkpoint reloaded
(dtype=torch.float32), so they are what a loader sees. Init widened (REFERENCE_NOTES §7):
matrices N(0, 0.08), norm weights 1 + 0.1 N(0,1); untied LM head so greedy output varies.
Position ids: computed here with the transformers 4.x get_rope_index rule (what the models
were trained with) and passed to the model explicitly for every case; transformers' own
get_rope_index result is recorded beside it (`hf_position_ids_equal`) for information.
Greedy: a manual loop (no EOS stop) of 20 tokens with explicit positions
(decode position = cache index + rope_delta on all three axes).
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
import transformers
from PIL import Image
from safetensors.torch import load_file, save_file

OUT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "qwen2_vl_refs")
SEED = 20261122
N_GREEDY = 20

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


def log(*a):
    print("[qwen2_vl_model_refs]", *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- tokenizer
def build_tokenizer(d):
    """A small byte-level BPE in Qwen2's format (NFC, Qwen2 split regex + ByteLevel,
    ByteLevel decoder), specials appended after the learned vocabulary."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers import processors, trainers
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
             "you assistant user system helpful answer question this that it").split()
    rng = np.random.default_rng(SEED)
    corpus = []
    for _ in range(4000):
        n = int(rng.integers(3, 14))
        s = " ".join(words[int(i)] for i in rng.integers(0, len(words), n))
        corpus.append(s.capitalize() + rng.choice([".", "?", "!", ",", ":"]))
    corpus += ["0123456789 10 25 100 2026", "Hello, world! Ça va? 你好 😀"]
    trainer = trainers.BpeTrainer(vocab_size=1000, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[])
    tok.train_from_iterator(corpus, trainer)
    from tokenizers import AddedToken
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
    os.makedirs(d, exist_ok=True)
    tok.save(os.path.join(d, "tokenizer.json"))
    from transformers import PreTrainedTokenizerFast
    fast = PreTrainedTokenizerFast(tokenizer_file=os.path.join(d, "tokenizer.json"),
                                   eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   chat_template=QWEN2_VL_TEMPLATE)
    return fast


# ---------------------------------------------------------------- media
def make_media(d):
    """Deterministic pictures (shapes on gradients) and 8 video frames of 112x84."""
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(SEED + 1)

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

    files = {"img_200x150.png": picture(200, 150, 1), "img_120x90.png": picture(120, 90, 2),
             "img_64x48.png": picture(64, 48, 3)}
    for name, im in files.items():
        im.save(os.path.join(d, name))
    frames = []
    for t in range(8):
        im = picture(112, 84, 100 + t)
        name = f"frame_{t}.png"
        im.save(os.path.join(d, name))
        frames.append(name)
    del rng
    return frames


# ---------------------------------------------------------------- configs
def text_cfg(vocab, tok_ids):
    return dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6,
                max_position_embeddings=4096, tie_word_embeddings=False,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0,
                                 "mrope_section": [2, 3, 3]},
                bos_token_id=tok_ids["<|endoftext|>"], eos_token_id=tok_ids["<|im_end|>"])


def vision_cfg(family):
    if family == "qwen2_vl":
        return dict(depth=2, embed_dim=32, hidden_size=64, num_heads=2, mlp_ratio=2,
                    in_channels=3, patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
    return dict(depth=4, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                in_channels=3, patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
                window_size=112, fullatt_block_indexes=[1, 3], tokens_per_second=2,
                hidden_act="silu")


def hub_config(family, vocab, tok_ids):
    """The 4.x layout as Hub checkpoints have it: flat text fields, rope_scaling."""
    t = text_cfg(vocab, tok_ids)
    v = vision_cfg(family)
    v = {("in_chans" if k == "in_channels" else k): val for k, val in v.items()}
    if family == "qwen2_5_vl":
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
        "num_hidden_layers": t["num_hidden_layers"],
        "num_attention_heads": t["num_attention_heads"],
        "num_key_value_heads": t["num_key_value_heads"], "rms_norm_eps": t["rms_norm_eps"],
        "max_position_embeddings": t["max_position_embeddings"], "max_window_layers": 2,
        "rope_theta": 1000000.0, "sliding_window": 4096, "use_sliding_window": False,
        "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "transformers_version": "4.49.0", "use_cache": True, "vocab_size": vocab,
        "vision_config": v,
        "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]},
    }
    return cfg


def hub_preprocessor(family):
    return {"min_pixels": 3136, "max_pixels": 12845056, "patch_size": 14,
            "temporal_patch_size": 2, "merge_size": 2, "image_mean": CLIP_MEAN,
            "image_std": CLIP_STD, "do_rescale": True, "do_normalize": True, "do_resize": True,
            "do_convert_rgb": True, "rescale_factor": 1 / 255, "resample": 3,
            "image_processor_type": "Qwen2VLImageProcessor",
            "processor_class": "Qwen2VLProcessor" if family == "qwen2_vl"
            else "Qwen2_5_VLProcessor"}


# ---------------------------------------------------------------- model
def widen_init(model):
    g = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * 0.08)
            elif "norm" in name or "ln_q" in name:
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) * 0.05)


def build_model(family, vocab, tok_ids):
    from transformers import (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration,
                              Qwen2VLConfig, Qwen2VLForConditionalGeneration)
    Cfg, Model = ((Qwen2VLConfig, Qwen2VLForConditionalGeneration) if family == "qwen2_vl"
                  else (Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration))
    cfg = Cfg(text_config=text_cfg(vocab, tok_ids), vision_config=vision_cfg(family),
              image_token_id=tok_ids["<|image_pad|>"], video_token_id=tok_ids["<|video_pad|>"],
              vision_start_token_id=tok_ids["<|vision_start|>"],
              vision_end_token_id=tok_ids["<|vision_end|>"], tie_word_embeddings=False)
    torch.manual_seed(SEED)
    model = Model(cfg)
    widen_init(model)
    return model.to(torch.bfloat16).eval(), Model


# ---------------------------------------------------------------- positions (4.x rule)
def rope_index_4x(ids, image_grids, video_grids, second_per_grid, family, cfg):
    img_id, vid_id = cfg["image_token_id"], cfg["video_token_id"]
    tps = cfg.get("tokens_per_second", 2)
    L = len(ids)
    pos = np.zeros((3, L), dtype=np.int64)
    cur, i, ii, vi = 0, 0, 0, 0
    while i < L:
        if ids[i] in (img_id, vid_id):
            is_video = ids[i] == vid_id
            t, h, w = (video_grids[vi] if is_video else image_grids[ii])
            spg = second_per_grid[vi] if (is_video and family == "qwen2_5_vl") else None
            h, w = h // 2, w // 2
            k = i
            for tt in range(t):
                if family == "qwen2_5_vl":
                    toff = int(tt * (spg if spg is not None else 0.0) * tps)
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


# ---------------------------------------------------------------- cases
def cases_for(frames):
    q = "What is in the picture?"
    return {
        "text": [{"role": "user", "content": "Describe the color of the sky."}],
        "image": [{"role": "user", "content": [{"type": "image", "image": "img_200x150.png"},
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
    """get_image_features returns a tuple/list of tensors (4.x) or an output object with
    .pooler_output (5.x)."""
    if hasattr(out, "pooler_output") and out.pooler_output is not None:
        out = out.pooler_output
    if isinstance(out, (list, tuple)):
        return torch.cat([o.reshape(-1, o.shape[-1]) for o in out], 0)
    return out


def run_case(family, model, processor, hubcfg, media_dir, name, messages, out_dir):
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    images, videos = [], []
    for m in messages:
        if isinstance(m["content"], list):
            for part in m["content"]:
                if part["type"] == "image":
                    images.append(Image.open(os.path.join(media_dir, part["image"])).convert("RGB"))
                elif part["type"] == "video":
                    videos.append([np.array(Image.open(os.path.join(media_dir, f)).convert("RGB"))
                                   for f in part["video"]])
    kw = {}
    if videos:
        kw["videos"] = [np.stack(v) for v in videos]
        kw["do_sample_frames"] = False
        kw["fps"] = 2.0
    inputs = processor(text=[text], images=images or None, return_tensors="pt", **kw)
    ids = inputs["input_ids"][0].tolist()
    img_grids = inputs["image_grid_thw"].tolist() if "image_grid_thw" in inputs else []
    vid_grids = inputs["video_grid_thw"].tolist() if "video_grid_thw" in inputs else []
    spg = inputs["second_per_grid_ts"].tolist() if "second_per_grid_ts" in inputs else \
        [2 / 2.0] * len(vid_grids)
    pos, delta = rope_index_4x(ids, img_grids, vid_grids, spg, family, hubcfg)

    hf_equal = None
    try:
        rk = {k: inputs[k] for k in ("image_grid_thw", "video_grid_thw", "second_per_grid_ts",
                                     "mm_token_type_ids", "attention_mask") if k in inputs}
        hf_pos, _ = model.model.get_rope_index(inputs["input_ids"], **rk)
        hf_equal = bool(np.array_equal(hf_pos[:, 0].numpy(), pos))
    except Exception as e:  # recorded, not fatal: our rule is the reference
        log(family, name, "get_rope_index not comparable:", repr(e)[:200])

    tensors = {"input_ids": torch.tensor(ids, dtype=torch.int64),
               "position_ids": torch.from_numpy(pos)}
    with torch.no_grad():
        if images:
            tensors["pixel_values"] = inputs["pixel_values"].float().contiguous()
            tensors["image_grid_thw"] = inputs["image_grid_thw"].to(torch.int64)
            f = model.model.get_image_features(inputs["pixel_values"], inputs["image_grid_thw"])
            tensors["image_embeds"] = features(f).float().contiguous()
        if videos:
            tensors["pixel_values_videos"] = inputs["pixel_values_videos"].float().contiguous()
            tensors["video_grid_thw"] = inputs["video_grid_thw"].to(torch.int64)
            f = model.model.get_video_features(inputs["pixel_values_videos"],
                                               inputs["video_grid_thw"])
            tensors["video_embeds"] = features(f).float().contiguous()
            if "second_per_grid_ts" in inputs:
                tensors["second_per_grid_ts"] = inputs["second_per_grid_ts"].float()

        fwd = {k: v for k, v in inputs.items() if k not in ("input_ids",)}
        position_ids = torch.from_numpy(pos).view(3, 1, -1)
        out = model(input_ids=inputs["input_ids"], position_ids=position_ids, use_cache=True,
                    **fwd)
        logits = out.logits[0].float()
        tensors["logits_last"] = logits[-1].contiguous()
        tensors["argmax"] = logits.argmax(-1).to(torch.int64)
        tensors["logsumexp"] = torch.logsumexp(logits, -1).contiguous()
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
                      past_key_values=past, use_cache=True,
                      cache_position=torch.tensor([cache_index]))
            past = o.past_key_values
            nxt = int(o.logits[0, -1].float().argmax())
            greedy.append(nxt)
        tensors["greedy"] = torch.tensor(greedy, dtype=torch.int64)

    os.makedirs(out_dir, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()},
              os.path.join(out_dir, f"{name}.safetensors"),
              metadata={"transformers": transformers.__version__, "torch": torch.__version__})
    meta = {"case": name, "family": family, "messages": messages, "prompt": text,
            "add_generation_prompt": True, "rope_delta": delta,
            "hf_position_ids_equal": hf_equal,
            "processor_kwargs": {k: v for k, v in kw.items() if k != "videos"},
            "image_processor_class": type(processor.image_processor).__name__,
            "video_processor_class": type(getattr(processor, "video_processor", None)).__name__,
            "transformers_version": transformers.__version__, "torch_version": torch.__version__,
            "compute": "float32 from the bf16 checkpoint (t5 layout) on CPU"}
    with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
    log(family, name, "L", len(ids), "greedy", greedy[:8], "hf_pos_equal", hf_equal)


def to_mlx(src_dir, dst_dir):
    """mlx-vlm's names: model.* -> language_model.model.*, lm_head -> language_model.lm_head,
    visual.* -> vision_tower.*; Conv3d weight [out, in, t, h, w] -> [out, t, h, w, in]."""
    os.makedirs(dst_dir, exist_ok=True)
    w = {}
    for f in sorted(os.listdir(src_dir)):
        if f.endswith(".safetensors"):
            w.update(load_file(os.path.join(src_dir, f)))
    out = {}
    for k, v in w.items():
        if k.startswith("model.visual."):
            k2 = "vision_tower." + k[len("model.visual."):]
        elif k.startswith("visual."):
            k2 = "vision_tower." + k[len("visual."):]
        elif k.startswith("model.language_model."):
            k2 = "language_model.model." + k[len("model.language_model."):]
        elif k.startswith("model."):
            k2 = "language_model.model." + k[len("model."):]
        elif k.startswith("lm_head."):
            k2 = "language_model." + k
        else:
            raise SystemExit(f"unexpected tensor name {k}")
        if k2 == "vision_tower.patch_embed.proj.weight":
            v = v.permute(0, 2, 3, 4, 1).contiguous()
        out[k2] = v.contiguous()
    save_file(out, os.path.join(dst_dir, "model.safetensors"), metadata={"format": "mlx"})


def hub_names(src_dir):
    """Tensor names as Hub checkpoints have them (model.layers.*, visual.*, lm_head.*)."""
    w = {}
    for f in sorted(os.listdir(src_dir)):
        if f.endswith(".safetensors"):
            w.update(load_file(os.path.join(src_dir, f)))
    out = {}
    for k, v in w.items():
        if k.startswith("model.visual."):
            k = "visual." + k[len("model.visual."):]
        elif k.startswith("model.language_model."):
            k = "model." + k[len("model.language_model."):]
        out[k] = v.contiguous()
    return out


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


def main():
    from transformers import AutoProcessor
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    media = os.path.join(OUT, "media")
    frames = make_media(media)
    tokdir = os.path.join(OUT, "_tok")
    fast = build_tokenizer(tokdir)
    tok_ids = {s: fast.convert_tokens_to_ids(s) for s in SPECIALS}
    vocab = len(fast)
    log("tokenizer vocab", vocab, "specials", tok_ids)

    for family in ("qwen2_vl", "qwen2_5_vl"):
        fam = os.path.join(OUT, family)
        hubcfg = hub_config(family, vocab, tok_ids)
        hubcfg_for_rope = dict(hubcfg)
        hubcfg_for_rope["tokens_per_second"] = vision_cfg(family).get("tokens_per_second", 2)
        model, Model = build_model(family, vocab, tok_ids)

        # t5 layout: exactly what transformers writes
        t5 = os.path.join(fam, "t5")
        model.save_pretrained(t5)
        # processor files: tokenizer + Hub preprocessor config, loaded back as a processor
        pre = hub_preprocessor(family)
        tmp = os.path.join(fam, "_proc")
        fast.save_pretrained(tmp)
        with open(os.path.join(tmp, "preprocessor_config.json"), "w") as f:
            json.dump(pre, f, indent=2)
        with open(os.path.join(tmp, "video_preprocessor_config.json"), "w") as f:
            vp = dict(pre)
            vp["video_processor_type"] = "Qwen2VLVideoProcessor"
            vp.pop("image_processor_type")
            json.dump(vp, f, indent=2)
        with open(os.path.join(tmp, "chat_template.json"), "w") as f:
            json.dump({"chat_template": QWEN2_VL_TEMPLATE}, f)
        processor = AutoProcessor.from_pretrained(tmp, backend="pil")
        log(family, "processor", type(processor).__name__, type(processor.image_processor).__name__)
        processor.save_pretrained(t5)

        # hub layout: 4.x config by hand, Hub tensor names, sharded, Hub processor files
        hub = os.path.join(fam, "hub")
        os.makedirs(hub)
        write_sharded(hub_names(t5), hub)
        with open(os.path.join(hub, "config.json"), "w") as f:
            json.dump(hubcfg, f, indent=2)
        for fn in os.listdir(tmp):
            shutil.copy(os.path.join(tmp, fn), hub)
        with open(os.path.join(hub, "generation_config.json"), "w") as f:
            json.dump({"bos_token_id": hubcfg["bos_token_id"],
                       "eos_token_id": [hubcfg["eos_token_id"], tok_ids["<|endoftext|>"]],
                       "do_sample": False}, f, indent=2)

        # mlx layout
        mlx = os.path.join(fam, "mlx")
        to_mlx(t5, mlx)
        with open(os.path.join(mlx, "config.json"), "w") as f:
            json.dump(hubcfg, f, indent=2)
        for fn in os.listdir(tmp):
            shutil.copy(os.path.join(tmp, fn), mlx)
        shutil.rmtree(tmp)

        # references: float32 from the bf16 checkpoint on disk
        ref = Model.from_pretrained(t5, dtype=torch.float32).eval()
        for name, msgs in cases_for(frames).items():
            run_case(family, ref, processor, hubcfg_for_rope, media, name, msgs,
                     os.path.join(fam, "cases"))
    shutil.rmtree(tokdir)
    with open(os.path.join(OUT, "VERSIONS.json"), "w") as f:
        json.dump({"transformers": transformers.__version__, "torch": torch.__version__,
                   "script": "tools/refgen/qwen2_vl_model_refs.py", "seed": SEED}, f, indent=1)
    log("done", OUT)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Trains vlm.c's demo model: a tiny Qwen2-VL (Qwen2VLForConditionalGeneration, model_type
qwen2_vl) learned from scratch on the synthetic pictures and questions of scenes.py, with its own
small byte-level BPE tokenizer in Qwen2's format; then evaluates it with transformers on held-out
pictures made with a separate seed. Needs torch + transformers 5.x + tokenizers + Pillow and one
CUDA GPU (about 7 minutes on an H100):

    PYTHONUNBUFFERED=1 python3 tools/train_demo/train.py --out OUT

OUT/model/     the checkpoint as it is committed under models/demo: config.json and
               model.safetensors (save_pretrained, bf16 weights, tied LM head),
               generation_config.json (greedy, eos <|im_end|> and <|endoftext|>), tokenizer.json,
               tokenizer_config.json and chat_template.json (the Qwen2-VL chat template of
               tests/fixtures/templates/qwen2_vl), preprocessor_config.json (Qwen2-VL image
               processor, min_pixels 3136, max_pixels 168*168, CLIP mean/std, patch 14, merge 2)
OUT/heldout/   held-out pictures (PNG) + cases.json: per picture one question, the expected
               answer, transformers' greedy token ids and text, for tests/fixtures/demo
OUT/examples/  a few hand-made example pictures + examples.json (questions, expected and
               transformers' answers), for examples/demo
OUT/train_log.json  settings, versions, parameter count, losses, timings, exact-match rates

Training: fixed seeds; pictures rendered with Pillow in a process pool before training and kept
on the GPU as uint8; each training sequence is the prompt exactly as the chat template renders
it (default system prompt, the picture, the question, add_generation_prompt) followed by the
answer and <|im_end|>, with the loss on the answer tokens only; pixel values computed on the
GPU the way Qwen2VLImageProcessorPil does (checked against the processor at start-up), M-RoPE
positions precomputed (checked against the model's get_rope_index). Right padding without an
attention mask is exact here: causal attention never lets a real token see a later pad. The
vision tower's per-image attention loop is replaced during training by one batched attention
over same-sized images (the same arithmetic; checked at start-up); the saved model is the plain
transformers one. bf16 autocast, AdamW, warmup + cosine.

Evaluation: the checkpoint is loaded back from disk with dtype=torch.float32 (f32 compute on
the bf16 weights) on the CPU, the processor from the same directory with its image processor on
the PIL backend (load_processor), and model.generate greedy on each held-out PNG read back from
disk.
Not bit-reproducible across runs (GPU reductions in the backward pass); the references always
belong to the checkpoint written beside them.
"""
import argparse
import json
import math
import mmap
import multiprocessing as mp
import os
import random
import shutil
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
import transformers
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenes  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
TEMPLATE_JSON = os.path.join(ROOT, "tests", "fixtures", "templates", "qwen2_vl", "chat_template.json")

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>",
            "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>",
            "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
            "<|image_pad|>", "<|video_pad|>"]
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+"
               r"[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]
PATCH, MERGE, TEMPORAL = 14, 2, 2
GRID = scenes.SIZE // PATCH                       # 12 patches a side
N_PATCHES = GRID * GRID                           # 144 rows of pixel values per picture
N_IMG_TOKENS = N_PATCHES // (MERGE * MERGE)       # 36 <|image_pad|> per picture
MERGED = GRID // MERGE                            # 6 x 6 merged grid
PATCH_DIM = 3 * TEMPORAL * PATCH * PATCH          # 1176

# model shapes (about 3.2M parameters, 6.5 MB in bf16)
TEXT = dict(hidden_size=256, intermediate_size=384, num_hidden_layers=4, num_attention_heads=4,
            num_key_value_heads=2, rms_norm_eps=1e-6, max_position_embeddings=2048,
            max_window_layers=4, tie_word_embeddings=True,
            # head_dim 64 -> 32 frequencies: temporal 4, height 6, width 22 (the lowest
            # frequencies, which also serve as position-free content channels)
            rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                             "mrope_section": [4, 6, 22]})
VISION = dict(depth=4, embed_dim=128, hidden_size=256, num_heads=4, mlp_ratio=2, in_channels=3,
              patch_size=PATCH, spatial_merge_size=MERGE, temporal_patch_size=TEMPORAL)

EXAMPLES = {  # hand-made example pictures: cells (row, col), centred, and questions about them
    "shapes_1": ([("circle", "red", "large", 0, 0, 21), ("triangle", "yellow", "small", 0, 2, 11),
                  ("circle", "red", "small", 1, 1, 11), ("square", "blue", "large", 2, 2, 20)],
                 ["How many red circles are there?", "What color is the square?",
                  "Where is the triangle?", "Describe the picture."]),
    "shapes_2": ([("triangle", "green", "large", 1, 0, 21), ("circle", "blue", "small", 2, 1, 10)],
                 ["Where is the green triangle?", "Is the circle small or large?",
                  "Describe the picture."]),
    "shapes_3": ([("square", "yellow", "large", 0, 1, 19), ("square", "blue", "small", 1, 2, 11),
                  ("triangle", "red", "large", 2, 0, 21), ("square", "yellow", "small", 2, 2, 10)],
                 ["How many squares are there?", "What is the red shape?",
                  "What is in the bottom left corner?", "How many yellow squares are there?"]),
}


def log(*a):
    print("[train_demo %7.1fs]" % (time.time() - T0), *a, flush=True)


T0 = time.time()


# ---------------------------------------------------------------- tokenizer + processor files
def build_tokenizer(model_dir, template, vocab_size):
    """Byte-level BPE in Qwen2's format trained on scenes.corpus(); the Qwen2 specials after the
    learned vocabulary. Writes tokenizer.json, tokenizer_config.json (Qwen2Tokenizer, chat
    template), chat_template.json. Returns the raw tokenizers.Tokenizer."""
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
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=[])
    tok.train_from_iterator(scenes.corpus(), trainer)
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in SPECIALS])
    os.makedirs(model_dir, exist_ok=True)
    raw_path = os.path.join(model_dir, "tokenizer.json")
    tok.save(raw_path)
    # transformers' own files for it, then the tokenizer_config.json the Hub's Qwen2-VL has
    from transformers import PreTrainedTokenizerFast
    PreTrainedTokenizerFast(tokenizer_file=raw_path, eos_token="<|im_end|>",
                            pad_token="<|endoftext|>", chat_template=template).save_pretrained(model_dir)
    p = os.path.join(model_dir, "tokenizer_config.json")
    tc = json.load(open(p))
    for k in ("backend", "is_local", "local_files_only", "processor_class"):
        tc.pop(k, None)
    saved = json.load(open(raw_path))
    tc.update({
        "add_prefix_space": False,
        "added_tokens_decoder": {str(a["id"]): {k: a[k] for k in (
            "content", "lstrip", "normalized", "rstrip", "single_word", "special")}
            for a in saved["added_tokens"]},
        "additional_special_tokens": SPECIALS[1:],
        "bos_token": None, "chat_template": template, "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>", "errors": "replace", "model_max_length": 32768,
        "pad_token": "<|endoftext|>", "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer", "unk_token": None})
    with open(p, "w") as f:
        json.dump(tc, f, indent=2, ensure_ascii=False)
    for extra in ("chat_template.jinja", "special_tokens_map.json"):
        if os.path.exists(os.path.join(model_dir, extra)):
            os.remove(os.path.join(model_dir, extra))
    with open(os.path.join(model_dir, "chat_template.json"), "w") as f:
        json.dump({"chat_template": template}, f, indent=2)
    with open(os.path.join(model_dir, "preprocessor_config.json"), "w") as f:
        json.dump({"min_pixels": 3136, "max_pixels": scenes.SIZE * scenes.SIZE,
                   "patch_size": PATCH, "temporal_patch_size": TEMPORAL, "merge_size": MERGE,
                   "image_mean": CLIP_MEAN, "image_std": CLIP_STD,
                   "image_processor_type": "Qwen2VLImageProcessor",
                   "processor_class": "Qwen2VLProcessor"}, f, indent=2)
    from tokenizers import Tokenizer as T
    return T.from_file(raw_path)


def load_processor(model_dir, template):
    """The checkpoint's processor with the image side on the PIL backend. transformers 5.17's
    AutoProcessor.from_pretrained(dir, backend="pil") fails for Qwen2-VL (it also hands
    backend= to the video processor, whose `backend` is a read-only property), so it is put
    together from its parts then, as tools/refgen/qwen2_vl_model_refs.py does."""
    try:
        p = transformers.AutoProcessor.from_pretrained(model_dir, backend="pil")
        if type(p.image_processor).__name__.endswith("Pil"):
            return p, 'AutoProcessor.from_pretrained(dir, backend="pil")'
    except Exception as e:  # noqa: BLE001 (reported, then the fallback)
        log("AutoProcessor(backend=pil) failed:", repr(e)[:200])
    ip = transformers.AutoImageProcessor.from_pretrained(model_dir, backend="pil")
    vp = transformers.AutoVideoProcessor.from_pretrained(model_dir)
    tk = transformers.AutoTokenizer.from_pretrained(model_dir)
    p = transformers.Qwen2VLProcessor(image_processor=ip, tokenizer=tk, video_processor=vp,
                                      chat_template=template)
    return p, ('Qwen2VLProcessor(AutoImageProcessor.from_pretrained(dir, backend="pil"), '
               'AutoTokenizer.from_pretrained(dir), AutoVideoProcessor.from_pretrained(dir))')


def messages_for(question, image="picture.png"):
    return [{"role": "user", "content": [{"type": "image", "image": image},
                                         {"type": "text", "text": question}]}]


# ---------------------------------------------------------------- data
_SHARED = None


def _gen_chunk(job):
    """Worker: renders pictures [start, start+count) into the shared array; returns their
    (kind, question, answer) lists."""
    chunk, start, count, seed, n_total, k = job
    rng = random.Random(seed * 1000003 + chunk)
    arr = np.frombuffer(_SHARED, dtype=np.uint8).reshape(n_total, scenes.SIZE, scenes.SIZE, 3)
    out = []
    for i in range(start, start + count):
        scene = scenes.random_scene(rng)
        arr[i] = np.asarray(scenes.render(scene))
        out.append([scenes.sample_question(scene, rng) for _ in range(k)])
    return chunk, out


def make_pictures(n, seed, k, workers):
    """n random pictures (uint8 [n, S, S, 3]) and k sampled questions for each."""
    global _SHARED
    # anonymous shared mapping: the forked workers write into it, no file behind it
    _SHARED = mmap.mmap(-1, n * scenes.SIZE * scenes.SIZE * 3)
    chunk = 2000
    jobs = [(c, s, min(chunk, n - s), seed, n, k) for c, s in enumerate(range(0, n, chunk))]
    qas = [None] * len(jobs)
    with mp.get_context("fork").Pool(workers) as pool:
        for c, out in pool.imap_unordered(_gen_chunk, jobs):
            qas[c] = out
    pics = np.frombuffer(_SHARED, dtype=np.uint8).reshape(n, scenes.SIZE, scenes.SIZE, 3)
    _SHARED = None  # the array keeps the mapping alive
    return pics, [q for part in qas for q in part]


class Encoder:
    """Token ids of training sequences: the rendered prompt (cached per question) + answer +
    <|im_end|>."""

    def __init__(self, processor, tok, ids):
        self.processor, self.tok, self.ids = processor, tok, ids
        self.prompts = {}

    def prompt_text(self, question, image="picture.png"):
        t = self.processor.apply_chat_template(messages_for(question, image), tokenize=False,
                                               add_generation_prompt=True)
        return t[0] if isinstance(t, list) else t

    def prompt(self, question):
        if question not in self.prompts:
            text = self.prompt_text(question).replace("<|image_pad|>",
                                                      "<|image_pad|>" * N_IMG_TOKENS)
            self.prompts[question] = self.tok.encode(text, add_special_tokens=False).ids
        return self.prompts[question]

    def table(self, qas):
        """qas: per picture a list of (kind, q, a). Returns int32 tokens [M, L] (padded with
        <|endoftext|>), prompt lengths, total lengths, picture index, kind index."""
        answers = sorted({a for per in qas for (_, _, a) in per})
        enc = self.tok.encode_batch(answers, add_special_tokens=False)
        aids = {a: e.ids + [self.ids["<|im_end|>"]] for a, e in zip(answers, enc)}
        rows = [(self.prompt(q), aids[a], p, scenes.KINDS.index(kd))
                for p, per in enumerate(qas) for (kd, q, a) in per]
        L = max(len(pr) + len(an) for pr, an, _, _ in rows)
        toks = np.full((len(rows), L), self.ids["<|endoftext|>"], dtype=np.int32)
        plen = np.empty(len(rows), np.int32)
        tlen = np.empty(len(rows), np.int32)
        for i, (pr, an, _, _) in enumerate(rows):
            seq = pr + an
            toks[i, :len(seq)] = seq
            plen[i], tlen[i] = len(pr), len(seq)
        pic = np.array([r[2] for r in rows], np.int64)
        kind = np.array([r[3] for r in rows], np.int64)
        return toks, plen, tlen, pic, kind


# ---------------------------------------------------------------- GPU-side inputs
def pixel_values(pics_u8, mean, std):
    """uint8 [B, S, S, 3] -> float32 [B * 144, 1176] in Qwen2VLImageProcessorPil's layout:
    rescale 1/255, normalize, then per merged 2x2 unit and patch (C, T, 14, 14)."""
    x = pics_u8.permute(0, 3, 1, 2).float() * (1.0 / 255.0)
    x = (x - mean) / std
    B = x.shape[0]
    x = x.reshape(B, 3, MERGED, MERGE, PATCH, MERGED, MERGE, PATCH)
    x = x.permute(0, 2, 5, 3, 6, 1, 4, 7)                      # B, gh, gw, mh, mw, C, ph, pw
    x = x.unsqueeze(6).expand(*x.shape[:6], TEMPORAL, PATCH, PATCH)
    return x.reshape(B * N_PATCHES, PATCH_DIM)


def position_table(prefix, L):
    """M-RoPE positions [3, L] of a sequence whose image pads start at `prefix`: text (p,p,p);
    the merged grid (prefix, prefix + row, prefix + col); text after it resumes at prefix +
    6 (start + max(h, w), which equals block max + 1 for one square image)."""
    pos = np.zeros((3, L), np.int64)
    for i in range(L):
        if i < prefix:
            pos[:, i] = i
        elif i < prefix + N_IMG_TOKENS:
            k = i - prefix
            pos[:, i] = (prefix, prefix + k // MERGED, prefix + k % MERGED)
        else:
            pos[:, i] = i - N_IMG_TOKENS + MERGED
    return pos


def fast_vision_attention(attn, apply_rot):
    """A forward for one VisionAttention module doing the per-image attention of all images
    at once (every image has N_PATCHES rows); the same arithmetic as the module's loop over
    cu_seqlens chunks."""
    def forward(hidden_states, cu_seqlens, position_embeddings=None, **kwargs):
        n = hidden_states.shape[0]
        q, k, v = attn.qkv(hidden_states).reshape(n, 3, attn.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
        cos, sin = position_embeddings
        q, k = apply_rot(q, k, cos, sin)
        shape = (n // N_PATCHES, N_PATCHES, attn.num_heads, -1)
        q, k, v = (t.reshape(shape).transpose(1, 2) for t in (q, k, v))
        o = F.scaled_dot_product_attention(q, k, v, scale=attn.scaling)
        return attn.proj(o.transpose(1, 2).reshape(n, -1))
    return forward


# ---------------------------------------------------------------- evaluation with transformers
def hf_generate(model, processor, image_path, question, max_new):
    img = Image.open(image_path).convert("RGB")
    text = processor.apply_chat_template(messages_for(question, os.path.basename(image_path)),
                                         tokenize=False, add_generation_prompt=True)
    inputs = processor(text=[text], images=[img], return_tensors="pt")
    L = inputs["input_ids"].shape[1]
    with torch.no_grad():
        g = model.generate(**inputs, do_sample=False, max_new_tokens=max_new,
                           output_scores=True, return_dict_in_generate=True)
    ids = g.sequences[0, L:].tolist()
    margin = float("inf")
    for s in g.scores:
        top = torch.topk(s[0].float(), 2).values
        margin = min(margin, float(top[0] - top[1]))
    answer = processor.tokenizer.decode(ids, skip_special_tokens=True)
    return ids, answer, margin, inputs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--n-train", type=int, default=160000, help="training pictures")
    ap.add_argument("--questions-per-picture", type=int, default=6)
    ap.add_argument("--n-val", type=int, default=1024, help="validation pictures (1 question)")
    ap.add_argument("--n-heldout", type=int, default=120)
    ap.add_argument("--eval-every", type=int, default=500)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--vocab", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--val-seed", type=int, default=777)
    ap.add_argument("--heldout-seed", type=int, default=31337)
    ap.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 4))
    ap.add_argument("--bench-batches", type=int, nargs="*", default=[],
                    help="time forward+backward at these batch sizes before training")
    ap.add_argument("--train-budget-s", type=float, default=440.0,
                    help="stop training early (with a warning) after this many seconds")
    args = ap.parse_args()

    out = os.path.abspath(args.out)
    shutil.rmtree(out, ignore_errors=True)
    model_dir = os.path.join(out, "model")
    os.makedirs(model_dir)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    # pictures first: the pool forks before CUDA or torch's thread pools start
    t = time.time()
    pics, qas = make_pictures(args.n_train, args.seed, args.questions_per_picture, args.workers)
    vpics, vqas = make_pictures(args.n_val, args.val_seed, 1, args.workers)
    t_pictures = time.time() - t
    log("pictures", pics.shape, "val", vpics.shape, "in %.1fs" % t_pictures)
    dev = torch.device("cuda")
    report = {"args": vars(args), "python": sys.version.split()[0], "torch": torch.__version__,
              "transformers": transformers.__version__,
              "tokenizers": __import__("tokenizers").__version__,
              "pillow": Image.__version__, "numpy": np.__version__,
              "gpu": torch.cuda.get_device_name(0), "timings": {}}
    log("torch", torch.__version__, "transformers", transformers.__version__, "gpu", report["gpu"])

    # tokenizer, processor files, processor
    template = json.load(open(TEMPLATE_JSON))["chat_template"]
    tok = build_tokenizer(model_dir, template, args.vocab)
    ids = {s: tok.token_to_id(s) for s in SPECIALS}
    vocab = tok.get_vocab_size(with_added_tokens=True)
    processor, proc_how = load_processor(model_dir, template)
    ip = processor.image_processor
    log("tokenizer vocab", vocab, "specials", ids)
    log("processor", type(processor).__name__, type(ip).__name__, type(processor.tokenizer).__name__,
        "size", getattr(ip, "size", None))
    assert type(ip).__name__.endswith("Pil"), type(ip).__name__
    report.update(vocab_size=vocab, special_ids=ids, processor_how=proc_how,
                  processor=type(processor).__name__,
                  image_processor=type(ip).__name__, tokenizer_class=type(processor.tokenizer).__name__)
    enc = Encoder(processor, tok, ids)

    # training sequences
    report["timings"]["pictures_s"] = t_pictures
    t = time.time()
    toks, plen, tlen, pic_of, kind_of = enc.table(qas)
    vtoks, vplen, vtlen, vpic_of, vkind_of = enc.table(vqas)
    report["timings"]["tokenize_s"] = time.time() - t
    prefix = enc.prompt("x").index(ids["<|image_pad|>"])
    log("sequences", toks.shape, "val", vtoks.shape, "longest", int(tlen.max()),
        "image pads start at", prefix, "in %.1fs" % (time.time() - t))
    Lmax = max(toks.shape[1], vtoks.shape[1])
    pos_all = torch.from_numpy(position_table(prefix, Lmax)).to(dev)
    mean = torch.tensor(CLIP_MEAN, device=dev).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=dev).view(1, 3, 1, 1)

    # model
    cfg = transformers.Qwen2VLConfig(
        text_config=dict(TEXT, vocab_size=vocab, bos_token_id=ids["<|endoftext|>"],
                         eos_token_id=ids["<|im_end|>"]),
        vision_config=VISION, image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"], vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=True)
    model = transformers.Qwen2VLForConditionalGeneration(cfg).to(dev)
    n_params = sum(p.numel() for p in model.parameters())
    tied = model.get_input_embeddings().weight.data_ptr() == model.get_output_embeddings().weight.data_ptr()
    log("params", n_params, "tied lm head", tied, "rope", cfg.text_config.rope_parameters,
        "attn", model.config._attn_implementation)
    assert tied, "the LM head must be tied to the embeddings"
    report.update(params=n_params, config=json.loads(cfg.to_json_string()))

    # checks: our inputs equal the processor's, our positions the model's, fast attention the
    # module's
    chk = []
    for i in range(4):
        kd, q, a = qas[i][0]
        img = Image.fromarray(pics[i])
        inputs = processor(text=[enc.prompt_text(q)], images=[img], return_tensors="pt")
        mine = pixel_values(torch.from_numpy(pics[i:i + 1]).to(dev), mean, std).cpu()
        pdiff = float((inputs["pixel_values"].float() - mine).abs().max())
        same_ids = inputs["input_ids"][0].tolist() == enc.prompt(q)
        mm = inputs.get("mm_token_type_ids")
        if mm is None:
            mm = (inputs["input_ids"] == ids["<|image_pad|>"]).to(torch.int32)
        hp, _ = model.model.get_rope_index(inputs["input_ids"].to(dev), mm_token_type_ids=mm.to(dev),
                                           image_grid_thw=inputs["image_grid_thw"].to(dev))
        L = inputs["input_ids"].shape[1]
        same_pos = bool(torch.equal(hp[:, 0].cpu(), pos_all[:, :L].cpu()))
        chk.append((same_ids, pdiff, same_pos))
        assert same_ids and pdiff <= 1e-5 and same_pos, (q, same_ids, pdiff, same_pos)
    from transformers.models.qwen2_vl import modeling_qwen2_vl as mq
    pv = pixel_values(torch.from_numpy(pics[:4]).to(dev), mean, std)
    grid = torch.tensor([[1, GRID, GRID]] * 4, device=dev)
    with torch.no_grad():
        ref = model.model.get_image_features(pv, grid).pooler_output
        ref = torch.cat(list(ref), 0) if isinstance(ref, (list, tuple)) else ref
        for blk in model.model.visual.blocks:
            blk.attn.forward = fast_vision_attention(blk.attn, mq.apply_rotary_pos_emb_vision)
        fast = model.model.get_image_features(pv, grid).pooler_output
        fast = torch.cat(list(fast), 0) if isinstance(fast, (list, tuple)) else fast
    vdiff = float((ref - fast).abs().max())
    log("checks: prompt ids equal processor", [c[0] for c in chk], "pixel max diff",
        max(c[1] for c in chk), "positions equal get_rope_index", [c[2] for c in chk],
        "fast vision attention max diff %.2e" % vdiff)
    assert vdiff <= 1e-4 * max(1.0, float(ref.abs().max()))
    report["checks"] = {"pixel_max_diff": max(c[1] for c in chk), "fast_attention_max_diff": vdiff}

    # training
    pics_g = torch.from_numpy(pics).to(dev)
    vpics_g = torch.from_numpy(vpics).to(dev)
    del pics, vpics
    toks_g, plen_g, tlen_g = (torch.from_numpy(x).to(dev) for x in (toks, plen, tlen))
    pic_g = torch.from_numpy(pic_of).to(dev)
    vdata = [torch.from_numpy(x).to(dev) for x in (vtoks, vplen, vtlen, vpic_of, vkind_of)]
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        p = (step - args.warmup) / max(1, args.steps - args.warmup)
        return args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))

    def batch_loss(tk, pl, tl, pics_u8, train=True):
        L = int(tl.max())
        tk = tk[:, :L].long()
        B = tk.shape[0]
        pv = pixel_values(pics_u8, mean, std)
        grid = torch.tensor([[1, GRID, GRID]], device=dev).repeat(B, 1)
        pos = pos_all[:, None, :L].expand(3, B, L)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(input_ids=tk, pixel_values=pv, image_grid_thw=grid, position_ids=pos,
                           use_cache=False).logits
        # logits[:, t] predicts token t+1; targets are the answer tokens [plen, tlen)
        t_idx = torch.arange(1, L, device=dev)[None, :]
        sel = (t_idx >= pl[:, None]) & (t_idx < tl[:, None])
        lg = logits[:, :-1][sel].float()
        tg = tk[:, 1:][sel]
        loss = F.cross_entropy(lg, tg)
        if train:
            return loss
        right = (lg.argmax(-1) == tg).to(torch.int32)
        wrong_per_seq = torch.zeros(B, dtype=torch.int32, device=dev)
        rows = torch.arange(B, device=dev)[:, None].expand(B, L - 1)[sel]
        wrong_per_seq.index_add_(0, rows, 1 - right)
        return loss, wrong_per_seq == 0

    def validate():
        model.eval()
        vt, vp, vl, vpi, vk = vdata
        em, losses, kinds = [], [], []
        with torch.no_grad():
            for s in range(0, vt.shape[0], 256):
                sl = slice(s, s + 256)
                loss, ok = batch_loss(vt[sl], vp[sl], vl[sl], vpics_g[vpi[sl]], train=False)
                em.append(ok)
                losses.append(float(loss))
        model.train()
        em = torch.cat(em)
        per_kind = {k: round(float(em[vk == i].float().mean()), 4)
                    for i, k in enumerate(scenes.KINDS) if bool((vk == i).any())}
        return float(em.float().mean()), float(np.mean(losses)), per_kind

    for bb in args.bench_batches:  # forward + backward timing only, no update
        idx = torch.arange(bb, device=dev) % toks_g.shape[0]
        for it in range(13):
            if it == 3:
                torch.cuda.synchronize()
                tb = time.time()
            batch_loss(toks_g[idx], plen_g[idx], tlen_g[idx], pics_g[pic_g[idx]]).backward()
        torch.cuda.synchronize()
        log("bench: batch %d forward+backward %.1f ms" % (bb, (time.time() - tb) * 100))
        opt.zero_grad(set_to_none=True)

    g = torch.Generator(device=dev)
    g.manual_seed(args.seed)
    model.train()
    history = []
    t_train = time.time()
    torch.cuda.synchronize()
    step = 0
    for step in range(args.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        idx = torch.randint(0, toks_g.shape[0], (args.batch,), device=dev, generator=g)
        loss = batch_loss(toks_g[idx], plen_g[idx], tlen_g[idx], pics_g[pic_g[idx]])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 50 == 0 or step == args.steps - 1:
            el = time.time() - t_train
            log("step %5d loss %.4f gnorm %.2f lr %.2e  %.1fs (%.0f ms/step)" % (
                step, float(loss.detach()), float(gn), lr_at(step), el, 1000 * el / (step + 1)))
            history.append({"step": step, "loss": float(loss.detach()), "s": round(el, 1)})
        if (step + 1) % args.eval_every == 0 and step + 1 < args.steps:
            em, vloss, kinds = validate()
            log("step %5d validation: loss %.4f exact match %.4f" % (step + 1, vloss, em), kinds)
            history.append({"step": step + 1, "val_loss": vloss, "val_exact": em})
        if time.time() - t_train > args.train_budget_s:
            log("WARNING: training budget of %.0fs spent: stopped at step %d of %d" % (
                args.train_budget_s, step + 1, args.steps))
            report["stopped_early_at"] = step + 1
            break
    torch.cuda.synchronize()
    report["timings"]["train_s"] = time.time() - t_train
    report["steps_done"] = step + 1
    em, vloss, per_kind = validate()
    log("final validation (teacher forced, bf16 autocast): loss %.4f exact match %.4f" % (vloss, em),
        per_kind)
    report.update(history=history, val_exact=em, val_loss=vloss, val_per_kind=per_kind)

    # save: plain transformers model in bf16 + the generation config
    t = time.time()
    del pics_g, toks_g
    model = model.to("cpu").to(torch.bfloat16).eval()
    model.save_pretrained(model_dir)
    transformers.GenerationConfig(
        bos_token_id=ids["<|endoftext|>"], eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
        pad_token_id=ids["<|endoftext|>"], do_sample=False).save_pretrained(model_dir)
    files = {f: os.path.getsize(os.path.join(model_dir, f)) for f in sorted(os.listdir(model_dir))}
    report.update(checkpoint_files=files, checkpoint_bytes=sum(files.values()))
    log("saved", files, "total", sum(files.values()))
    del model

    # held-out evaluation: reload from disk, f32 compute on the bf16 weights, CPU
    torch.set_num_threads(min(8, os.cpu_count() or 1))
    ref = transformers.Qwen2VLForConditionalGeneration.from_pretrained(
        model_dir, dtype=torch.float32).eval()
    proc, _ = load_processor(model_dir, template)
    log("reloaded", type(ref).__name__, next(ref.parameters()).dtype, "attn",
        ref.config._attn_implementation, "processor", type(proc).__name__,
        type(proc.image_processor).__name__, type(proc.tokenizer).__name__,
        "eos", ref.generation_config.eos_token_id)
    hdir = os.path.join(out, "heldout")
    os.makedirs(hdir)
    rng = random.Random(args.heldout_seed)
    cases, n_ok = [], 0
    t_eval = time.time()
    for i in range(args.n_heldout):
        kind = scenes.KINDS[i % len(scenes.KINDS)]
        while True:
            scene = scenes.random_scene(rng)
            qa = scenes.sample_question(scene, rng, kind)
            if qa:
                break
        name = "heldout_%03d.png" % i
        path = os.path.join(hdir, name)
        scenes.render(scene).save(path, optimize=True)
        hids, text, margin, inputs = hf_generate(ref, proc, path, qa[1], args.max_new_tokens)
        if i == 0:
            assert inputs["input_ids"][0].tolist() == enc.prompt(qa[1])
        ok = text == qa[2]
        n_ok += ok
        cases.append({"image": name, "kind": kind, "question": qa[1], "expected": qa[2],
                      "hf_ids": hids, "hf_text": text, "hf_exact": ok,
                      "hf_stop": "eos" if hids and hids[-1] in (ids["<|im_end|>"], ids["<|endoftext|>"]) else "max_tokens",
                      "hf_min_top2_margin": round(margin, 4)})
        if not ok or i < 3:
            log("held-out %s %s: %r -> %r (expected %r)%s" % (name, kind, qa[1], text, qa[2],
                                                              "" if ok else "  WRONG"))
    rate = n_ok / max(1, args.n_heldout)
    report["timings"]["heldout_eval_s"] = time.time() - t_eval
    report.update(heldout_exact=rate, heldout_n=args.n_heldout)
    log("held-out exact match (transformers, f32 CPU from bf16 weights): %d/%d = %.4f" % (
        n_ok, args.n_heldout, rate))
    with open(os.path.join(hdir, "cases.json"), "w") as f:
        json.dump({"model": "models/demo", "max_new_tokens": args.max_new_tokens,
                   "seed": args.heldout_seed, "exact_match": rate,
                   "transformers": transformers.__version__, "torch": torch.__version__,
                   "compute": "float32 on the bf16 checkpoint, CPU, sdpa; model.generate greedy",
                   "processor": proc_how,
                   "cases": cases}, f, indent=1, ensure_ascii=False)
        f.write("\n")

    # examples
    edir = os.path.join(out, "examples")
    os.makedirs(edir)
    examples = {}
    for name, (shapes, questions) in EXAMPLES.items():
        scene = [{"shape": sh, "color": co, "size": sz, "row": r, "col": c,
                  "cx": c * scenes.CELL + scenes.CELL // 2, "cy": r * scenes.CELL + scenes.CELL // 2,
                  "r": rad} for sh, co, sz, r, c, rad in shapes]
        path = os.path.join(edir, name + ".png")
        scenes.render(scene).save(path, optimize=True)
        rows = []
        for q in questions:
            expected = None
            for kind in scenes.KINDS:  # the templated answer of the kind this question is
                for _ in range(200):
                    qa = scenes.question(scene, kind, random.Random(_))
                    if qa and qa[0] == q:
                        expected = qa[1]
                        break
                if expected:
                    break
            hids, text, margin, _ = hf_generate(ref, proc, path, q, args.max_new_tokens)
            rows.append({"question": q, "expected": expected, "hf_text": text, "hf_ids": hids,
                         "hf_exact": text == expected})
            log("example %s: %r -> %r (expected %r)" % (name, q, text, expected))
        examples[name + ".png"] = rows
    with open(os.path.join(edir, "examples.json"), "w") as f:
        json.dump(examples, f, indent=1)
        f.write("\n")

    report["timings"]["total_s"] = time.time() - T0
    with open(os.path.join(out, "train_log.json"), "w") as f:
        json.dump(report, f, indent=1, default=str)
        f.write("\n")
    log("done: held-out exact match %.4f, checkpoint %d bytes, params %d, train %.0fs, total %.0fs"
        % (rate, report["checkpoint_bytes"], n_params, report["timings"]["train_s"],
           report["timings"]["total_s"]))


if __name__ == "__main__":
    main()

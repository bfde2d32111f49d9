#!/usr/bin/env python3
"""Reference outputs of the tensor ops, made by torch and transformers themselves, for
tests/test_ops_torch.c. Run where torch and transformers are installed (the GPU machine's
python3; CPU is enough):

    python3 tools/refgen/ops_refs.py tests/fixtures/ops/torch_ops.txt

The output is a small text file: one block per case,
    case NAME
    int KEY V...            (integers: modes, flags, sections, mask bounds)
    tensor KEY DTYPE NDIM D0 ... Dn-1
    V V V ...               (float32 values as %.9g, int64 as integers; row-major)
    end
Each case says which torch / transformers function produced it ("int hf 1" when the
transformers function itself was called; 0 when a fallback written here from its source was
used because the import failed: the log then says why)."""
import sys

import torch
import torch.nn.functional as F
import transformers

torch.manual_seed(1234)
OUT = open(sys.argv[1], "w")
OUT.write(f"# torch {torch.__version__} transformers {transformers.__version__}\n")


def log(*a):
    print(*a, file=sys.stderr)


def emit(name, ints=None, tensors=None):
    OUT.write(f"case {name}\n")
    for k, v in (ints or {}).items():
        v = v if isinstance(v, (list, tuple)) else [v]
        OUT.write("int " + k + " " + " ".join(str(int(x)) for x in v) + "\n")
    for k, t in (tensors or {}).items():
        t = t.detach().cpu().contiguous()
        if t.dtype in (torch.int64, torch.int32):
            dt, vals = "i64", " ".join(str(int(x)) for x in t.flatten().tolist())
        else:
            dt, vals = "f32", " ".join("%.9g" % x for x in t.float().flatten().tolist())
        OUT.write(f"tensor {k} {dt} {t.ndim} " + " ".join(str(s) for s in t.shape) + "\n" + vals + "\n")
    OUT.write("end\n")


# ------------------------------------------------------------------ interpolate
x = torch.randn(1, 2, 7, 9)
for size in [(4, 5), (11, 13), (5, 20), (1, 2)]:
    for mode in ["bilinear", "bicubic"]:
        for ac in [False, True]:
            for aa in [False, True]:
                y = F.interpolate(x, size=size, mode=mode, align_corners=ac, antialias=aa)
                emit(f"interp_{mode}_{size[0]}x{size[1]}_ac{int(ac)}_aa{int(aa)}",
                     {"mode": 0 if mode == "bilinear" else 1, "align_corners": int(ac), "antialias": int(aa)},
                     {"x": x[0], "y": y[0]})
# position-embedding-like grids: SigLIP bicubic (no antialias) up, SigLIP2 bilinear antialias down
pe = torch.randn(1, 16, 8, 8)
emit("interp_pos_bicubic_up", {"mode": 1, "align_corners": 0, "antialias": 0},
     {"x": pe[0], "y": F.interpolate(pe, size=(11, 13), mode="bicubic", align_corners=False)[0]})
emit("interp_pos_bilinear_aa_down", {"mode": 0, "align_corners": 0, "antialias": 1},
     {"x": pe[0], "y": F.interpolate(pe, size=(5, 6), mode="bilinear", align_corners=False, antialias=True)[0]})

# ------------------------------------------------------------------ pixel shuffle (Idefics3 / SmolVLM)
try:
    from transformers.models.idefics3.modeling_idefics3 import Idefics3Connector
    shuffle, hf = (lambda t, r: Idefics3Connector.pixel_shuffle(None, t, r)), 1
except Exception as e:  # pragma: no cover
    log("Idefics3Connector import failed:", e)

    def shuffle(t, r):
        b, seq, e = t.shape
        h = w = int(seq ** 0.5)
        t = t.view(b, h, w, e).view(b, h, w // r, e * r).permute(0, 2, 1, 3)
        t = t.reshape(b, w // r, h // r, e * r * r).permute(0, 2, 1, 3)
        return t.reshape(b, seq // (r * r), e * r * r)
    hf = 0
for b, seq, e, r in [(1, 36, 5, 2), (2, 36, 3, 3), (1, 64, 4, 4)]:
    t = torch.randn(b, seq, e)
    emit(f"pixel_shuffle_{b}x{seq}x{e}_r{r}", {"r": r, "hf": hf}, {"x": t, "y": shuffle(t, r)})

# ------------------------------------------------------------------ rotary embeddings
# Qwen2-VL text M-RoPE: positions [3, S], head_dim 32, sections [4, 6, 6].
hd, S, H = 32, 11, 3
pos = torch.tensor([[0, 1, 2, 3, 3, 3, 3, 3, 3, 5, 6],
                    [0, 1, 2, 3, 3, 3, 4, 4, 4, 5, 6],
                    [0, 1, 2, 3, 4, 5, 3, 4, 5, 5, 6]], dtype=torch.int64) * 7 + 1000
q = torch.randn(1, H, S, hd)


def text_mrope(name, sec, module, cfg_name):
    try:
        mod = __import__(f"transformers.models.{module}.modeling_{module}", fromlist=["x"])
        cfg_cls = getattr(transformers, cfg_name)
        cfg = cfg_cls(hidden_size=H * hd, num_attention_heads=H, num_key_value_heads=H, head_dim=hd,
                      rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": sec})
        rot_cls = [getattr(mod, n) for n in dir(mod) if n.endswith("RotaryEmbedding") and "Vision" not in n][0]
        rot = rot_cls(cfg)
        cos, sin = rot(q, pos[:, None, :])  # [1, S, hd]
        q_embed, _ = mod.apply_rotary_pos_emb(q, q, cos, sin)
        inv = rot.inv_freq.float()
        hf = 1
    except Exception as e:
        log(name, "transformers path failed:", repr(e))
        raise
    emit(name, {"sections": sec, "hf": hf},
         {"pos": pos, "inv_freq": inv, "cos": cos[0, :, : hd // 2], "sin": sin[0, :, : hd // 2],
          "q": q[0].transpose(0, 1), "q_embed": q_embed[0].transpose(0, 1)})


text_mrope("mrope_qwen2vl", [4, 6, 6], "qwen2_vl", "Qwen2VLTextConfig")
text_mrope("mrope_qwen3vl_interleaved", [6, 5, 5], "qwen3_vl", "Qwen3VLTextConfig")

# Qwen2-VL vision 2D RoPE: grid t=2, h=4, w=6, merge 2, head_dim 16 (REFERENCE_NOTES positions).
t_, h_, w_, m_ = 2, 4, 6, 2
vhd = 16
hpos = torch.arange(h_).unsqueeze(1).expand(-1, w_).reshape(h_ // m_, m_, w_ // m_, m_).permute(0, 2, 1, 3).flatten()
wpos = torch.arange(w_).unsqueeze(0).expand(h_, -1).reshape(h_ // m_, m_, w_ // m_, m_).permute(0, 2, 1, 3).flatten()
pos2 = torch.stack([hpos, wpos], dim=0).repeat(1, t_)  # [2, S]
vq = torch.randn(pos2.shape[1], 2, vhd)
from transformers.models.qwen2_vl import modeling_qwen2_vl as q2  # noqa: E402
vcfg = transformers.Qwen2VLVisionConfig(embed_dim=2 * vhd, num_heads=2)
vrot = q2.Qwen2VLVisionRotaryEmbedding(vcfg)
try:
    pid = q2.get_vision_position_ids(torch.tensor([[t_, h_, w_]]), m_)
    log("hf vision position ids", tuple(pid.shape), "equal to notes:", bool(torch.equal(pid.reshape(-1, 2) if pid.shape[-1] == 2 else pid.transpose(0, 1), pos2.transpose(0, 1))))
except Exception as e:
    log("get_vision_position_ids:", repr(e))
vcos, vsin = vrot(vq, pos2.transpose(0, 1))
log("vision cos shape", tuple(vcos.shape))
vq_embed, _ = q2.apply_rotary_pos_emb_vision(vq, vq, vcos, vsin)
emit("vision_rope_qwen2vl", {"hf": 1}, {"pos": pos2, "inv_freq": vrot.inv_freq.float(),
                                        "cos": vcos.reshape(-1, vhd)[:, : vhd // 2], "q": vq, "q_embed": vq_embed})

# ------------------------------------------------------------------ attention masks (transformers.masking_utils)
from transformers import masking_utils as mu  # noqa: E402


def eval_mask(fn, sq, sk):
    m = torch.zeros(sq, sk, dtype=torch.bool)
    for i in range(sq):
        for j in range(sk):
            m[i, j] = bool(fn(torch.tensor(0), torch.tensor(0), torch.tensor(i), torch.tensor(j)))
    return m


def attend(q, k, v, mask, scale):  # q [S, Hq, D] float64 math, GQA by repeat_interleave
    g = q.shape[1] // k.shape[1]
    kk, vv = k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)
    s = torch.einsum("ihd,jhd->hij", q.double(), kk.double()) * scale
    s = s.masked_fill(~mask[None], float("-inf"))
    p = torch.softmax(s, dim=-1)
    return torch.einsum("hij,jhd->ihd", p, vv.double()).float()


S, Hq, Hkv, D = 23, 4, 2, 8
qa, ka, va = torch.randn(S, Hq, D), torch.randn(S, Hkv, D), torch.randn(S, Hkv, D)
scale = D ** -0.5
m = eval_mask(mu.and_masks(mu.causal_mask_function, mu.sliding_window_overlay(5)), S, S)
emit("attn_causal_window5", {"causal": 1, "window": 5}, {"q": qa, "k": ka, "v": va, "out": attend(qa, ka, va, m, scale)})

# Gemma 3: sliding causal OR bidirectional inside each image (token_type 1, group ids).
tt = torch.zeros(1, S, dtype=torch.int64)
tt[0, 4:10] = 1
tt[0, 14:19] = 1
from transformers.models.gemma3 import modeling_gemma3 as g3  # noqa: E402
img_fn = mu.blockwise_overlay(g3.get_block_sequence_ids_for_mask(tt))
m = eval_mask(mu.or_masks(mu.and_masks(mu.causal_mask_function, mu.sliding_window_overlay(3)), img_fn), S, S)
emit("attn_gemma3_images", {"causal": 1, "window": 3, "spans": [4, 10, 14, 19]},
     {"q": qa, "k": ka, "v": va, "out": attend(qa, ka, va, m, scale)})

# Block-diagonal (packed sequences / per-frame vision attention), bidirectional.
seg = torch.tensor([[0] * 7 + [1] * 9 + [2] * 7])
try:
    pk = mu.packed_sequence_mask_function(seg)
    m = eval_mask(pk, S, S)
    hf = 1
except Exception as e:
    log("packed_sequence_mask_function failed:", e)
    m = seg[0][:, None] == seg[0][None, :]
    hf = 0
emit("attn_segments", {"causal": 0, "segments": [0, 7, 16, 23], "hf": hf},
     {"q": qa, "k": ka, "v": va, "out": attend(qa, ka, va, m, scale)})

# ------------------------------------------------------------------ vision layers
img = torch.randn(2, 3, 30, 44)
conv = torch.nn.Conv2d(3, 10, 7, stride=7, bias=True)
emit("patch_conv2d", {}, {"img": img, "w": conv.weight, "b": conv.bias, "out": conv(img).flatten(2).transpose(1, 2).reshape(-1, 10)})
vid = torch.randn(3, 4, 10, 15)
conv3 = torch.nn.Conv3d(3, 8, (2, 5, 5), stride=(2, 5, 5), bias=False)
emit("patch_conv3d", {}, {"img": vid, "w": conv3.weight, "out": conv3(vid[None]).flatten(2).transpose(1, 2)[0]})
xp = torch.randn(1, 5, 12, 10)
emit("avg_pool_3x2_s2x1", {"k": [3, 2], "s": [2, 1]},
     {"x": xp[0].permute(1, 2, 0), "out": F.avg_pool2d(xp, (3, 2), stride=(2, 1))[0].permute(1, 2, 0)})

# ------------------------------------------------------------------ norms and activations (HF modules)
xn = torch.randn(5, 24) * 3
wn = torch.randn(24)
try:
    from transformers.models.qwen2.modeling_qwen2 import Qwen2RMSNorm
    from transformers.models.gemma3.modeling_gemma3 import Gemma3RMSNorm
    n1 = Qwen2RMSNorm(24, eps=1e-6)
    n1.weight.data.copy_(wn)
    n2 = Gemma3RMSNorm(24, eps=1e-6)
    n2.weight.data.copy_(wn)
    emit("rms_norm_qwen2", {}, {"x": xn, "w": wn, "out": n1(xn)})
    emit("rms_norm_gemma3", {}, {"x": xn, "w": wn, "out": n2(xn)})
except Exception as e:
    log("RMSNorm modules failed:", e)
ln = torch.nn.LayerNorm(24, eps=1e-6)
ln.weight.data.copy_(wn)
ln.bias.data.copy_(torch.randn(24))
emit("layer_norm", {}, {"x": xn, "w": ln.weight, "b": ln.bias, "out": ln(xn)})
from transformers.activations import ACT2FN  # noqa: E402
xa = torch.linspace(-9, 9, 1001)
for i, name in enumerate(["silu", "gelu", "gelu_pytorch_tanh", "quick_gelu"]):
    emit(f"act_{name}", {"act": i}, {"x": xa, "y": ACT2FN[name](xa)})
OUT.close()
log("ok")

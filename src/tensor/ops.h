/* The op set models call. Every op checks shapes and dtypes (failing with a message that
 * names the op and the shapes), then runs on the backend of the context. Model code calls
 * only these functions and never looks at which backend runs them.
 *
 * Conventions, for every op:
 * - Destination passing: the caller supplies every output tensor, already shaped (make it
 *   with vlm_ctx_tensor from the per-forward arena, or pass a view into a bigger tensor,
 *   e.g. a slice of the KV cache). Ops never allocate outputs; they may take temporaries
 *   from the context's arena and give them back before returning.
 * - Activations are f32. Parameter tensors (weights, norm weights, biases, embedding
 *   tables) may be f32, f16 or bf16; they are widened to f32 exactly.
 * - Any tensor may be a strided view (permuted, sliced, broadcast with stride 0) unless an
 *   op says otherwise. Sizes may be odd; empty tensors are no-ops.
 * - An output may be the same tensor as an input (identical buffer, offset, shape and
 *   strides) where the op says "in place allowed"; any other overlap between an output
 *   and an input is refused.
 * - Errors are sticky: after a failure the context keeps the first status and message
 *   (vlm_ctx_status / ctx->err) and later ops return that status without running, so a
 *   forward pass may check once at the end. vlm_ctx_clear() re-arms it.
 * - Threads: the CPU backend uses ctx->n_threads OpenMP threads inside each op. One
 *   context must not be used from two threads at once. */
#ifndef VLM_TENSOR_OPS_H
#define VLM_TENSOR_OPS_H

#include <stdint.h>
#include <string.h>

#include "tensor/arena.h"
#include "tensor/tensor.h"

typedef struct vlm_ctx {
    const vlm_backend *backend;
    vlm_arena *arena;  /* temporaries and vlm_ctx_tensor outputs; same backend */
    int n_threads;     /* >= 1 */
    vlm_status status; /* VLM_OK or the first failure */
    vlm_error err;     /* the message of that failure */
    void *queue;       /* a device backend's work queue for this context's ops while a graph
                          is being captured (graph.h); NULL: the device's own queue */
    int bf16_compute;  /* 1: a device backend may multiply bf16 weights with bf16-rounded
                          activations on its matrix units (f32 accumulation and output);
                          0 (default): f32 arithmetic, as the CPU backend */
} vlm_ctx;

/* The arena must live as long as the context; n_threads < 1 means 1. */
void vlm_ctx_init(vlm_ctx *ctx, vlm_arena *arena, int n_threads);
void vlm_ctx_clear(vlm_ctx *ctx);
static inline vlm_status vlm_ctx_status(const vlm_ctx *ctx) {
    return ctx->status;
}
/* A new contiguous tensor from the context's arena (contents undefined). */
vlm_status vlm_ctx_tensor(vlm_ctx *ctx, vlm_dtype dtype, int ndim, const int64_t *shape,
                          vlm_tensor *out);

/* ================================================================ data movement */

/* dst = src, elementwise, same shape; any strides. dtypes: equal (any dtype, raw copy),
 * or both in {f32, f16, bf16, f64} (converted; to f16/bf16 rounds to nearest even). */
vlm_status vlm_op_copy(vlm_ctx *ctx, const vlm_tensor *src, const vlm_tensor *dst);
/* Every element of dst (f32, f16, bf16 or f64) = value. */
vlm_status vlm_op_fill(vlm_ctx *ctx, const vlm_tensor *dst, float value);
/* *out = a contiguous copy of x (same dtype) in the arena; when x is already contiguous,
 * *out is x itself and nothing is copied. */
vlm_status vlm_op_contiguous(vlm_ctx *ctx, const vlm_tensor *x, vlm_tensor *out);
/* out = concatenation of xs[0..n-1] along dim (negative counts from the end). All inputs
 * have out's ndim and equal extents except on dim; the extents on dim add up to out's.
 * dtypes as vlm_op_copy. */
vlm_status vlm_op_concat(vlm_ctx *ctx, int n, const vlm_tensor *const *xs, int dim,
                         const vlm_tensor *out);
/* Slicing is a view: see vlm_tensor_narrow / vlm_tensor_slice; copy it with vlm_op_copy. */

/* out[i, :] = table[ids[i], :]: embedding lookup and row gather (e.g. the Qwen2.5-VL
 * window reordering). table [N, D] f32/f16/bf16 (or out's dtype), ids [M] i32/i64 with
 * 0 <= id < N (checked: an id out of range fails naming it), out [M, D]. */
vlm_status vlm_op_gather_rows(vlm_ctx *ctx, const vlm_tensor *table, const vlm_tensor *ids,
                              const vlm_tensor *out);
/* Same as vlm_op_gather_rows: the name model code uses for token embeddings. */
vlm_status vlm_op_embedding(vlm_ctx *ctx, const vlm_tensor *table, const vlm_tensor *ids,
                            const vlm_tensor *out);
/* out[ids[i], :] = src[i, :] for every i; other rows of out are untouched (splicing image
 * embeddings into the text embeddings at the image-token positions). src [M, D], ids [M]
 * i32/i64 in range and pairwise distinct (checked), out [N, D]. */
vlm_status vlm_op_scatter_rows(vlm_ctx *ctx, const vlm_tensor *src, const vlm_tensor *ids,
                               const vlm_tensor *out);

/* ================================================================ elementwise */

/* out = a + b and out = a * b. a f32; b f32/f16/bf16 broadcast to a's shape by numpy rules
 * (b has at most a's ndim; aligned from the right, each extent equal or 1), e.g. a bias
 * [D] or a per-row scale [S, 1] against a [S, D]. out has a's shape. In place allowed
 * (out == a). */
vlm_status vlm_op_add(vlm_ctx *ctx, const vlm_tensor *a, const vlm_tensor *b,
                      const vlm_tensor *out);
vlm_status vlm_op_mul(vlm_ctx *ctx, const vlm_tensor *a, const vlm_tensor *b,
                      const vlm_tensor *out);
/* out = x * s. In place allowed. */
vlm_status vlm_op_scale(vlm_ctx *ctx, const vlm_tensor *x, float s, const vlm_tensor *out);

typedef enum vlm_act {
    VLM_ACT_SILU = 0,   /* x * sigmoid(x) */
    VLM_ACT_GELU,       /* exact: 0.5 x (1 + erf(x / sqrt 2)) */
    VLM_ACT_GELU_TANH,  /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) */
    VLM_ACT_QUICK_GELU, /* x * sigmoid(1.702 x) */
    VLM_ACT_RELU,
    VLM_ACT_COUNT
} vlm_act;

/* out = act(x). In place allowed. */
vlm_status vlm_op_act(vlm_ctx *ctx, vlm_act act, const vlm_tensor *x, const vlm_tensor *out);
/* out = act(gate) * up, all the same shape (gate and up may be two halves of one fused
 * projection, taken with vlm_tensor_narrow). In place allowed (out == gate or up). */
vlm_status vlm_op_gated_act(vlm_ctx *ctx, vlm_act act, const vlm_tensor *gate, const vlm_tensor *up,
                            const vlm_tensor *out);

/* ================================================================ normalization */

/* Over the last dimension D: out = x / sqrt(mean(x^2) + eps) * (w + w_offset).
 * w [D] f32/f16/bf16, or NULL for no learned scale (factor 1; w_offset unused).
 * w_offset is 0 for Llama/Qwen RMSNorm and 1 for Gemma's (1 + w) form: the factor is
 * computed in f32 as f32(w) + w_offset, as HF does. In place allowed. */
vlm_status vlm_op_rms_norm(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w, float eps,
                           float w_offset, const vlm_tensor *out);
/* Over the last dimension D: out = (x - mean) / sqrt(var + eps) * w + b (biased variance,
 * as torch.nn.LayerNorm). w and b [D] f32/f16/bf16, each may be NULL. In place allowed. */
vlm_status vlm_op_layer_norm(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w,
                             const vlm_tensor *b, float eps, const vlm_tensor *out);
/* Softmax over the last dimension (max-subtracted). In place allowed. */
vlm_status vlm_op_softmax(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *out);

/* ================================================================ matrix products */

/* out = x @ w^T (+ bias): a Linear layer. x [..., K] f32, w [N, K] f32/f16/bf16 with
 * contiguous rows (w.stride[1] == element size), bias [N] f32/f16/bf16 or NULL,
 * out [..., N] with x's leading extents. Strided x/out are copied through the arena when
 * their rows cannot be addressed with one leading stride. */
vlm_status vlm_op_matmul(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *w,
                         const vlm_tensor *bias, const vlm_tensor *out);
/* Batched out[..., M, N] = a[..., M, K] @ b[..., K, N], all f32 and of the same ndim
 * (>= 2); each leading (batch) extent of a and b equals out's or is 1 (broadcast). b may be
 * a transposed view (e.g. vlm_tensor_transpose of keys [N, K]); no copy is made then. */
vlm_status vlm_op_bmm(vlm_ctx *ctx, const vlm_tensor *a, const vlm_tensor *b,
                      const vlm_tensor *out);

/* ================================================================ quantized weights */

/* A weight matrix [N, K] as a Linear layer or an embedding table holds it: plain float, or
 * MLX affine-quantized (src/weights/mlx_quant.h describes the format: codes packed as a
 * little-endian bit stream per row, w = scale * code + bias per group of group_size
 * columns). A value: copying it copies no data. */
typedef struct vlm_qweight {
    vlm_tensor w;      /* bits == 0: [N, K] f32/f16/bf16; else u32 [N, K * bits / 32] */
    vlm_tensor scales; /* quantized only: [N, K / group_size] f32/f16/bf16 */
    vlm_tensor biases; /* quantized only: same shape and dtype as scales */
    int bits;          /* 0 (plain float) or 2, 3, 4, 5, 6, 8 */
    int group_size;    /* quantized only: 32, 64 or 128 */
} vlm_qweight;

/* A plain float weight as a vlm_qweight (bits 0). */
static inline vlm_qweight vlm_qweight_float(const vlm_tensor *w) {
    vlm_qweight q;
    memset(&q, 0, sizeof q);
    q.w = *w;
    return q;
}

#define VLM_MATMUL_MANY_MAX 4

/* An RMSNorm applied to x before the products of the fused ops below: x is replaced by
 * vlm_op_rms_norm(x, w, eps, w_offset) (w may be NULL). A backend may normalize x on the
 * fly (a decode step's GEMV stages the normalized row itself, so the norm costs no
 * separate pass); results equal the composed ops within f32 rounding. */
typedef struct vlm_prenorm {
    const vlm_tensor *w;
    float eps;
    float w_offset;
} vlm_prenorm;

/* out[i] = xn @ w[i]^T (+ bias[i], which may be NULL) for i < n (1 .. VLM_MATMUL_MANY_MAX),
 * each as vlm_op_matmul_q, where xn is x, or RMSNorm(x) when norm is not NULL: the Linear
 * layers that read the same input (q/k/v, gate/up, a final norm and the head). A backend
 * may run them as one pass (a decode step's GEMV launches once for all, and the small k/v
 * products stop being launch-bound); results equal the separate products. */
vlm_status vlm_op_matmul_many(vlm_ctx *ctx, const vlm_tensor *x, const vlm_prenorm *norm, int n,
                              const vlm_qweight *const *w, const vlm_tensor *const *bias,
                              const vlm_tensor *const *out);

/* out += x @ w^T + bias (a Linear layer added to the residual stream; bias may be NULL):
 * vlm_op_matmul_q into a temporary followed by vlm_op_add(out, tmp, out); a backend may do
 * it in one pass (results within f32 rounding of the composed ops). */
vlm_status vlm_op_matmul_add(vlm_ctx *ctx, const vlm_tensor *x, const vlm_qweight *w,
                             const vlm_tensor *bias, const vlm_tensor *out);

/* out = act(xn @ wg^T + bg) * (xn @ wu^T + bu) (a gated MLP's first half; biases may be
 * NULL; xn as vlm_op_matmul_many): the two products followed by vlm_op_gated_act; a backend
 * may do it in one pass. */
vlm_status vlm_op_matmul_gated(vlm_ctx *ctx, const vlm_tensor *x, const vlm_prenorm *norm,
                               vlm_act act, const vlm_qweight *wg, const vlm_tensor *bg,
                               const vlm_qweight *wu, const vlm_tensor *bu, const vlm_tensor *out);
/* N and K of the (dequantized) matrix. */
static inline int64_t vlm_qweight_rows(const vlm_qweight *q) {
    return q->w.shape[0];
}
static inline int64_t vlm_qweight_cols(const vlm_qweight *q) {
    return q->bits ? q->w.shape[1] * 32 / q->bits : q->w.shape[1];
}

/* out = x @ dequant(w)^T (+ bias): vlm_op_matmul for a vlm_qweight. A float weight goes to
 * vlm_op_matmul. A quantized one is computed from the packed words (never dequantized as a
 * whole): w.w u32 with contiguous rows, shape[1] * 32 divisible by bits, K a multiple of
 * group_size; scales and biases [N, K / group_size], one float dtype, contiguous rows.
 * x, bias and out as vlm_op_matmul. Each weight is widened to f32 as scale * code + bias
 * (one f32 rounding), then the products are summed in f32. */
vlm_status vlm_op_matmul_q(vlm_ctx *ctx, const vlm_tensor *x, const vlm_qweight *w,
                           const vlm_tensor *bias, const vlm_tensor *out);

/* out[i, :] = dequant(table)[ids[i], :]: vlm_op_embedding for a vlm_qweight (only the
 * looked-up rows are dequantized). table as vlm_op_matmul_q's w; ids [M] i32/i64 in range
 * (checked); out f32 [M, K] (a float table also allows out's dtype, as vlm_op_embedding). */
vlm_status vlm_op_embedding_q(vlm_ctx *ctx, const vlm_qweight *table, const vlm_tensor *ids,
                              const vlm_tensor *out);

/* ================================================================ rotary embeddings */

typedef enum vlm_rope_mode {
    VLM_ROPE_ROTATE_HALF = 0, /* pairs (i, i + R/2): HF rotate_half (Llama, Qwen, Gemma) */
    VLM_ROPE_INTERLEAVED,     /* pairs (2i, 2i + 1): GPT-J style */
} vlm_rope_mode;

typedef enum vlm_rope_sections {
    VLM_ROPE_SECTIONS_CONSECUTIVE = 0, /* frequency j < s0 uses axis 0, then s1 of axis 1, ...
                                          (Qwen2-VL M-RoPE; 2D vision RoPE) */
    VLM_ROPE_SECTIONS_INTERLEAVED,     /* j % n == a and j < n * s_a uses axis a (a >= 1),
                                          else axis 0 (Qwen3-VL interleaved M-RoPE) */
} vlm_rope_sections;

/* The cos/sin tables of rotary embeddings, as HF's rotary modules compute them in f32:
 * angle[s, j] = f32(pos[axis(j), s]) * inv_freq[j] (one f32 product), cos = cos(angle) *
 * attention_scaling, sin likewise.
 * pos: [S] (one axis) or [n_axes, S] (n_axes <= 4), i32 or i64, e.g. M-RoPE's (t, h, w)
 * rows or the (h, w) rows of vision patches. inv_freq [R/2] f32 (the model computes it:
 * base, scaling). sections: n_axes entries summing to R/2 (NULL when n_axes == 1);
 * axis(j) follows `layout`. For Qwen2-VL vision RoPE pass inv_freq = cat(f, f) and
 * sections {R/4, R/4} consecutive. cos, sin: [S, R/2] f32. */
vlm_status vlm_op_rope_table(vlm_ctx *ctx, const vlm_tensor *pos, const vlm_tensor *inv_freq,
                             const int *sections, vlm_rope_sections layout, float attention_scaling,
                             const vlm_tensor *cos, const vlm_tensor *sin);
/* Rotates the first R dimensions of every head: x and out [S, H, D], cos/sin [S, R/2]
 * with R even and R <= D; dimensions R..D-1 are copied unchanged. ROTATE_HALF:
 * out[i] = x[i] c_i - x[i+R/2] s_i, out[i+R/2] = x[i+R/2] c_i + x[i] s_i (i < R/2).
 * INTERLEAVED: the same on (x[2i], x[2i+1]). In place allowed. */
vlm_status vlm_op_rope(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *cos,
                       const vlm_tensor *sin, vlm_rope_mode mode, const vlm_tensor *out);

/* ================================================================ attention */

/* Which keys a query sees. Positions live in key space: key j is at position j, query row
 * i at position p = q_pos0 + i. Key j is visible to query p iff
 *     (base(p, j) and same_segment(p, j)) or same_span(p, j)
 * base: causal ? j <= p : true; and, when window > 0, p - j < window (causal) or
 *       |p - j| < window (bidirectional), as HF's sliding_window_overlay.
 * segments (cu_seqlens style, NULL for none): bounds [n_segments + 1], 0 = b0 <= b1 <= ...
 *       = Sk, and q_pos0 + Sq <= Sk; positions in different segments never see each other
 *       (per-frame / per-window vision attention).
 * spans (NULL for none): n_spans pairs {start, end}, sorted, disjoint, inside [0, Sk);
 *       two positions inside one span always see each other (Gemma 3 image tokens attend
 *       bidirectionally inside a causal or sliding mask).
 * A query that sees no key gets an output of zeros. Host arrays; read during the call. */
typedef struct vlm_attn_params {
    float scale;   /* multiplies q . k, e.g. 1/sqrt(head_dim) */
    float softcap; /* > 0: score = softcap * tanh(score / softcap); 0: off */
    int causal;
    int64_t q_pos0;
    int64_t window; /* 0: none */
    const int64_t *segments;
    int64_t n_segments;
    const int64_t *spans; /* [n_spans][2] */
    int64_t n_spans;
    /* NULL, or an i64 tensor of one element in the backend's memory holding n, the number
     * of keys to use: rows 0 .. min(n, Sk) - 1 of k and v, read when the op runs (so a
     * recorded graph, graph.h, attends over a cache that grows between replays). The
     * queries are then the last Sq of those positions (q_pos0 = n - Sq; the field is
     * ignored). n must lie in [Sq, Sk]: the CPU backend checks it (VLM_ERR_INVALID_ARGUMENT),
     * a device backend, which reads it while kernels run, clamps it to [0, Sk] (queries that
     * then see no key get zeros). Not combined with segments or spans. */
    const vlm_tensor *kv_len;
} vlm_attn_params;

/* Bidirectional, no window, no segments, no spans, the given scale. */
vlm_attn_params vlm_attn_params_default(float scale);

/* out = softmax(scale * q k^T + mask) v per head, with grouped-query attention.
 * q [Sq, Hq, D], k [Sk, Hkv, D], v [Sk, Hkv, Dv], out [Sq, Hq, Dv], all f32, Hq a multiple
 * of Hkv (query head h uses kv head h / (Hq / Hkv)). Each operand may be a strided view
 * (e.g. heads sliced out of a fused qkv projection) as long as its last dimension is
 * contiguous. The softmax is computed online in blocks (numerically stable). */
vlm_status vlm_op_attention(vlm_ctx *ctx, const vlm_tensor *q, const vlm_tensor *k,
                            const vlm_tensor *v, const vlm_attn_params *params,
                            const vlm_tensor *out);

/* ================================================================ vision */

/* Non-overlapping patch embedding (a Conv2d or Conv3d whose stride equals its kernel, no
 * padding), as unfold + matmul.
 *   2D: img [C, H, W] or [N, C, H, W], w [E, C, P, P]          -> out [N * gh * gw, E]
 *   3D: img [C, T, H, W],             w [E, C, kT, P, P]       -> out [(T/kT) * gh * gw, E]
 * gh = H / P, gw = W / P (floor, as torch's conv; trailing pixels are dropped), rows in
 * (n or t, y, x) raster order. w f32/f16/bf16 (any strides: a channels-last checkpoint
 * passes a permuted view), bias [E] or NULL. Qwen2-VL's processor already flattens patches:
 * there the "Conv3d" is vlm_op_matmul with w reshaped to [E, C*kT*P*P]. */
vlm_status vlm_op_patch_embed(vlm_ctx *ctx, const vlm_tensor *img, const vlm_tensor *w,
                              const vlm_tensor *bias, const vlm_tensor *out);

/* 2D average pooling over a channels-last grid: x [H, W, C] -> out [OH, OW, C] with
 * OH = (H - kh) / sh + 1, OW = (W - kw) / sw + 1 (no padding, floor; torch AvgPool2d
 * defaults). Gemma 3 pools its [64*64, 1152] patch grid, viewed as [64, 64, 1152], by 4. */
vlm_status vlm_op_avg_pool2d(vlm_ctx *ctx, const vlm_tensor *x, int kh, int kw, int sh, int sw,
                             const vlm_tensor *out);

/* Idefics3 / SmolVLM pixel shuffle with scale factor r: x [seq, E] (or [B, seq, E]) with
 * seq = s*s a square and s % r == 0 -> out [seq / r^2, E * r^2] (or [B, ...]):
 * out[h2 * (s/r) + w2][(hr * r + wr) * E + e] = x[(h2 * r + hr) * s + (w2 * r + wr)][e],
 * which is what Idefics3Connector.pixel_shuffle's views and permutes compute. */
vlm_status vlm_op_pixel_shuffle(vlm_ctx *ctx, const vlm_tensor *x, int r, const vlm_tensor *out);

typedef enum vlm_interp_mode {
    VLM_INTERP_BILINEAR = 0,
    VLM_INTERP_BICUBIC,
} vlm_interp_mode;

/* torch.nn.functional.interpolate(x, size=(OH, OW), mode, align_corners, antialias) on the
 * last two dimensions: x [..., H, W] -> out [..., OH, OW] (1 to 3 leading dimensions, e.g.
 * [C, H, W]; a channels-last grid passes a permuted view). Without antialias: torch's
 * float path (bicubic with A = -0.75, source indices clamped at the borders). With
 * antialias (as SigLIP2): torch's separable AA path (triangle / Keys a = -0.5 filters
 * widened by the scale when downsampling, weights normalized per output), horizontal pass
 * first. */
vlm_status vlm_op_interpolate(vlm_ctx *ctx, const vlm_tensor *x, vlm_interp_mode mode,
                              int align_corners, int antialias, const vlm_tensor *out);

/* ================================================================ selection */

/* Index of the largest element along the last dimension: x [..., N] f32 -> out [...] i32 or
 * i64. Ties and NaN as torch.argmax: the first maximal index; a NaN counts as the maximum. */
vlm_status vlm_op_argmax(vlm_ctx *ctx, const vlm_tensor *x, const vlm_tensor *out);
/* The k largest elements along the last dimension, in descending order (equal values by
 * ascending index; NaN first): x [..., N] f32, 1 <= k <= N -> values [..., k] f32 and
 * indices [..., k] i32/i64 (either may be NULL). */
vlm_status vlm_op_topk(vlm_ctx *ctx, const vlm_tensor *x, int64_t k, const vlm_tensor *values,
                       const vlm_tensor *indices);

#endif

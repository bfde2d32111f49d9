/* Speed of the Qwen2-VL model code on a random-weight model of a real shape (bf16
 * weights, f32 activations): the vision tower on one image, text prefill, and decode, on the
 * CPU or a GPU.
 *
 *   bench_qwen2_vl [--shape 2b|7b|3b|7b25|tiny] [--image-patches N] [--prompt N] [--decode N]
 *                  [--threads N] [--repeat R] [--bits B [--group-size G]]
 *                  [--device cpu|cuda|cuda:N] [--compute f32|bf16]
 *
 * Shapes: 2b, 7b: Qwen2-VL (LayerNorm + GELU vision, full attention); 3b, 7b25: Qwen2.5-VL
 * (RMSNorm + SwiGLU vision, 112-pixel windows with full attention in blocks 7/15/23/31;
 * 3b ties lm_head to the embedding). For 3b and 7b25 the defaults are the request:
 * one 448x448 image (1024 patches, 256 merged tokens) plus 30 text tokens (a 286-token
 * prompt) and 128 decode tokens.
 *
 * --device cuda: the weights are made on the host, one tensor at a time, and uploaded into
 * one device buffer; every phase is timed up to vlm_cuda_synchronize (a decode step ends
 * with its logits downloaded). TTFT = vision + prefill of the whole prompt + the last
 * logits on the host, timed as one sequence.
 *
 * --compute: as vlm_model_params.compute (default bf16 on a GPU: tensor-core products of
 * bf16 weights and bf16-rounded activations; f32 on the CPU). Decode steps go through
 * qwen2_vl_decode_step, recorded once as a CUDA graph and replayed (VLM_CUDA_GRAPHS=0 in
 * the environment: launched op by op, for comparison).
 *
 * --bits: the text model's Linear and Embedding weights MLX-affine-quantized (B bits, groups
 * of G, bf16 scales and biases; vision stays bf16, as mlx-vlm converts), computed from the
 * packed words by vlm_op_matmul_q (on CUDA: a tiled GEMM for prefill, a GEMV for decode;
 * neither makes a dequantized copy of a weight).
 *
 * Prints ms and tokens/s for each phase (best of R) and the decode's effective weight
 * bandwidth (bytes of weights read per token / time). Weights are made in memory (no
 * checkpoint file), so the figures are the model code's, not the loader's. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "models/qwen2_vl/decode.h"
#include "models/qwen2_vl/text.h"
#include "models/qwen2_vl/vision.h"
#include "tensor/backend_info.h"
#include "tensor/cuda/cuda_backend.h"
#include "tensor/device.h"
#include "tensor/ops.h"

#define SHAPE(...) (const int64_t[]){__VA_ARGS__}

typedef struct wpool {
    vlm_buffer *buf;
    size_t used, size;
    uint64_t rng;
    int bits, group;       /* text Linear / Embedding weights MLX-quantized when bits > 0 */
    double decode_bytes;   /* weight bytes one decode step reads */
    uint16_t *scratch;     /* host staging for one tensor when the pool is device memory */
    size_t scratch_n;
} wpool;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const vlm_error *e) {
    fprintf(stderr, "bench_qwen2_vl: %s: %s\n", what, e->message);
    exit(1);
}

/* Waits for the device's queued work (no-op on the CPU): timings end here. */
static void sync(const vlm_backend *be) {
#ifdef VLM_HAVE_CUDA
    vlm_error e;
    if (vlm_backend_is_cuda(be) && vlm_cuda_synchronize(be, &e) != VLM_OK) die("synchronize", &e);
#else
    (void)be;
#endif
}

/* A bf16 tensor of random values ~ U(-a, a) (norm weights around 1). */
static vlm_tensor wt(wpool *p, int ndim, const int64_t *shape, float center, float a) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    size_t bytes = (size_t)n * 2, off = p->used;
    if (off + bytes > p->size) {
        fprintf(stderr, "bench_qwen2_vl: weight pool too small\n");
        exit(1);
    }
    int host = vlm_backend_host_memory(p->buf->backend);
    if (!host && p->scratch_n < (size_t)n) {
        free(p->scratch);
        p->scratch = malloc((size_t)n * 2);
        p->scratch_n = (size_t)n;
        if (!p->scratch) {
            fprintf(stderr, "bench_qwen2_vl: out of host memory\n");
            exit(1);
        }
    }
    uint16_t *d = host ? (uint16_t *)((char *)p->buf->data + off) : p->scratch;
    for (int64_t i = 0; i < n; i++) {
        p->rng ^= p->rng << 13;
        p->rng ^= p->rng >> 7;
        p->rng ^= p->rng << 17;
        float u = (float)(p->rng >> 40) / (float)(1 << 24) * 2 - 1;
        d[i] = vlm_f32_to_bf16(center + a * u);
    }
    p->used = (off + bytes + 63) & ~(size_t)63;
    vlm_tensor t;
    vlm_error e;
    if (!host && vlm_buffer_upload(p->buf, off, d, bytes, &e) != VLM_OK) die("upload", &e);
    if (vlm_tensor_init(&t, p->buf, (int64_t)off, VLM_DTYPE_BF16, ndim, shape, &e) != VLM_OK) die("tensor", &e);
    return t;
}

/* A Linear weight: a bf16 matrix as a vlm_qweight. */
static vlm_qweight lin(wpool *p, int ndim, const int64_t *shape, float center, float a) {
    vlm_tensor t = wt(p, ndim, shape, center, a);
    return vlm_qweight_float(&t);
}

/* `bytes` of pool memory at a 64-byte boundary. */
static size_t take(wpool *p, size_t bytes) {
    size_t off = p->used;
    if (off + bytes > p->size) {
        fprintf(stderr, "bench_qwen2_vl: weight pool too small\n");
        exit(1);
    }
    p->used = (off + bytes + 63) & ~(size_t)63;
    return off;
}

/* An f32 tensor [n] holding host values (the rotary tables), uploaded into the pool. */
static vlm_tensor wf32(wpool *p, int64_t n, const float *src) {
    size_t off = take(p, (size_t)n * sizeof *src);
    vlm_tensor t;
    vlm_error e;
    if (vlm_buffer_upload(p->buf, off, src, (size_t)n * sizeof *src, &e) != VLM_OK) die("upload", &e);
    if (vlm_tensor_init(&t, p->buf, (int64_t)off, VLM_DTYPE_F32, 1, SHAPE(n), &e) != VLM_OK) die("tensor", &e);
    return t;
}

/* A text Linear / Embedding weight [n, k]: bf16, or with --bits MLX-quantized (random
 * packed codes, bf16 scales ~ a / 2^bits and biases ~ -a: the kernels' speed does not
 * depend on the values). `streamed`: read whole by every decode step (not the embedding). */
static vlm_qweight tlin(wpool *p, int64_t n, int64_t k, float a, int streamed) {
    if (!p->bits || k % p->group) {
        if (streamed) p->decode_bytes += (double)(n * k * 2);
        return lin(p, 2, SHAPE(n, k), 0, a);
    }
    int64_t words = k * p->bits / 32, groups = k / p->group;
    vlm_qweight q;
    memset(&q, 0, sizeof q);
    size_t wo = take(p, (size_t)(n * words) * 4), so = take(p, (size_t)(n * groups) * 2);
    size_t bo = take(p, (size_t)(n * groups) * 2);
    /* made in host memory (staging when the pool is on a device), then uploaded */
    int host = vlm_backend_host_memory(p->buf->backend);
    size_t wbytes = (size_t)(n * words) * 4, gbytes = (size_t)(n * groups) * 2;
    char *stage = host ? NULL : malloc(wbytes + 2 * gbytes);
    if (!host && !stage) {
        fprintf(stderr, "bench_qwen2_vl: out of host memory\n");
        exit(1);
    }
    uint32_t *w = (uint32_t *)(void *)(host ? (char *)p->buf->data + wo : stage);
    uint16_t *sc = (uint16_t *)(void *)(host ? (char *)p->buf->data + so : stage + wbytes);
    uint16_t *bi = (uint16_t *)(void *)(host ? (char *)p->buf->data + bo : stage + wbytes + gbytes);
    for (int64_t i = 0; i < n * words; i++) {
        p->rng ^= p->rng << 13;
        p->rng ^= p->rng >> 7;
        p->rng ^= p->rng << 17;
        w[i] = (uint32_t)(p->rng >> 16);
    }
    float step = 2 * a / (float)((1 << p->bits) - 1);
    for (int64_t i = 0; i < n * groups; i++) {
        sc[i] = vlm_f32_to_bf16(step);
        bi[i] = vlm_f32_to_bf16(-a);
    }
    vlm_error e;
    if (!host && (vlm_buffer_upload(p->buf, wo, w, wbytes, &e) != VLM_OK ||
                  vlm_buffer_upload(p->buf, so, sc, gbytes, &e) != VLM_OK ||
                  vlm_buffer_upload(p->buf, bo, bi, gbytes, &e) != VLM_OK))
        die("upload", &e);
    free(stage);
    if (vlm_tensor_init(&q.w, p->buf, (int64_t)wo, VLM_DTYPE_U32, 2, SHAPE(n, words), &e) != VLM_OK ||
        vlm_tensor_init(&q.scales, p->buf, (int64_t)so, VLM_DTYPE_BF16, 2, SHAPE(n, groups), &e) != VLM_OK ||
        vlm_tensor_init(&q.biases, p->buf, (int64_t)bo, VLM_DTYPE_BF16, 2, SHAPE(n, groups), &e) != VLM_OK)
        die("tensor", &e);
    q.bits = p->bits;
    q.group_size = p->group;
    if (streamed) p->decode_bytes += (double)(n * words * 4 + n * groups * 4);
    return q;
}

static void make_config(const char *shape, qwen2_vl_config *c) {
    memset(c, 0, sizeof *c);
    c->family = QWEN2_VL;
    qwen2_vl_text_config *t = &c->text;
    qwen2_vl_vision_config *v = &c->vision;
    int v25 = !strcmp(shape, "3b") || !strcmp(shape, "7b25");
    if (!strcmp(shape, "3b")) { /* Qwen2.5-VL-3B */
        *t = (qwen2_vl_text_config){.vocab_size = 151936, .hidden_size = 2048, .intermediate_size = 11008,
                                    .n_layers = 36, .n_heads = 16, .n_kv_heads = 2, .head_dim = 128,
                                    .tie_word_embeddings = true};
    } else if (!strcmp(shape, "7b25")) { /* Qwen2.5-VL-7B */
        *t = (qwen2_vl_text_config){.vocab_size = 152064, .hidden_size = 3584, .intermediate_size = 18944,
                                    .n_layers = 28, .n_heads = 28, .n_kv_heads = 4, .head_dim = 128};
    } else if (!strcmp(shape, "7b")) {
        *t = (qwen2_vl_text_config){.vocab_size = 152064, .hidden_size = 3584, .intermediate_size = 18944,
                                    .n_layers = 28, .n_heads = 28, .n_kv_heads = 4, .head_dim = 128};
    } else if (!strcmp(shape, "tiny")) {
        *t = (qwen2_vl_text_config){.vocab_size = 1024, .hidden_size = 64, .intermediate_size = 128,
                                    .n_layers = 2, .n_heads = 4, .n_kv_heads = 2, .head_dim = 16};
    } else { /* Qwen2-VL-2B */
        *t = (qwen2_vl_text_config){.vocab_size = 151936, .hidden_size = 1536, .intermediate_size = 8960,
                                    .n_layers = 28, .n_heads = 12, .n_kv_heads = 2, .head_dim = 128};
    }
    t->rms_norm_eps = 1e-6;
    t->rope_theta = 1e6;
    int64_t half = t->head_dim / 2;
    t->mrope_section[0] = half / 4;
    t->mrope_section[1] = (half - half / 4) / 2;
    t->mrope_section[2] = half - t->mrope_section[0] - t->mrope_section[1];
    t->max_position_embeddings = 32768;
    *v = (qwen2_vl_vision_config){.depth = strcmp(shape, "tiny") ? 32 : 2,
                                  .embed_dim = strcmp(shape, "tiny") ? 1280 : 32,
                                  .n_heads = strcmp(shape, "tiny") ? 16 : 2,
                                  .patch_size = 14, .merge_size = 2, .temporal_patch_size = 2,
                                  .in_channels = 3};
    v->intermediate_size = v->embed_dim * 4;
    v->out_hidden_size = t->hidden_size;
    if (v25) {
        c->family = QWEN2_5_VL;
        v->intermediate_size = 3420;
        v->window_size = 112;
        v->n_fullatt_blocks = 4;
        for (int i = 0; i < 4; i++) v->fullatt_blocks[i] = 8 * i + 7;
        v->tokens_per_second = 2;
    }
    c->image_token_id = 5;
    c->video_token_id = 6;
}

int main(int argc, char **argv) {
    const char *shape = "2b";
    int64_t patches = 1024, prompt = 256, ndecode = 32;
    int threads = 0, repeat = 2, bits = 0, group = 64, prompt_set = 0, decode_set = 0;
    const char *device = "cpu", *compute = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--shape")) shape = argv[i + 1];
        else if (!strcmp(argv[i], "--image-patches")) patches = atoll(argv[i + 1]);
        else if (!strcmp(argv[i], "--prompt")) prompt = atoll(argv[i + 1]), prompt_set = 1;
        else if (!strcmp(argv[i], "--decode")) ndecode = atoll(argv[i + 1]), decode_set = 1;
        else if (!strcmp(argv[i], "--device")) device = argv[i + 1];
        else if (!strcmp(argv[i], "--compute")) compute = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--repeat")) repeat = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--bits")) bits = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--group-size")) group = atoi(argv[i + 1]);
    }
    if (threads <= 0) threads = omp_get_max_threads();
    vlm_error err;
    const vlm_backend *be;
    if (vlm_device_backend(device, &be, &err) != VLM_OK) die("device", &err);
    int bf16_compute;
    if (vlm_device_compute(be, compute, &bf16_compute, &err) != VLM_OK) die("compute", &err);
    qwen2_vl_config cfg;
    make_config(shape, &cfg);
    if (cfg.family == QWEN2_5_VL) { /* the request: 1024 patches + 30 text tokens */
        if (!prompt_set) prompt = patches / 4 + 30;
        if (!decode_set) ndecode = 128;
    }
    const qwen2_vl_text_config *t = &cfg.text;
    const qwen2_vl_vision_config *v = &cfg.vision;
    int64_t H = t->hidden_size, F = t->intermediate_size, Q = t->n_heads * t->head_dim;
    int64_t KV = t->n_kv_heads * t->head_dim, E = v->embed_dim, I = v->intermediate_size;
    int64_t M = E * 4, K = 3 * 2 * 14 * 14;
    /* parameters, to size the pool */
    int64_t text_params = t->vocab_size * H * 2 +
                          t->n_layers * (2 * H + Q * H + Q + 2 * (KV * H + KV) + H * Q + 3 * F * H) + H;
    int g25 = cfg.family == QWEN2_5_VL; /* gate + up + down with biases, RMSNorm */
    if (t->tie_word_embeddings) text_params -= t->vocab_size * H;
    int64_t vis_params = E * K + v->depth * (4 * E + 3 * E * E + 3 * E + E * E + E +
                                             (2 + g25) * I * E + (1 + g25) * I + E) +
                         2 * E + M * M + M + H * M + H;
    size_t pool = (size_t)(text_params + vis_params) * 2 + 64 * 4096;
    wpool p = {.size = pool, .rng = 88172645463325252ull, .bits = bits, .group = group};
    if (vlm_buffer_alloc(be, pool, &p.buf, &err) != VLM_OK) die("weights", &err);

    qwen2_vl_weights w;
    memset(&w, 0, sizeof w);
    w.patch_w = wt(&p, 2, SHAPE(E, K), 0, 0.03f);
    w.blocks = calloc((size_t)v->depth, sizeof *w.blocks);
    for (int64_t i = 0; i < v->depth; i++) {
        qwen2_vl_vision_block *b = &w.blocks[i];
        b->norm1_w = wt(&p, 1, SHAPE(E), 1, 0.1f);
        b->norm1_b = wt(&p, 1, SHAPE(E), 0, 0.1f);
        b->norm2_w = wt(&p, 1, SHAPE(E), 1, 0.1f);
        b->norm2_b = wt(&p, 1, SHAPE(E), 0, 0.1f);
        b->qkv_w = lin(&p, 2, SHAPE(3 * E, E), 0, 0.03f);
        b->qkv_b = wt(&p, 1, SHAPE(3 * E), 0, 0.03f);
        b->proj_w = lin(&p, 2, SHAPE(E, E), 0, 0.03f);
        b->proj_b = wt(&p, 1, SHAPE(E), 0, 0.03f);
        b->fc1_w = lin(&p, 2, SHAPE(I, E), 0, 0.03f);
        b->fc1_b = wt(&p, 1, SHAPE(I), 0, 0.03f);
        if (g25) {
            b->up_w = lin(&p, 2, SHAPE(I, E), 0, 0.03f);
            b->up_b = wt(&p, 1, SHAPE(I), 0, 0.03f);
        }
        b->fc2_w = lin(&p, 2, SHAPE(E, I), 0, 0.03f);
        b->fc2_b = wt(&p, 1, SHAPE(E), 0, 0.03f);
    }
    w.merger_ln_w = wt(&p, 1, SHAPE(E), 1, 0.1f);
    w.merger_ln_b = wt(&p, 1, SHAPE(E), 0, 0.1f);
    w.merger_fc1_w = lin(&p, 2, SHAPE(M, M), 0, 0.02f);
    w.merger_fc1_b = wt(&p, 1, SHAPE(M), 0, 0.02f);
    w.merger_fc2_w = lin(&p, 2, SHAPE(H, M), 0, 0.02f);
    w.merger_fc2_b = wt(&p, 1, SHAPE(H), 0, 0.02f);
    w.embed = tlin(&p, t->vocab_size, H, 0.05f, 0);
    w.layers = calloc((size_t)t->n_layers, sizeof *w.layers);
    for (int64_t l = 0; l < t->n_layers; l++) {
        qwen2_vl_text_layer *L = &w.layers[l];
        L->in_norm_w = wt(&p, 1, SHAPE(H), 1, 0.1f);
        L->q_w = tlin(&p, Q, H, 0.03f, 1);
        L->q_b = wt(&p, 1, SHAPE(Q), 0, 0.03f);
        L->k_w = tlin(&p, KV, H, 0.03f, 1);
        L->k_b = wt(&p, 1, SHAPE(KV), 0, 0.03f);
        L->v_w = tlin(&p, KV, H, 0.03f, 1);
        L->v_b = wt(&p, 1, SHAPE(KV), 0, 0.03f);
        L->o_w = tlin(&p, H, Q, 0.03f, 1);
        L->post_norm_w = wt(&p, 1, SHAPE(H), 1, 0.1f);
        L->gate_w = tlin(&p, F, H, 0.03f, 1);
        L->up_w = tlin(&p, F, H, 0.03f, 1);
        L->down_w = tlin(&p, H, F, 0.03f, 1);
    }
    w.norm_w = wt(&p, 1, SHAPE(H), 1, 0.1f);
    if (t->tie_word_embeddings) {
        w.lm_head = w.embed;
        p.decode_bytes += bits && H % group == 0
                              ? (double)(t->vocab_size * (H * bits / 32 * 4 + H / group * 4))
                              : (double)(t->vocab_size * H * 2);
    } else {
        w.lm_head = tlin(&p, t->vocab_size, H, 0.05f, 1);
    }
    {
        float tf[1024], vf[1024]; /* head sizes are far below 2048 */
        qwen2_vl_inv_freq(&cfg, tf, vf);
        w.text_inv_freq = wf32(&p, t->head_dim / 2, tf);
        w.vision_inv_freq = wf32(&p, v->embed_dim / v->n_heads / 2, vf);
    }
    free(p.scratch);
    sync(be);

    vlm_arena *arena;
    if (vlm_arena_create(be, 0, &arena, &err) != VLM_OK) die("arena", &err);
    vlm_ctx ctx;
    vlm_ctx_init(&ctx, arena, threads);
    qwen2_vl_kv kv;
    if (qwen2_vl_kv_init(&kv, &cfg, be, prompt + ndecode + 8, &err) != VLM_OK) die("kv", &err);
    ctx.bf16_compute = bf16_compute;
    qwen2_vl_decoder dec;
    if (qwen2_vl_decoder_init(&dec, be, &err) != VLM_OK) die("decoder", &err);

    /* a square image grid with `patches` patches */
    int64_t side = (int64_t)sqrt((double)patches);
    side -= side % 2;
    int64_t grid[3] = {1, side, side}, rows = side * side;
    float *px = malloc((size_t)(rows * K) * sizeof *px);
    for (int64_t i = 0; i < rows * K; i++) px[i] = (float)((i * 2654435761u) % 1000) / 500.0f - 1.0f;
    int64_t *pos = malloc((size_t)(3 * prompt) * sizeof *pos);
    int64_t *ids = malloc((size_t)prompt * sizeof *ids);
    for (int64_t i = 0; i < prompt; i++) {
        pos[i] = pos[prompt + i] = pos[2 * prompt + i] = i;
        ids[i] = (i * 7919) % t->vocab_size;
    }
    float *logits = malloc((size_t)t->vocab_size * sizeof *logits);

    double best_vis = 1e30, best_pre = 1e30, best_dec = 1e30, best_ttft = 1e30;
    for (int r = 0; r < repeat; r++) {
        vlm_tensor tpx, out, tok, x, tpos, lg;
        /* vision */
        vlm_arena_reset(arena, &err);
        vlm_ctx_clear(&ctx);
        double t0 = now();
        vlm_ctx_tensor(&ctx, VLM_DTYPE_F32, 2, SHAPE(rows, K), &tpx);
        vlm_tensor_upload(&tpx, px, (size_t)(rows * K) * sizeof *px, &err);
        vlm_ctx_tensor(&ctx, VLM_DTYPE_F32, 2, SHAPE(rows / 4, H), &out);
        if (qwen2_vl_vision_forward(&ctx, &cfg, &w, &tpx, grid, 1, &out) != VLM_OK) die("vision", &ctx.err);
        sync(be);
        double t1 = now();
        /* prefill */
        vlm_arena_reset(arena, &err);
        vlm_ctx_clear(&ctx);
        kv.len = 0;
        double t2 = now();
        vlm_ctx_tensor(&ctx, VLM_DTYPE_I64, 1, SHAPE(prompt), &tok);
        vlm_tensor_upload(&tok, ids, (size_t)prompt * 8, &err);
        vlm_ctx_tensor(&ctx, VLM_DTYPE_I64, 2, SHAPE(3, prompt), &tpos);
        vlm_tensor_upload(&tpos, pos, (size_t)(3 * prompt) * 8, &err);
        vlm_ctx_tensor(&ctx, VLM_DTYPE_F32, 2, SHAPE(prompt, H), &x);
        vlm_ctx_tensor(&ctx, VLM_DTYPE_F32, 1, SHAPE(t->vocab_size), &lg);
        vlm_op_embedding_q(&ctx, &w.embed, &tok, &x);
        if (qwen2_vl_text_forward(&ctx, &cfg, &w, &kv, &x, &tpos, 0, &lg) != VLM_OK) die("prefill", &ctx.err);
        if (vlm_tensor_download(&lg, logits, (size_t)t->vocab_size * 4, &err) != VLM_OK) die("logits", &err);
        double t3 = now();
        /* decode */
        double t4 = now();
        for (int64_t d = 0; d < ndecode; d++) {
            vlm_arena_reset(arena, &err);
            vlm_ctx_clear(&ctx);
            if (qwen2_vl_decode_step(&ctx, &cfg, &w, &kv, &dec, (int32_t)(d % t->vocab_size),
                                     prompt + d, logits) != VLM_OK)
                die("decode", &ctx.err);
        }
        double t5 = now();
        if (t1 - t0 < best_vis) best_vis = t1 - t0;
        if (t3 - t2 < best_pre) best_pre = t3 - t2;
        if ((t1 - t0) + (t3 - t2) < best_ttft) best_ttft = (t1 - t0) + (t3 - t2);
        if (t5 - t4 < best_dec) best_dec = t5 - t4;
    }
    /* small vectors (norms, biases) add to the Linear weights' bytes */
    double dec_bytes = p.decode_bytes + (double)t->n_layers * (double)(2 * H + Q + 2 * KV) * 2;
    if (bits)
        printf("shape %s, %d threads, text weights MLX %d-bit group %d (%.2f GB/token), vision bf16 "
               "(%.2f GB)\n",
               shape, threads, bits, group, dec_bytes / 1e9, (double)vis_params * 2 / 1e9);
    else
        printf("shape %s, %d threads, bf16 weights (%.2f GB text, %.2f GB vision)\n", shape, threads,
               (double)text_params * 2 / 1e9, (double)vis_params * 2 / 1e9);
#ifdef VLM_HAVE_CUDA
    if (vlm_backend_is_cuda(be)) printf("device %s: %s\n", device, vlm_cuda_describe(be));
#endif
    printf("compute %s; decode steps %s\n", bf16_compute ? "bf16 (tensor cores, f32 accumulation)" : "f32",
           dec.eager ? "launched op by op" : "replayed as a recorded graph");
    printf("decode reads %.2f GB of weights per token; repeats %d (best shown)\n", dec_bytes / 1e9, repeat);
    printf("vision   %lld patches: %.1f ms (%.1f patches/s)\n", (long long)rows, best_vis * 1e3,
           (double)rows / best_vis);
    printf("prefill  %lld tokens:  %.1f ms (%.1f tokens/s)\n", (long long)prompt, best_pre * 1e3,
           (double)prompt / best_pre);
    printf("TTFT     vision + prefill + logits: %.1f ms\n", best_ttft * 1e3);
    printf("decode   %lld tokens:  %.1f ms/token (%.2f tokens/s, %.1f GB/s of weights)\n",
           (long long)ndecode, best_dec * 1e3 / (double)ndecode, (double)ndecode / best_dec,
           dec_bytes * (double)ndecode / best_dec / 1e9);
    free(logits);
    free(ids);
    free(pos);
    free(px);
    qwen2_vl_decoder_free(&dec);
    qwen2_vl_kv_free(&kv);
    vlm_arena_free(arena);
    free(w.blocks);
    free(w.layers);
    vlm_buffer_free(p.buf);
    return 0;
}

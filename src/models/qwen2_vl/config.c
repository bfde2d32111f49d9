/* Qwen2-VL / Qwen2.5-VL config parsing across layouts (see config.h). */
#include "models/qwen2_vl/config.h"

#include <string.h>

#include "core/error.h"
#include "models/common/config_read.h"

#define BIG (INT64_C(1) << 31)

#define TRY(x)                                                                                     \
    do {                                                                                           \
        vlm_status s_ = (x);                                                                       \
        if (s_ != VLM_OK) return s_;                                                               \
    } while (0)

static vlm_status parse_text(const vlm_json *cfg, const char *path, qwen2_vl_text_config *t,
                             vlm_error *err) {
    const vlm_json *tc = vlm_json_get(cfg, "text_config");
    vlm_cfg_scope s;
    vlm_cfg_scope_init(&s, path);
    vlm_cfg_scope_add(&s, tc, "text_config.");
    vlm_cfg_scope_add(&s, cfg, "");
    TRY(vlm_cfg_int(&s, "vocab_size", true, 0, 1, BIG, &t->vocab_size, err));
    TRY(vlm_cfg_int(&s, "hidden_size", true, 0, 1, 1 << 20, &t->hidden_size, err));
    TRY(vlm_cfg_int(&s, "intermediate_size", true, 0, 1, 1 << 22, &t->intermediate_size, err));
    TRY(vlm_cfg_int(&s, "num_hidden_layers", true, 0, 1, 1024, &t->n_layers, err));
    TRY(vlm_cfg_int(&s, "num_attention_heads", true, 0, 1, 1024, &t->n_heads, err));
    TRY(vlm_cfg_int(&s, "num_key_value_heads", false, t->n_heads, 1, 1024, &t->n_kv_heads, err));
    if (t->hidden_size % t->n_heads)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: hidden_size %lld is not a multiple of num_attention_heads %lld", path,
                       (long long)t->hidden_size, (long long)t->n_heads);
    TRY(vlm_cfg_int(&s, "head_dim", false, t->hidden_size / t->n_heads, 2, 4096, &t->head_dim, err));
    if (t->n_heads % t->n_kv_heads)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: num_attention_heads %lld is not a multiple of num_key_value_heads %lld",
                       path, (long long)t->n_heads, (long long)t->n_kv_heads);
    TRY(vlm_cfg_float(&s, "rms_norm_eps", false, 1e-6, &t->rms_norm_eps, err));
    TRY(vlm_cfg_int(&s, "max_position_embeddings", false, 32768, 1, BIG,
                    &t->max_position_embeddings, err));
    TRY(vlm_cfg_bool(&s, "tie_word_embeddings", false, &t->tie_word_embeddings, err));

    /* rope: rope_parameters (5.x) or rope_scaling (4.x), in text_config or at the top. */
    vlm_cfg_scope rs;
    vlm_cfg_scope_init(&rs, path);
    vlm_cfg_scope_add(&rs, vlm_json_get(tc, "rope_parameters"), "text_config.rope_parameters.");
    vlm_cfg_scope_add(&rs, vlm_json_get(tc, "rope_scaling"), "text_config.rope_scaling.");
    vlm_cfg_scope_add(&rs, vlm_json_get(cfg, "rope_parameters"), "rope_parameters.");
    vlm_cfg_scope_add(&rs, vlm_json_get(cfg, "rope_scaling"), "rope_scaling.");
    if (rs.n == 0)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: neither 'rope_scaling' nor 'rope_parameters' gives mrope_section", path);
    int n = 0;
    TRY(vlm_cfg_int_list(&rs, "mrope_section", true, 3, 0, 4096, t->mrope_section, &n, err));
    if (n != 3 || t->mrope_section[0] + t->mrope_section[1] + t->mrope_section[2] != t->head_dim / 2)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: mrope_section must have 3 entries summing to head_dim / 2 = %lld", path,
                       (long long)(t->head_dim / 2));
    const char *rope_type = NULL;
    vlm_cfg_string(&rs, "rope_type", false, &rope_type, NULL);
    if (!rope_type) vlm_cfg_string(&rs, "type", false, &rope_type, NULL);
    if (rope_type && strcmp(rope_type, "default") && strcmp(rope_type, "mrope"))
        return vlm_err(err, VLM_ERR_UNSUPPORTED, "%s: rope type '%s' is not supported for Qwen2-VL",
                       path, rope_type);
    /* rope_theta: inside rope_parameters (5.x) or beside the text fields (4.x) */
    double theta = 0;
    TRY(vlm_cfg_float(&rs, "rope_theta", false, 0, &theta, err));
    if (theta == 0) TRY(vlm_cfg_float(&s, "rope_theta", false, 1000000.0, &theta, err));
    t->rope_theta = theta;

    bool sliding = false;
    TRY(vlm_cfg_bool(&s, "use_sliding_window", false, &sliding, err));
    t->sliding_window = 0;
    if (sliding) {
        TRY(vlm_cfg_int(&s, "sliding_window", true, 0, 1, BIG, &t->sliding_window, err));
        TRY(vlm_cfg_int(&s, "max_window_layers", false, t->n_layers, 0, 1024, &t->max_window_layers,
                        err));
    }
    return VLM_OK;
}

static vlm_status parse_vision(const vlm_json *cfg, const char *path, qwen2_vl_family family,
                               int64_t text_hidden, qwen2_vl_vision_config *v, vlm_error *err) {
    const vlm_json *vc = vlm_json_get(cfg, "vision_config");
    if (!vlm_json_is_object(vc))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: field 'vision_config' must be an object, not %s",
                       path, vlm_json_type_name(vc));
    vlm_cfg_scope s;
    vlm_cfg_scope_init(&s, path);
    vlm_cfg_scope_add(&s, vc, "vision_config.");
    TRY(vlm_cfg_int(&s, "depth", true, 0, 1, 1024, &v->depth, err));
    TRY(vlm_cfg_int(&s, "num_heads", true, 0, 1, 1024, &v->n_heads, err));
    TRY(vlm_cfg_int(&s, "patch_size", false, 14, 1, 1024, &v->patch_size, err));
    TRY(vlm_cfg_int(&s, "spatial_merge_size", false, 2, 1, 64, &v->merge_size, err));
    TRY(vlm_cfg_int(&s, "temporal_patch_size", false, 2, 1, 64, &v->temporal_patch_size, err));
    int64_t in_ch = 0;
    TRY(vlm_cfg_int(&s, "in_channels", false, 0, 1, 64, &in_ch, err));
    if (!in_ch) TRY(vlm_cfg_int(&s, "in_chans", false, 3, 1, 64, &in_ch, err));
    v->in_channels = in_ch;
    if (family == QWEN2_VL) {
        /* embed_dim is the tower width; hidden_size the merger's output (= text hidden) */
        TRY(vlm_cfg_int(&s, "embed_dim", true, 0, 1, 1 << 16, &v->embed_dim, err));
        int64_t ratio = 0;
        TRY(vlm_cfg_int(&s, "mlp_ratio", false, 4, 1, 64, &ratio, err));
        v->intermediate_size = v->embed_dim * ratio;
        TRY(vlm_cfg_int(&s, "hidden_size", false, text_hidden, 1, 1 << 20, &v->out_hidden_size, err));
    } else {
        TRY(vlm_cfg_int(&s, "hidden_size", true, 0, 1, 1 << 16, &v->embed_dim, err));
        TRY(vlm_cfg_int(&s, "intermediate_size", true, 0, 1, 1 << 20, &v->intermediate_size, err));
        TRY(vlm_cfg_int(&s, "out_hidden_size", false, text_hidden, 1, 1 << 20, &v->out_hidden_size,
                        err));
        TRY(vlm_cfg_int(&s, "window_size", false, 112, 1, 1 << 16, &v->window_size, err));
        TRY(vlm_cfg_int_list(&s, "fullatt_block_indexes", false, QWEN2_VL_MAX_FULLATT, 0,
                             v->depth - 1, v->fullatt_blocks, &v->n_fullatt_blocks, err));
        TRY(vlm_cfg_float(&s, "tokens_per_second", false, 2.0, &v->tokens_per_second, err));
        int64_t unit = v->patch_size * v->merge_size;
        if (v->window_size % unit)
            return vlm_err(err, VLM_ERR_FORMAT,
                           "%s: vision_config.window_size %lld is not a multiple of patch_size * "
                           "spatial_merge_size = %lld",
                           path, (long long)v->window_size, (long long)unit);
    }
    if (v->embed_dim % v->n_heads || (v->embed_dim / v->n_heads) % 4)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: vision width %lld must split into heads whose size is a multiple of 4",
                       path, (long long)v->embed_dim);
    if (v->out_hidden_size != text_hidden)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: the vision merger outputs %lld features but the text hidden size is %lld",
                       path, (long long)v->out_hidden_size, (long long)text_hidden);
    return VLM_OK;
}

vlm_status qwen2_vl_config_parse(const vlm_json *cfg, const char *path, const char *model_type,
                                 qwen2_vl_config *out, vlm_error *err) {
    memset(out, 0, sizeof *out);
    if (!strcmp(model_type, "qwen2_vl")) out->family = QWEN2_VL;
    else if (!strcmp(model_type, "qwen2_5_vl")) out->family = QWEN2_5_VL;
    else return vlm_err(err, VLM_ERR_UNSUPPORTED, "%s: model_type '%s' is not Qwen2-VL", path, model_type);
    TRY(parse_text(cfg, path, &out->text, err));
    TRY(parse_vision(cfg, path, out->family, out->text.hidden_size, &out->vision, err));
    vlm_cfg_scope s;
    vlm_cfg_scope_init(&s, path);
    vlm_cfg_scope_add(&s, cfg, "");
    vlm_cfg_scope_add(&s, vlm_json_get(cfg, "text_config"), "text_config.");
    int64_t v = out->text.vocab_size - 1;
    TRY(vlm_cfg_int(&s, "image_token_id", false, 151655, 0, v, &out->image_token_id, err));
    TRY(vlm_cfg_int(&s, "video_token_id", false, 151656, 0, v, &out->video_token_id, err));
    TRY(vlm_cfg_int(&s, "vision_start_token_id", false, 151652, 0, v, &out->vision_start_token_id,
                    err));
    TRY(vlm_cfg_int(&s, "vision_end_token_id", false, 151653, 0, v, &out->vision_end_token_id, err));
    return VLM_OK;
}

/* Post-processors (HF processors/) for single sequences: TemplateProcessing (its
 * "single" template), BertProcessing and RobertaProcessing ([cls] $A [sep]), ByteLevel
 * (ids unchanged) and Sequence (flattened). Each is stored as a list of ids to emit with
 * -1 standing for the encoded sequence. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "text/tok_component.h"
#include "text/tok_internal.h"

void tok_post_free(tok_post *steps, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(steps[i].tmpl);
}

static bool tmpl_push(tok_post *p, int32_t id) {
    int32_t *v = vlm_realloc_array(p->tmpl, p->n + 1, sizeof *v);
    if (!v) return false;
    p->tmpl = v;
    p->tmpl[p->n++] = id;
    return true;
}

/* Appends the ids of special token `name` from special_tokens. */
static vlm_status special_ids(const vlm_json *specials, const char *name, const char *where,
                              tok_post *p, vlm_error *err) {
    const vlm_json *st = vlm_json_get(specials, name);
    const vlm_json *ids = vlm_json_get(st, "ids");
    if (!vlm_json_is_array(ids))
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: special token '%s' is missing from "
                       "special_tokens (or has no \"ids\" list)",
                       where, name);
    for (size_t i = 0; i < vlm_json_array_size(ids); i++) {
        int64_t id;
        if (!vlm_json_int(vlm_json_array_at(ids, i), &id) || id < 0 || id > VLM_TOKENIZER_MAX_ID)
            return vlm_err(err, VLM_ERR_FORMAT, "%s: special_tokens['%s'].ids[%zu] must be an id",
                           where, name, i);
        if (!tmpl_push(p, (int32_t)id)) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    return VLM_OK;
}

static vlm_status parse_template(const vlm_json *j, const char *where, tok_post *p,
                                 vlm_error *err) {
    const vlm_json *single = vlm_json_get(j, "single");
    const vlm_json *specials = vlm_json_get(j, "special_tokens");
    if (!vlm_json_is_array(single))
        return vlm_err(err, VLM_ERR_FORMAT, "%s.single must be an array", where);
    char w[300];
    for (size_t i = 0; i < vlm_json_array_size(single); i++) {
        const vlm_json *piece = vlm_json_array_at(single, i);
        snprintf(w, sizeof w, "%s.single[%zu]", where, i);
        const vlm_json *seq = vlm_json_get(piece, "Sequence");
        const vlm_json *sp = vlm_json_get(piece, "SpecialToken");
        const char *str = vlm_json_string(piece); /* "$A", "[CLS]", "$A:0" forms */
        char name[256];
        if (str) {
            snprintf(name, sizeof name, "%s", str);
            char *colon = strchr(name, ':');
            if (colon) *colon = '\0';
            if (name[0] == '$') {
                if (!strcmp(name, "$B") || !strcmp(name, "$b"))
                    return vlm_err(err, VLM_ERR_FORMAT, "%s: sequence B in a single template", w);
                if (!tmpl_push(p, -1)) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
                continue;
            }
            vlm_status st = special_ids(specials, name, w, p, err);
            if (st != VLM_OK) return st;
            continue;
        }
        if (seq) {
            const char *id = vlm_json_string(vlm_json_get(seq, "id"));
            if (!id || (strcmp(id, "A") && strcmp(id, "B")))
                return vlm_err(err, VLM_ERR_FORMAT, "%s.Sequence.id must be \"A\" or \"B\"", w);
            if (!strcmp(id, "B"))
                return vlm_err(err, VLM_ERR_FORMAT, "%s: sequence B in a single template", w);
            if (!tmpl_push(p, -1)) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
        } else if (sp) {
            const char *id = vlm_json_string(vlm_json_get(sp, "id"));
            if (!id) return vlm_err(err, VLM_ERR_FORMAT, "%s.SpecialToken.id must be a string", w);
            vlm_status st = special_ids(specials, id, w, p, err);
            if (st != VLM_OK) return st;
        } else {
            return vlm_err(err, VLM_ERR_FORMAT, "%s must be a Sequence or a SpecialToken", w);
        }
    }
    return VLM_OK;
}

/* BertProcessing / RobertaProcessing: "cls" and "sep" are [token, id] pairs. */
static vlm_status parse_cls_sep(const vlm_json *j, const char *where, tok_post *p, vlm_error *err) {
    int64_t ids[2];
    const char *keys[2] = {"cls", "sep"};
    for (int k = 0; k < 2; k++) {
        const vlm_json *pair = vlm_json_get(j, keys[k]);
        if (vlm_json_array_size(pair) != 2 || !vlm_json_int(vlm_json_array_at(pair, 1), &ids[k]) ||
            ids[k] < 0 || ids[k] > VLM_TOKENIZER_MAX_ID)
            return vlm_err(err, VLM_ERR_FORMAT, "%s.%s must be a [token, id] pair", where, keys[k]);
    }
    if (!tmpl_push(p, (int32_t)ids[0]) || !tmpl_push(p, -1) || !tmpl_push(p, (int32_t)ids[1]))
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    return VLM_OK;
}

static vlm_status parse_step(const vlm_json *j, const char *type, const char *where, void *steps_v,
                             size_t *n, vlm_error *err) {
    tok_post *p = &((tok_post *)steps_v)[*n];
    memset(p, 0, sizeof *p);
    if (!strcmp(type, "ByteLevel")) {
        (*n)++;
        return VLM_OK;
    }
    p->is_template = true;
    (*n)++;
    if (!strcmp(type, "TemplateProcessing")) return parse_template(j, where, p, err);
    if (!strcmp(type, "BertProcessing") || !strcmp(type, "RobertaProcessing"))
        return parse_cls_sep(j, where, p, err);
    (*n)--;
    return vlm_err(err, VLM_ERR_UNSUPPORTED, "%s.type '%s' is not supported", where, type);
}

static const tok_component_kind POST_PROCESSORS = {"processors", "post-processor", 1, parse_step};

vlm_status tok_post_parse(const vlm_json *j, const char *where, const vlm_tokenizer *t,
                          tok_post *steps, size_t *n, vlm_error *err) {
    (void)t;
    return tok_component_parse(j, where, &POST_PROCESSORS, steps, n, err);
}

vlm_status tok_post_apply(const tok_post *steps, size_t n, bool add_special, tok_ids *ids,
                          vlm_error *err) {
    for (size_t s = 0; s < n; s++) {
        const tok_post *p = &steps[s];
        if (!p->is_template) continue;
        tok_ids out = {0};
        for (size_t i = 0; i < p->n; i++) {
            if (p->tmpl[i] >= 0) {
                if (add_special && !tok_ids_push(&out, p->tmpl[i])) goto oom;
                continue;
            }
            for (size_t k = 0; k < ids->n; k++)
                if (!tok_ids_push(&out, ids->v[k])) goto oom;
        }
        free(ids->v);
        *ids = out;
        continue;
    oom:
        free(out.v);
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "out of memory");
    }
    return VLM_OK;
}

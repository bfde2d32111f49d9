/* Chat template discovery and rendering with transformers' apply_chat_template semantics
 * (see chat_template.h). The special tokens are kept as C strings and a fresh variable dict
 * is built for every render, so concurrent renders share nothing mutable. */
#include "text/chat_template.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/file.h"
#include "text/jinja_pystr.h"

/* transformers' SPECIAL_TOKENS_ATTRIBUTES (additional_special_tokens is a list). */
static const char *const token_names[] = {"bos_token", "eos_token", "unk_token", "sep_token",
                                          "pad_token", "cls_token", "mask_token"};
#define NTOKENS (sizeof token_names / sizeof token_names[0])

typedef struct token_text {
    char *s; /* NULL: unset (not passed to the template, as transformers leaves it out) */
    size_t len;
} token_text;

struct vlm_chat_template {
    vlm_jinja_template *tpl;
    char *origin;
    token_text tokens[NTOKENS];
    token_text *additional;
    size_t nadditional;
};

void vlm_chat_template_free(vlm_chat_template *t) {
    if (!t) return;
    vlm_jinja_template_free(t->tpl);
    free(t->origin);
    for (size_t i = 0; i < NTOKENS; i++)
        free(t->tokens[i].s);
    for (size_t i = 0; i < t->nadditional; i++)
        free(t->additional[i].s);
    free(t->additional);
    free(t);
}

const char *vlm_chat_template_origin(const vlm_chat_template *t) {
    return t ? t->origin : NULL;
}

/* A token value: a string, or an AddedToken object {"content": "..."}. */
static const vlm_json *token_string(const vlm_json *v) {
    if (vlm_json_is_object(v)) v = vlm_json_get(v, "content");
    return vlm_json_is_string(v) ? v : NULL;
}

static vlm_status copy_token(const vlm_json *s, const char *origin, const char *field,
                             token_text *out, vlm_error *err) {
    size_t n = vlm_json_string_len(s);
    const char *text = vlm_json_string(s);
    if (vlm_utf8_valid_prefix(text, n) != n)
        return vlm_err(err, VLM_ERR_FORMAT, "%s: field '%s': not valid UTF-8", origin, field);
    out->s = vlm_strndup(text, n);
    out->len = n;
    if (!out->s) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", origin);
    return VLM_OK;
}

static vlm_status read_special_tokens(vlm_chat_template *t, const vlm_json *cfg, const char *origin,
                                      vlm_error *err) {
    if (!cfg) return VLM_OK;
    for (size_t i = 0; i < NTOKENS; i++) {
        const vlm_json *v = vlm_json_get(cfg, token_names[i]);
        if (!v || vlm_json_is_null(v)) continue;
        const vlm_json *s = token_string(v);
        if (!s)
            return vlm_err(err, VLM_ERR_FORMAT,
                           "%s: field '%s': expected a string or {\"content\": ...}, got %s",
                           origin, token_names[i], vlm_json_type_name(v));
        if (vlm_json_string_len(s) == 0) continue; /* falsy: left out, as transformers does */
        vlm_status st = copy_token(s, origin, token_names[i], &t->tokens[i], err);
        if (st) return st;
    }
    const vlm_json *add = vlm_json_get(cfg, "additional_special_tokens");
    if (add && !vlm_json_is_null(add)) {
        if (!vlm_json_is_array(add))
            return vlm_err(err, VLM_ERR_FORMAT,
                           "%s: field 'additional_special_tokens': expected a list, got %s", origin,
                           vlm_json_type_name(add));
        size_t n = vlm_json_array_size(add);
        t->additional = vlm_calloc_array(n, sizeof *t->additional);
        if (!t->additional) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", origin);
        for (size_t i = 0; i < n; i++) {
            const vlm_json *s = token_string(vlm_json_array_at(add, i));
            if (!s)
                return vlm_err(err, VLM_ERR_FORMAT,
                               "%s: field 'additional_special_tokens[%zu]': expected a string",
                               origin, i);
            vlm_status st =
                copy_token(s, origin, "additional_special_tokens", &t->additional[i], err);
            if (st) return st;
            t->nadditional++;
        }
    }
    return VLM_OK;
}

vlm_status vlm_chat_template_from_string(const char *src, size_t len, const char *name,
                                         const vlm_json *tokenizer_config, vlm_chat_template **out,
                                         vlm_error *err) {
    *out = NULL;
    if (!src || !name)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "vlm_chat_template_from_string: NULL argument");
    vlm_chat_template *t = calloc(1, sizeof *t);
    if (!t || !(t->origin = vlm_strdup(name))) {
        free(t);
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    }
    vlm_status st = read_special_tokens(t, tokenizer_config, name, err);
    if (!st) st = vlm_jinja_parse(src, len, name, &t->tpl, err);
    if (st) {
        vlm_chat_template_free(t);
        return st;
    }
    *out = t;
    return VLM_OK;
}

/* The template text from tokenizer_config.json's chat_template field. */
static vlm_status config_template(const vlm_json *cfg, const char *path, const vlm_json **out,
                                  vlm_error *err) {
    const vlm_json *ct = vlm_json_get(cfg, "chat_template");
    *out = NULL;
    if (!ct || vlm_json_is_null(ct)) return VLM_OK;
    if (vlm_json_is_string(ct)) {
        *out = ct;
        return VLM_OK;
    }
    if (!vlm_json_is_array(ct))
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: field 'chat_template': expected a string or a list of "
                       "{\"name\", \"template\"}, got %s",
                       path, vlm_json_type_name(ct));
    for (size_t i = 0; i < vlm_json_array_size(ct); i++) {
        const vlm_json *e = vlm_json_array_at(ct, i);
        const char *name = vlm_json_string(vlm_json_get(e, "name"));
        const vlm_json *tmpl = vlm_json_get(e, "template");
        if (!name || !vlm_json_is_string(tmpl))
            return vlm_err(
                err, VLM_ERR_FORMAT,
                "%s: field 'chat_template[%zu]': expected {\"name\": str, \"template\": str}", path,
                i);
        if (!strcmp(name, "default")) {
            *out = tmpl;
            return VLM_OK;
        }
    }
    return vlm_err(err, VLM_ERR_NOT_FOUND,
                   "%s: field 'chat_template': a list of named templates without a 'default' one",
                   path);
}

vlm_status vlm_chat_template_load(const char *dir, vlm_chat_template **out, vlm_error *err) {
    *out = NULL;
    if (!dir) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_chat_template_load: NULL dir");
    char *jinja_path = vlm_path_join(dir, "chat_template.jinja");
    char *json_path = vlm_path_join(dir, "chat_template.json");
    char *cfg_path = vlm_path_join(dir, "tokenizer_config.json");
    char *text = NULL, *origin = NULL;
    size_t text_len = 0;
    vlm_json *cfg = NULL, *ctj = NULL;
    vlm_status st = VLM_OK;
    if (!jinja_path || !json_path || !cfg_path) {
        st = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
        goto done;
    }
    if (vlm_path_kind_of(cfg_path) != VLM_PATH_MISSING) {
        st = vlm_json_load_file(cfg_path, VLM_CONFIG_MAX_BYTES, 0, &cfg, err);
        if (st) goto done;
        if (!vlm_json_is_object(cfg)) {
            st = vlm_err(err, VLM_ERR_FORMAT, "%s: expected a JSON object", cfg_path);
            goto done;
        }
    }
    if (vlm_path_kind_of(jinja_path) != VLM_PATH_MISSING) {
        st = vlm_file_read(jinja_path, VLM_CONFIG_MAX_BYTES, &text, &text_len, err);
        if (st) goto done;
        origin = vlm_strdup(jinja_path);
    } else if (vlm_path_kind_of(json_path) != VLM_PATH_MISSING) {
        st = vlm_json_load_file(json_path, VLM_CONFIG_MAX_BYTES, 0, &ctj, err);
        if (st) goto done;
        const vlm_json *s = vlm_json_get(ctj, "chat_template");
        if (!vlm_json_is_string(s)) {
            st =
                vlm_err(err, VLM_ERR_FORMAT, "%s: field 'chat_template': expected a string, got %s",
                        json_path, vlm_json_type_name(s));
            goto done;
        }
        text_len = vlm_json_string_len(s);
        text = vlm_strndup(vlm_json_string(s), text_len);
        origin = vlm_strdup(json_path);
    } else if (cfg) {
        const vlm_json *s;
        st = config_template(cfg, cfg_path, &s, err);
        if (st) goto done;
        if (s) {
            text_len = vlm_json_string_len(s);
            text = vlm_strndup(vlm_json_string(s), text_len);
            size_t n = strlen(cfg_path) + 32;
            origin = malloc(n);
            if (origin) snprintf(origin, n, "%s[chat_template]", cfg_path);
        }
    }
    if (!text && !origin) {
        st = vlm_err(err, VLM_ERR_NOT_FOUND,
                     "%s: no chat template (looked for chat_template.jinja, chat_template.json "
                     "and tokenizer_config.json's chat_template)",
                     dir);
        goto done;
    }
    if (!text || !origin) {
        st = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", dir);
        goto done;
    }
    st = vlm_chat_template_from_string(text, text_len, origin, cfg, out, err);
done:
    free(text);
    free(origin);
    vlm_json_free(cfg);
    vlm_json_free(ctj);
    free(jinja_path);
    free(json_path);
    free(cfg_path);
    return st;
}

/* ------------------------------------------------------------- rendering */

static bool set_var(vlm_jdict *d, const char *name, vlm_jv v) {
    vlm_jv k;
    if (!vlm_jv_cstr(name, &k)) {
        vlm_jv_decref(v);
        return false;
    }
    return vlm_jdict_set(d, k, v);
}

static bool set_str_var(vlm_jdict *d, const char *name, const token_text *tok) {
    vlm_jv v;
    if (!vlm_jv_str(tok->s, tok->len, &v)) return false;
    return set_var(d, name, v);
}

/* apply_chat_template's own arguments, which never reach the template. */
static bool is_call_argument(const char *key) {
    static const char *const keys[] = {"continue_final_message",
                                       "tokenize",
                                       "padding",
                                       "truncation",
                                       "max_length",
                                       "return_tensors",
                                       "return_dict",
                                       "return_assistant_tokens_mask",
                                       "tokenizer_kwargs",
                                       "chat_template"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strcmp(key, keys[i])) return true;
    return false;
}

static bool py_strip_bounds(const char *s, size_t n, size_t *lo, size_t *hi) {
    size_t a = 0, b = n;
    while (a < b) {
        size_t j = a;
        if (!vlm_py_isspace(vlm_utf8_next(s, n, &j))) break;
        a = j;
    }
    while (b > a) {
        size_t p = vlm_utf8_prev(s, b), j = p;
        if (!vlm_py_isspace(vlm_utf8_next(s, n, &j))) break;
        b = p;
    }
    *lo = a;
    *hi = b;
    return true;
}

/* transformers' continue_final_message: cut the output right after the final message's
 * text so the model continues it. */
static vlm_status continue_final(const vlm_chat_template *t, const vlm_json *messages, char *text,
                                 size_t *len, vlm_error *err) {
    size_t n = vlm_json_array_size(messages);
    const vlm_json *content =
        n ? vlm_json_get(vlm_json_array_at(messages, n - 1), "content") : NULL;
    const vlm_json *final = NULL;
    if (vlm_json_is_array(content)) {
        for (size_t i = vlm_json_array_size(content); i-- > 0;) {
            const vlm_json *block = vlm_json_array_at(content, i);
            if (vlm_json_get(block, "text")) {
                final = vlm_json_get(block, "text");
                break;
            }
        }
        if (!final)
            return vlm_err(err, VLM_ERR_FORMAT,
                           "%s: continue_final_message is set but the final message has no text "
                           "to continue",
                           t->origin);
    } else {
        final = content;
    }
    if (!vlm_json_is_string(final))
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: continue_final_message needs the final message's text to be a string",
                       t->origin);
    const char *m = vlm_json_string(final);
    size_t mn = vlm_json_string_len(final), lo, hi;
    py_strip_bounds(m, mn, &lo, &hi);
    /* rindex of final_message.strip() */
    size_t sl = hi - lo, at = (size_t)-1;
    if (sl <= *len)
        for (size_t k = *len - sl + 1; k-- > 0;)
            if (!memcmp(text + k, m + lo, sl)) {
                at = k;
                break;
            }
    if (at == (size_t)-1)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: continue_final_message is set but the final message does not appear "
                       "in the chat after applying the chat template",
                       t->origin);
    /* If the rendered text holds the whole message (trailing spacing included), cut after
     * it; otherwise after its stripped text. */
    size_t cut = at + sl;
    if (lo == 0 && at + mn <= *len && !memcmp(text + at, m, mn)) cut = at + mn;
    text[cut] = '\0';
    *len = cut;
    return VLM_OK;
}

vlm_status vlm_chat_template_render_ex(const vlm_chat_template *t, const vlm_json *messages,
                                       const vlm_json *extra, const vlm_jinja_render_params *params,
                                       char **out, size_t *out_len, vlm_error *err) {
    *out = NULL;
    if (out_len) *out_len = 0;
    if (!t || !messages)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_chat_template_render: NULL argument");
    if (!vlm_json_is_array(messages))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: messages must be a list, got %s", t->origin,
                       vlm_json_type_name(messages));
    if (extra && !vlm_json_is_null(extra) && !vlm_json_is_object(extra))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: template arguments must be an object, got %s",
                       t->origin, vlm_json_type_name(extra));
    bool cont = extra && vlm_json_true(vlm_json_get(extra, "continue_final_message"));
    if (cont && extra && vlm_json_true(vlm_json_get(extra, "add_generation_prompt")))
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "%s: continue_final_message and add_generation_prompt are not compatible",
                       t->origin);
    vlm_jdict *vars = vlm_jdict_new(16);
    if (!vars) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", t->origin);
    vlm_status st = VLM_OK;
    bool ok = true;
    for (size_t i = 0; ok && i < NTOKENS; i++)
        if (t->tokens[i].s) ok = set_str_var(vars, token_names[i], &t->tokens[i]);
    if (ok && t->nadditional) {
        vlm_jlist *l = vlm_jlist_new(VLM_JLIST_LIST, t->nadditional);
        ok = l != NULL;
        for (size_t i = 0; ok && i < t->nadditional; i++) {
            vlm_jv s;
            ok = vlm_jv_str(t->additional[i].s, t->additional[i].len, &s) && vlm_jlist_push(l, s);
        }
        if (ok)
            ok = set_var(vars, "additional_special_tokens", vlm_jv_list(l));
        else
            vlm_jlist_decref(l);
    }
    if (!ok) {
        vlm_jdict_decref(vars);
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", t->origin);
    }
    vlm_jv msgs;
    st = vlm_jinja_from_json(messages, &msgs, err);
    if (st) {
        vlm_jdict_decref(vars);
        vlm_err_prefix(err, "%s: messages", t->origin);
        return st;
    }
    ok = set_var(vars, "messages", msgs) && set_var(vars, "tools", vlm_jv_none()) &&
         set_var(vars, "documents", vlm_jv_none()) &&
         set_var(vars, "add_generation_prompt", vlm_jv_bool(false));
    if (extra && vlm_json_is_object(extra)) {
        for (void *it = vlm_json_iter(extra); ok && it; it = vlm_json_iter_next(extra, it)) {
            const char *key = vlm_json_iter_key(it);
            if (is_call_argument(key)) continue;
            vlm_jv v;
            st = vlm_jinja_from_json(vlm_json_iter_value(it), &v, err);
            if (st) {
                vlm_jdict_decref(vars);
                vlm_err_prefix(err, "%s: argument '%s'", t->origin, key);
                return st;
            }
            vlm_jv k;
            ok = vlm_jv_str(key, vlm_json_iter_key_len(it), &k);
            if (ok)
                ok = vlm_jdict_set(vars, k, v);
            else
                vlm_jv_decref(v);
        }
    }
    if (!ok) {
        vlm_jdict_decref(vars);
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", t->origin);
    }
    size_t len = 0;
    st = vlm_jinja_render(t->tpl, vars, params, out, &len, err);
    vlm_jdict_decref(vars);
    if (st) return st;
    if (cont) {
        st = continue_final(t, messages, *out, &len, err);
        if (st) {
            free(*out);
            *out = NULL;
            return st;
        }
    }
    if (out_len) *out_len = len;
    return VLM_OK;
}

vlm_status vlm_chat_template_render(const vlm_chat_template *t, const vlm_json *messages,
                                    const vlm_json *extra, char **out, vlm_error *err) {
    return vlm_chat_template_render_ex(t, messages, extra, NULL, out, NULL, err);
}

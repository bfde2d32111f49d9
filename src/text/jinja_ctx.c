/* The render context of the Jinja evaluator (jinja_eval.h): error reporting with template
 * positions, the allocation budget, string and list building that respects the limits,
 * Python-style argument binding, and the registry of namespaces and captured scopes that
 * the end of a render clears to break reference cycles. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/checked.h"
#include "text/jinja_eval.h"
#include "text/jinja_lexer.h"
#include "text/jinja_pystr.h"

/* ------------------------------------------------------------- context helpers */

bool vlm_jctx_fail(vlm_jctx *c, const vlm_jnode *at, vlm_status st, const char *fmt, ...) {
    if (c->failed) return false;
    c->failed = true;
    c->status = st;
    char msg[400], full[sizeof(((vlm_error *)0)->message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at)
        snprintf(full, sizeof full, "%s:%u:%u: %s", c->tpl->name, at->line, at->col, msg);
    else
        snprintf(full, sizeof full, "%s: %s", c->tpl->name, msg);
    vlm_utf8_trim_partial(full); /* truncation must not leave half a character */
    vlm_err(c->err, st, "%s", full);
    return false;
}

bool vlm_jctx_fail_undefined(vlm_jctx *c, const vlm_jnode *at, vlm_jv undef) {
    if (undef.type == VLM_JV_UNDEFINED && undef.u.s)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "UndefinedError: %s", undef.u.s->data);
    return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "UndefinedError: a value is undefined");
}

bool vlm_jctx_oom(vlm_jctx *c, const vlm_jnode *at) {
    return vlm_jctx_fail(c, at, VLM_ERR_OUT_OF_MEMORY,
                         "out of memory (or a value nested deeper than %d levels)",
                         VLM_JV_MAX_NEST);
}

bool vlm_jctx_charge(vlm_jctx *c, const vlm_jnode *at, uint64_t bytes) {
    c->alloc += bytes;
    if (c->alloc > c->max_alloc)
        return vlm_jctx_fail(c, at, VLM_ERR_LIMIT,
                             "the template built more than %llu bytes of strings",
                             (unsigned long long)c->max_alloc);
    return true;
}

bool vlm_jctx_str(vlm_jctx *c, const vlm_jnode *at, const char *s, size_t n, vlm_jv *out) {
    *out = vlm_jv_undef();
    if (n > c->max_output)
        return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "a string of %zu bytes exceeds the output limit",
                             n);
    if (!vlm_jctx_charge(c, at, n)) return false;
    if (!vlm_jv_str(s, n, out)) return vlm_jctx_oom(c, at);
    return true;
}

bool vlm_jctx_buf(vlm_jctx *c, const vlm_jnode *at, vlm_strbuf *b, vlm_jv *out) {
    bool ok;
    if (b->failed)
        ok = vlm_jctx_oom(c, at);
    else
        ok = vlm_jctx_str(c, at, vlm_strbuf_cstr(b), b->len, out);
    vlm_strbuf_free(b);
    return ok;
}

bool vlm_jctx_push(vlm_jctx *c, const vlm_jnode *at, vlm_jlist *l, vlm_jv v) {
    if (!vlm_jctx_charge(c, at, sizeof(vlm_jv))) {
        vlm_jv_decref(v);
        return false;
    }
    if (!vlm_jlist_push(l, v)) return vlm_jctx_oom(c, at);
    return true;
}

bool vlm_jctx_write(vlm_jctx *c, const vlm_jnode *at, vlm_strbuf *b, vlm_jv v) {
    const char *e = vlm_jv_write_str(b, v);
    if (e) return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "%s", e);
    if (b->failed) return vlm_jctx_oom(c, at);
    if (b->len > c->max_output)
        return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "output exceeds the limit of %zu bytes",
                             c->max_output);
    return true;
}

bool vlm_jctx_to_str(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, vlm_jv *out) {
    if (v.type == VLM_JV_STR) {
        *out = vlm_jv_incref(v);
        return true;
    }
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    if (!vlm_jctx_write(c, at, &b, v)) {
        vlm_strbuf_free(&b);
        *out = vlm_jv_undef();
        return false;
    }
    return vlm_jctx_buf(c, at, &b, out);
}

bool vlm_jctx_keep(vlm_jctx *c, const vlm_jnode *at, vlm_jv ns) {
    if (c->nkeep == c->capkeep) {
        size_t cap = c->capkeep ? c->capkeep * 2 : 8;
        vlm_jv *keep = vlm_realloc_array(c->keep, cap, sizeof *keep);
        if (!keep) return vlm_jctx_oom(c, at);
        c->keep = keep;
        c->capkeep = cap;
    }
    c->keep[c->nkeep++] = vlm_jv_incref(ns);
    return true;
}

bool vlm_jctx_keep_scope(vlm_jctx *c, const vlm_jnode *at, vlm_jscope *s) {
    if (s->registered) return true;
    if (c->nscopes == c->capscopes) {
        size_t cap = c->capscopes ? c->capscopes * 2 : 8;
        vlm_jscope **scopes = vlm_realloc_array(c->scopes, cap, sizeof *scopes);
        if (!scopes) return vlm_jctx_oom(c, at);
        c->scopes = scopes;
        c->capscopes = cap;
    }
    s->registered = true;
    s->refs++;
    c->scopes[c->nscopes++] = s;
    return true;
}

bool vlm_jargs_bind(vlm_jctx *c, const vlm_jnode *at, const char *fname, const vlm_jargs *a,
                    const char *const *params, int nparams, vlm_jv *slots, bool *given) {
    for (int i = 0; i < nparams; i++) {
        slots[i] = vlm_jv_undef();
        given[i] = false;
    }
    if (a->npos > (uint32_t)nparams)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: %s() takes at most %d argument(s) (%u given)", fname,
                             nparams, a->npos);
    for (uint32_t i = 0; i < a->npos; i++) {
        slots[i] = a->pos[i];
        given[i] = true;
    }
    for (uint32_t k = 0; k < a->nkw; k++) {
        const char *name = a->kwnames[k].u.s->data;
        int i = 0;
        while (i < nparams && strcmp(params[i], name))
            i++;
        if (i == nparams)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: %s() got an unexpected keyword argument '%s'", fname,
                                 name);
        if (given[i])
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: %s() got multiple values for argument '%s'", fname,
                                 name);
        slots[i] = a->kwvals[k];
        given[i] = true;
    }
    return true;
}

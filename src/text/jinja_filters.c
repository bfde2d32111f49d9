/* Jinja filters: the name table and dispatch of jinja2 3.1's builtin filters with their exact
 * argument lists and results, the string filters, and transformers' own tojson (json.dumps
 * with ensure_ascii=False). Sequence filters live in jinja_filters_seq.c, number conversions
 * in jinja_filters_num.c. Filters that return iterators in jinja2 (map, select, reject,
 * unique, batch, slice, items, reverse of a list) return generator values here, with the
 * same consequences: they cannot be printed or measured with length, and they are consumed
 * by one pass. A few rarely useful filters (groupby, pprint, random, striptags, urlencode,
 * urlize, wordwrap, xmlattr, filesizeformat) are known but refused when reached.
 *
 * |safe and |escape make markupsafe.Markup strings. Printing one is plain, but jinja2
 * escapes the other operands of ~ and + once a Markup takes part; this engine keeps the
 * Markup mark through ~ and + and refuses the combination when escaping would change a
 * character, so it never prints something different. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "text/jinja_filters.h"
#include "text/jinja_lexer.h"
#include "text/jinja_pystr.h"

static const char *const filter_names[VLM_JF_COUNT_ALL] = {
    "abs",       "attr",       "batch",       "capitalize", "center",  "count",
    "d",         "default",    "dictsort",    "e",          "escape",  "filesizeformat",
    "first",     "float",      "forceescape", "format",     "groupby", "indent",
    "int",       "join",       "last",        "length",     "list",    "lower",
    "items",     "map",        "min",         "max",        "pprint",  "random",
    "reject",    "rejectattr", "replace",     "reverse",    "round",   "safe",
    "select",    "selectattr", "slice",       "sort",       "string",  "striptags",
    "sum",       "title",      "trim",        "truncate",   "unique",  "upper",
    "urlencode", "urlize",     "wordcount",   "wordwrap",   "xmlattr", "tojson"};

int vlm_jinja_filter_id(const char *name) {
    for (int i = 0; i < VLM_JF_COUNT_ALL; i++)
        if (!strcmp(name, filter_names[i])) return i;
    return -1;
}

const char *vlm_jinja_filter_name(int id) {
    return id >= 0 && id < VLM_JF_COUNT_ALL ? filter_names[id] : "?";
}

bool vlm_jinja_str_strip(vlm_jctx *c, const vlm_jnode *at, vlm_jv s, vlm_jv chars, int which,
                         vlm_jv *out);
bool vlm_jinja_str_replace(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *s, const vlm_jstr *old,
                           const vlm_jstr *rep, int64_t count, vlm_jv *out);

/* ------------------------------------------------------------- helpers */

bool vlm_jf_bind(vlm_jctx *c, const vlm_jnode *at, int id, const vlm_jargs *a,
                 const char *const *params, int n, vlm_jfargs *b) {
    return vlm_jargs_bind(c, at, filter_names[id], a, params, n, b->v, b->given);
}

bool vlm_jf_arg_int(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const char *what, int64_t *out) {
    if (v.type == VLM_JV_INT)
        *out = v.u.i;
    else if (v.type == VLM_JV_BOOL)
        *out = v.u.b;
    else if (v.type == VLM_JV_UNDEFINED)
        return vlm_jctx_fail_undefined(c, at, v);
    else
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: %s must be an integer, not '%s'",
                             what, vlm_jv_type_name(v));
    return true;
}

bool vlm_jf_soft_str(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, vlm_jv *out) {
    if (v.type == VLM_JV_UNDEFINED) return vlm_jctx_str(c, at, "", 0, out);
    return vlm_jctx_to_str(c, at, v, out);
}

/* ------------------------------------------------------------- individual filters */

static bool f_indent(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    static const char *const params[] = {"width", "first", "blank"};
    vlm_jfargs b;
    if (!vlm_jf_bind(c, at, VLM_JF_INDENT, a, params, 3, &b)) return false;
    vlm_strbuf ind;
    vlm_strbuf_init(&ind);
    if (b.given[0] && b.v[0].type == VLM_JV_STR) {
        vlm_strbuf_append(&ind, b.v[0].u.s->data, b.v[0].u.s->len);
    } else {
        int64_t w = 4;
        if (b.given[0] && !vlm_jf_arg_int(c, at, b.v[0], "width", &w)) return false;
        if (w > 100000) return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "indent width too large");
        for (int64_t k = 0; k < w; k++)
            vlm_strbuf_putc(&ind, ' ');
    }
    if (v.type == VLM_JV_UNDEFINED) {
        vlm_strbuf_free(&ind);
        return vlm_jctx_fail_undefined(c, at, v);
    }
    if (v.type != VLM_JV_STR) {
        vlm_strbuf_free(&ind);
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: unsupported operand type(s) for +=: '%s' and 'str'",
                             vlm_jv_type_name(v));
    }
    /* s + "\n", split into lines as str.splitlines() does, rejoined with "\n". */
    const vlm_jstr *s = v.u.s;
    vlm_strbuf text;
    vlm_strbuf_init(&text);
    vlm_strbuf_append(&text, s->data, s->len);
    vlm_strbuf_putc(&text, '\n');
    vlm_strbuf r;
    vlm_strbuf_init(&r);
    bool blank = vlm_jv_truthy(b.v[2]);
    if (vlm_jv_truthy(b.v[1])) vlm_strbuf_append(&r, vlm_strbuf_cstr(&ind), ind.len);
    size_t i = 0, start = 0, line = 0;
    const char *d = vlm_strbuf_cstr(&text);
    size_t n = text.len;
    while (i < n) {
        size_t j = i;
        uint32_t cp = vlm_utf8_next(d, n, &j);
        if (!vlm_py_islinebreak(cp)) {
            i = j;
            continue;
        }
        size_t eol = j;
        if (cp == '\r' && j < n && d[j] == '\n') eol = j + 1;
        if (line > 0) {
            vlm_strbuf_putc(&r, '\n');
            if (blank || i > start) vlm_strbuf_append(&r, vlm_strbuf_cstr(&ind), ind.len);
        }
        vlm_strbuf_append(&r, d + start, i - start);
        line++;
        i = start = eol;
        if (r.len > c->max_output) break;
    }
    vlm_strbuf_free(&text);
    vlm_strbuf_free(&ind);
    if (r.len > c->max_output) {
        vlm_strbuf_free(&r);
        return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "indent() result exceeds the output limit");
    }
    return vlm_jctx_buf(c, at, &r, out);
}

static bool f_length(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, vlm_jv *out);

static bool f_truncate(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a,
                       vlm_jv *out) {
    static const char *const params[] = {"length", "killwords", "end", "leeway"};
    vlm_jfargs b;
    if (!vlm_jf_bind(c, at, VLM_JF_TRUNCATE, a, params, 4, &b)) return false;
    int64_t length = 255, leeway = 5;
    if (b.given[0] && !vlm_jf_arg_int(c, at, b.v[0], "length", &length)) return false;
    if (b.given[3] && b.v[3].type != VLM_JV_NONE &&
        !vlm_jf_arg_int(c, at, b.v[3], "leeway", &leeway))
        return false;
    vlm_jv endv = b.given[2] ? b.v[2] : vlm_jv_undef();
    const char *end = "...";
    size_t end_len = 3, end_ncp = 3;
    if (b.given[2]) {
        if (endv.type != VLM_JV_STR)
            return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "truncate(end=) must be a string");
        end = endv.u.s->data;
        end_len = endv.u.s->len;
        end_ncp = endv.u.s->ncp;
    }
    if (length < (int64_t)end_ncp)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "AssertionError: expected length >= %zu, got %lld", end_ncp,
                             (long long)length);
    if (leeway < 0)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "AssertionError: expected leeway >= 0, got %lld", (long long)leeway);
    if (v.type == VLM_JV_UNDEFINED) {
        *out = vlm_jv_incref(v);
        return true;
    }
    if (v.type != VLM_JV_STR) {
        /* Anything with a len() short enough comes back unchanged; longer ones fail in
         * jinja2 too (lists have no rsplit, dicts cannot be sliced). */
        vlm_jv n;
        if (!f_length(c, at, v, &n)) return false;
        if (n.u.i <= length + leeway) {
            *out = vlm_jv_incref(v);
            return true;
        }
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: cannot truncate a '%s'",
                             vlm_jv_type_name(v));
    }
    const vlm_jstr *s = v.u.s;
    if ((int64_t)s->ncp <= length + leeway) {
        *out = vlm_jv_incref(v);
        return true;
    }
    size_t cut = vlm_jstr_offset(s, (size_t)(length - (int64_t)end_ncp));
    if (!vlm_jv_truthy(b.v[1])) {
        /* s[:cut].rsplit(" ", 1)[0] */
        for (size_t k = cut; k-- > 0;)
            if (s->data[k] == ' ') {
                cut = k;
                break;
            }
    }
    vlm_strbuf r;
    vlm_strbuf_init(&r);
    vlm_strbuf_append(&r, s->data, cut);
    vlm_strbuf_append(&r, end, end_len);
    return vlm_jctx_buf(c, at, &r, out);
}

static bool f_title(vlm_jctx *c, const vlm_jnode *at, const vlm_jstr *s, vlm_jv *out) {
    /* Split on runs of [-\s({\[<]; each piece: first char upper, rest lower. */
    vlm_strbuf r;
    vlm_strbuf_init(&r);
    size_t i = 0;
    bool word_start = true;
    while (i < s->len) {
        size_t j = i;
        uint32_t cp = vlm_utf8_next(s->data, s->len, &j);
        bool sep =
            cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || vlm_py_isspace(cp);
        const char *e;
        if (sep) {
            /* A separator run is its own piece: its first char is uppercased (a no-op). */
            e = vlm_py_case_put(&r, cp, word_start ? VLM_PY_UPPER : VLM_PY_LOWER);
            word_start = false;
            /* the next non-separator starts a new piece */
            size_t k = j;
            bool next_sep = false;
            if (k < s->len) {
                uint32_t nx = vlm_utf8_next(s->data, s->len, &k);
                next_sep = nx == '-' || nx == '(' || nx == '{' || nx == '[' || nx == '<' ||
                           vlm_py_isspace(nx);
            }
            if (!next_sep) word_start = true;
        } else {
            e = vlm_py_case_put(&r, cp, word_start ? VLM_PY_UPPER : VLM_PY_LOWER);
            word_start = false;
        }
        if (e) {
            vlm_strbuf_free(&r);
            return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "%s", e);
        }
        i = j;
    }
    return vlm_jctx_buf(c, at, &r, out);
}

static bool f_escape(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, bool force, vlm_jv *out) {
    if (v.type == VLM_JV_STR && v.u.s->markup && !force) {
        *out = vlm_jv_incref(v);
        return true;
    }
    vlm_jv s;
    if (!vlm_jf_soft_str(c, at, v, &s)) return false;
    vlm_strbuf r;
    vlm_strbuf_init(&r);
    for (size_t i = 0; i < s.u.s->len; i++) {
        char ch = s.u.s->data[i];
        switch (ch) {
        case '&':
            vlm_strbuf_puts(&r, "&amp;");
            break;
        case '<':
            vlm_strbuf_puts(&r, "&lt;");
            break;
        case '>':
            vlm_strbuf_puts(&r, "&gt;");
            break;
        case '"':
            vlm_strbuf_puts(&r, "&#34;");
            break;
        case '\'':
            vlm_strbuf_puts(&r, "&#39;");
            break;
        default:
            vlm_strbuf_putc(&r, ch);
            break;
        }
    }
    vlm_jv_decref(s);
    if (!vlm_jctx_buf(c, at, &r, out)) return false;
    out->u.s->markup = true;
    return true;
}

static bool f_length(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, vlm_jv *out) {
    switch (v.type) {
    case VLM_JV_UNDEFINED:
        *out = vlm_jv_int(0);
        return true;
    case VLM_JV_STR:
        *out = vlm_jv_int((int64_t)v.u.s->ncp);
        return true;
    case VLM_JV_DICT:
        *out = vlm_jv_int((int64_t)v.u.d->n);
        return true;
    case VLM_JV_NAMESPACE:
        break;
    case VLM_JV_LOOP:
        *out = vlm_jv_int((int64_t)v.u.loop->items->n);
        return true;
    case VLM_JV_LIST:
        if (v.u.l->kind == VLM_JLIST_GENERATOR) break;
        *out = vlm_jv_int((int64_t)v.u.l->n);
        return true;
    default:
        break;
    }
    return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: object of type '%s' has no len()",
                         vlm_jv_type_name(v));
}

static bool f_first_last(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, bool last, vlm_jv *out) {
    if (v.type == VLM_JV_LIST && v.u.l->kind == VLM_JLIST_GENERATOR) {
        vlm_jlist *l = v.u.l;
        if (last)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: 'generator' object is not reversible");
        if (l->pos >= l->n) {
            *out = vlm_jv_undef_hint("No first item, sequence was empty.");
            return true;
        }
        *out = vlm_jv_incref(l->items[l->pos++]);
        return true;
    }
    vlm_jlist *items;
    if (!vlm_jctx_iterate(c, at, v, &items)) return false;
    if (items->n == 0)
        *out = vlm_jv_undef_hint(last ? "No last item, sequence was empty."
                                      : "No first item, sequence was empty.");
    else
        *out = vlm_jv_incref(items->items[last ? items->n - 1 : 0]);
    vlm_jlist_decref(items);
    return true;
}

static bool f_reverse(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, vlm_jv *out) {
    if (v.type == VLM_JV_STR) {
        const vlm_jstr *s = v.u.s;
        vlm_strbuf r;
        vlm_strbuf_init(&r);
        size_t e = s->len;
        while (e > 0) {
            size_t p = vlm_utf8_prev(s->data, e);
            vlm_strbuf_append(&r, s->data + p, e - p);
            e = p;
        }
        return vlm_jctx_buf(c, at, &r, out);
    }
    /* reversed() gives an iterator for sequences and dicts; a generator becomes a list. */
    bool to_list = v.type == VLM_JV_LIST && v.u.l->kind == VLM_JLIST_GENERATOR;
    vlm_jlist *items, *res;
    if (!vlm_jctx_iterate(c, at, v, &items)) return false;
    if (!vlm_jf_new_list(c, at, to_list ? VLM_JLIST_LIST : VLM_JLIST_GENERATOR, items->n, &res)) {
        vlm_jlist_decref(items);
        return false;
    }
    bool ok = true;
    for (size_t i = items->n; ok && i-- > 0;)
        ok = vlm_jctx_push(c, at, res, vlm_jv_incref(items->items[i]));
    vlm_jlist_decref(items);
    if (!ok) {
        vlm_jlist_decref(res);
        return false;
    }
    return vlm_jf_finish_list(res, out);
}

static bool f_attr(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, const vlm_jargs *a, vlm_jv *out) {
    static const char *const params[] = {"name"};
    vlm_jfargs b;
    if (!vlm_jf_bind(c, at, VLM_JF_ATTR, a, params, 1, &b)) return false;
    if (!b.given[0] || b.v[0].type != VLM_JV_STR)
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: attr() needs an attribute name string");
    vlm_jv name = b.v[0];
    switch (v.type) {
    case VLM_JV_UNDEFINED:
        return vlm_jctx_fail_undefined(c, at, v);
    case VLM_JV_NAMESPACE:
    case VLM_JV_LOOP:
        return vlm_jctx_getattr(c, at, v, name, out);
    case VLM_JV_STR:
    case VLM_JV_DICT:
    case VLM_JV_LIST: {
        /* Only real attributes (methods), never dict keys. */
        bool found = false;
        if (name.u.s->data[0] != '_' && !vlm_jinja_method_lookup(c, at, v, name, &found, out))
            return false;
        if (!found)
            *out = vlm_jv_undef_hint("'%s object' has no attribute '%s'", vlm_jv_type_name(v),
                                     name.u.s->data);
        return true;
    }
    default:
        return vlm_jctx_getattr(c, at, v, name, out);
    }
}

static bool f_items(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, vlm_jv *out) {
    vlm_jlist *res;
    if (!vlm_jf_new_list(c, at, VLM_JLIST_GENERATOR, 0, &res)) return false;
    if (v.type == VLM_JV_UNDEFINED) return vlm_jf_finish_list(res, out);
    if (v.type != VLM_JV_DICT) {
        vlm_jlist_decref(res);
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                             "TypeError: Can only get item pairs from a mapping.");
    }
    for (size_t i = 0; i < v.u.d->n; i++) {
        vlm_jlist *pair;
        if (!vlm_jf_new_list(c, at, VLM_JLIST_TUPLE, 2, &pair)) goto fail;
        if (!vlm_jctx_push(c, at, pair, vlm_jv_incref(v.u.d->keys[i])) ||
            !vlm_jctx_push(c, at, pair, vlm_jv_incref(v.u.d->vals[i]))) {
            vlm_jlist_decref(pair);
            goto fail;
        }
        if (!vlm_jctx_push(c, at, res, vlm_jv_list(pair))) goto fail;
    }
    return vlm_jf_finish_list(res, out);
fail:
    vlm_jlist_decref(res);
    return false;
}

static bool f_wordcount(vlm_jctx *c, const vlm_jnode *at, vlm_jv v, vlm_jv *out) {
    vlm_jv s;
    if (!vlm_jf_soft_str(c, at, v, &s)) return false;
    int64_t n = 0;
    bool in_word = false;
    size_t i = 0;
    while (i < s.u.s->len) {
        uint32_t cp = vlm_utf8_next(s.u.s->data, s.u.s->len, &i);
        bool w = cp == '_' || vlm_py_isalnum(cp);
        if (w && !in_word) n++;
        in_word = w;
    }
    vlm_jv_decref(s);
    *out = vlm_jv_int(n);
    return true;
}

/* ------------------------------------------------------------- dispatch */

static bool str_filter(vlm_jctx *c, const vlm_jnode *at, int id, vlm_jv v, const vlm_jargs *a,
                       vlm_jv *out) {
    vlm_jv s;
    if (!vlm_jf_soft_str(c, at, v, &s)) return false;
    bool ok;
    switch (id) {
    case VLM_JF_UPPER:
    case VLM_JF_LOWER:
    case VLM_JF_CAPITALIZE: {
        if (a->npos || a->nkw) {
            vlm_jv_decref(s);
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: %s() takes no arguments",
                                 filter_names[id]);
        }
        vlm_strbuf r;
        vlm_strbuf_init(&r);
        const char *e = id == VLM_JF_UPPER   ? vlm_py_upper(&r, s.u.s->data, s.u.s->len)
                        : id == VLM_JF_LOWER ? vlm_py_lower(&r, s.u.s->data, s.u.s->len)
                                             : vlm_py_capitalize(&r, s.u.s->data, s.u.s->len);
        if (e) {
            vlm_strbuf_free(&r);
            ok = vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "%s", e);
        } else {
            ok = vlm_jctx_buf(c, at, &r, out);
        }
        break;
    }
    case VLM_JF_TITLE:
        if (a->npos || a->nkw) {
            vlm_jv_decref(s);
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: title() takes no arguments");
        }
        ok = f_title(c, at, s.u.s, out);
        break;
    case VLM_JF_TRIM: {
        static const char *const params[] = {"chars"};
        vlm_jfargs b;
        ok = vlm_jf_bind(c, at, id, a, params, 1, &b) &&
             vlm_jinja_str_strip(c, at, s, b.given[0] ? b.v[0] : vlm_jv_none(), 3, out);
        break;
    }
    case VLM_JF_CENTER: {
        static const char *const params[] = {"width"};
        vlm_jfargs b;
        ok = vlm_jf_bind(c, at, id, a, params, 1, &b);
        if (ok) {
            vlm_jv w = b.given[0] ? b.v[0] : vlm_jv_int(80);
            int64_t width;
            ok = vlm_jf_arg_int(c, at, w, "width", &width);
            if (ok) {
                size_t ncp = s.u.s->ncp;
                if (width > (int64_t)c->max_output) {
                    ok = vlm_jctx_fail(c, at, VLM_ERR_LIMIT,
                                       "center width exceeds the output limit");
                } else if (width <= (int64_t)ncp) {
                    *out = vlm_jv_incref(s);
                } else {
                    size_t total = (size_t)width - ncp;
                    size_t left = total / 2 + (total & (size_t)width & 1);
                    vlm_strbuf r;
                    vlm_strbuf_init(&r);
                    for (size_t k = 0; k < left; k++)
                        vlm_strbuf_putc(&r, ' ');
                    vlm_strbuf_append(&r, s.u.s->data, s.u.s->len);
                    for (size_t k = left; k < total; k++)
                        vlm_strbuf_putc(&r, ' ');
                    ok = vlm_jctx_buf(c, at, &r, out);
                }
            }
        }
        break;
    }
    case VLM_JF_FORMAT:
        if (a->npos && a->nkw) {
            ok = vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                               "FilterArgumentError: can't handle positional and keyword arguments "
                               "at the same time");
        } else if (a->nkw) {
            vlm_jdict *d = vlm_jdict_new(a->nkw);
            ok = d != NULL;
            for (uint32_t k = 0; ok && k < a->nkw; k++)
                ok = vlm_jdict_set(d, vlm_jv_incref(a->kwnames[k]), vlm_jv_incref(a->kwvals[k]));
            if (!ok) {
                vlm_jdict_decref(d);
                ok = vlm_jctx_oom(c, at);
            } else {
                vlm_jv dv = vlm_jv_dict(d);
                ok = vlm_jinja_percent_format(c, at, s, dv, out);
                vlm_jv_decref(dv);
            }
        } else {
            vlm_jlist *t = vlm_jlist_new(VLM_JLIST_TUPLE, a->npos);
            ok = t != NULL;
            for (uint32_t k = 0; ok && k < a->npos; k++)
                ok = vlm_jlist_push(t, vlm_jv_incref(a->pos[k]));
            if (!ok) {
                vlm_jlist_decref(t);
                ok = vlm_jctx_oom(c, at);
            } else {
                vlm_jv tv = vlm_jv_list(t);
                ok = vlm_jinja_percent_format(c, at, s, tv, out);
                vlm_jv_decref(tv);
            }
        }
        break;
    case VLM_JF_STRING:
        *out = vlm_jv_incref(s);
        ok = true;
        break;
    default:
        ok = vlm_jctx_fail(c, at, VLM_ERR_INTERNAL, "internal error: bad string filter");
        break;
    }
    vlm_jv_decref(s);
    return ok;
}

bool vlm_jinja_apply_filter(vlm_jctx *c, const vlm_jnode *at, int id, vlm_jv v, const vlm_jargs *a,
                            vlm_jv *out) {
    *out = vlm_jv_undef();
    switch ((vlm_jfilter_id)id) {
    case VLM_JF_UPPER:
    case VLM_JF_LOWER:
    case VLM_JF_CAPITALIZE:
    case VLM_JF_TITLE:
    case VLM_JF_TRIM:
    case VLM_JF_CENTER:
    case VLM_JF_FORMAT:
        return str_filter(c, at, id, v, a, out);
    case VLM_JF_STRING:
        if (a->npos || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: string() takes no arguments");
        if (v.type == VLM_JV_STR) {
            *out = vlm_jv_incref(v);
            return true;
        }
        return str_filter(c, at, id, v, a, out);
    case VLM_JF_SAFE: {
        if (a->npos || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: safe() takes no arguments");
        if (v.type == VLM_JV_STR && v.u.s->markup) {
            *out = vlm_jv_incref(v);
            return true;
        }
        vlm_jv s;
        if (!vlm_jf_soft_str(c, at, v, &s)) return false;
        bool ok = vlm_jctx_str(c, at, s.u.s->data, s.u.s->len, out);
        vlm_jv_decref(s);
        if (ok) out->u.s->markup = true;
        return ok;
    }
    case VLM_JF_E:
    case VLM_JF_ESCAPE:
    case VLM_JF_FORCEESCAPE:
        if (a->npos || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: escape() takes exactly one argument");
        return f_escape(c, at, v, id == VLM_JF_FORCEESCAPE, out);
    case VLM_JF_DEFAULT:
    case VLM_JF_D: {
        static const char *const params[] = {"default_value", "boolean"};
        vlm_jfargs b;
        if (!vlm_jf_bind(c, at, id, a, params, 2, &b)) return false;
        bool use_default =
            v.type == VLM_JV_UNDEFINED || (vlm_jv_truthy(b.v[1]) && !vlm_jv_truthy(v));
        if (!use_default)
            *out = vlm_jv_incref(v);
        else if (b.given[0])
            *out = vlm_jv_incref(b.v[0]);
        else
            return vlm_jctx_str(c, at, "", 0, out);
        return true;
    }
    case VLM_JF_LENGTH:
    case VLM_JF_COUNT:
        if (a->npos || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: len() takes exactly one argument");
        return f_length(c, at, v, out);
    case VLM_JF_FIRST:
    case VLM_JF_LAST:
        if (a->npos || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: %s() takes no arguments",
                                 filter_names[id]);
        return f_first_last(c, at, v, id == VLM_JF_LAST, out);
    case VLM_JF_LIST: {
        if (a->npos || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: list() takes no arguments");
        vlm_jlist *items, *res;
        if (!vlm_jctx_iterate(c, at, v, &items)) return false;
        if (!vlm_jf_new_list(c, at, VLM_JLIST_LIST, items->n, &res)) {
            vlm_jlist_decref(items);
            return false;
        }
        bool ok = true;
        for (size_t i = 0; ok && i < items->n; i++)
            ok = vlm_jctx_push(c, at, res, vlm_jv_incref(items->items[i]));
        vlm_jlist_decref(items);
        if (!ok) {
            vlm_jlist_decref(res);
            return false;
        }
        return vlm_jf_finish_list(res, out);
    }
    case VLM_JF_JOIN:
        return vlm_jf_join(c, at, v, a, out);
    case VLM_JF_MAP:
        return vlm_jf_map(c, at, v, a, out);
    case VLM_JF_SELECT:
    case VLM_JF_REJECT:
    case VLM_JF_SELECTATTR:
    case VLM_JF_REJECTATTR:
        return vlm_jf_select(c, at, id, v, a, out);
    case VLM_JF_SORT:
        return vlm_jf_sort(c, at, v, a, out);
    case VLM_JF_DICTSORT:
        return vlm_jf_dictsort(c, at, v, a, out);
    case VLM_JF_UNIQUE:
        return vlm_jf_unique(c, at, v, a, out);
    case VLM_JF_MIN:
    case VLM_JF_MAX:
        return vlm_jf_minmax(c, at, id, v, a, out);
    case VLM_JF_INT:
        return vlm_jf_int(c, at, v, a, out);
    case VLM_JF_FLOAT:
        return vlm_jf_float(c, at, v, a, out);
    case VLM_JF_ROUND:
        return vlm_jf_round(c, at, v, a, out);
    case VLM_JF_ABS:
        if (a->npos || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: abs() takes exactly one argument");
        if (v.type == VLM_JV_INT || v.type == VLM_JV_BOOL) {
            int64_t i = v.type == VLM_JV_BOOL ? v.u.b : v.u.i;
            if (i == INT64_MIN)
                return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "integer overflow in abs()");
            *out = vlm_jv_int(i < 0 ? -i : i);
            return true;
        }
        if (v.type == VLM_JV_FLOAT) {
            *out = vlm_jv_float(fabs(v.u.f));
            return true;
        }
        if (v.type == VLM_JV_UNDEFINED) return vlm_jctx_fail_undefined(c, at, v);
        return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: bad operand type for abs(): '%s'",
                             vlm_jv_type_name(v));
    case VLM_JF_REPLACE: {
        static const char *const params[] = {"old", "new", "count"};
        vlm_jfargs b;
        if (!vlm_jf_bind(c, at, id, a, params, 3, &b)) return false;
        if (!b.given[0] || !b.given[1])
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: replace() missing required arguments");
        int64_t count = -1;
        if (b.given[2] && b.v[2].type != VLM_JV_NONE &&
            !vlm_jf_arg_int(c, at, b.v[2], "count", &count))
            return false;
        vlm_jv s, o, n;
        if (!vlm_jctx_to_str(c, at, v, &s)) return false;
        if (!vlm_jctx_to_str(c, at, b.v[0], &o)) {
            vlm_jv_decref(s);
            return false;
        }
        bool ok = vlm_jctx_to_str(c, at, b.v[1], &n);
        if (ok) {
            ok = vlm_jinja_str_replace(c, at, s.u.s, o.u.s, n.u.s, count, out);
            vlm_jv_decref(n);
        }
        vlm_jv_decref(o);
        vlm_jv_decref(s);
        return ok;
    }
    case VLM_JF_REVERSE:
        if (a->npos || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: reverse() takes no arguments");
        return f_reverse(c, at, v, out);
    case VLM_JF_INDENT:
        return f_indent(c, at, v, a, out);
    case VLM_JF_TRUNCATE:
        return f_truncate(c, at, v, a, out);
    case VLM_JF_BATCH:
    case VLM_JF_SLICE:
        return vlm_jf_batch_slice(c, at, id, v, a, out);
    case VLM_JF_SUM:
        return vlm_jf_sum(c, at, v, a, out);
    case VLM_JF_ATTR:
        return f_attr(c, at, v, a, out);
    case VLM_JF_ITEMS:
        if (a->npos || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT, "TypeError: items() takes no arguments");
        return f_items(c, at, v, out);
    case VLM_JF_WORDCOUNT:
        if (a->npos || a->nkw)
            return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                 "TypeError: wordcount() takes no arguments");
        return f_wordcount(c, at, v, out);
    case VLM_JF_TOJSON: {
        static const char *const params[] = {"ensure_ascii", "indent", "separators", "sort_keys"};
        vlm_jfargs b;
        if (!vlm_jf_bind(c, at, id, a, params, 4, &b)) return false;
        vlm_strbuf ind;
        vlm_strbuf_init(&ind);
        bool has_indent = b.given[1] && b.v[1].type != VLM_JV_NONE;
        if (has_indent) {
            vlm_jv iv = b.v[1];
            if (iv.type == VLM_JV_STR) {
                vlm_strbuf_append(&ind, iv.u.s->data, iv.u.s->len);
            } else if (iv.type == VLM_JV_INT || iv.type == VLM_JV_BOOL) {
                int64_t w = iv.type == VLM_JV_BOOL ? iv.u.b : iv.u.i;
                if (w > 1000) return vlm_jctx_fail(c, at, VLM_ERR_LIMIT, "tojson indent too large");
                for (int64_t k = 0; k < w; k++)
                    vlm_strbuf_putc(&ind, ' ');
            } else {
                return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                     "TypeError: tojson indent must be an int or str");
            }
        }
        const char *isep = has_indent ? "," : ", ", *ksep = ": ";
        size_t isl = strlen(isep), ksl = 2;
        if (b.given[2] && b.v[2].type != VLM_JV_NONE) {
            vlm_jv sv = b.v[2];
            if (sv.type != VLM_JV_LIST || sv.u.l->n != 2 || sv.u.l->items[0].type != VLM_JV_STR ||
                sv.u.l->items[1].type != VLM_JV_STR) {
                vlm_strbuf_free(&ind);
                return vlm_jctx_fail(c, at, VLM_ERR_FORMAT,
                                     "tojson separators must be a pair of strings");
            }
            isep = sv.u.l->items[0].u.s->data;
            isl = sv.u.l->items[0].u.s->len;
            ksep = sv.u.l->items[1].u.s->data;
            ksl = sv.u.l->items[1].u.s->len;
        }
        vlm_strbuf r;
        vlm_strbuf_init(&r);
        bool ok = vlm_jinja_tojson(c, at, &r, v, vlm_jv_truthy(b.v[0]),
                                   has_indent ? vlm_strbuf_cstr(&ind) : NULL, ind.len, isep, isl,
                                   ksep, ksl, vlm_jv_truthy(b.v[3]));
        vlm_strbuf_free(&ind);
        if (!ok) {
            vlm_strbuf_free(&r);
            return false;
        }
        return vlm_jctx_buf(c, at, &r, out);
    }
    default:
        if (id >= 0 && id < VLM_JF_COUNT_ALL)
            return vlm_jctx_fail(c, at, VLM_ERR_UNSUPPORTED, "the filter '%s' is not supported",
                                 filter_names[id]);
        return vlm_jctx_fail(c, at, VLM_ERR_INTERNAL, "internal error: bad filter id %d", id);
    }
}

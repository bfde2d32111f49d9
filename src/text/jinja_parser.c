/* The Jinja parser: tokens -> syntax tree (jinja_ast.h). It follows jinja2 3.1's recursive
 * descent grammar and precedence exactly (condexpr < or < and < not < compare < +,- < ~ <
 * *,/,//,% < ** (left-associative, as in jinja2) < unary, with postfix subscripts/calls and
 * then filters and tests). Filters and tests are resolved here: a name jinja2 does not know
 * is a syntax error, as it is in jinja2 at compile time. Statements outside the supported
 * set (extends, block, include, import, ...) are refused with the tag's position. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/error.h"
#include "core/strbuf.h"
#include "text/jinja.h"
#include "text/jinja_ast.h"
#include "text/jinja_lexer.h"
#include "text/jinja_pystr.h"

#define MAX_PARSE_DEPTH 400
#define MAX_BLOCKS 256 /* nested block tags */

typedef struct parser {
    const vlm_jtok *t;
    size_t pos, n;
    vlm_jinja_template *tpl;
    vlm_error *err;
    bool failed;
    vlm_status status; /* of the first failure */
    int depth;
    int loop_depth; /* break/continue are only valid inside a for body */
    /* jinja2's "soft frame": directly inside an if statement or a conditional expression,
     * an unknown filter or test fails only when evaluated; elsewhere at compile time. */
    bool soft;
    bool unsupported; /* the next failure is valid jinja2 this engine refuses */
    /* For messages: the open block tags and the end tags being looked for. */
    const char *tags[MAX_BLOCKS];
    int ntags;
    const char *const *ends[MAX_BLOCKS];
    int nends;
} parser;

/* ------------------------------------------------------------- helpers */

static const vlm_jtok *cur(parser *p) {
    return &p->t[p->pos];
}

static const vlm_jtok *peek(parser *p, size_t k) {
    size_t i = p->pos + k;
    return &p->t[i < p->n ? i : p->n - 1];
}

static void advance(parser *p) {
    if (p->pos + 1 < p->n) p->pos++;
}

static void fail_at(parser *p, const vlm_jtok *tok, const char *fmt, ...) VLM_PRINTF(3, 4);
static void fail_at(parser *p, const vlm_jtok *tok, const char *fmt, ...) {
    if (p->failed) return;
    p->failed = true;
    p->status = p->unsupported ? VLM_ERR_UNSUPPORTED : VLM_ERR_FORMAT;
    char msg[400], full[sizeof(((vlm_error *)0)->message)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(full, sizeof full, "%s:%u:%u: %s", p->tpl->name, tok->line, tok->col, msg);
    vlm_utf8_trim_partial(full);
    vlm_err(p->err, p->status, "%s", full);
}

static bool is_name(const vlm_jtok *tok, const char *name) {
    return tok->type == VLM_JTOK_NAME && !strcmp(tok->val.u.s->data, name);
}

static bool is_op(const vlm_jtok *tok, int op) {
    return tok->type == VLM_JTOK_OP && tok->op == op;
}

/* jinja2's description of a token, for "expected ..., got ..." messages. */
static void describe(const vlm_jtok *tok, char *buf, size_t n) {
    switch (tok->type) {
    case VLM_JTOK_EOF:
        snprintf(buf, n, "end of template");
        break;
    case VLM_JTOK_DATA:
        snprintf(buf, n, "template data / text");
        break;
    case VLM_JTOK_VAR_BEGIN:
        snprintf(buf, n, "begin of print statement");
        break;
    case VLM_JTOK_VAR_END:
        snprintf(buf, n, "end of print statement");
        break;
    case VLM_JTOK_BLOCK_BEGIN:
        snprintf(buf, n, "begin of statement block");
        break;
    case VLM_JTOK_BLOCK_END:
        snprintf(buf, n, "end of statement block");
        break;
    case VLM_JTOK_NAME:
        snprintf(buf, n, "%.60s", tok->val.u.s->data);
        break;
    case VLM_JTOK_STRING:
        snprintf(buf, n, "string");
        break;
    case VLM_JTOK_INT:
        snprintf(buf, n, "integer");
        break;
    case VLM_JTOK_FLOAT:
        snprintf(buf, n, "float");
        break;
    case VLM_JTOK_OP:
        snprintf(buf, n, "%s", vlm_jop_text(tok->op));
        break;
    default:
        snprintf(buf, n, "?");
        break;
    }
}

static void fail_expected(parser *p, const char *what) {
    char got[80];
    describe(cur(p), got, sizeof got);
    if (cur(p)->type == VLM_JTOK_EOF)
        fail_at(p, cur(p), "unexpected end of template, expected '%s'", what);
    else
        fail_at(p, cur(p), "expected token '%s', got '%s'", what, got);
}

static bool expect_type(parser *p, int type, const char *what) {
    if (cur(p)->type != type) {
        fail_expected(p, what);
        return false;
    }
    advance(p);
    return true;
}

static bool expect_op(parser *p, int op) {
    if (!is_op(cur(p), op)) {
        fail_expected(p, vlm_jop_text(op));
        return false;
    }
    advance(p);
    return true;
}

static bool expect_name(parser *p, const char *name) {
    if (!is_name(cur(p), name)) {
        fail_expected(p, name);
        return false;
    }
    advance(p);
    return true;
}

static vlm_jnode *node_new(parser *p, int kind, const vlm_jtok *at) {
    if (p->failed) return NULL;
    vlm_jinja_template *t = p->tpl;
    if (t->nall == t->capall) {
        size_t cap = t->capall ? t->capall * 2 : 128;
        vlm_jnode **all = vlm_realloc_array(t->all, cap, sizeof *all);
        if (!all) goto oom;
        t->all = all;
        t->capall = cap;
    }
    vlm_jnode *nd = calloc(1, sizeof *nd);
    if (!nd) goto oom;
    t->all[t->nall++] = nd;
    nd->kind = (uint8_t)kind;
    nd->line = at->line;
    nd->col = at->col;
    nd->val = vlm_jv_undef();
    nd->val2 = vlm_jv_undef();
    return nd;
oom:
    p->failed = true;
    p->status = VLM_ERR_OUT_OF_MEMORY;
    vlm_err(p->err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", p->tpl->name);
    return NULL;
}

/* A growable list of nodes (or names) being collected. */
typedef struct nodelist {
    vlm_jnode **items;
    uint32_t n, cap;
} nodelist;

static bool list_add(parser *p, nodelist *l, vlm_jnode *nd) {
    if (p->failed) return false;
    if (l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 4;
        vlm_jnode **items = vlm_realloc_array(l->items, cap, sizeof *items);
        if (!items) {
            p->failed = true;
            p->status = VLM_ERR_OUT_OF_MEMORY;
            vlm_err(p->err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", p->tpl->name);
            return false;
        }
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = nd;
    return true;
}

/* Moves the list into a node field (the node owns the array). */
static void take_kids(vlm_jnode *nd, nodelist *l, bool second) {
    if (!nd) {
        free(l->items);
    } else if (second) {
        nd->kids2 = l->items;
        nd->nkids2 = l->n;
    } else {
        nd->kids = l->items;
        nd->nkids = l->n;
    }
    memset(l, 0, sizeof *l);
}

static bool names_add(parser *p, vlm_jnode *nd, vlm_jv name) {
    if (p->failed) return false;
    vlm_jv *names = vlm_realloc_array(nd->names, nd->nnames + 1, sizeof *names);
    if (!names) {
        p->failed = true;
        p->status = VLM_ERR_OUT_OF_MEMORY;
        vlm_err(p->err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", p->tpl->name);
        return false;
    }
    nd->names = names;
    nd->names[nd->nnames++] = name;
    return true;
}

static bool enter(parser *p) {
    if (++p->depth > MAX_PARSE_DEPTH) {
        fail_at(p, cur(p), "template nested too deeply (more than %d levels)", MAX_PARSE_DEPTH);
        return false;
    }
    return true;
}

static void leave(parser *p) {
    p->depth--;
}

/* ------------------------------------------------------------- expressions */

static vlm_jnode *parse_expression(parser *p, bool with_condexpr);
static vlm_jnode *parse_condexpr_body(parser *p, const vlm_jtok *start);
static vlm_jnode *parse_tuple(parser *p, bool simplified, bool with_condexpr,
                              const char *const *extra_end, bool explicit_parens);
static vlm_jnode *parse_unary(parser *p, bool with_filter);
static vlm_jnode *parse_postfix(parser *p, vlm_jnode *nd);
static vlm_jnode *parse_filter_chain(parser *p, vlm_jnode *nd, bool start_inline);

static bool parse_call_args(parser *p, vlm_jnode *nd) {
    const vlm_jtok *open = cur(p);
    if (!expect_op(p, VLM_JOP_LPAREN)) return false;
    nodelist args = {0}, kwvals = {0};
    bool require_comma = false, ok = true;
    while (!p->failed && !is_op(cur(p), VLM_JOP_RPAREN)) {
        if (require_comma) {
            if (!expect_op(p, VLM_JOP_COMMA)) break;
            if (is_op(cur(p), VLM_JOP_RPAREN)) break;
        }
        if (is_op(cur(p), VLM_JOP_MUL) || is_op(cur(p), VLM_JOP_POW)) {
            p->unsupported = true;
            fail_at(p, cur(p), "*args and **kwargs in calls are not supported");
            break;
        }
        if (cur(p)->type == VLM_JTOK_NAME && is_op(peek(p, 1), VLM_JOP_ASSIGN)) {
            vlm_jv key = cur(p)->val;
            advance(p);
            advance(p);
            vlm_jnode *v = parse_expression(p, true);
            if (!v) break;
            for (uint32_t i = 0; i < nd->nnames; i++)
                if (vlm_jv_equal(nd->names[i], key)) {
                    fail_at(p, open, "keyword argument repeated: %s", key.u.s->data);
                    break;
                }
            if (!names_add(p, nd, key) || !list_add(p, &kwvals, v)) break;
        } else {
            if (kwvals.n) {
                fail_at(p, open, "invalid syntax for function call expression");
                break;
            }
            vlm_jnode *v = parse_expression(p, true);
            if (!v || !list_add(p, &args, v)) break;
        }
        require_comma = true;
    }
    if (!p->failed) ok = expect_op(p, VLM_JOP_RPAREN);
    take_kids(nd, &args, false);
    take_kids(nd, &kwvals, true);
    return ok && !p->failed;
}

static vlm_jnode *parse_list(parser *p) {
    vlm_jnode *nd = node_new(p, VLM_JN_LIST, cur(p));
    if (!nd || !expect_op(p, VLM_JOP_LBRACKET)) return NULL;
    nodelist items = {0};
    while (!p->failed && !is_op(cur(p), VLM_JOP_RBRACKET)) {
        if (items.n && !expect_op(p, VLM_JOP_COMMA)) break;
        if (is_op(cur(p), VLM_JOP_RBRACKET)) break;
        vlm_jnode *v = parse_expression(p, true);
        if (!v || !list_add(p, &items, v)) break;
    }
    take_kids(nd, &items, false);
    if (p->failed || !expect_op(p, VLM_JOP_RBRACKET)) return NULL;
    return nd;
}

static vlm_jnode *parse_dict(parser *p) {
    vlm_jnode *nd = node_new(p, VLM_JN_DICT, cur(p));
    if (!nd || !expect_op(p, VLM_JOP_LBRACE)) return NULL;
    nodelist keys = {0}, vals = {0};
    while (!p->failed && !is_op(cur(p), VLM_JOP_RBRACE)) {
        if (keys.n && !expect_op(p, VLM_JOP_COMMA)) break;
        if (is_op(cur(p), VLM_JOP_RBRACE)) break;
        vlm_jnode *k = parse_expression(p, true);
        if (!k || !expect_op(p, VLM_JOP_COLON)) break;
        vlm_jnode *v = parse_expression(p, true);
        if (!v || !list_add(p, &keys, k) || !list_add(p, &vals, v)) break;
    }
    take_kids(nd, &keys, false);
    take_kids(nd, &vals, true);
    if (p->failed || !expect_op(p, VLM_JOP_RBRACE)) return NULL;
    return nd;
}

static vlm_jnode *parse_primary(parser *p) {
    const vlm_jtok *tok = cur(p);
    vlm_jnode *nd = NULL;
    switch (tok->type) {
    case VLM_JTOK_NAME: {
        const char *s = tok->val.u.s->data;
        nd = node_new(p, VLM_JN_CONST, tok);
        if (!nd) return NULL;
        if (!strcmp(s, "true") || !strcmp(s, "True"))
            nd->val = vlm_jv_bool(true);
        else if (!strcmp(s, "false") || !strcmp(s, "False"))
            nd->val = vlm_jv_bool(false);
        else if (!strcmp(s, "none") || !strcmp(s, "None"))
            nd->val = vlm_jv_none();
        else {
            nd->kind = VLM_JN_NAME;
            nd->val = tok->val;
        }
        advance(p);
        return nd;
    }
    case VLM_JTOK_STRING: {
        nd = node_new(p, VLM_JN_CONST, tok);
        if (!nd) return NULL;
        advance(p);
        if (cur(p)->type != VLM_JTOK_STRING) {
            nd->val = tok->val;
            return nd;
        }
        /* Adjacent string literals concatenate. */
        vlm_strbuf b;
        vlm_strbuf_init(&b);
        vlm_strbuf_append(&b, tok->val.u.s->data, tok->val.u.s->len);
        while (cur(p)->type == VLM_JTOK_STRING) {
            vlm_strbuf_append(&b, cur(p)->val.u.s->data, cur(p)->val.u.s->len);
            advance(p);
        }
        if (b.failed || !vlm_jpool_str(&p->tpl->pool, vlm_strbuf_cstr(&b), b.len, &nd->val)) {
            p->failed = true;
            p->status = VLM_ERR_OUT_OF_MEMORY;
            vlm_err(p->err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", p->tpl->name);
            nd = NULL;
        }
        vlm_strbuf_free(&b);
        return nd;
    }
    case VLM_JTOK_INT:
    case VLM_JTOK_FLOAT:
        nd = node_new(p, VLM_JN_CONST, tok);
        if (!nd) return NULL;
        nd->val = tok->val;
        advance(p);
        return nd;
    case VLM_JTOK_OP:
        if (tok->op == VLM_JOP_LPAREN) {
            advance(p);
            nd = parse_tuple(p, false, true, NULL, true);
            if (!nd || !expect_op(p, VLM_JOP_RPAREN)) return NULL;
            return nd;
        }
        if (tok->op == VLM_JOP_LBRACKET) return parse_list(p);
        if (tok->op == VLM_JOP_LBRACE) return parse_dict(p);
        break;
    default:
        break;
    }
    char got[80];
    describe(tok, got, sizeof got);
    fail_at(p, tok, "unexpected '%s'", got);
    return NULL;
}

/* One subscript: an expression or a slice a:b:c. */
static vlm_jnode *parse_subscribed(parser *p) {
    const vlm_jtok *start = cur(p);
    vlm_jnode *parts[3] = {NULL, NULL, NULL};
    if (is_op(cur(p), VLM_JOP_COLON)) {
        advance(p);
    } else {
        vlm_jnode *e = parse_expression(p, true);
        if (!e) return NULL;
        if (!is_op(cur(p), VLM_JOP_COLON)) return e;
        advance(p);
        parts[0] = e;
    }
    if (!is_op(cur(p), VLM_JOP_COLON) && !is_op(cur(p), VLM_JOP_RBRACKET) &&
        !is_op(cur(p), VLM_JOP_COMMA)) {
        parts[1] = parse_expression(p, true);
        if (!parts[1]) return NULL;
    }
    if (is_op(cur(p), VLM_JOP_COLON)) {
        advance(p);
        if (!is_op(cur(p), VLM_JOP_RBRACKET) && !is_op(cur(p), VLM_JOP_COMMA)) {
            parts[2] = parse_expression(p, true);
            if (!parts[2]) return NULL;
        }
    }
    vlm_jnode *nd = node_new(p, VLM_JN_SLICE, start);
    if (!nd) return NULL;
    nd->a = parts[0];
    nd->b = parts[1];
    nd->c = parts[2];
    return nd;
}

static vlm_jnode *parse_subscript(parser *p, vlm_jnode *obj) {
    const vlm_jtok *tok = cur(p);
    advance(p);
    if (tok->op == VLM_JOP_DOT) {
        const vlm_jtok *attr = cur(p);
        advance(p);
        if (attr->type == VLM_JTOK_NAME) {
            vlm_jnode *nd = node_new(p, VLM_JN_GETATTR, tok);
            if (!nd) return NULL;
            nd->a = obj;
            nd->val = attr->val;
            return nd;
        }
        if (attr->type != VLM_JTOK_INT) {
            fail_at(p, attr, "expected name or number");
            return NULL;
        }
        vlm_jnode *idx = node_new(p, VLM_JN_CONST, attr);
        vlm_jnode *nd = node_new(p, VLM_JN_GETITEM, tok);
        if (!nd || !idx) return NULL;
        idx->val = attr->val;
        nd->a = obj;
        nd->b = idx;
        return nd;
    }
    /* '[' */
    nodelist args = {0};
    while (!p->failed && !is_op(cur(p), VLM_JOP_RBRACKET)) {
        if (args.n && !expect_op(p, VLM_JOP_COMMA)) break;
        vlm_jnode *s = parse_subscribed(p);
        if (!s || !list_add(p, &args, s)) break;
    }
    if (p->failed || !expect_op(p, VLM_JOP_RBRACKET)) {
        free(args.items);
        return NULL;
    }
    vlm_jnode *nd = node_new(p, VLM_JN_GETITEM, tok);
    if (!nd) {
        free(args.items);
        return NULL;
    }
    nd->a = obj;
    if (args.n == 1) {
        nd->b = args.items[0];
        free(args.items);
    } else {
        vlm_jnode *tup = node_new(p, VLM_JN_TUPLE, tok);
        if (!tup) {
            free(args.items);
            return NULL;
        }
        take_kids(tup, &args, false);
        nd->b = tup;
    }
    return nd;
}

static vlm_jnode *parse_call(parser *p, vlm_jnode *callee) {
    vlm_jnode *nd = node_new(p, VLM_JN_CALL, cur(p));
    if (!nd) return NULL;
    nd->a = callee;
    if (!parse_call_args(p, nd)) return NULL;
    return nd;
}

static vlm_jnode *parse_postfix(parser *p, vlm_jnode *nd) {
    while (nd && !p->failed) {
        if (is_op(cur(p), VLM_JOP_DOT) || is_op(cur(p), VLM_JOP_LBRACKET))
            nd = parse_subscript(p, nd);
        else if (is_op(cur(p), VLM_JOP_LPAREN))
            nd = parse_call(p, nd);
        else
            break;
    }
    return p->failed ? NULL : nd;
}

/* A filter or test name: NAME ('.' NAME)*, as jinja2 reads it (no builtin has a dot, so a
 * dotted name is unknown: a compile error, or a runtime one in a soft frame). */
static bool dotted_name(parser *p, const vlm_jtok *first, vlm_jv *out) {
    *out = first->val;
    if (!is_op(cur(p), VLM_JOP_DOT)) return true;
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    vlm_strbuf_append(&b, first->val.u.s->data, first->val.u.s->len);
    while (is_op(cur(p), VLM_JOP_DOT)) {
        advance(p);
        const vlm_jtok *part = cur(p);
        if (part->type != VLM_JTOK_NAME) {
            vlm_strbuf_free(&b);
            fail_expected(p, "name");
            return false;
        }
        advance(p);
        vlm_strbuf_putc(&b, '.');
        vlm_strbuf_append(&b, part->val.u.s->data, part->val.u.s->len);
    }
    bool ok = !b.failed && vlm_jpool_str(&p->tpl->pool, vlm_strbuf_cstr(&b), b.len, out);
    vlm_strbuf_free(&b);
    if (!ok) {
        p->failed = true;
        p->status = VLM_ERR_OUT_OF_MEMORY;
        vlm_err(p->err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", p->tpl->name);
    }
    return ok;
}

static vlm_jnode *parse_filter_chain(parser *p, vlm_jnode *nd, bool start_inline) {
    while (!p->failed && (is_op(cur(p), VLM_JOP_PIPE) || start_inline)) {
        if (!start_inline) advance(p);
        start_inline = false;
        const vlm_jtok *tok = cur(p);
        if (tok->type != VLM_JTOK_NAME) {
            fail_expected(p, "name");
            return NULL;
        }
        advance(p);
        vlm_jv name;
        if (!dotted_name(p, tok, &name)) return NULL;
        int id = vlm_jinja_filter_id(name.u.s->data);
        if (id < 0 && !p->soft) {
            fail_at(p, tok, "No filter named '%s'.", name.u.s->data);
            return NULL;
        }
        vlm_jnode *f = node_new(p, VLM_JN_FILTER, tok);
        if (!f) return NULL;
        f->a = nd;
        f->val = name;
        f->id = id;
        if (is_op(cur(p), VLM_JOP_LPAREN) && !parse_call_args(p, f)) return NULL;
        nd = f;
    }
    return p->failed ? NULL : nd;
}

static vlm_jnode *parse_test(parser *p, vlm_jnode *operand) {
    const vlm_jtok *is_tok = cur(p);
    advance(p); /* 'is' */
    bool negated = false;
    if (is_name(cur(p), "not")) {
        advance(p);
        negated = true;
    }
    const vlm_jtok *tok = cur(p);
    if (tok->type != VLM_JTOK_NAME) {
        fail_expected(p, "name");
        return NULL;
    }
    advance(p);
    vlm_jv name;
    if (!dotted_name(p, tok, &name)) return NULL;
    int id = vlm_jinja_test_id(name.u.s->data);
    if (id < 0 && !p->soft) {
        fail_at(p, tok, "No test named '%s'.", name.u.s->data);
        return NULL;
    }
    vlm_jnode *t = node_new(p, VLM_JN_TEST, tok);
    if (!t) return NULL;
    t->a = operand;
    t->val = name;
    t->id = id;
    const vlm_jtok *c = cur(p);
    if (is_op(c, VLM_JOP_LPAREN)) {
        if (!parse_call_args(p, t)) return NULL;
    } else if ((c->type == VLM_JTOK_NAME || c->type == VLM_JTOK_STRING || c->type == VLM_JTOK_INT ||
                c->type == VLM_JTOK_FLOAT || is_op(c, VLM_JOP_LBRACKET) ||
                is_op(c, VLM_JOP_LBRACE)) &&
               !is_name(c, "else") && !is_name(c, "or") && !is_name(c, "and")) {
        /* A single argument without parentheses: `x is divisibleby 3`. */
        if (is_name(c, "is")) {
            fail_at(p, c, "You cannot chain multiple tests with is");
            return NULL;
        }
        vlm_jnode *arg = parse_postfix(p, parse_primary(p));
        if (!arg) return NULL;
        t->kids = malloc(sizeof *t->kids);
        if (!t->kids) {
            p->failed = true;
            p->status = VLM_ERR_OUT_OF_MEMORY;
            vlm_err(p->err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", p->tpl->name);
            return NULL;
        }
        t->kids[0] = arg;
        t->nkids = 1;
    }
    if (!negated) return t;
    vlm_jnode *n = node_new(p, VLM_JN_NOT, is_tok);
    if (!n) return NULL;
    n->a = t;
    return n;
}

static vlm_jnode *parse_filter_expr(parser *p, vlm_jnode *nd) {
    while (nd && !p->failed) {
        if (is_op(cur(p), VLM_JOP_PIPE))
            nd = parse_filter_chain(p, nd, false);
        else if (is_name(cur(p), "is"))
            nd = parse_test(p, nd);
        else if (is_op(cur(p), VLM_JOP_LPAREN))
            nd = parse_call(p, nd);
        else
            break;
    }
    return p->failed ? NULL : nd;
}

static vlm_jnode *parse_unary(parser *p, bool with_filter) {
    if (!enter(p)) return NULL;
    const vlm_jtok *tok = cur(p);
    vlm_jnode *nd;
    if (is_op(tok, VLM_JOP_SUB) || is_op(tok, VLM_JOP_ADD)) {
        advance(p);
        vlm_jnode *operand = parse_unary(p, false);
        nd = operand ? node_new(p, is_op(tok, VLM_JOP_SUB) ? VLM_JN_NEG : VLM_JN_POS, tok) : NULL;
        if (nd) nd->a = operand;
    } else {
        nd = parse_primary(p);
    }
    nd = parse_postfix(p, nd);
    if (with_filter) nd = parse_filter_expr(p, nd);
    leave(p);
    return nd;
}

static vlm_jnode *binop(parser *p, int kind, int op, const vlm_jtok *at, vlm_jnode *a,
                        vlm_jnode *b) {
    if (!a || !b) return NULL;
    vlm_jnode *nd = node_new(p, kind, at);
    if (!nd) return NULL;
    nd->op = (uint8_t)op;
    nd->a = a;
    nd->b = b;
    return nd;
}

static vlm_jnode *parse_pow(parser *p) {
    vlm_jnode *left = parse_unary(p, true);
    while (left && is_op(cur(p), VLM_JOP_POW)) {
        const vlm_jtok *at = cur(p);
        advance(p);
        left = binop(p, VLM_JN_BINOP, VLM_JOP_POW, at, left, parse_unary(p, true));
    }
    return left;
}

static vlm_jnode *parse_math2(parser *p) {
    vlm_jnode *left = parse_pow(p);
    while (left && (is_op(cur(p), VLM_JOP_MUL) || is_op(cur(p), VLM_JOP_DIV) ||
                    is_op(cur(p), VLM_JOP_FLOORDIV) || is_op(cur(p), VLM_JOP_MOD))) {
        const vlm_jtok *at = cur(p);
        advance(p);
        left = binop(p, VLM_JN_BINOP, at->op, at, left, parse_pow(p));
    }
    return left;
}

static vlm_jnode *parse_concat(parser *p) {
    const vlm_jtok *start = cur(p);
    vlm_jnode *first = parse_math2(p);
    if (!first || !is_op(cur(p), VLM_JOP_TILDE)) return first;
    vlm_jnode *nd = node_new(p, VLM_JN_CONCAT, start);
    nodelist items = {0};
    list_add(p, &items, first);
    while (!p->failed && is_op(cur(p), VLM_JOP_TILDE)) {
        advance(p);
        vlm_jnode *x = parse_math2(p);
        if (!x || !list_add(p, &items, x)) break;
    }
    take_kids(nd, &items, false);
    return p->failed ? NULL : nd;
}

static vlm_jnode *parse_math1(parser *p) {
    vlm_jnode *left = parse_concat(p);
    while (left && (is_op(cur(p), VLM_JOP_ADD) || is_op(cur(p), VLM_JOP_SUB))) {
        const vlm_jtok *at = cur(p);
        advance(p);
        left = binop(p, VLM_JN_BINOP, at->op, at, left, parse_concat(p));
    }
    return left;
}

static vlm_jnode *parse_compare(parser *p) {
    const vlm_jtok *start = cur(p);
    vlm_jnode *first = parse_math1(p);
    if (!first) return NULL;
    vlm_jnode *nd = NULL;
    nodelist operands = {0};
    uint8_t *ops = NULL;
    for (;;) {
        const vlm_jtok *tok = cur(p);
        int op = 0;
        if (tok->type == VLM_JTOK_OP) {
            switch (tok->op) {
            case VLM_JOP_EQ:
                op = VLM_JCMP_EQ;
                break;
            case VLM_JOP_NE:
                op = VLM_JCMP_NE;
                break;
            case VLM_JOP_LT:
                op = VLM_JCMP_LT;
                break;
            case VLM_JOP_LTEQ:
                op = VLM_JCMP_LTEQ;
                break;
            case VLM_JOP_GT:
                op = VLM_JCMP_GT;
                break;
            case VLM_JOP_GTEQ:
                op = VLM_JCMP_GTEQ;
                break;
            default:
                break;
            }
            if (op) advance(p);
        } else if (is_name(tok, "in")) {
            op = VLM_JCMP_IN;
            advance(p);
        } else if (is_name(tok, "not") && is_name(peek(p, 1), "in")) {
            op = VLM_JCMP_NOTIN;
            advance(p);
            advance(p);
        }
        if (!op) break;
        vlm_jnode *rhs = parse_math1(p);
        if (!rhs || !list_add(p, &operands, rhs)) break;
        uint8_t *grown = realloc(ops, operands.n);
        if (!grown) {
            p->failed = true;
            p->status = VLM_ERR_OUT_OF_MEMORY;
            vlm_err(p->err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", p->tpl->name);
            break;
        }
        ops = grown;
        ops[operands.n - 1] = (uint8_t)op;
    }
    if (p->failed || operands.n == 0) {
        free(operands.items);
        free(ops);
        return p->failed ? NULL : first;
    }
    nd = node_new(p, VLM_JN_COMPARE, start);
    if (!nd) {
        free(operands.items);
        free(ops);
        return NULL;
    }
    nd->a = first;
    take_kids(nd, &operands, false);
    nd->ops = ops;
    return nd;
}

static vlm_jnode *parse_not(parser *p) {
    if (is_name(cur(p), "not")) {
        const vlm_jtok *at = cur(p);
        advance(p);
        if (!enter(p)) return NULL;
        vlm_jnode *operand = parse_not(p);
        leave(p);
        if (!operand) return NULL;
        vlm_jnode *nd = node_new(p, VLM_JN_NOT, at);
        if (nd) nd->a = operand;
        return nd;
    }
    return parse_compare(p);
}

static vlm_jnode *parse_and(parser *p) {
    vlm_jnode *left = parse_not(p);
    while (left && is_name(cur(p), "and")) {
        const vlm_jtok *at = cur(p);
        advance(p);
        left = binop(p, VLM_JN_AND, 0, at, left, parse_not(p));
    }
    return left;
}

static vlm_jnode *parse_or(parser *p) {
    vlm_jnode *left = parse_and(p);
    while (left && is_name(cur(p), "or")) {
        const vlm_jtok *at = cur(p);
        advance(p);
        left = binop(p, VLM_JN_OR, 0, at, left, parse_and(p));
    }
    return left;
}

/* Whether the tokens from the current position to the end of this expression contain an
 * `if` at bracket depth 0, i.e. whether the expression is a conditional expression (jinja2
 * compiles the whole of one in a soft frame). */
static bool condexpr_ahead(parser *p) {
    int depth = 0;
    for (size_t i = p->pos; i < p->n; i++) {
        const vlm_jtok *t = &p->t[i];
        if (t->type == VLM_JTOK_OP) {
            if (t->op == VLM_JOP_LPAREN || t->op == VLM_JOP_LBRACKET || t->op == VLM_JOP_LBRACE)
                depth++;
            else if (t->op == VLM_JOP_RPAREN || t->op == VLM_JOP_RBRACKET ||
                     t->op == VLM_JOP_RBRACE) {
                if (--depth < 0) return false;
            } else if (depth == 0 && (t->op == VLM_JOP_COMMA || t->op == VLM_JOP_COLON))
                return false;
        } else if (t->type != VLM_JTOK_NAME && t->type != VLM_JTOK_STRING &&
                   t->type != VLM_JTOK_INT && t->type != VLM_JTOK_FLOAT) {
            return false;
        } else if (depth == 0 && is_name(t, "if")) {
            return true;
        }
    }
    return false;
}

static vlm_jnode *parse_condexpr(parser *p) {
    const vlm_jtok *start = cur(p);
    bool saved_soft = p->soft;
    if (condexpr_ahead(p)) p->soft = true;
    vlm_jnode *expr1 = parse_condexpr_body(p, start);
    p->soft = saved_soft;
    return expr1;
}

static vlm_jnode *parse_condexpr_body(parser *p, const vlm_jtok *start) {
    vlm_jnode *expr1 = parse_or(p);
    while (expr1 && is_name(cur(p), "if")) {
        advance(p);
        vlm_jnode *test = parse_or(p);
        if (!test) return NULL;
        vlm_jnode *expr3 = NULL;
        if (is_name(cur(p), "else")) {
            advance(p);
            if (!enter(p)) return NULL;
            expr3 = parse_condexpr(p);
            leave(p);
            if (!expr3) return NULL;
        }
        vlm_jnode *nd = node_new(p, VLM_JN_CONDEXPR, start);
        if (!nd) return NULL;
        nd->a = test;
        nd->b = expr1;
        nd->c = expr3;
        expr1 = nd;
    }
    return expr1;
}

static vlm_jnode *parse_expression(parser *p, bool with_condexpr) {
    if (!enter(p)) return NULL;
    vlm_jnode *nd = with_condexpr ? parse_condexpr(p) : parse_or(p);
    leave(p);
    return nd;
}

static bool is_tuple_end(parser *p, const char *const *extra_end) {
    const vlm_jtok *tok = cur(p);
    if (tok->type == VLM_JTOK_VAR_END || tok->type == VLM_JTOK_BLOCK_END ||
        is_op(tok, VLM_JOP_RPAREN))
        return true;
    for (; extra_end && *extra_end; extra_end++)
        if (is_name(tok, *extra_end)) return true;
    return false;
}

static vlm_jnode *parse_tuple(parser *p, bool simplified, bool with_condexpr,
                              const char *const *extra_end, bool explicit_parens) {
    const vlm_jtok *start = cur(p);
    nodelist items = {0};
    bool is_tuple = false;
    for (;;) {
        if (items.n && !expect_op(p, VLM_JOP_COMMA)) break;
        if (is_tuple_end(p, extra_end)) break;
        vlm_jnode *x = simplified ? parse_primary(p) : parse_expression(p, with_condexpr);
        if (!x || !list_add(p, &items, x)) break;
        if (is_op(cur(p), VLM_JOP_COMMA))
            is_tuple = true;
        else
            break;
    }
    if (p->failed) {
        free(items.items);
        return NULL;
    }
    if (!is_tuple) {
        if (items.n) {
            vlm_jnode *x = items.items[0];
            free(items.items);
            return x;
        }
        if (!explicit_parens) {
            char got[80];
            describe(cur(p), got, sizeof got);
            fail_at(p, cur(p), "Expected an expression, got '%s'", got);
            return NULL;
        }
    }
    vlm_jnode *nd = node_new(p, VLM_JN_TUPLE, start);
    take_kids(nd, &items, false);
    return nd;
}

/* ------------------------------------------------------------- statements */

static bool parse_body(parser *p, const char *const *ends, nodelist *body);

static void fail_eof(parser *p, const char *const *ends) {
    char looking[200] = "";
    const char *const *want = ends ? ends : (p->nends ? p->ends[p->nends - 1] : NULL);
    for (size_t i = 0; want && want[i]; i++) {
        size_t len = strlen(looking);
        snprintf(looking + len, sizeof looking - len, "%s'%s'", i ? " or " : "", want[i]);
    }
    char inner[120] = "";
    if (p->ntags)
        snprintf(inner, sizeof inner, " The innermost block that needs to be closed is '%s'.",
                 p->tags[(p->ntags < MAX_BLOCKS ? p->ntags : MAX_BLOCKS) - 1]);
    if (want)
        fail_at(p, cur(p),
                "Unexpected end of template. Jinja was looking for the following tags: %s.%s",
                looking, inner);
    else
        fail_at(p, cur(p), "Unexpected end of template.%s", inner);
}

/* Parses `:`? %} body until one of `ends` (the end name is left current, or consumed when
 * drop_needle). */
static bool parse_statements(parser *p, const char *const *ends, bool drop_needle, nodelist *body) {
    if (is_op(cur(p), VLM_JOP_COLON)) advance(p);
    if (!expect_type(p, VLM_JTOK_BLOCK_END, "end of statement block")) return false;
    if (!parse_body(p, ends, body)) return false;
    if (cur(p)->type == VLM_JTOK_EOF) {
        fail_eof(p, ends);
        return false;
    }
    if (drop_needle) advance(p);
    return true;
}

/* An assignment target: NAME, a tuple of names, or (with_namespace) ns.attr. */
static vlm_jnode *parse_assign_target(parser *p, bool with_tuple, bool name_only,
                                      const char *const *extra_end, bool with_namespace) {
    const vlm_jtok *tok = cur(p);
    if (with_namespace && tok->type == VLM_JTOK_NAME && is_op(peek(p, 1), VLM_JOP_DOT)) {
        advance(p);
        advance(p);
        const vlm_jtok *attr = cur(p);
        if (!expect_type(p, VLM_JTOK_NAME, "name")) return NULL;
        vlm_jnode *nd = node_new(p, VLM_JN_NSREF, tok);
        if (!nd) return NULL;
        nd->val = tok->val;
        nd->val2 = attr->val;
        return nd;
    }
    vlm_jnode *target;
    if (name_only) {
        if (tok->type != VLM_JTOK_NAME) {
            fail_expected(p, "name");
            return NULL;
        }
        target = parse_primary(p);
    } else if (with_tuple) {
        target = parse_tuple(p, true, true, extra_end, false);
    } else {
        target = parse_primary(p);
    }
    if (!target) return NULL;
    bool ok = target->kind == VLM_JN_NAME;
    if (target->kind == VLM_JN_TUPLE) {
        ok = true;
        for (uint32_t i = 0; i < target->nkids; i++)
            if (target->kids[i]->kind != VLM_JN_NAME) ok = false;
    }
    if (!ok) {
        fail_at(p, tok, "can't assign to this expression");
        return NULL;
    }
    return target;
}

static bool parse_signature(parser *p, vlm_jnode *nd) {
    if (!expect_op(p, VLM_JOP_LPAREN)) return false;
    nodelist defaults = {0};
    bool have_default = false;
    while (!p->failed && !is_op(cur(p), VLM_JOP_RPAREN)) {
        if (nd->nnames && !expect_op(p, VLM_JOP_COMMA)) break;
        const vlm_jtok *tok = cur(p);
        if (!expect_type(p, VLM_JTOK_NAME, "name")) break;
        vlm_jnode *def = NULL;
        if (is_op(cur(p), VLM_JOP_ASSIGN)) {
            advance(p);
            def = parse_expression(p, true);
            if (!def) break;
            have_default = true;
        } else if (have_default) {
            fail_at(p, tok, "non-default argument follows default argument");
            break;
        }
        if (!names_add(p, nd, tok->val)) break;
        if (!list_add(p, &defaults, def)) break;
    }
    take_kids(nd, &defaults, true);
    return !p->failed && expect_op(p, VLM_JOP_RPAREN);
}

/* Does the subtree refer to `name` as a variable (outside nested macros)? */
static bool refers_to(const vlm_jnode *nd, const char *name, int depth) {
    if (!nd || depth > MAX_PARSE_DEPTH * 4) return false;
    if (nd->kind == VLM_JN_NAME && !strcmp(nd->val.u.s->data, name)) return true;
    if (nd->kind == VLM_JN_MACRO) return false;
    if (refers_to(nd->a, name, depth + 1) || refers_to(nd->b, name, depth + 1) ||
        refers_to(nd->c, name, depth + 1))
        return true;
    for (uint32_t i = 0; i < nd->nkids; i++)
        if (refers_to(nd->kids[i], name, depth + 1)) return true;
    for (uint32_t i = 0; i < nd->nkids2; i++)
        if (refers_to(nd->kids2[i], name, depth + 1)) return true;
    return false;
}

static void push_tag(parser *p, const char *tag) {
    if (p->ntags < MAX_BLOCKS) p->tags[p->ntags] = tag;
    p->ntags++;
}

static void pop_tag(parser *p) {
    p->ntags--;
}

static vlm_jnode *parse_macro_like(parser *p, vlm_jnode *nd, const char *const *ends) {
    /* A macro body is its own function: break/continue inside it need their own loop. */
    int saved = p->loop_depth;
    p->loop_depth = 0;
    nodelist body = {0};
    bool ok = parse_statements(p, ends, true, &body);
    p->loop_depth = saved;
    take_kids(nd, &body, false);
    if (!ok) return NULL;
    uint32_t n = nd->nkids;
    vlm_jnode tmp = {.kind = VLM_JN_SCOPE, .kids = nd->kids, .nkids = n};
    if (refers_to(&tmp, "caller", 0)) nd->flags |= VLM_JMACRO_CALLER;
    if (refers_to(&tmp, "varargs", 0)) nd->flags |= VLM_JMACRO_VARARGS;
    if (refers_to(&tmp, "kwargs", 0)) nd->flags |= VLM_JMACRO_KWARGS;
    return nd;
}

static vlm_jnode *parse_statement(parser *p) {
    const vlm_jtok *tok = cur(p);
    if (tok->type != VLM_JTOK_NAME) {
        fail_at(p, tok, "tag name expected");
        return NULL;
    }
    const char *tag = tok->val.u.s->data;
    if (!enter(p)) return NULL;
    push_tag(p, tag);
    vlm_jnode *nd = NULL;
    nodelist body = {0}, else_body = {0};
    bool saved_soft = p->soft;
    if (!strcmp(tag, "if")) {
        p->soft = true;
        static const char *const ends[] = {"elif", "else", "endif", NULL};
        static const char *const end_if[] = {"endif", NULL};
        vlm_jnode *result = NULL, *node = NULL;
        advance(p);
        for (;;) {
            vlm_jnode *n = node_new(p, VLM_JN_IF, tok);
            if (!n) break;
            n->a = parse_tuple(p, false, false, NULL, false);
            if (!n->a || !parse_statements(p, ends, false, &body)) break;
            take_kids(n, &body, false);
            if (!result)
                result = n;
            else { /* an elif: the else body of the previous if */
                n->flags |= VLM_JIF_ELIF;
                node->kids2 = malloc(sizeof *node->kids2);
                if (!node->kids2) {
                    p->failed = true;
                    p->status = VLM_ERR_OUT_OF_MEMORY;
                    vlm_err(p->err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", p->tpl->name);
                    break;
                }
                node->kids2[0] = n;
                node->nkids2 = 1;
            }
            node = n;
            const vlm_jtok *end = cur(p);
            advance(p);
            if (is_name(end, "elif")) continue;
            if (is_name(end, "else")) {
                if (!parse_statements(p, end_if, true, &else_body)) break;
                take_kids(node, &else_body, true);
            }
            nd = result;
            break;
        }
    } else if (!strcmp(tag, "for")) {
        static const char *const in_end[] = {"in", NULL};
        static const char *const rec_end[] = {"recursive", NULL};
        static const char *const ends[] = {"endfor", "else", NULL};
        static const char *const end_for[] = {"endfor", NULL};
        advance(p);
        nd = node_new(p, VLM_JN_FOR, tok);
        if (nd) nd->a = parse_assign_target(p, true, false, in_end, false);
        if (nd && nd->a && expect_name(p, "in")) {
            nd->b = parse_tuple(p, false, false, rec_end, false);
            p->soft = false; /* the loop's filter and body are an inner frame */
            if (nd->b && is_name(cur(p), "if")) {
                advance(p);
                nd->c = parse_expression(p, true);
                if (!nd->c) nd->b = NULL;
            }
            if (nd->b && is_name(cur(p), "recursive")) {
                p->unsupported = true;
                fail_at(p, cur(p), "recursive for loops are not supported");
            } else if (nd->b) {
                p->loop_depth++;
                bool ok = parse_statements(p, ends, false, &body);
                p->loop_depth--;
                take_kids(nd, &body, false);
                if (ok) {
                    const vlm_jtok *end = cur(p);
                    advance(p);
                    /* The else body runs outside the loop (break there is an error). */
                    if (is_name(end, "else") && parse_statements(p, end_for, true, &else_body))
                        take_kids(nd, &else_body, true);
                }
            }
        }
    } else if (!strcmp(tag, "set")) {
        static const char *const end_set[] = {"endset", NULL};
        advance(p);
        vlm_jnode *target = parse_assign_target(p, true, false, NULL, true);
        if (target && is_op(cur(p), VLM_JOP_ASSIGN)) {
            advance(p);
            nd = node_new(p, VLM_JN_SET, tok);
            if (nd) {
                nd->a = target;
                nd->b = parse_tuple(p, false, true, NULL, false);
            }
        } else if (target) {
            nd = node_new(p, VLM_JN_SETBLOCK, tok);
            p->soft = false;
            if (nd) {
                nd->a = target;
                if (is_op(cur(p), VLM_JOP_PIPE)) nd->b = parse_filter_chain(p, NULL, false);
                if (!p->failed && parse_statements(p, end_set, true, &body))
                    take_kids(nd, &body, false);
            }
        }
    } else if (!strcmp(tag, "macro")) {
        static const char *const ends[] = {"endmacro", NULL};
        p->soft = false;
        advance(p);
        const vlm_jtok *name = cur(p);
        if (expect_type(p, VLM_JTOK_NAME, "name")) {
            nd = node_new(p, VLM_JN_MACRO, tok);
            if (nd) {
                nd->val = name->val;
                if (parse_signature(p, nd)) nd = parse_macro_like(p, nd, ends);
            }
        }
    } else if (!strcmp(tag, "call")) {
        static const char *const ends[] = {"endcall", NULL};
        advance(p);
        nd = node_new(p, VLM_JN_CALLBLOCK, tok);
        p->soft = false; /* the caller's defaults and body are its own frame */
        if (nd && is_op(cur(p), VLM_JOP_LPAREN) && !parse_signature(p, nd)) nd = NULL;
        p->soft = saved_soft; /* the call itself is evaluated where it stands */
        if (nd) {
            const vlm_jtok *at = cur(p);
            nd->a = parse_expression(p, true);
            if (nd->a && nd->a->kind != VLM_JN_CALL) fail_at(p, at, "expected call");
            p->soft = false;
            if (!p->failed) nd = parse_macro_like(p, nd, ends);
        }
    } else if (!strcmp(tag, "filter")) {
        static const char *const ends[] = {"endfilter", NULL};
        p->soft = false;
        advance(p);
        nd = node_new(p, VLM_JN_FILTERBLOCK, tok);
        if (nd) nd->b = parse_filter_chain(p, NULL, true);
        if (nd && nd->b && parse_statements(p, ends, true, &body)) take_kids(nd, &body, false);
    } else if (!strcmp(tag, "with")) {
        static const char *const ends[] = {"endwith", NULL};
        advance(p);
        nd = node_new(p, VLM_JN_WITH, tok);
        nodelist vals = {0};
        while (nd && !p->failed && cur(p)->type != VLM_JTOK_BLOCK_END) {
            if (nd->nnames && !expect_op(p, VLM_JOP_COMMA)) break;
            const vlm_jtok *name = cur(p);
            if (name->type != VLM_JTOK_NAME || !is_op(peek(p, 1), VLM_JOP_ASSIGN)) {
                p->unsupported = true;
                fail_at(p, name, "only `name = value` targets are supported in with");
                break;
            }
            advance(p);
            advance(p);
            vlm_jnode *v = parse_expression(p, true);
            if (!v || !names_add(p, nd, name->val) || !list_add(p, &vals, v)) break;
        }
        take_kids(nd, &vals, true);
        p->soft = false;
        if (nd && !p->failed && parse_statements(p, ends, true, &body)) take_kids(nd, &body, false);
    } else if (!strcmp(tag, "break") || !strcmp(tag, "continue")) {
        if (p->loop_depth == 0) {
            fail_at(p, tok, "'%s' outside loop", tag);
        } else {
            nd = node_new(p, tag[0] == 'b' ? VLM_JN_BREAK : VLM_JN_CONTINUE, tok);
            advance(p);
        }
    } else if (!strcmp(tag, "generation")) {
        static const char *const ends[] = {"endgeneration", NULL};
        advance(p);
        nd = node_new(p, VLM_JN_SCOPE, tok);
        if (nd && parse_statements(p, ends, true, &body)) take_kids(nd, &body, false);
    } else if (!strcmp(tag, "print")) {
        advance(p);
        nd = node_new(p, VLM_JN_OUTPUT, tok);
        nodelist items = {0};
        while (nd && !p->failed && cur(p)->type != VLM_JTOK_BLOCK_END) {
            if (items.n && !expect_op(p, VLM_JOP_COMMA)) break;
            vlm_jnode *x = parse_expression(p, true);
            if (!x || !list_add(p, &items, x)) break;
        }
        take_kids(nd, &items, false);
    } else if (!strcmp(tag, "extends") || !strcmp(tag, "block") || !strcmp(tag, "include") ||
               !strcmp(tag, "import") || !strcmp(tag, "from") || !strcmp(tag, "autoescape")) {
        p->unsupported = true;
        fail_at(p, tok, "the '%s' tag is not supported in chat templates", tag);
    } else {
        /* jinja2's unknown-tag message, naming what the enclosing block waits for. */
        bool expected = false;
        for (int i = 0; i < p->nends; i++)
            for (const char *const *e = p->ends[i]; *e; e++)
                if (!strcmp(*e, tag)) expected = true;
        pop_tag(p);
        if (expected && p->nends)
            fail_at(p, tok,
                    "Encountered unknown tag '%s'. You probably made a nesting mistake. Jinja "
                    "is expecting this tag, but currently looking for '%s'.%s%s%s",
                    tag, p->ends[p->nends - 1][0],
                    p->ntags ? " The innermost block that needs to be closed is '" : "",
                    p->ntags ? p->tags[(p->ntags < MAX_BLOCKS ? p->ntags : MAX_BLOCKS) - 1] : "",
                    p->ntags ? "'." : "");
        else
            fail_at(p, tok, "Encountered unknown tag '%s'.", tag);
        leave(p);
        return NULL;
    }
    p->soft = saved_soft;
    pop_tag(p);
    leave(p);
    free(body.items);
    free(else_body.items);
    return p->failed ? NULL : nd;
}

/* Template data, {{ }} and {% %} until a block tag whose name is in `ends`. */
static bool parse_body(parser *p, const char *const *ends, nodelist *body) {
    if (ends) {
        if (p->nends >= MAX_BLOCKS) {
            fail_at(p, cur(p), "blocks nested too deeply");
            return false;
        }
        p->ends[p->nends++] = ends;
    }
    vlm_jnode *out = NULL;
    nodelist items = {0};
    bool ok = true;
    while (!p->failed) {
        const vlm_jtok *tok = cur(p);
        if (tok->type == VLM_JTOK_DATA || tok->type == VLM_JTOK_VAR_BEGIN) {
            if (!out) {
                out = node_new(p, VLM_JN_OUTPUT, tok);
                if (!out || !list_add(p, body, out)) break;
            }
            vlm_jnode *x;
            if (tok->type == VLM_JTOK_DATA) {
                x = node_new(p, VLM_JN_CONST, tok);
                if (x) x->val = tok->val;
                advance(p);
            } else {
                advance(p);
                x = parse_tuple(p, false, true, NULL, false);
                if (x && !expect_type(p, VLM_JTOK_VAR_END, "end of print statement")) x = NULL;
            }
            if (!x || !list_add(p, &items, x)) break;
            continue;
        }
        if (out) {
            take_kids(out, &items, false);
            out = NULL;
        }
        if (tok->type == VLM_JTOK_EOF) break;
        if (tok->type == VLM_JTOK_BLOCK_BEGIN) {
            advance(p);
            if (ends && cur(p)->type == VLM_JTOK_NAME) {
                bool end = false;
                for (const char *const *e = ends; *e; e++)
                    if (is_name(cur(p), *e)) end = true;
                if (end) break;
            }
            vlm_jnode *st = parse_statement(p);
            if (!st || !list_add(p, body, st)) break;
            if (!expect_type(p, VLM_JTOK_BLOCK_END, "end of statement block")) break;
            continue;
        }
        char got[80];
        describe(tok, got, sizeof got);
        fail_at(p, tok, "unexpected '%s'", got);
        break;
    }
    if (out) take_kids(out, &items, false);
    free(items.items);
    if (ends) p->nends--;
    if (p->failed) ok = false;
    return ok;
}

/* ------------------------------------------------------------- entry points */

void vlm_jinja_template_free(vlm_jinja_template *t) {
    if (!t) return;
    for (size_t i = 0; i < t->nall; i++) {
        vlm_jnode *nd = t->all[i];
        free(nd->kids);
        free(nd->kids2);
        free(nd->names);
        free(nd->ops);
        free(nd->missing);
        free(nd->missing2);
        free(nd);
    }
    free(t->all);
    vlm_jpool_free(&t->pool);
    free(t->name);
    free(t);
}

vlm_status vlm_jinja_parse(const char *src, size_t len, const char *name, vlm_jinja_template **out,
                           vlm_error *err) {
    *out = NULL;
    if (!src || !name)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "vlm_jinja_parse: NULL argument");
    vlm_jinja_template *t = calloc(1, sizeof *t);
    if (!t || !(t->name = vlm_strdup(name))) {
        free(t);
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    }
    vlm_jtokens toks;
    vlm_status st = vlm_jinja_lex(src, len, name, &toks, err);
    if (st) {
        vlm_jinja_template_free(t);
        return st;
    }
    t->pool = toks.pool; /* the tree keeps pointing at the token strings */
    toks.pool = (vlm_jpool){0};
    parser p = {.t = toks.toks, .n = toks.n, .tpl = t, .err = err};
    nodelist body = {0};
    t->root = node_new(&p, VLM_JN_SCOPE, &toks.toks[0]);
    if (t->root) {
        parse_body(&p, NULL, &body);
        take_kids(t->root, &body, false);
    }
    free(body.items);
    vlm_jtokens_free(&toks);
    if (!p.failed && !vlm_jinja_scope_analyze(t)) {
        p.failed = true;
        p.status = vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
    }
    if (p.failed) {
        vlm_jinja_template_free(t);
        return p.status;
    }
    *out = t;
    return vlm_err_ok(err);
}

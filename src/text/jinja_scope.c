/* jinja2's static scope analysis (its idtracking module), reproduced so that variables
 * resolve as in jinja2. jinja2 compiles every frame (the template, a for body, its else, a
 * macro or {% call %} body, filter/set/with blocks) to Python locals: a name assigned in a
 * frame before the frame reads it starts as "missing" there, so a nested frame (a loop, a
 * macro) that reads it before the assignment runs sees Undefined, not the caller's variable
 * of the same name. Names assigned in only some branches of an if, or read before being
 * assigned, resolve from the enclosing frames or the render variables instead. The
 * evaluator keeps its dynamic scopes and only pre-binds each frame's "missing" names (the
 * lists computed here) when the frame starts; everything else already resolves the same. */
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "text/jinja_ast.h"

enum { L_RESOLVE = 1, L_ALIAS, L_UNDEFINED, L_PARAM };

typedef struct sym {
    const vlm_jstr *name;
    uint8_t load;
} sym;

typedef struct symbols {
    sym *refs;
    size_t nrefs, caprefs;
    const vlm_jstr **stores;
    size_t nstores, capstores;
    const struct symbols *parent;
    bool *oom; /* shared failure flag */
} symbols;

static bool same(const vlm_jstr *a, const vlm_jstr *b) {
    return a->len == b->len && !memcmp(a->data, b->data, a->len);
}

static sym *local_ref(const symbols *s, const vlm_jstr *name) {
    for (size_t i = 0; i < s->nrefs; i++)
        if (same(s->refs[i].name, name)) return &s->refs[i];
    return NULL;
}

static bool find_ref(const symbols *s, const vlm_jstr *name) {
    for (; s; s = s->parent)
        if (local_ref(s, name)) return true;
    return false;
}

static bool is_stored(const symbols *s, const vlm_jstr *name) {
    for (size_t i = 0; i < s->nstores; i++)
        if (same(s->stores[i], name)) return true;
    return false;
}

static void define_ref(symbols *s, const vlm_jstr *name, uint8_t load) {
    sym *e = local_ref(s, name);
    if (e) {
        e->load = load;
        return;
    }
    if (s->nrefs == s->caprefs) {
        size_t cap = s->caprefs ? s->caprefs * 2 : 16;
        sym *r = vlm_realloc_array(s->refs, cap, sizeof *r);
        if (!r) {
            *s->oom = true;
            return;
        }
        s->refs = r;
        s->caprefs = cap;
    }
    s->refs[s->nrefs++] = (sym){name, load};
}

static void add_store(symbols *s, const vlm_jstr *name) {
    if (is_stored(s, name)) return;
    if (s->nstores == s->capstores) {
        size_t cap = s->capstores ? s->capstores * 2 : 16;
        const vlm_jstr **r = vlm_realloc_array(s->stores, cap, sizeof *r);
        if (!r) {
            *s->oom = true;
            return;
        }
        s->stores = r;
        s->capstores = cap;
    }
    s->stores[s->nstores++] = name;
}

static void sym_store(symbols *s, const vlm_jstr *name) {
    add_store(s, name);
    if (local_ref(s, name)) return;
    define_ref(s, name, s->parent && find_ref(s->parent, name) ? L_ALIAS : L_UNDEFINED);
}

static void sym_load(symbols *s, const vlm_jstr *name) {
    if (!find_ref(s, name)) define_ref(s, name, L_RESOLVE);
}

static void sym_param(symbols *s, const vlm_jstr *name) {
    add_store(s, name);
    define_ref(s, name, L_PARAM);
}

static void sym_free(symbols *s) {
    free(s->refs);
    free(s->stores);
    s->refs = NULL;
    s->stores = NULL;
    s->nrefs = s->nstores = s->caprefs = s->capstores = 0;
}

static void sym_copy(symbols *dst, const symbols *src) {
    *dst = (symbols){.parent = src->parent, .oom = src->oom};
    for (size_t i = 0; i < src->nrefs; i++)
        define_ref(dst, src->refs[i].name, src->refs[i].load);
    for (size_t i = 0; i < src->nstores; i++)
        add_store(dst, src->stores[i]);
}

/* Symbols.branch_update over the three branches of an if (body, elifs, else). */
static void branch_update(symbols *s, symbols *br, int nbr) {
    /* Names newly stored in some branches, with their branch counts. */
    const vlm_jstr *names[256];
    int counts[256], nnames = 0;
    bool overflow = false;
    for (int b = 0; b < nbr; b++)
        for (size_t i = 0; i < br[b].nstores; i++) {
            const vlm_jstr *nm = br[b].stores[i];
            if (is_stored(s, nm)) continue;
            int k = 0;
            while (k < nnames && !same(names[k], nm))
                k++;
            if (k == nnames) {
                if (nnames == 256) {
                    overflow = true;
                    continue;
                }
                names[nnames] = nm;
                counts[nnames++] = 0;
            }
            counts[k]++;
        }
    for (int b = 0; b < nbr; b++) {
        for (size_t i = 0; i < br[b].nrefs; i++)
            define_ref(s, br[b].refs[i].name, br[b].refs[i].load);
        for (size_t i = 0; i < br[b].nstores; i++)
            add_store(s, br[b].stores[i]);
    }
    for (int k = 0; k < nnames; k++) {
        if (counts[k] == nbr) continue;
        define_ref(s, names[k], s->parent && find_ref(s->parent, names[k]) ? L_ALIAS : L_RESOLVE);
    }
    if (overflow) *s->oom = true; /* absurdly many names: refuse rather than guess */
}

/* ------------------------------------------------------------- FrameSymbolVisitor */

static void visit_expr(symbols *s, const vlm_jnode *nd, int depth);
static void visit_stmts(symbols *s, vlm_jnode *const *kids, uint32_t n, int depth);

static void visit_kids(symbols *s, vlm_jnode *const *kids, uint32_t n, int depth) {
    for (uint32_t i = 0; i < n; i++)
        if (kids[i]) visit_expr(s, kids[i], depth);
}

static void visit_expr(symbols *s, const vlm_jnode *nd, int depth) {
    if (!nd || depth > 4000) return;
    switch (nd->kind) {
    case VLM_JN_NAME:
        sym_load(s, nd->val.u.s);
        return;
    case VLM_JN_CONST:
        return;
    default:
        break;
    }
    visit_expr(s, nd->a, depth + 1);
    visit_expr(s, nd->b, depth + 1);
    visit_expr(s, nd->c, depth + 1);
    visit_kids(s, nd->kids, nd->nkids, depth + 1);
    visit_kids(s, nd->kids2, nd->nkids2, depth + 1);
}

static void visit_target(symbols *s, const vlm_jnode *t) {
    if (t->kind == VLM_JN_NAME)
        sym_store(s, t->val.u.s);
    else if (t->kind == VLM_JN_TUPLE)
        for (uint32_t i = 0; i < t->nkids; i++)
            sym_store(s, t->kids[i]->val.u.s);
    else if (t->kind == VLM_JN_NSREF)
        sym_load(s, t->val.u.s);
}

static void visit_if(symbols *s, const vlm_jnode *nd, int depth, bool flat);

static void visit_stmt(symbols *s, const vlm_jnode *nd, int depth) {
    if (depth > 4000) return;
    switch (nd->kind) {
    case VLM_JN_OUTPUT:
        visit_kids(s, nd->kids, nd->nkids, depth + 1);
        break;
    case VLM_JN_IF:
        visit_if(s, nd, depth + 1, false);
        break;
    case VLM_JN_FOR:
        visit_expr(s, nd->b, depth + 1);
        break; /* the body is its own frame */
    case VLM_JN_SET:
        visit_expr(s, nd->b, depth + 1);
        visit_target(s, nd->a);
        break;
    case VLM_JN_SETBLOCK:
        visit_target(s, nd->a);
        break;
    case VLM_JN_MACRO:
        sym_store(s, nd->val.u.s);
        break;
    case VLM_JN_CALLBLOCK:
        visit_expr(s, nd->a, depth + 1);
        break;
    case VLM_JN_FILTERBLOCK:
        visit_expr(s, nd->b, depth + 1);
        break;
    case VLM_JN_WITH:
        visit_kids(s, nd->kids2, nd->nkids2, depth + 1);
        break;
    default:
        break; /* break, continue, generation (a {% call %} body in jinja2) */
    }
}

static void visit_stmts(symbols *s, vlm_jnode *const *kids, uint32_t n, int depth) {
    for (uint32_t i = 0; i < n; i++)
        visit_stmt(s, kids[i], depth);
}

/* jinja2 keeps an if's elifs in a list apart from its else; this parser nests them in the
 * else body (flagged VLM_JIF_ELIF). `flat`: visit only test and body (an elif entry). */
static void visit_if(symbols *s, const vlm_jnode *nd, int depth, bool flat) {
    visit_expr(s, nd->a, depth + 1);
    symbols br[3];
    sym_copy(&br[0], s);
    visit_stmts(&br[0], nd->kids, nd->nkids, depth + 1);
    sym_copy(&br[1], s);
    sym_copy(&br[2], s);
    if (!flat) {
        const vlm_jnode *cur = nd;
        while (cur->nkids2 == 1 && cur->kids2[0]->kind == VLM_JN_IF &&
               (cur->kids2[0]->flags & VLM_JIF_ELIF)) {
            cur = cur->kids2[0];
            visit_if(&br[1], cur, depth + 1, true);
        }
        visit_stmts(&br[2], cur->kids2, cur->nkids2, depth + 1);
    }
    branch_update(s, br, 3);
    for (int b = 0; b < 3; b++)
        sym_free(&br[b]);
}

/* ------------------------------------------------------------- frames */

static bool walk_nested(const symbols *frame, vlm_jnode *const *kids, uint32_t n, int depth);

/* Records the frame's "missing" names on `owner` (missing or missing2). */
static bool record(vlm_jnode *owner, bool second, const symbols *s) {
    uint32_t count = 0;
    for (size_t i = 0; i < s->nrefs; i++)
        count += s->refs[i].load == L_UNDEFINED;
    if (!count) return true;
    vlm_jv *names = vlm_malloc_array(count, sizeof *names);
    if (!names) return false;
    uint32_t k = 0;
    for (size_t i = 0; i < s->nrefs; i++)
        if (s->refs[i].load == L_UNDEFINED) {
            names[k].type = VLM_JV_STR;
            names[k].u.s = (vlm_jstr *)s->refs[i].name; /* immortal, owned by the template */
            k++;
        }
    if (second) {
        owner->missing2 = names;
        owner->nmissing2 = count;
    } else {
        owner->missing = names;
        owner->nmissing = count;
    }
    return true;
}

static void declare_target_params(symbols *s, const vlm_jnode *t) {
    if (t->kind == VLM_JN_NAME)
        sym_param(s, t->val.u.s);
    else if (t->kind == VLM_JN_TUPLE)
        for (uint32_t i = 0; i < t->nkids; i++)
            sym_param(s, t->kids[i]->val.u.s);
}

/* One frame: its symbols (parent: the enclosing frame's), its missing names, then the
 * frames nested in it. */
static bool frame(vlm_jnode *owner, bool second, const symbols *parent, vlm_jnode *const *body,
                  uint32_t n, int depth) {
    bool oom = false;
    symbols s = {.parent = parent, .oom = parent ? parent->oom : &oom};
    switch (owner->kind) {
    case VLM_JN_FOR:
        if (!second) declare_target_params(&s, owner->a);
        break;
    case VLM_JN_MACRO:
    case VLM_JN_CALLBLOCK:
        for (uint32_t i = 0; i < owner->nnames; i++)
            sym_param(&s, owner->names[i].u.s);
        for (uint32_t i = 0; i < owner->nkids2; i++)
            if (owner->kids2[i]) visit_expr(&s, owner->kids2[i], depth + 1);
        break;
    case VLM_JN_WITH:
        for (uint32_t i = 0; i < owner->nnames; i++)
            sym_param(&s, owner->names[i].u.s);
        break;
    default:
        break;
    }
    visit_stmts(&s, body, n, depth + 1);
    if (owner->kind == VLM_JN_FILTERBLOCK) visit_expr(&s, owner->b, depth + 1); /* after body */
    bool ok = !*s.oom && record(owner, second, &s) && walk_nested(&s, body, n, depth + 1);
    sym_free(&s);
    return ok && !oom;
}

static bool walk_nested(const symbols *f, vlm_jnode *const *kids, uint32_t n, int depth) {
    if (depth > 4000) return true;
    for (uint32_t i = 0; i < n; i++) {
        vlm_jnode *nd = kids[i];
        bool ok = true;
        switch (nd->kind) {
        case VLM_JN_IF:
            ok = walk_nested(f, nd->kids, nd->nkids, depth + 1) &&
                 walk_nested(f, nd->kids2, nd->nkids2, depth + 1);
            break;
        case VLM_JN_FOR:
            ok = frame(nd, false, f, nd->kids, nd->nkids, depth + 1);
            if (ok && nd->nkids2) ok = frame(nd, true, f, nd->kids2, nd->nkids2, depth + 1);
            break;
        case VLM_JN_MACRO:
        case VLM_JN_CALLBLOCK:
        case VLM_JN_FILTERBLOCK:
        case VLM_JN_SETBLOCK:
        case VLM_JN_WITH:
        case VLM_JN_SCOPE:
            ok = frame(nd, false, f, nd->kids, nd->nkids, depth + 1);
            break;
        default:
            break;
        }
        if (!ok) return false;
    }
    return true;
}

bool vlm_jinja_scope_analyze(vlm_jinja_template *t) {
    return frame(t->root, false, NULL, t->root->kids, t->root->nkids, 0);
}

/* The syntax tree of a parsed Jinja template, shared by the parser (jinja_parser.c) and the
 * evaluator (jinja_eval.c). One generic node type keeps allocation and freeing simple; the
 * comment on each kind says which fields it uses. A parsed template is immutable and may
 * be rendered from several threads at once. */
#ifndef VLM_TEXT_JINJA_AST_H
#define VLM_TEXT_JINJA_AST_H

#include <stddef.h>
#include <stdint.h>

#include "text/jinja_value.h"

typedef enum vlm_jnode_kind {
    /* ---- expressions */
    VLM_JN_CONST,    /* val */
    VLM_JN_NAME,     /* val = name */
    VLM_JN_LIST,     /* kids = items */
    VLM_JN_TUPLE,    /* kids = items */
    VLM_JN_DICT,     /* kids = keys, kids2 = values */
    VLM_JN_GETATTR,  /* a = object, val = attribute name */
    VLM_JN_GETITEM,  /* a = object, b = index (may be a SLICE) */
    VLM_JN_SLICE,    /* a = start, b = stop, c = step; each may be NULL */
    VLM_JN_CALL,     /* a = callee, kids = positional args, kids2/names = keyword args */
    VLM_JN_FILTER,   /* a = operand (NULL: the body of a filter block), val = name, id, args */
    VLM_JN_TEST,     /* a = operand, val = name, id, args as CALL */
    VLM_JN_NOT,      /* a */
    VLM_JN_NEG,      /* a */
    VLM_JN_POS,      /* a */
    VLM_JN_BINOP,    /* op = VLM_JOP_ADD/SUB/MUL/DIV/FLOORDIV/MOD/POW, a, b */
    VLM_JN_CONCAT,   /* kids: the operands of ~ */
    VLM_JN_AND,      /* a, b */
    VLM_JN_OR,       /* a, b */
    VLM_JN_COMPARE,  /* a = first operand, kids = the others, ops = one per kid */
    VLM_JN_CONDEXPR, /* a = test, b = value when true, c = value when false (may be NULL) */
    /* ---- statements */
    VLM_JN_OUTPUT,      /* kids: CONST text or expressions, printed in order */
    VLM_JN_IF,          /* a = test, kids = body, kids2 = else body */
    VLM_JN_FOR,         /* a = target, b = iterable, c = filter test, kids = body, kids2 = else */
    VLM_JN_SET,         /* a = target (NAME, TUPLE of NAMEs, or NSREF), b = value */
    VLM_JN_SETBLOCK,    /* a = target, b = filter chain or NULL, kids = body */
    VLM_JN_NSREF,       /* val = namespace variable, val2 = attribute (assignment target) */
    VLM_JN_MACRO,       /* val = name, names = params, kids2 = defaults (NULL where none),
                           kids = body, flags */
    VLM_JN_CALLBLOCK,   /* a = the CALL, names/kids2 = caller params/defaults, kids = body */
    VLM_JN_FILTERBLOCK, /* b = filter chain (innermost operand NULL), kids = body */
    VLM_JN_WITH,        /* names = targets, kids2 = values, kids = body */
    VLM_JN_BREAK,
    VLM_JN_CONTINUE,
    VLM_JN_SCOPE /* kids = body, rendered in place ({% generation %}) */
} vlm_jnode_kind;

/* VLM_JN_COMPARE operators. */
enum {
    VLM_JCMP_EQ = 1,
    VLM_JCMP_NE,
    VLM_JCMP_LT,
    VLM_JCMP_LTEQ,
    VLM_JCMP_GT,
    VLM_JCMP_GTEQ,
    VLM_JCMP_IN,
    VLM_JCMP_NOTIN
};

/* VLM_JN_IF flag: the node came from an {% elif %} (jinja2 keeps elifs apart from else). */
enum { VLM_JIF_ELIF = 1 };

/* VLM_JN_MACRO flags: what the body refers to. */
enum { VLM_JMACRO_CALLER = 1, VLM_JMACRO_VARARGS = 2, VLM_JMACRO_KWARGS = 4 };

typedef struct vlm_jnode vlm_jnode;
struct vlm_jnode {
    uint8_t kind; /* vlm_jnode_kind */
    uint8_t op;
    uint16_t flags;
    int32_t id; /* FILTER/TEST: builtin id */
    uint32_t line, col;
    vlm_jv val, val2; /* immortal */
    vlm_jnode *a, *b, *c;
    vlm_jnode **kids;
    uint32_t nkids;
    vlm_jnode **kids2;
    uint32_t nkids2;
    vlm_jv *names;
    uint32_t nnames;
    uint8_t *ops;
    /* Frames (the template, a for body, a macro body, ...): names jinja2 binds to "missing"
     * when the frame starts (assigned in the frame before any read there), so a read from a
     * nested frame before the assignment gives Undefined rather than an outer value.
     * missing2: the for loop's else frame. Set by vlm_jinja_scope_analyze. */
    vlm_jv *missing;
    uint32_t nmissing;
    vlm_jv *missing2;
    uint32_t nmissing2;
};

typedef struct vlm_jinja_template {
    char *name;      /* for messages */
    vlm_jnode *root; /* a SCOPE node holding the template body */
    vlm_jnode **all; /* every node, for freeing */
    size_t nall, capall;
    vlm_jpool pool; /* the strings the nodes hold */
} vlm_jinja_template;

/* jinja2's static scope analysis (jinja_scope.c): fills the frames' `missing` lists.
 * Returns false on exhaustion. */
bool vlm_jinja_scope_analyze(vlm_jinja_template *t);

/* Builtin filter and test tables (jinja_filters.c, jinja_tests.c): the id of a jinja2
 * builtin name, or -1 when jinja2 has no such filter/test (a compile-time error there). */
int vlm_jinja_filter_id(const char *name);
int vlm_jinja_test_id(const char *name);

#endif

/* The Jinja engine against jinja2: every case of tests/fixtures/jinja/cases.json (made by
 * tools/refgen/jinja_cases.py with jinja2 configured as transformers configures it) must
 * render byte-identically, or fail where jinja2 raised; cases marked "unsupported" must
 * fail with VLM_ERR_UNSUPPORTED. Error messages must name the template and a line:column.
 * Then hostile templates: each must end with a clear error, quickly, without leaks. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/json.h"
#include "test.h"
#include "text/jinja.h"

/* "name:LINE:COL: ..." */
static int has_position(const char *msg, const char *name) {
    size_t n = strlen(name);
    if (strncmp(msg, name, n) || msg[n] != ':') return 0;
    const char *p = msg + n + 1;
    if (!isdigit((unsigned char)*p)) return 0;
    while (isdigit((unsigned char)*p))
        p++;
    if (*p++ != ':') return 0;
    if (!isdigit((unsigned char)*p)) return 0;
    while (isdigit((unsigned char)*p))
        p++;
    return *p == ':';
}

/* Limits for the hostile cases: small enough to keep the test fast under ASan. */
static const vlm_jinja_render_params *test_limits;

static vlm_status render_src(const char *name, const char *src, const vlm_json *vars_json,
                             int64_t now, char **out, vlm_error *err) {
    vlm_jinja_template *t = NULL;
    vlm_status st = vlm_jinja_parse(src, strlen(src), name, &t, err);
    if (st) return st;
    vlm_jv vars = vlm_jv_undef();
    if (vars_json)
        st = vlm_jinja_from_json(vars_json, &vars, err);
    else {
        vlm_jdict *d = vlm_jdict_new(0);
        vars = vlm_jv_dict(d);
        st = d ? VLM_OK : VLM_ERR_OUT_OF_MEMORY;
    }
    if (!st) {
        vlm_jinja_render_params p = test_limits ? *test_limits : vlm_jinja_render_params_default();
        p.now = now;
        st = vlm_jinja_render(t, vars.u.d, &p, out, NULL, err);
    }
    vlm_jv_decref(vars);
    vlm_jinja_template_free(t);
    return st;
}

static void run_corpus(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/jinja/cases.json", vlm_test_source_dir());
    vlm_json *doc = NULL;
    vlm_error err = {0};
    if (vlm_json_load_file(path, 16u << 20, 0, &doc, &err)) {
        fprintf(stderr, "cannot read %s: %s\n", path, err.message);
        vlm_test_failures++;
        return;
    }
    int64_t now = 0;
    CHECK(vlm_json_int(vlm_json_get(doc, "now"), &now));
    const vlm_json *cases = vlm_json_get(doc, "cases");
    size_t n = vlm_json_array_size(cases), passed = 0;
    CHECK(n >= 150);
    for (size_t i = 0; i < n; i++) {
        const vlm_json *c = vlm_json_array_at(cases, i);
        const char *name = vlm_json_string(vlm_json_get(c, "name"));
        const char *tmpl = vlm_json_string(vlm_json_get(c, "template"));
        const vlm_json *expect = vlm_json_get(c, "output");
        bool unsupported = vlm_json_true(vlm_json_get(c, "unsupported"));
        if (!name || !tmpl) {
            CHECK(!"case without name or template");
            continue;
        }
        char *out = NULL;
        vlm_error e = {0};
        vlm_status st = render_src(name, tmpl, vlm_json_get(c, "vars"), now, &out, &e);
        bool ok;
        if (unsupported) {
            ok = st == VLM_ERR_UNSUPPORTED && has_position(e.message, name);
            if (!ok)
                fprintf(stderr, "case %s: expected an 'unsupported' error, got status %d (%s)\n",
                        name, st, st ? e.message : out);
        } else if (expect) {
            size_t want_len = vlm_json_string_len(expect);
            ok = st == VLM_OK && strlen(out) == want_len &&
                 !memcmp(out, vlm_json_string(expect), want_len);
            if (!ok)
                fprintf(stderr, "case %s:\n  template: %s\n  jinja2:   [%s]\n  vlm:      [%s]\n",
                        name, tmpl, vlm_json_string(expect), st ? e.message : out);
        } else {
            /* jinja2 raised: so must we, with a position, and never "internal". */
            const char *why = vlm_json_string(vlm_json_get(c, "error"));
            ok = st != VLM_OK && st != VLM_ERR_INTERNAL &&
                 (has_position(e.message, name) || strstr(e.message, name) == e.message);
            if (!ok)
                fprintf(stderr, "case %s:\n  template: %s\n  jinja2 raised: %s\n  vlm: %s\n", name,
                        tmpl, why ? why : "?", st ? e.message : out);
        }
        if (ok)
            passed++;
        else
            vlm_test_failures++;
        free(out);
    }
    fprintf(stderr, "jinja corpus: %zu/%zu cases identical to jinja2\n", passed, n);
    vlm_json_free(doc);
}

/* ------------------------------------------------------------- hostile input */

static void expect_fail(const char *what, const char *src, vlm_status want, const char *needle) {
    char *out = NULL;
    vlm_error e = {0};
    clock_t t0 = clock();
    vlm_status st = render_src(what, src, NULL, 0, &out, &e);
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK_MSG(st == want, "%s: status %d, want %d (%s)", what, st, want, st ? e.message : "ok");
    if (needle) CHECK_CONTAINS(e.message, needle);
    CHECK_MSG(secs < 5.0, "%s took %.1f s", what, secs);
    if (getenv("VLM_TEST_VERBOSE")) fprintf(stderr, "%s: %.3f s: %s\n", what, secs, e.message);
    free(out);
}

static void run_hostile(void) {
    vlm_jinja_render_params limits = vlm_jinja_render_params_default();
    limits.max_steps = 1000000;
    limits.max_alloc_bytes = 64u << 20;
    limits.max_output_bytes = 8u << 20;
    test_limits = &limits;
    /* Loops and recursion end at the step/depth limits. */
    expect_fail("nested_loops",
                "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
                VLM_ERR_LIMIT, "steps");
    expect_fail("recursion", "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", VLM_ERR_LIMIT,
                "nested");
    expect_fail("output_bomb", "{{ 'x' * 100000000 }}", VLM_ERR_LIMIT, NULL);
    expect_fail("doubling",
                "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s + "
                "ns.s %}{% endfor %}",
                VLM_ERR_LIMIT, NULL);
    expect_fail("list_doubling",
                "{% set ns = namespace(s=[1]) %}{% for i in range(60) %}{% set ns.s = ns.s + "
                "ns.s %}{% endfor %}",
                VLM_ERR_LIMIT, NULL);
    expect_fail("deep_nesting_value",
                "{% set ns = namespace(x=[]) %}{% for i in range(2000) %}{% set ns.x = [ns.x] "
                "%}{% endfor %}",
                VLM_ERR_OUT_OF_MEMORY, "nested");
    expect_fail("big_repeat_list", "{{ ([0] * 1000000000)|length }}", VLM_ERR_LIMIT, NULL);
    expect_fail("many_small_strings",
                "{% set ns = namespace(s='') %}{% for i in range(100000) %}{% set ns.s = ns.s ~ "
                "'0123456789' %}{% endfor %}",
                VLM_ERR_LIMIT, NULL);
    expect_fail("raise", "{{ raise_exception('stop here') }}", VLM_ERR_FORMAT, "stop here");
    expect_fail("undefined_attr", "line1\n  {{ a.b }}", VLM_ERR_FORMAT, "undefined_attr:2:");
    /* A namespace holding itself: cleared at the end of the render (no leak under ASan). */
    {
        char *out = NULL;
        vlm_error e = {0};
        CHECK(render_src(
                  "cycle",
                  "{% set ns = namespace() %}{% set ns.me = ns %}{% set ns.l = [ns, loop] %}ok",
                  NULL, 0, &out, &e) == VLM_OK);
        CHECK_STR(out, "ok");
        free(out);
        CHECK(render_src("macro_cycle",
                         "{% macro m() %}{{ m }}{% endmacro %}{% set ns = namespace(f=m) %}{{ ns.f "
                         "is defined }}",
                         NULL, 0, &out, &e) == VLM_OK);
        CHECK_STR(out, "True");
        free(out);
        CHECK(render_src("ns_print_cycle", "{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}",
                         NULL, 0, &out, &e) != VLM_OK);
        free(out);
    }
    /* Parser limits and malformed source. */
    {
        size_t depth = 20000;
        char *src = malloc(depth * 2 + 16);
        size_t k = 0;
        k += (size_t)sprintf(src, "{{ ");
        for (size_t i = 0; i < depth; i++)
            src[k++] = '(';
        src[k++] = '1';
        for (size_t i = 0; i < depth; i++)
            src[k++] = ')';
        strcpy(src + k, " }}");
        expect_fail("deep_parens", src, VLM_ERR_FORMAT, "deep");
        k = (size_t)sprintf(src, "{{ ");
        for (size_t i = 0; i < depth; i++)
            src[k++] = '-';
        strcpy(src + k, "1 }}");
        expect_fail("deep_unary", src, VLM_ERR_FORMAT, "deep");
        k = 0;
        for (size_t i = 0; i < 1000; i++)
            k += (size_t)sprintf(src + k, "{%% if 1 %%}");
        src[k] = '\0';
        expect_fail("deep_blocks", src, VLM_ERR_FORMAT, NULL);
        free(src);
    }
    expect_fail("bad_utf8", "abc\xff{{ x }}", VLM_ERR_FORMAT, "UTF-8");
    expect_fail("nul_in_tag", "{{ 'a' \x01 }}", VLM_ERR_FORMAT, NULL);
    expect_fail("surrogate_escape", "{{ '\\ud800' }}", VLM_ERR_UNSUPPORTED, "surrogate");
    expect_fail("huge_int", "{{ 99999999999999999999 }}", VLM_ERR_UNSUPPORTED, "64 bits");
    expect_fail("int_overflow", "{{ 9223372036854775807 + 1 }}", VLM_ERR_UNSUPPORTED, "overflow");
    expect_fail("pow_overflow", "{{ 10 ** 30 }}", VLM_ERR_UNSUPPORTED, "overflow");
    /* Truncated templates at every length never crash. */
    {
        static const char full[] =
            "{%- set ns = namespace(a=1) %}{% for m in messages if m.role != 'x' %}"
            "{{ m['content']|trim ~ (' ' if not loop.last) }}{% endfor %}{# c #}{% raw %}r"
            "{% endraw %}{{ '\\u00e9' }}";
        for (size_t len = 0; len < sizeof full - 1; len++) {
            char buf[sizeof full];
            memcpy(buf, full, len);
            buf[len] = '\0';
            vlm_jinja_template *t = NULL;
            vlm_error e = {0};
            vlm_status st = vlm_jinja_parse(buf, len, "trunc", &t, &e);
            if (st == VLM_OK) {
                vlm_jdict *d = vlm_jdict_new(0);
                char *out = NULL;
                vlm_jinja_render(t, d, NULL, &out, NULL, &e);
                free(out);
                vlm_jdict_decref(d);
            } else {
                CHECK_MSG(has_position(e.message, "trunc") || strstr(e.message, "trunc:"),
                          "truncated at %zu: %s", len, e.message);
            }
            vlm_jinja_template_free(t);
        }
    }
}

int main(void) {
    setenv("TZ", "UTC", 1);
    tzset();
    run_corpus();
    run_hostile();
    TEST_DONE();
}

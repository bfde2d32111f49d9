/* The tokenizer against Hugging Face: every tests/fixtures/tokenizers/<name>.ref.json made
 * by tools/refgen/tokenizer_refs.py (transformers 5.17 / tokenizers 0.23) holds cases
 * {text, ids, ids_special, decode, decode_skip_special}. For each case: encode without and
 * with special tokens must give exactly HF's ids; decode of ids_special (keeping and
 * skipping special tokens) exactly HF's string; and the streaming detokenizer, fed the
 * ids one by one, must concatenate to the same decode (and never emit a piece that is not
 * valid UTF-8). Exact equality, no tolerance. Tokenizers from the npm cache (qwen3,
 * gemma3) are skipped with a message when scripts/fetch_test_data.sh has not run. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "core/strbuf.h"
#include "test.h"
#include "text/tok_unicode.h"
#include "text/tokenizer.h"

static int n_cases, n_files, n_skipped_files;

static bool ids_equal(const int32_t *a, size_t na, const vlm_json *ref) {
    if (vlm_json_array_size(ref) != na) return false;
    for (size_t i = 0; i < na; i++) {
        int64_t v;
        if (!vlm_json_int(vlm_json_array_at(ref, i), &v) || v != a[i]) return false;
    }
    return true;
}

static void print_ids(const char *label, const int32_t *a, size_t n) {
    fprintf(stderr, "  %s [", label);
    for (size_t i = 0; i < n && i < 60; i++)
        fprintf(stderr, i ? ", %d" : "%d", a[i]);
    fprintf(stderr, "%s]\n", n > 60 ? ", ..." : "");
}

static int32_t *json_ids(const vlm_json *arr, size_t *n) {
    *n = vlm_json_array_size(arr);
    int32_t *v = malloc((*n + 1) * sizeof *v);
    for (size_t i = 0; v && i < *n; i++) {
        int64_t x = -1;
        vlm_json_int(vlm_json_array_at(arr, i), &x);
        v[i] = (int32_t)x;
    }
    return v;
}

/* Streams ids through a detokenizer; returns the concatenation (free()), *out_len its
 * length. */
static char *stream(const vlm_tokenizer *t, const int32_t *ids, size_t n, bool skip,
                    bool *bad_piece, size_t *out_len) {
    vlm_error err;
    vlm_detok *d;
    *bad_piece = false;
    if (vlm_detok_init(t, skip, &d, &err) != VLM_OK) return NULL;
    vlm_strbuf all;
    vlm_strbuf_init(&all);
    for (size_t i = 0; i <= n; i++) {
        const char *p;
        size_t len;
        vlm_status st =
            i < n ? vlm_detok_push(d, ids[i], &p, &len, &err) : vlm_detok_flush(d, &p, &len, &err);
        if (st != VLM_OK) {
            fprintf(stderr, "  detok error: %s\n", err.message);
            break;
        }
        if (tok_utf8_valid_prefix(p, len) != len) *bad_piece = true;
        vlm_strbuf_append(&all, p, len);
    }
    vlm_detok_free(d);
    vlm_strbuf_append(&all, "", 0);
    *out_len = all.len;
    return vlm_strbuf_take(&all);
}

static void check_decode(const vlm_tokenizer *t, const char *name, size_t ci, const int32_t *ids,
                         size_t n, bool skip, const vlm_json *want) {
    const char *w = vlm_json_string(want);
    if (!w) return;
    vlm_error err;
    char *got = NULL;
    size_t gl = 0;
    vlm_status st = vlm_tokenizer_decode_len(t, ids, n, skip, &got, &gl, &err);
    CHECK_MSG(st == VLM_OK, "%s case %zu: decode failed: %s", name, ci, err.message);
    if (st != VLM_OK) return;
    /* HF panicked on this input (recorded as "ERROR: ..."): only require no crash. */
    if (strncmp(w, "ERROR:", 6) != 0) {
        size_t wl = vlm_json_string_len(want);
        CHECK_MSG(gl == wl && memcmp(got, w, wl) == 0,
                  "%s case %zu: decode(skip_special=%d)\n    got  \"%s\"\n    want \"%s\"", name,
                  ci, skip, got, w);
    }
    bool bad;
    size_t sl = 0;
    char *streamed = stream(t, ids, n, skip, &bad, &sl);
    CHECK_MSG(streamed && sl == gl && !memcmp(streamed, got, gl),
              "%s case %zu: streamed (skip=%d) \"%s\" != decode \"%s\"", name, ci, skip,
              streamed ? streamed : "(null)", got);
    CHECK_MSG(!bad, "%s case %zu: a streamed piece is not valid UTF-8", name, ci);
    free(streamed);
    free(got);
}

static void run_file(const char *dir, const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    vlm_json *ref;
    vlm_error err;
    if (vlm_json_load_file(path, 64u << 20, 0, &ref, &err) != VLM_OK) {
        CHECK_MSG(0, "%s", err.message);
        return;
    }
    const char *src = vlm_json_string(vlm_json_get(ref, "tokenizer"));
    char tpath[1024];
    if (src && !strncmp(src, "cache:", 6)) {
        const char *cache = getenv("VLM_CACHE_DIR");
        snprintf(tpath, sizeof tpath, "%s/tokenizers/%s/tokenizer.json", cache ? cache : ".cache",
                 src + 6);
    } else if (src && !strncmp(src, "fixture:", 8)) {
        snprintf(tpath, sizeof tpath, "%s/%s/tokenizer.json", dir, src + 8);
    } else {
        CHECK_MSG(0, "%s: unknown \"tokenizer\"", path);
        vlm_json_free(ref);
        return;
    }
    FILE *f = fopen(tpath, "rb");
    if (!f) {
        fprintf(stderr, "SKIP %s: %s is absent (run scripts/fetch_test_data.sh)\n", file, tpath);
        n_skipped_files++;
        vlm_json_free(ref);
        return;
    }
    fclose(f);
    vlm_tokenizer *t;
    if (vlm_tokenizer_load(tpath, &t, &err) != VLM_OK) {
        CHECK_MSG(0, "%s: load failed: %s", tpath, err.message);
        vlm_json_free(ref);
        return;
    }
    n_files++;
    int before = vlm_test_failures;
    const vlm_json *cases = vlm_json_get(ref, "cases");
    for (size_t ci = 0; ci < vlm_json_array_size(cases); ci++) {
        const vlm_json *c = vlm_json_array_at(cases, ci);
        const char *text = vlm_json_string(vlm_json_get(c, "text"));
        size_t tl = vlm_json_string_len(vlm_json_get(c, "text"));
        if (vlm_test_failures - before > 20) {
            fprintf(stderr, "%s: too many failures, stopping this file\n", file);
            break;
        }
        n_cases++;
        for (int sp = 0; sp < 2; sp++) {
            const vlm_json *want = vlm_json_get(c, sp ? "ids_special" : "ids");
            int32_t *ids;
            size_t n;
            if (vlm_tokenizer_encode(t, text, tl, sp, &ids, &n, &err) != VLM_OK) {
                CHECK_MSG(0, "%s case %zu: encode failed: %s", file, ci, err.message);
                continue;
            }
            if (!ids_equal(ids, n, want)) {
                CHECK_MSG(0, "%s case %zu: ids (special=%d) differ for text \"%s\"", file, ci, sp,
                          text);
                print_ids("got ", ids, n);
                size_t wn;
                int32_t *w = json_ids(want, &wn);
                print_ids("want", w, wn);
                free(w);
            }
            free(ids);
        }
        size_t n;
        int32_t *ids = json_ids(vlm_json_get(c, "ids_special"), &n);
        check_decode(t, file, ci, ids, n, false, vlm_json_get(c, "decode"));
        check_decode(t, file, ci, ids, n, true, vlm_json_get(c, "decode_skip_special"));
        free(ids);
    }
    vlm_tokenizer_free(t);
    vlm_json_free(ref);
}

int main(void) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/tokenizers", vlm_test_source_dir());
    DIR *d = opendir(dir);
    if (!d) SKIP("%s is missing", dir);
    struct dirent *e;
    char *names[256];
    int nn = 0;
    while ((e = readdir(d)) && nn < 256) {
        size_t l = strlen(e->d_name);
        if (l > 9 && !strcmp(e->d_name + l - 9, ".ref.json")) names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    for (int i = 0; i < nn; i++) {
        run_file(dir, names[i]);
        free(names[i]);
    }
    fprintf(stderr, "%d reference files, %d cases checked, %d files skipped\n", n_files, n_cases,
            n_skipped_files);
    CHECK(n_files > 0);
    TEST_DONE();
}

/* Chat templates against transformers itself: every folder tests/fixtures/templates/<family>/
 * (made by the refgen helper with transformers 5.17's apply_chat_template) holds the
 * template files as the family's checkpoints ship them and conversations.json
 * ({"template_vars": {...}, "conversations": [{"messages", "extra", "rendered" | "error",
 * "strftime_now_date"?}]}). Each conversation is rendered from the folder with
 * vlm_chat_template_load and must be byte-identical (or fail where transformers raised).
 * template_vars (the special tokens the reference tokenizer supplied) are passed as
 * arguments; strftime_now reads the recorded date. SKIP while no folder exists. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chat_template_util.h"
#include "core/file.h"
#include "test.h"

/* Noon UTC of "YYYY-MM-DD", or -1. */
static int64_t date_noon(const char *s) {
    int y, m, d;
    if (!s || sscanf(s, "%d-%d-%d", &y, &m, &d) != 3) return -1;
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_hour = 12;
    return (int64_t)timegm(&tm);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(void) {
    setenv("TZ", "UTC", 1);
    tzset();
    char root[4096];
    snprintf(root, sizeof root, "%s/tests/fixtures/templates", vlm_test_source_dir());
    DIR *dp = opendir(root);
    if (!dp) SKIP("no %s yet (the refgen helper's transformers references)", root);
    char *names[256];
    size_t nnames = 0;
    for (struct dirent *de; (de = readdir(dp)) && nnames < 256;) {
        if (de->d_name[0] == '.') continue;
        char p[4096];
        snprintf(p, sizeof p, "%s/%s/conversations.json", root, de->d_name);
        if (vlm_path_kind_of(p) == VLM_PATH_FILE) names[nnames++] = strdup(de->d_name);
    }
    closedir(dp);
    if (nnames == 0) SKIP("no tests/fixtures/templates/<family>/conversations.json yet");
    qsort(names, nnames, sizeof *names, cmp_str);
    size_t total = 0, total_ok = 0;
    for (size_t f = 0; f < nnames; f++) {
        char dir[4096], path[4200];
        snprintf(dir, sizeof dir, "%s/%s", root, names[f]);
        snprintf(path, sizeof path, "%s/conversations.json", dir);
        vlm_json *doc = NULL;
        vlm_error err = {0};
        vlm_chat_template *t = NULL;
        if (vlm_json_load_file(path, 64u << 20, 0, &doc, &err) ||
            vlm_chat_template_load(dir, &t, &err)) {
            fprintf(stderr, "%s: %s\n", names[f], err.message);
            vlm_test_failures++;
            vlm_json_free(doc);
            continue;
        }
        const vlm_json *convs = vlm_json_is_array(doc) ? doc : vlm_json_get(doc, "conversations");
        const vlm_json *vars = vlm_json_get(doc, "template_vars");
        size_t n = vlm_json_array_size(convs), ok_count = 0;
        for (size_t i = 0; i < n; i++) {
            const vlm_json *c = vlm_json_array_at(convs, i);
            const vlm_json *want = vlm_json_get(c, "rendered");
            vlm_json *extra = ct_merge_objects(vars, vlm_json_get(c, "extra"));
            vlm_jinja_render_params p = vlm_jinja_render_params_default();
            int64_t now = date_noon(vlm_json_string(vlm_json_get(c, "strftime_now_date")));
            if (now >= 0) p.now = now;
            char *out = NULL;
            size_t len = 0;
            vlm_error e = {0};
            vlm_status st = extra ? vlm_chat_template_render_ex(t, vlm_json_get(c, "messages"),
                                                                extra, &p, &out, &len, &e)
                                  : VLM_ERR_OUT_OF_MEMORY;
            bool ok = want ? (st == VLM_OK && len == vlm_json_string_len(want) &&
                              !memcmp(out, vlm_json_string(want), len))
                           : (st != VLM_OK && st != VLM_ERR_INTERNAL);
            if (!ok) {
                char *m = vlm_json_dump(vlm_json_get(c, "messages"));
                fprintf(stderr,
                        "%s conversation %zu %s\n  transformers: [%s]\n  vlm:          [%s]\n",
                        names[f], i, m ? m : "",
                        want ? vlm_json_string(want) : vlm_json_string(vlm_json_get(c, "error")),
                        st ? e.message : out);
                free(m);
                vlm_test_failures++;
            } else {
                ok_count++;
            }
            free(out);
            vlm_json_free(extra);
        }
        fprintf(stderr, "%s (%s): %zu/%zu conversations identical to transformers\n", names[f],
                vlm_chat_template_origin(t), ok_count, n);
        total += n;
        total_ok += ok_count;
        vlm_chat_template_free(t);
        vlm_json_free(doc);
    }
    fprintf(stderr, "all families: %zu/%zu\n", total_ok, total);
    for (size_t f = 0; f < nnames; f++)
        free(names[f]);
    TEST_DONE();
}

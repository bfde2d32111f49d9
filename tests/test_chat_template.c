/* Chat templates end to end. (1) The real Qwen3 and Gemma 3 templates from the cached
 * tokenizers (VLM_CACHE_DIR/tokenizers/{qwen3,gemma3}) over the conversations of
 * tests/fixtures/jinja/real_templates.json, rendered there by jinja2 with transformers'
 * apply_chat_template setup (tools/refgen/chat_template_cases.py): byte-identical output, or
 * an error where jinja2 raised. (2) Template discovery (chat_template.jinja, then
 * chat_template.json, then tokenizer_config.json, named-template lists, special tokens as
 * strings or {"content"}), and bad input (missing or malformed files, syntax errors,
 * non-list messages): clear errors naming the file. (3) One loaded template rendered from
 * several threads at once gives every thread transformers' output (run under TSan to see
 * races; under ASan it checks the results). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "chat_template_util.h"
#include "core/file.h"
#include "test.h"

static int run_real_templates(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/jinja/real_templates.json",
             vlm_test_source_dir());
    vlm_json *doc = NULL;
    vlm_error err = {0};
    if (vlm_json_load_file(path, 16u << 20, 0, &doc, &err)) {
        fprintf(stderr, "cannot read %s: %s\n", path, err.message);
        vlm_test_failures++;
        return 0;
    }
    const char *cache = getenv("VLM_CACHE_DIR");
    char cache_buf[4096];
    if (!cache) {
        snprintf(cache_buf, sizeof cache_buf, "%s/.cache", vlm_test_source_dir());
        cache = cache_buf;
    }
    int64_t now = 0;
    vlm_json_int(vlm_json_get(doc, "now"), &now);
    const vlm_json *fams = vlm_json_get(doc, "families");
    int families_run = 0;
    for (size_t f = 0; f < vlm_json_array_size(fams); f++) {
        const vlm_json *fam = vlm_json_array_at(fams, f);
        const char *family = vlm_json_string(vlm_json_get(fam, "family"));
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", cache, vlm_json_string(vlm_json_get(fam, "dir")));
        vlm_chat_template *t = NULL;
        if (vlm_path_kind_of(dir) != VLM_PATH_DIR) {
            fprintf(stderr, "note: %s not cached (%s): skipped\n", family, dir);
            continue;
        }
        if (vlm_chat_template_load(dir, &t, &err)) {
            fprintf(stderr, "%s: %s\n", family, err.message);
            vlm_test_failures++;
            continue;
        }
        families_run++;
        const vlm_json *convs = vlm_json_get(fam, "conversations");
        size_t n = vlm_json_array_size(convs), passed = 0;
        CHECK(n >= 20);
        for (size_t i = 0; i < n; i++) {
            const vlm_json *c = vlm_json_array_at(convs, i);
            const char *name = vlm_json_string(vlm_json_get(c, "name"));
            const vlm_json *want = vlm_json_get(c, "rendered");
            vlm_jinja_render_params p = vlm_jinja_render_params_default();
            p.now = now;
            char *out = NULL;
            size_t len = 0;
            vlm_error e = {0};
            vlm_status st = vlm_chat_template_render_ex(
                t, vlm_json_get(c, "messages"), vlm_json_get(c, "extra"), &p, &out, &len, &e);
            bool ok = want ? (st == VLM_OK && len == vlm_json_string_len(want) &&
                              !memcmp(out, vlm_json_string(want), len))
                           : (st != VLM_OK && st != VLM_ERR_INTERNAL);
            if (!ok)
                fprintf(stderr, "%s/%s:\n  jinja2: [%s]\n  vlm:    [%s]\n", family, name,
                        want ? vlm_json_string(want) : vlm_json_string(vlm_json_get(c, "error")),
                        st ? e.message : out);
            if (ok)
                passed++;
            else
                vlm_test_failures++;
            free(out);
        }
        fprintf(stderr, "%s (cached template): %zu/%zu conversations identical to jinja2\n", family,
                passed, n);
        vlm_chat_template_free(t);
    }
    vlm_json_free(doc);
    return families_run;
}

/* ------------------------------------------------------------- discovery */

static char tmp_root[256];

static void write_file(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        vlm_test_failures++;
        return;
    }
    fputs(text, f);
    fclose(f);
}

static void remove_file(const char *dir, const char *name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

static vlm_json *parse(const char *text) {
    vlm_json *j = NULL;
    vlm_error e = {0};
    if (vlm_json_parse(text, strlen(text), "test", 0, &j, &e)) {
        fprintf(stderr, "bad test JSON: %s\n", e.message);
        vlm_test_failures++;
    }
    return j;
}

/* Loads dir and renders messages; returns the status, *out the text or the message. */
static vlm_status load_render(const char *dir, const char *messages, const char *extra, char *out,
                              size_t cap) {
    vlm_chat_template *t = NULL;
    vlm_error e = {0};
    vlm_status st = vlm_chat_template_load(dir, &t, &e);
    char *text = NULL;
    vlm_json *m = parse(messages), *x = extra ? parse(extra) : NULL;
    if (!st) st = vlm_chat_template_render(t, m, x, &text, &e);
    snprintf(out, cap, "%s", st ? e.message : text);
    free(text);
    vlm_json_free(m);
    vlm_json_free(x);
    vlm_chat_template_free(t);
    return st;
}

static void run_discovery(void) {
    snprintf(tmp_root, sizeof tmp_root, "/tmp/vlm_chat_template_%d", (int)getpid());
    mkdir(tmp_root, 0700);
    const char *d = tmp_root;
    const char *msgs = "[{\"role\":\"user\",\"content\":\"hi\"}]";
    char out[1024];

    /* Nothing there. */
    CHECK_EQ_INT(load_render(d, msgs, NULL, out, sizeof out), VLM_ERR_NOT_FOUND);
    CHECK_CONTAINS(out, "no chat template");

    /* tokenizer_config.json: template and special tokens (string and AddedToken forms). */
    write_file(d, "tokenizer_config.json",
               "{\"bos_token\": {\"content\": \"<s>\", \"lstrip\": false}, \"eos_token\": \"</s>\","
               " \"pad_token\": null, \"unk_token\": \"\", \"additional_special_tokens\": "
               "[\"<a>\", {\"content\": \"<b>\"}],"
               " \"chat_template\": \"C:{{ bos_token }}{{ messages[0].content }}{{ eos_token }}"
               "[{{ pad_token is defined }}{{ unk_token is defined }}{{ "
               "additional_special_tokens|join(',') }}]"
               "{{ tools }}{{ documents }}{{ add_generation_prompt }}\"}");
    CHECK_EQ_INT(load_render(d, msgs, NULL, out, sizeof out), VLM_OK);
    CHECK_STR(out, "C:<s>hi</s>[FalseFalse<a>,<b>]NoneNoneFalse");
    CHECK_EQ_INT(
        load_render(d, msgs, "{\"add_generation_prompt\": true, \"tools\": []}", out, sizeof out),
        VLM_OK);
    CHECK_STR(out, "C:<s>hi</s>[FalseFalse<a>,<b>][]NoneTrue");

    /* chat_template.json wins over tokenizer_config.json; the tokens still come from it. */
    write_file(d, "chat_template.json",
               "{\"chat_template\": \"J:{{ bos_token }}{{ messages|length }}\"}");
    CHECK_EQ_INT(load_render(d, msgs, NULL, out, sizeof out), VLM_OK);
    CHECK_STR(out, "J:<s>1");

    /* chat_template.jinja wins over both; its errors name the file, line and column. */
    write_file(d, "chat_template.jinja", "K:{{ eos_token }}\n");
    CHECK_EQ_INT(load_render(d, msgs, NULL, out, sizeof out), VLM_OK);
    CHECK_STR(out, "K:</s>");
    write_file(d, "chat_template.jinja", "line one\n{% for m in messages %}\n{{ m.content }");
    CHECK_EQ_INT(load_render(d, msgs, NULL, out, sizeof out), VLM_ERR_FORMAT);
    CHECK_CONTAINS(out, "chat_template.jinja:3:");
    write_file(d, "chat_template.jinja", "{{ messages[0].content.nope.deeper }}");
    CHECK_EQ_INT(load_render(d, msgs, NULL, out, sizeof out), VLM_ERR_FORMAT);
    CHECK_CONTAINS(out, "chat_template.jinja:1:");
    CHECK_CONTAINS(out, "has no attribute 'nope'");
    write_file(d, "chat_template.jinja",
               "{{ raise_exception('Only user and assistant roles are supported!') }}");
    CHECK_EQ_INT(load_render(d, msgs, NULL, out, sizeof out), VLM_ERR_FORMAT);
    CHECK_CONTAINS(out, "Only user and assistant roles are supported!");
    remove_file(d, "chat_template.jinja");

    /* Malformed chat_template.json: an error, not a silent fallback. */
    write_file(d, "chat_template.json", "{\"chat_template\": 5}");
    CHECK_EQ_INT(load_render(d, msgs, NULL, out, sizeof out), VLM_ERR_FORMAT);
    CHECK_CONTAINS(out, "chat_template.json");
    write_file(d, "chat_template.json", "{\"chat_template\": \"x\"");
    CHECK_EQ_INT(load_render(d, msgs, NULL, out, sizeof out), VLM_ERR_FORMAT);
    CHECK_CONTAINS(out, "chat_template.json");
    remove_file(d, "chat_template.json");

    /* Named templates: "default" is used; without one, nothing is guessed. */
    write_file(d, "tokenizer_config.json",
               "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"},"
               " {\"name\": \"default\", \"template\": \"D{{ messages|length }}\"}]}");
    CHECK_EQ_INT(load_render(d, msgs, NULL, out, sizeof out), VLM_OK);
    CHECK_STR(out, "D1");
    write_file(d, "tokenizer_config.json",
               "{\"chat_template\": [{\"name\": \"tool_use\", \"template\": \"T\"}]}");
    CHECK_EQ_INT(load_render(d, msgs, NULL, out, sizeof out), VLM_ERR_NOT_FOUND);
    CHECK_CONTAINS(out, "default");
    write_file(d, "tokenizer_config.json", "{\"chat_template\": \"x\", \"bos_token\": 7}");
    CHECK_EQ_INT(load_render(d, msgs, NULL, out, sizeof out), VLM_ERR_FORMAT);
    CHECK_CONTAINS(out, "bos_token");
    write_file(d, "tokenizer_config.json", "[1, 2]");
    CHECK_EQ_INT(load_render(d, msgs, NULL, out, sizeof out), VLM_ERR_FORMAT);
    CHECK_CONTAINS(out, "tokenizer_config.json");

    /* Bad messages and arguments. */
    write_file(d, "tokenizer_config.json",
               "{\"chat_template\": \"{% for m in messages %}{{ m.content }}{% endfor %}\"}");
    CHECK_EQ_INT(load_render(d, "{\"role\": \"user\"}", NULL, out, sizeof out), VLM_ERR_FORMAT);
    CHECK_CONTAINS(out, "messages must be a list");
    CHECK_EQ_INT(load_render(d, msgs, "[1]", out, sizeof out), VLM_ERR_FORMAT);
    CHECK_EQ_INT(load_render(d, "[{\"role\": \"user\", \"content\": \"Write\"}]",
                             "{\"continue_final_message\": true, \"add_generation_prompt\": true}",
                             out, sizeof out),
                 VLM_ERR_INVALID_ARGUMENT);
    /* continue_final_message keeps what follows out (here nothing follows anyway). */
    CHECK_EQ_INT(load_render(d, "[{\"role\": \"assistant\", \"content\": \"Once upon\"}]",
                             "{\"continue_final_message\": true}", out, sizeof out),
                 VLM_OK);
    CHECK_STR(out, "Once upon");

    remove_file(d, "tokenizer_config.json");
    rmdir(d);
}

/* ------------------------------------------------------------- concurrency */

typedef struct thread_job {
    const vlm_chat_template *t;
    const vlm_json *convs;
    const vlm_json *vars;
    int failures;
} thread_job;

static void *render_many(void *arg) {
    thread_job *job = arg;
    for (int round = 0; round < 5; round++) {
        for (size_t i = 0; i < vlm_json_array_size(job->convs); i++) {
            const vlm_json *c = vlm_json_array_at(job->convs, i);
            const vlm_json *want = vlm_json_get(c, "rendered");
            if (!want || vlm_json_get(c, "strftime_now_date")) continue;
            vlm_json *extra = ct_merge_objects(job->vars, vlm_json_get(c, "extra"));
            char *out = NULL;
            size_t len = 0;
            vlm_error e = {0};
            vlm_status st = vlm_chat_template_render_ex(job->t, vlm_json_get(c, "messages"), extra,
                                                        NULL, &out, &len, &e);
            if (st || len != vlm_json_string_len(want) || memcmp(out, vlm_json_string(want), len))
                job->failures++;
            free(out);
            vlm_json_free(extra);
        }
    }
    return NULL;
}

static void run_threads(void) {
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s/tests/fixtures/templates/qwen3_vl", vlm_test_source_dir());
    snprintf(path, sizeof path, "%s/conversations.json", dir);
    if (vlm_path_kind_of(path) != VLM_PATH_FILE) {
        fprintf(stderr, "note: %s missing: concurrency check skipped\n", path);
        return;
    }
    vlm_json *doc = NULL;
    vlm_error err = {0};
    vlm_chat_template *t = NULL;
    if (vlm_json_load_file(path, 64u << 20, 0, &doc, &err) ||
        vlm_chat_template_load(dir, &t, &err)) {
        fprintf(stderr, "%s\n", err.message);
        vlm_test_failures++;
        vlm_json_free(doc);
        return;
    }
    enum { NTHREADS = 4 };
    thread_job jobs[NTHREADS];
    pthread_t th[NTHREADS];
    for (int k = 0; k < NTHREADS; k++) {
        jobs[k] = (thread_job){t, vlm_json_get(doc, "conversations"),
                               vlm_json_get(doc, "template_vars"), 0};
        CHECK(pthread_create(&th[k], NULL, render_many, &jobs[k]) == 0);
    }
    for (int k = 0; k < NTHREADS; k++) {
        pthread_join(th[k], NULL);
        CHECK_EQ_INT(jobs[k].failures, 0);
    }
    vlm_chat_template_free(t);
    vlm_json_free(doc);
}

int main(void) {
    setenv("TZ", "UTC", 1);
    tzset();
    int fams = run_real_templates();
    if (fams == 0)
        fprintf(stderr, "note: no cached tokenizer templates; only discovery tests ran\n");
    run_discovery();
    run_threads();
    TEST_DONE();
}

/* Shared option parsing and model loading of `vlm generate` and `vlm chat`. */
#include "cli_common.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "model_path.h"

static int parse_num(const char *opt, const char *v, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "vlm: %s expects a number in [%g, %g], got '%s'\n", opt, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
}

int vlm_cli_parse(int argc, char **argv, vlm_cli_options *o, const char *usage) {
    memset(o, 0, sizeof *o);
    o->gen = vlm_generate_params_default();
    o->context = 4096;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            o->help = 1;
            continue;
        }
        if (!strcmp(a, "--json")) {
            o->json = 1;
            continue;
        }
        if (!strcmp(a, "--ignore-eos")) {
            o->gen.ignore_eos = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "vlm: option '%s' %s\n%s", a,
                    a[0] == '-' ? "needs a value (or is unknown)" : "is unexpected", usage);
            return -1;
        }
        const char *v = argv[++i];
        double x = 0;
        int bad = 0;
        if (!strcmp(a, "--model")) o->model = v;
        else if (!strcmp(a, "--prompt")) o->prompt = v;
        else if (!strcmp(a, "--video")) o->video = v;
        else if (!strcmp(a, "--device")) o->device = v;
        else if (!strcmp(a, "--compute")) o->compute = v;
        else if (!strcmp(a, "--system")) o->gen.system_prompt = o->system = v;
        else if (!strcmp(a, "--image")) {
            if (o->n_images == VLM_CLI_MAX_IMAGES) {
                fprintf(stderr, "vlm: at most %d --image options\n", VLM_CLI_MAX_IMAGES);
                return -1;
            }
            o->images[o->n_images++] = v;
        } else if (!strcmp(a, "--stop")) {
            if (o->n_stops == VLM_CLI_MAX_STOPS) {
                fprintf(stderr, "vlm: at most %d --stop options\n", VLM_CLI_MAX_STOPS);
                return -1;
            }
            o->stops[o->n_stops++] = v;
            o->gen.stop = o->stops;
        } else if (!strcmp(a, "--max-tokens")) {
            bad = parse_num(a, v, 0, 1 << 24, &x);
            o->gen.max_tokens = (int)x;
        } else if (!strcmp(a, "--temperature")) {
            bad = parse_num(a, v, 0, 100, &x);
            o->gen.temperature = (float)x;
        } else if (!strcmp(a, "--top-p")) {
            bad = parse_num(a, v, 1e-9, 1, &x);
            o->gen.top_p = (float)x;
        } else if (!strcmp(a, "--top-k")) {
            bad = parse_num(a, v, 0, INT_MAX, &x);
            o->gen.top_k = (int)x;
        } else if (!strcmp(a, "--min-p")) {
            bad = parse_num(a, v, 0, 1, &x);
            o->gen.min_p = (float)x;
        } else if (!strcmp(a, "--repetition-penalty")) {
            bad = parse_num(a, v, 1e-6, 100, &x);
            o->gen.repetition_penalty = (float)x;
        } else if (!strcmp(a, "--seed")) {
            bad = parse_num(a, v, 0, 18446744073709551615.0, &x);
            o->gen.seed = (uint64_t)x;
        } else if (!strcmp(a, "--fps")) {
            bad = parse_num(a, v, 1e-6, 1000, &x);
            o->gen.fps = x;
        } else if (!strcmp(a, "--min-pixels")) {
            bad = parse_num(a, v, 1, 1e12, &x);
            o->gen.min_pixels = (int64_t)x;
        } else if (!strcmp(a, "--max-pixels")) {
            bad = parse_num(a, v, 1, 1e12, &x);
            o->gen.max_pixels = (int64_t)x;
        } else if (!strcmp(a, "--threads")) {
            bad = parse_num(a, v, 0, 1024, &x);
            o->threads = (int)x;
        } else if (!strcmp(a, "--context")) {
            bad = parse_num(a, v, 16, 1 << 24, &x);
            o->context = (long long)x;
        } else {
            fprintf(stderr, "vlm: unknown option '%s'\n%s", a, usage);
            return -1;
        }
        if (bad) return -1;
    }
    o->stops[o->n_stops] = NULL;
    return 0;
}

void vlm_cli_options_free(vlm_cli_options *o) {
    (void)o; /* options point into argv */
}

/* Warnings only: an error comes back through vlm_error and the command prints it once. */
static void log_to_stderr(vlm_log_level level, const char *msg, void *user) {
    (void)user;
    if (level == VLM_LOG_WARN) fprintf(stderr, "vlm: %s: %s\n", vlm_log_level_str(level), msg);
}

vlm_status vlm_cli_load(const vlm_cli_options *o, vlm_model **model, vlm_session **session,
                        vlm_error *err) {
    char dir[4096];
    if (!vlm_cli_resolve_model(o->model, dir, sizeof dir)) {
        snprintf(err->message, sizeof err->message,
                 "%s: not a directory, and not a repo id found in the Hugging Face cache",
                 o->model);
        err->status = VLM_ERR_NOT_FOUND;
        return VLM_ERR_NOT_FOUND;
    }
    vlm_model_params mp = vlm_model_params_default();
    mp.log_fn = log_to_stderr;
    mp.log_level = VLM_LOG_WARN;
    mp.device = o->device;
    mp.compute = o->compute;
    vlm_status s = vlm_model_load(dir, &mp, model, err);
    if (s != VLM_OK) return s;
    vlm_session_params sp = vlm_session_params_default();
    sp.n_threads = o->threads;
    sp.context_size = o->context;
    return vlm_session_init(*model, &sp, session, err);
}

void vlm_cli_print_stats(const vlm_generate_result *r) {
    fprintf(stderr, "prompt: %lld tokens (%lld computed), %.2f tokens/s\n", (long long)r->n_prompt,
            (long long)r->n_prompt_computed, r->prompt_tps);
    fprintf(stderr, "generation: %lld tokens, %.2f tokens/s (%s)\n", (long long)r->n_tokens,
            r->generation_tps, r->stop_reason ? r->stop_reason : "");
    fprintf(stderr, "peak memory: %.1f MiB\n", (double)r->peak_memory / (1024.0 * 1024.0));
}

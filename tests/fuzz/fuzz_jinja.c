/* libFuzzer target for the Jinja engine: each input is a template. It is parsed and, when
 * it parses, rendered with small limits against fixed variables (a messages list with
 * text and image parts, tools, a namespace-worthy mix of types), so every construct the
 * fuzzer reaches is also evaluated. Errors are expected; crashes, leaks, hangs and
 * sanitizer reports are not. Not a ctest program (CMake does not glob tests/fuzz/).
 *
 * Build and run (from the repository root; clang with libFuzzer, e.g. Debian's clang-14):
 *   clang-14 -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude -Isrc \
 *     tests/fuzz/fuzz_jinja.c src/text/jinja_*.c src/core/?*.c \
 *     -ljansson -lutf8proc -lm -o /tmp/fuzz_jinja
 *   mkdir -p /tmp/jinja_corpus && /tmp/fuzz_jinja -max_total_time=60 -max_len=2048 \
 *     -dict=tests/fuzz/jinja.dict /tmp/jinja_corpus
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"
#include "text/jinja.h"

static const char vars_json[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
    " {\"role\": \"user\", \"content\": [{\"type\": \"image\"}, {\"type\": \"text\", \"text\": "
    "\"What? \\u00e9\"}]},"
    " {\"role\": \"assistant\", \"content\": \"<think>x</think>ok\", \"tool_calls\": "
    "[{\"function\": {\"name\": \"f\", \"arguments\": {\"a\": 1}}}]}],"
    " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\"}}], "
    "\"add_generation_prompt\": true,"
    " \"n\": 3, \"x\": 2.5, \"s\": \"abc\", \"none\": null, \"b\": false, \"bos_token\": \"<s>\"}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    vlm_jinja_template *t = NULL;
    vlm_error err;
    if (vlm_jinja_parse((const char *)data, size, "fuzz", &t, &err) != VLM_OK) return 0;
    vlm_json *j = NULL;
    if (vlm_json_parse(vars_json, sizeof vars_json - 1, "vars", 0, &j, &err) != VLM_OK) abort();
    vlm_jv vars;
    if (vlm_jinja_from_json(j, &vars, &err) != VLM_OK) abort();
    vlm_jinja_render_params p = vlm_jinja_render_params_default();
    p.max_steps = 200000;
    p.max_output_bytes = 1 << 20;
    p.max_alloc_bytes = 16 << 20;
    p.max_depth = 200;
    p.now = 0;
    char *out = NULL;
    size_t len = 0;
    if (vlm_jinja_render(t, vars.u.d, &p, &out, &len, &err) == VLM_OK) {
        if (strlen(out) > len) abort(); /* NULs inside are fine, nothing past len */
        free(out);
    } else if (err.message[0] == '\0') {
        abort(); /* every failure explains itself */
    }
    vlm_jv_decref(vars);
    vlm_json_free(j);
    vlm_jinja_template_free(t);
    return 0;
}

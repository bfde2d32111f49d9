/* The JSON wrapper: file/line/column errors, order of members, duplicate rejection on
 * request, and integers beyond int64 read as Python's json reads them (as numbers; here
 * the nearest double) while every other value keeps its type. Expected values are the
 * JSON texts' own. */
#include "core/json.h"
#include "test.h"

int main(void) {
    vlm_json *j;
    vlm_error err;
    const char *big = "{\"model_max_length\": 1000000000000000019884624838656, \"n\": 7, "
                      "\"max\": 9223372036854775807, \"s\": \"12345678901234567890123\", "
                      "\"neg\": -99999999999999999999, \"esc\": \"a\\\"1234567890123456789012\"}";
    CHECK(vlm_json_parse(big, strlen(big), "tokenizer_config.json", 0, &j, &err) == VLM_OK);
    int64_t n = 0;
    CHECK(vlm_json_int(vlm_json_get(j, "n"), &n) && n == 7);
    CHECK(vlm_json_int(vlm_json_get(j, "max"), &n) && n == INT64_MAX);
    CHECK(vlm_json_is_number(vlm_json_get(j, "model_max_length")));
    CHECK(fabs(vlm_json_number(vlm_json_get(j, "model_max_length")) - 1e30) < 1e15);
    CHECK(vlm_json_number(vlm_json_get(j, "neg")) < -9.9e19);
    CHECK_STR(vlm_json_string(vlm_json_get(j, "s")), "12345678901234567890123");
    CHECK_STR(vlm_json_string(vlm_json_get(j, "esc")), "a\"1234567890123456789012");
    vlm_json_free(j);

    const char *bad = "{\n  \"a\": 1,\n  \"b\": ]\n}";
    CHECK(vlm_json_parse(bad, strlen(bad), "x.json", 0, &j, &err) == VLM_ERR_FORMAT);
    CHECK_CONTAINS(err.message, "x.json");
    CHECK_CONTAINS(err.message, "line 3");

    const char *dup = "{\"a\": 1, \"a\": 2}";
    CHECK(vlm_json_parse(dup, strlen(dup), "d.json", VLM_JSON_REJECT_DUPLICATES, &j, &err) ==
          VLM_ERR_FORMAT);
    CHECK(vlm_json_parse(dup, strlen(dup), "d.json", 0, &j, &err) == VLM_OK);
    vlm_json_free(j);

    const char *ord = "{\"z\": 1, \"a\": 2, \"m\": 3}";
    CHECK(vlm_json_parse(ord, strlen(ord), "o.json", 0, &j, &err) == VLM_OK);
    const char *want[] = {"z", "a", "m"};
    int k = 0;
    for (void *it = vlm_json_iter(j); it; it = vlm_json_iter_next(j, it), k++)
        CHECK_STR(vlm_json_iter_key(it), want[k]);
    CHECK_EQ_INT(k, 3);
    vlm_json_free(j);
    TEST_DONE();
}

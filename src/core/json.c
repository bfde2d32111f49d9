/* jansson behind the vlm_json wrapper (see json.h). */
#include "core/json.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/file.h"

/* Python's json reads integers of any size (tokenizer_config.json's model_max_length is
 * often 1000000000000000019884624838656); jansson stops at int64. Such literals (outside
 * strings, no fraction or exponent, too long for int64) are rewritten as reals by appending
 * ".0", so they load as the nearest double. Returns a fresh buffer, or NULL. */
static char *widen_big_integers(const char *text, size_t len, size_t *out_len) {
    size_t cap = len + len / 4 + 16, o = 0;
    char *d = malloc(cap);
    if (!d) return NULL;
    int in_str = 0;
    for (size_t i = 0; i < len;) {
        char c = text[i];
        if (in_str) {
            d[o++] = c;
            i++;
            if (c == '\\' && i < len) d[o++] = text[i++];
            else if (c == '"') in_str = 0;
        } else if (c == '"') {
            in_str = 1;
            d[o++] = text[i++];
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i + (c == '-'), digits = 0;
            while (j < len && text[j] >= '0' && text[j] <= '9') j++, digits++;
            int is_int = !(j < len && (text[j] == '.' || text[j] == 'e' || text[j] == 'E'));
            memcpy(d + o, text + i, j - i);
            o += j - i;
            const char *first = text + j - digits;
            int big = digits > 19 || (digits == 19 && memcmp(first, "9223372036854775807", 19) > 0);
            if (is_int && big) {
                memcpy(d + o, ".0", 2);
                o += 2;
            }
            i = j;
        } else {
            d[o++] = text[i++];
        }
        if (o + 8 > cap) {
            cap *= 2;
            char *nd = realloc(d, cap);
            if (!nd) {
                free(d);
                return NULL;
            }
            d = nd;
        }
    }
    *out_len = o;
    return d;
}

vlm_status vlm_json_parse(const char *text, size_t len, const char *origin, int flags,
                          vlm_json **out, vlm_error *err) {
    *out = NULL;
    size_t jflags = JSON_ALLOW_NUL;
    if (flags & VLM_JSON_REJECT_DUPLICATES) jflags |= JSON_REJECT_DUPLICATES;
    json_error_t je;
    json_t *root = json_loadb(text, len, jflags, &je);
    if (!root && json_error_code(&je) == json_error_numeric_overflow) {
        size_t wlen;
        char *wide = widen_big_integers(text, len, &wlen);
        if (wide) {
            json_error_t je2;
            root = json_loadb(wide, wlen, jflags, &je2);
            free(wide);
        }
    }
    if (!root) {
        if (json_error_code(&je) == json_error_out_of_memory)
            return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory parsing JSON", origin);
        return vlm_err(err, VLM_ERR_FORMAT, "%s: invalid JSON at line %d column %d: %s", origin,
                       je.line, je.column, je.text);
    }
    *out = root;
    return VLM_OK;
}

vlm_status vlm_json_load_file(const char *path, size_t max_bytes, int flags, vlm_json **out,
                              vlm_error *err) {
    *out = NULL;
    char *text;
    size_t len;
    vlm_status s = vlm_file_read(path, max_bytes, &text, &len, err);
    if (s != VLM_OK) return s;
    s = vlm_json_parse(text, len, path, flags, out, err);
    free(text);
    return s;
}

void vlm_json_free(vlm_json *root) {
    if (root) json_decref(root);
}

bool vlm_json_is_object(const vlm_json *v) { return v && json_is_object(v); }
bool vlm_json_is_array(const vlm_json *v) { return v && json_is_array(v); }
bool vlm_json_is_string(const vlm_json *v) { return v && json_is_string(v); }
bool vlm_json_is_integer(const vlm_json *v) { return v && json_is_integer(v); }
bool vlm_json_is_number(const vlm_json *v) { return v && json_is_number(v); }
bool vlm_json_is_bool(const vlm_json *v) { return v && json_is_boolean(v); }
bool vlm_json_is_null(const vlm_json *v) { return v && json_is_null(v); }

const char *vlm_json_type_name(const vlm_json *v) {
    if (!v) return "missing";
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "real";
    case JSON_TRUE: return "true";
    case JSON_FALSE: return "false";
    case JSON_NULL: return "null";
    }
    return "unknown";
}

vlm_json *vlm_json_get(const vlm_json *v, const char *key) {
    return (v && json_is_object(v)) ? json_object_get(v, key) : NULL;
}

const char *vlm_json_string(const vlm_json *v) {
    return (v && json_is_string(v)) ? json_string_value(v) : NULL;
}

size_t vlm_json_string_len(const vlm_json *v) {
    return (v && json_is_string(v)) ? json_string_length(v) : 0;
}

bool vlm_json_int(const vlm_json *v, int64_t *out) {
    if (!v || !json_is_integer(v)) return false;
    *out = (int64_t)json_integer_value(v);
    return true;
}

double vlm_json_number(const vlm_json *v) {
    return (v && json_is_number(v)) ? json_number_value(v) : 0.0;
}

bool vlm_json_true(const vlm_json *v) { return v && json_is_true(v); }

size_t vlm_json_array_size(const vlm_json *v) {
    return (v && json_is_array(v)) ? json_array_size(v) : 0;
}

vlm_json *vlm_json_array_at(const vlm_json *v, size_t i) {
    return (v && json_is_array(v)) ? json_array_get(v, i) : NULL;
}

size_t vlm_json_object_size(const vlm_json *v) {
    return (v && json_is_object(v)) ? json_object_size(v) : 0;
}

void *vlm_json_iter(const vlm_json *obj) {
    return (obj && json_is_object(obj)) ? json_object_iter((json_t *)obj) : NULL;
}

void *vlm_json_iter_next(const vlm_json *obj, void *it) {
    return json_object_iter_next((json_t *)obj, it);
}

const char *vlm_json_iter_key(void *it) { return json_object_iter_key(it); }
size_t vlm_json_iter_key_len(void *it) { return json_object_iter_key_len(it); }
vlm_json *vlm_json_iter_value(void *it) { return json_object_iter_value(it); }

char *vlm_json_dump(const vlm_json *v) {
    return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

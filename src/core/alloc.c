/* Checked allocation wrappers (see alloc.h). */
#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>

#include "core/checked.h"

void *vlm_malloc_array(size_t n, size_t size) {
    size_t bytes;
    if (!vlm_size_mul(n, size, &bytes)) return NULL;
    return malloc(bytes ? bytes : 1);
}

void *vlm_calloc_array(size_t n, size_t size) {
    size_t bytes;
    if (!vlm_size_mul(n, size, &bytes)) return NULL;
    return calloc(bytes ? bytes : 1, 1);
}

void *vlm_realloc_array(void *p, size_t n, size_t size) {
    size_t bytes;
    if (!vlm_size_mul(n, size, &bytes)) return NULL;
    return realloc(p, bytes ? bytes : 1);
}

char *vlm_strdup(const char *s) {
    return s ? vlm_strndup(s, strlen(s)) : NULL;
}

char *vlm_strndup(const char *s, size_t n) {
    if (!s) return NULL;
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

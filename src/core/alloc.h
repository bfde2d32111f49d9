/* Allocation helpers: checked array allocation and string duplication. They return NULL
 * on overflow or exhaustion; callers turn that into VLM_ERR_OUT_OF_MEMORY. */
#ifndef VLM_CORE_ALLOC_H
#define VLM_CORE_ALLOC_H

#include <stddef.h>

void *vlm_malloc_array(size_t n, size_t size);  /* malloc(n * size), checked */
void *vlm_calloc_array(size_t n, size_t size);  /* zeroed; n == 0 gives a valid pointer */
void *vlm_realloc_array(void *p, size_t n, size_t size);
char *vlm_strdup(const char *s);                /* NULL in, NULL out */
char *vlm_strndup(const char *s, size_t n);

#endif

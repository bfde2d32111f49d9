/* The tokenizer benchmark's corpus (see corpus.c). */
#ifndef VLM_BENCH_TOKENIZER_CORPUS_H
#define VLM_BENCH_TOKENIZER_CORPUS_H

#include <stddef.h>

typedef struct corpus_doc {
    char *text; /* NUL-terminated UTF-8 */
    size_t len, cap;
} corpus_doc;

/* Documents until their total reaches target_bytes; same bytes on every machine. */
corpus_doc *corpus_build(size_t target_bytes, size_t *n_docs);
void corpus_free(corpus_doc *docs, size_t n);

#endif

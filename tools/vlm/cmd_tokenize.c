/* `vlm tokenize DIR [--special]`: encodes UTF-8 text from stdin with the tokenizer.json in
 * DIR (or the file itself) and prints {"ids": [...]}. --special adds the special tokens
 * the post-processor defines, as HF's add_special_tokens=True. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "core/strbuf.h"
#include "text/tok_unicode.h"
#include "text/tokenizer.h"
#include "vlm.h"

#define STDIN_MAX ((size_t)1 << 30) /* 1 GiB of text */

static void usage(FILE *f) {
    fprintf(f, "usage: vlm tokenize DIR [--special]\n"
               "  Reads UTF-8 text on stdin and prints {\"ids\": [...]} using DIR/tokenizer.json\n"
               "  (DIR may also be the tokenizer.json file).\n"
               "  --special  add special tokens (HF add_special_tokens=True)\n");
}

int vlm_cmd_tokenize(int argc, char **argv) {
    const char *dir = NULL;
    bool special = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--special"))
            special = true;
        else if (argv[i][0] == '-' || dir) {
            usage(stderr);
            return 2;
        } else
            dir = argv[i];
    }
    if (!dir) {
        usage(stderr);
        return 2;
    }
    vlm_strbuf in;
    vlm_strbuf_init(&in);
    char buf[1 << 16];
    size_t r;
    while ((r = fread(buf, 1, sizeof buf, stdin)) > 0) {
        if (in.len + r > STDIN_MAX) {
            fprintf(stderr, "vlm tokenize: input is larger than %zu bytes\n", STDIN_MAX);
            vlm_strbuf_free(&in);
            return 1;
        }
        vlm_strbuf_append(&in, buf, r);
    }
    if (ferror(stdin) || in.failed) {
        fprintf(stderr, "vlm tokenize: cannot read stdin\n");
        vlm_strbuf_free(&in);
        return 1;
    }
    size_t valid = tok_utf8_valid_prefix(in.data ? in.data : "", in.len);
    if (valid != in.len) {
        fprintf(stderr, "vlm tokenize: stdin is not valid UTF-8 (byte %zu)\n", valid);
        vlm_strbuf_free(&in);
        return 1;
    }
    vlm_error err;
    vlm_tokenizer *tok;
    if (vlm_tokenizer_load(dir, &tok, &err) != VLM_OK) {
        fprintf(stderr, "vlm tokenize: %s\n", err.message);
        vlm_strbuf_free(&in);
        return 1;
    }
    int32_t *ids;
    size_t n;
    vlm_status st =
        vlm_tokenizer_encode(tok, in.data ? in.data : "", in.len, special, &ids, &n, &err);
    vlm_strbuf_free(&in);
    vlm_tokenizer_free(tok);
    if (st != VLM_OK) {
        fprintf(stderr, "vlm tokenize: %s\n", err.message);
        return 1;
    }
    fputs("{\"ids\": [", stdout);
    for (size_t i = 0; i < n; i++)
        printf(i ? ", %d" : "%d", ids[i]);
    fputs("]}\n", stdout);
    free(ids);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* Test helpers for crafting checkpoint directories: temp dirs, files from strings, a
 * minimal valid safetensors file, recursive removal. Header-only, tests only. */
#ifndef VLM_TEST_FS_UTIL_H
#define VLM_TEST_FS_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* mkdtemp under $TMPDIR; returns a malloc'd path. */
static inline char *tu_mkdtemp(void) {
    const char *base = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/vlm-test-XXXXXX", base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static inline char *tu_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static inline int tu_write(const char *dir, const char *name, const void *data, size_t len) {
    char *p = tu_join(dir, name);
    FILE *f = fopen(p, "wb");
    free(p);
    if (!f) return -1;
    size_t w = fwrite(data, 1, len, f);
    fclose(f);
    return w == len ? 0 : -1;
}

static inline int tu_write_str(const char *dir, const char *name, const char *text) {
    return tu_write(dir, name, text, strlen(text));
}

/* A valid one-tensor safetensors file: "w" F32 [2, 2] = 1, 2, 3, 4. */
static inline int tu_write_tiny_safetensors(const char *dir, const char *name) {
    const char *hdr = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    size_t hl = strlen(hdr);
    size_t padded = (hl + 7) / 8 * 8;
    size_t total = 8 + padded + 16;
    unsigned char *buf = calloc(1, total);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, hdr, hl);
    memset(buf + 8 + hl, ' ', padded - hl);
    float v[4] = {1, 2, 3, 4};
    memcpy(buf + 8 + padded, v, 16);
    int r = tu_write(dir, name, buf, total);
    free(buf);
    return r;
}

static inline void tu_rm_rf(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
                char *c = tu_join(path, e->d_name);
                tu_rm_rf(c);
                free(c);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

#endif

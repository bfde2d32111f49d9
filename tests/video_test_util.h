/* Helpers the video tests share: fixture paths, running the ffmpeg/ffprobe command-line
 * tools (the independent reference for frame content and packet tables), temporary files. */
#ifndef VLM_VIDEO_TEST_UTIL_H
#define VLM_VIDEO_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test.h"

/* "<source>/tests/fixtures/media/video/<name>" in a static buffer. */
static inline const char *video_fixture(const char *name) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/tests/fixtures/media/video/%s", vlm_test_source_dir(), name);
    return buf;
}

/* Runs a shell command and returns its whole stdout (malloc, NUL-terminated), or NULL when it
 * fails. *len receives the byte count. */
static inline char *run_capture(const char *cmd, size_t *len) {
    FILE *p = popen(cmd, "r");
    if (!p) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            char *b = realloc(buf, cap + 1);
            if (!b) {
                free(buf);
                pclose(p);
                return NULL;
            }
            buf = b;
        }
        size_t r = fread(buf + n, 1, cap - n, p);
        if (r == 0) break;
        n += r;
    }
    int status = pclose(p);
    if (status != 0) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

static inline int have_tool(const char *tool) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s >/dev/null 2>&1", tool);
    return system(cmd) == 0;
}

/* A fresh private directory under $TMPDIR (or /tmp); the caller removes it with rm_rf. */
static inline char *make_temp_dir(void) {
    const char *t = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/vlm_video_test_XXXXXX", t && *t ? t : "/tmp");
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

static inline void rm_rf(const char *dir) {
    if (!dir || !*dir || strstr(dir, "vlm_video_test_") == NULL) return;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
}

/* Reads a whole file (malloc); NULL on failure. */
static inline uint8_t *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
    if (b && n > 0 && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b && len) *len = (size_t)(n > 0 ? n : 0);
    return b;
}

static inline int write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = len ? fwrite(data, 1, len, f) : 0;
    fclose(f);
    return w == len ? 0 : -1;
}

#endif

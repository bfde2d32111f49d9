/* Bounded reads and mappings of regular files (see file.h). */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

/* Opens path for reading without blocking on FIFOs and checks it is a regular file. */
static vlm_status open_regular(const char *path, int *fd_out, struct stat *st, vlm_error *err) {
    if (!path) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "file path is NULL");
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return vlm_err(err, VLM_ERR_NOT_FOUND, "%s: no such file", path);
        return vlm_err(err, VLM_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    if (fstat(fd, st) != 0) {
        int e = errno;
        close(fd);
        return vlm_err(err, VLM_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        const char *what = S_ISDIR(st->st_mode)    ? "a directory"
                           : S_ISFIFO(st->st_mode) ? "a FIFO"
                           : S_ISSOCK(st->st_mode) ? "a socket"
                                                   : "a device";
        return vlm_err(err, VLM_ERR_IO, "%s: is %s, not a regular file", path, what);
    }
    /* Reads of a regular file never block; clear the flag so short reads are not EAGAIN. */
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    *fd_out = fd;
    return VLM_OK;
}

vlm_status vlm_file_read(const char *path, size_t max_bytes, char **out, size_t *len,
                         vlm_error *err) {
    *out = NULL;
    if (len) *len = 0;
    int fd;
    struct stat st;
    vlm_status s = open_regular(path, &fd, &st, err);
    if (s != VLM_OK) return s;
    if (st.st_size < 0 || (uint64_t)st.st_size > max_bytes) {
        close(fd);
        return vlm_err(err, VLM_ERR_LIMIT, "%s: file is %lld bytes, more than the %zu allowed",
                       path, (long long)st.st_size, max_bytes);
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes", path, size);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return vlm_err(err, VLM_ERR_IO, "%s: read failed: %s", path, strerror(e));
        }
        if (r == 0) break; /* file shrank while reading: use what is there */
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    if (len) *len = got;
    return VLM_OK;
}

vlm_status vlm_file_map(const char *path, vlm_mapped_file *out, vlm_error *err) {
    memset(out, 0, sizeof *out);
    int fd;
    struct stat st;
    vlm_status s = open_regular(path, &fd, &st, err);
    if (s != VLM_OK) return s;
    if (st.st_size <= 0) {
        close(fd);
        return VLM_OK;
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        close(fd);
        return vlm_err(err, VLM_ERR_LIMIT, "%s: too large to map", path);
    }
    size_t size = (size_t)st.st_size;
    void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return vlm_err(err, VLM_ERR_IO, "%s: mmap failed: %s", path, strerror(e));
    out->data = p;
    out->size = size;
    return VLM_OK;
}

vlm_status vlm_file_open(const char *path, int *fd_out, uint64_t *size_out, vlm_error *err) {
    *fd_out = -1;
    *size_out = 0;
    struct stat st;
    vlm_status s = open_regular(path, fd_out, &st, err);
    if (s == VLM_OK) *size_out = st.st_size > 0 ? (uint64_t)st.st_size : 0;
    return s;
}

void vlm_file_unmap(vlm_mapped_file *m) {
    if (m && m->data) munmap((void *)m->data, m->size);
    if (m) memset(m, 0, sizeof *m);
}

vlm_path_kind vlm_path_kind_of(const char *path) {
    struct stat st;
    if (!path || stat(path, &st) != 0) return VLM_PATH_MISSING;
    if (S_ISREG(st.st_mode)) return VLM_PATH_FILE;
    if (S_ISDIR(st.st_mode)) return VLM_PATH_DIR;
    return VLM_PATH_OTHER;
}

char *vlm_path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    int slash = a > 0 && dir[a - 1] != '/';
    char *p = malloc(a + (size_t)slash + b + 1);
    if (!p) return NULL;
    memcpy(p, dir, a);
    if (slash) p[a] = '/';
    memcpy(p + a + slash, name, b + 1);
    return p;
}

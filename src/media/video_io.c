/* FFmpeg I/O callbacks over a file descriptor or a memory buffer, with a read budget and a
 * deadline (see video_io.h). */
#include "media/video_io.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libavformat/avio.h>
#include <libavutil/error.h>
#include <libavutil/mem.h>

#include "core/error.h"

/* Bytes FFmpeg asks for per read callback. */
#define VLM_VIDEO_IO_BUFFER 65536

double vlm_video_io_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

vlm_status vlm_video_io_open_file(vlm_video_io *io, const char *path, vlm_error *err) {
    memset(io, 0, sizeof *io);
    io->fd = -1;
    if (!path) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "video path is NULL");
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return vlm_err(err, VLM_ERR_NOT_FOUND, "%s: no such file", path);
        return vlm_err(err, VLM_ERR_IO, "%s: cannot open: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return vlm_err(err, VLM_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        const char *what = S_ISDIR(st.st_mode)    ? "a directory"
                           : S_ISFIFO(st.st_mode) ? "a FIFO"
                           : S_ISSOCK(st.st_mode) ? "a socket"
                                                  : "a device";
        return vlm_err(err, VLM_ERR_IO, "%s: is %s, not a regular file", path, what);
    }
    io->fd = fd;
    io->size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
    return VLM_OK;
}

void vlm_video_io_open_memory(vlm_video_io *io, const void *data, size_t size) {
    memset(io, 0, sizeof *io);
    io->fd = -1;
    io->mem = data;
    io->size = data ? size : 0;
}

void vlm_video_io_set_limits(vlm_video_io *io, uint64_t max_read_bytes, double deadline_s) {
    io->max_read_bytes = max_read_bytes;
    io->deadline = vlm_video_io_now() + deadline_s;
}

int vlm_video_io_interrupted(void *opaque) {
    vlm_video_io *io = opaque;
    if (io->over_deadline || io->over_read_budget) return 1;
    if (vlm_video_io_now() > io->deadline) {
        io->over_deadline = true;
        return 1;
    }
    return 0;
}

static int io_read(void *opaque, uint8_t *buf, int buf_size) {
    vlm_video_io *io = opaque;
    if (vlm_video_io_interrupted(io)) return AVERROR_EXIT;
    if (buf_size <= 0) return 0;
    if (io->bytes_read >= io->max_read_bytes) {
        io->over_read_budget = true;
        return AVERROR_EXIT;
    }
    if (io->pos >= io->size) return AVERROR_EOF;
    uint64_t want = io->size - io->pos;
    if (want > (uint64_t)buf_size) want = (uint64_t)buf_size;
    size_t got;
    if (io->mem) {
        memcpy(buf, io->mem + io->pos, (size_t)want);
        got = (size_t)want;
    } else {
        ssize_t r;
        do {
            r = pread(io->fd, buf, (size_t)want, (off_t)io->pos);
        } while (r < 0 && errno == EINTR);
        if (r < 0) return AVERROR(errno);
        if (r == 0) return AVERROR_EOF; /* the file shrank */
        got = (size_t)r;
    }
    io->pos += got;
    io->bytes_read += got;
    return (int)got;
}

static int64_t io_seek(void *opaque, int64_t offset, int whence) {
    vlm_video_io *io = opaque;
    whence &= ~AVSEEK_FORCE;
    if (whence == AVSEEK_SIZE) return (int64_t)io->size;
    int64_t base;
    switch (whence) {
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = (int64_t)io->pos;
        break;
    case SEEK_END:
        base = (int64_t)io->size;
        break;
    default:
        return AVERROR(EINVAL);
    }
    int64_t np;
    if (__builtin_add_overflow(base, offset, &np) || np < 0) return AVERROR(EINVAL);
    io->pos = (uint64_t)np; /* past the end is allowed: reads there give EOF */
    return np;
}

vlm_status vlm_video_io_rewind(vlm_video_io *io, const char *name, vlm_error *err) {
    if (io->avio) {
        av_freep(&io->avio->buffer);
        avio_context_free(&io->avio);
    }
    io->pos = 0;
    unsigned char *buf = av_malloc(VLM_VIDEO_IO_BUFFER);
    if (!buf) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: cannot allocate an I/O buffer", name);
    io->avio = avio_alloc_context(buf, VLM_VIDEO_IO_BUFFER, 0, io, io_read, NULL, io_seek);
    if (!io->avio) {
        av_free(buf);
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: cannot allocate an I/O context", name);
    }
    return VLM_OK;
}

void vlm_video_io_close(vlm_video_io *io) {
    if (!io) return;
    if (io->avio) {
        av_freep(&io->avio->buffer);
        avio_context_free(&io->avio);
    }
    if (io->fd >= 0) close(io->fd);
    io->fd = -1;
}

/* The byte source FFmpeg reads a video from: a regular file read with pread or a memory
 * buffer, behind an AVIOContext with our own read/seek callbacks. FFmpeg never opens the
 * path itself, so no URL protocol (http:, concat:, pipe:, ...) can be reached through a
 * file name, and a FIFO is refused before anything reads it. The source also enforces the
 * read budget and the wall-clock deadline of one decode: once either is spent, reads fail
 * with AVERROR_EXIT and the interrupt callback reports it, so a file that makes a demuxer
 * loop or seek back and forth cannot hold the caller forever. */
#ifndef VLM_MEDIA_VIDEO_IO_H
#define VLM_MEDIA_VIDEO_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vlm.h"

struct AVIOContext;

typedef struct vlm_video_io {
    const uint8_t *mem; /* memory source, or NULL */
    int fd;             /* file source, or -1 */
    uint64_t size;      /* bytes in the source (st_size for a file) */
    uint64_t pos;       /* read position */

    uint64_t bytes_read, max_read_bytes;
    double deadline; /* monotonic seconds; reads fail after it */
    bool over_read_budget, over_deadline;

    struct AVIOContext *avio; /* owned; its buffer too */
} vlm_video_io;

/* Opens `path` for reading (regular files only; O_NONBLOCK so a FIFO cannot block the open).
 * Messages name the path. */
vlm_status vlm_video_io_open_file(vlm_video_io *io, const char *path, vlm_error *err);

/* Wraps size bytes at data (not copied). */
void vlm_video_io_open_memory(vlm_video_io *io, const void *data, size_t size);

/* Sets the budget and deadline (seconds from now). */
void vlm_video_io_set_limits(vlm_video_io *io, uint64_t max_read_bytes, double deadline_s);

/* (Re)creates the AVIOContext positioned at byte 0. The previous one, if any, is freed: call
 * this only after the AVFormatContext that used it is closed. */
vlm_status vlm_video_io_rewind(vlm_video_io *io, const char *name, vlm_error *err);

/* Frees the AVIOContext and closes the file; safe on a zeroed or closed io (fd must be -1 or
 * an fd it opened). */
void vlm_video_io_close(vlm_video_io *io);

/* AVIOInterruptCB callback: nonzero once the deadline or the read budget is spent. */
int vlm_video_io_interrupted(void *opaque);

/* Seconds on the monotonic clock. */
double vlm_video_io_now(void);

#endif

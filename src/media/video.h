/* Video input: decode a video file or an in-memory video with FFmpeg (libavformat,
 * libavcodec, libswscale) into RGB24 frames, choosing which frames to return the way
 * transformers' Qwen2-VL video processor samples them.
 *
 * What "the same as transformers" means here (transformers 5.x loads videos with torchcodec
 * in its "exact" seek mode):
 *   - Frame i is the i-th frame in presentation (pts) order. The frame count, the stream's
 *     begin/end time and its average fps come from a scan of every packet of the stream
 *     (no decoding): total = number of packets (those flagged AV_PKT_FLAG_DISCARD left out),
 *     begin = min pts, end = max(pts + duration), fps = total / (end - begin).
 *   - Sampling (vlm_video_sample_indices) reproduces Qwen2VLVideoProcessor.sample_frames:
 *     fps-based (min/max frames, rounding down to the temporal patch size) or count-based,
 *     then torch.arange(0, total, total / n).int().
 *   - Conversion to RGB uses libswscale at the frame's own size with SWS_BILINEAR, the
 *     frame's colour matrix (sws_getCoefficients(frame->colorspace): unspecified means
 *     BT.601) and its colour range (full when tagged JPEG/pc, or for yuvj formats). This is
 *     what torchcodec's CPU path and FFmpeg's scale filter ("in_color_matrix=auto") do; for
 *     yuv420p frames of even height swscale takes its unscaled fast path, where the
 *     interpolation flag plays no part. The display-rotation side data is ignored and the
 *     sample aspect ratio is not applied: frames keep their coded size.
 *
 * Only the sampled frames are converted; the decoder seeks to the key frame before a wanted
 * frame when that skips work, and otherwise decodes forward.
 *
 * Hostile input: a path must name a regular file (FIFOs, devices and directories are refused
 * before anything reads them), and the file is read through the library's own I/O callbacks,
 * never through FFmpeg's URL protocols, so a path such as "http://..." or "concat:..." is just
 * a file name. Only container formats in VLM_VIDEO_FORMATS are probed, and demuxers may not
 * open other files. Every decode runs under limits (vlm_video_limits): frame size, number of
 * frames scanned, decoded and returned, bytes read, output bytes, duration and a wall-clock
 * deadline; a file that exceeds one fails with VLM_ERR_LIMIT naming the limit. A truncated or
 * corrupt file fails with VLM_ERR_FORMAT (or decodes to what its intact part holds); it never
 * crashes or hangs.
 *
 * FFmpeg's log: av_log is process-global state. The library never changes it (no
 * av_log_set_level or av_log_set_callback), so FFmpeg's own warnings about a broken file go
 * wherever the application has sent them (stderr by default). Errors reach the caller through
 * vlm_error with FFmpeg's reason in the message; an application that wants FFmpeg quiet calls
 * av_log_set_level(AV_LOG_QUIET) once itself, as the `vlm` tool does.
 *
 * Thread safety: the functions keep no state between calls; concurrent calls on different
 * outputs are safe. */
#ifndef VLM_MEDIA_VIDEO_H
#define VLM_MEDIA_VIDEO_H

#include <stddef.h>
#include <stdint.h>

#include "vlm.h"

/* Demuxers a video may be opened with (FFmpeg's format_whitelist syntax). */
#define VLM_VIDEO_FORMATS "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,mpegts,flv,ogg"

/* ---------------------------------------------------------------- frame sampling */

typedef enum vlm_video_sample_mode {
    VLM_VIDEO_SAMPLE_ALL = 0, /* every frame (transformers' default: do_sample_frames=False) */
    VLM_VIDEO_SAMPLE_FPS,     /* `fps` frames per second of video, within [min, max] frames */
    VLM_VIDEO_SAMPLE_COUNT    /* `num_frames` frames, rounded to the temporal patch size */
} vlm_video_sample_mode;

/* Qwen2VLVideoProcessor.sample_frames' arguments. */
typedef struct vlm_video_sampling {
    vlm_video_sample_mode mode;
    double fps;              /* FPS mode: wanted frames per second (> 0) */
    int64_t num_frames;      /* COUNT mode: wanted frames (>= 0) */
    int64_t min_frames;      /* FPS mode lower bound; Qwen2-VL default 4 */
    int64_t max_frames;      /* FPS mode upper bound; Qwen2-VL default 768 */
    int temporal_patch_size; /* frame counts are multiples of it; Qwen2-VL default 2 */
} vlm_video_sampling;

/* The Qwen2-VL recipe with sampling switched on: FPS mode, fps 2, min 4, max 768 frames,
 * temporal patch size 2. */
vlm_video_sampling vlm_video_sampling_default(void);

/* The frame indices Qwen2VLVideoProcessor.sample_frames returns for a video of
 * `total_frames` frames at `video_fps` frames per second:
 *   COUNT: n = round_half_even(num_frames / tps) * tps
 *   FPS:   max = floor(min(max_frames, total) / tps) * tps
 *          n = floor(min(max(total / video_fps * fps, min_frames), max, total) / tps) * tps
 *   n > total is an error (VLM_ERR_INVALID_ARGUMENT, message as transformers'), and so is
 *   n == 0 (transformers divides by it); otherwise the indices are torch.arange(0, total,
 *   total / n).int() as torch computes it on the CPU: ceil(total / step) values in float32
 *   (see video_sample.c). That can be n + 1 values, and the last can equal `total` — one past
 *   the last frame — exactly as transformers returns them (its torchcodec loader and tensor
 *   indexing then raise; its PyAV loader skips the index). The decoder skips such an index,
 *   as PyAV does. ALL gives 0..total-1.
 * *out (free()) receives *count indices, non-decreasing. */
vlm_status vlm_video_sample_indices(const vlm_video_sampling *s, int64_t total_frames,
                                    double video_fps, int64_t **out, int64_t *count,
                                    vlm_error *err);

/* ---------------------------------------------------------------- decoding */

/* Hard limits for one decode. Zero in a field means "use the default" (the value given). */
typedef struct vlm_video_limits {
    int64_t max_frames;         /* frames returned; default 768 (Qwen2-VL's max_frames) */
    int64_t max_pixels;         /* width * height of a frame; default 8192 * 8192 */
    int max_dimension;          /* width or height; default 16384 */
    int64_t max_stream_frames;  /* packets in the stream (the scan); default 1 << 20 */
    int64_t max_decoded_frames; /* frames decoded, counting re-decodes; default 1 << 20 */
    double max_duration_s;      /* stream duration; default 4 hours */
    uint64_t max_output_bytes;  /* bytes of RGB returned; default 4 GiB */
    uint64_t max_read_bytes;    /* bytes read from the input, seeks included; default
                                   16 * input size + 64 MiB */
    double deadline_s;          /* wall-clock seconds for the whole call; default 600 */
} vlm_video_limits;

typedef struct vlm_video_params {
    vlm_video_sampling sampling;
    vlm_video_limits limits;
    int threads; /* decoder threads; 0 = FFmpeg's choice (capped at 16), 1 = single-threaded */
} vlm_video_params;

/* Sampling as vlm_video_sampling_default, default limits, threads 0. */
vlm_video_params vlm_video_params_default(void);

/* What the container and the packet scan say about the chosen video stream. */
typedef struct vlm_video_info {
    int width, height;     /* coded size from the stream header */
    int64_t total_frames;  /* packets of the stream (frames), from the scan */
    int64_t header_frames; /* nb_frames from the container header; 0 when it does not say */
    double fps;            /* total_frames / duration_s; header_fps when duration_s is 0 */
    double header_fps;     /* avg_frame_rate (else r_frame_rate) of the stream; 0 unknown */
    double start_s;        /* pts of the first frame in seconds */
    double duration_s;     /* max(pts + duration) - min(pts), in seconds */
    int stream_index;      /* the stream FFmpeg's av_find_best_stream chose */
    char codec[32];        /* codec name, e.g. "h264", "vp9" */
    char container[64];    /* demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm" */
} vlm_video_info;

/* A decoded, sampled video. */
typedef struct vlm_video {
    vlm_video_info info;
    int64_t n_sampled;      /* indices the sampling chose (transformers' len(frames_indices)) */
    int64_t n_frames;       /* frames returned: the sampled ones that exist (see above) */
    int width, height;      /* size of every returned frame */
    uint8_t *rgb;           /* [n_frames][height][width][3] RGB24, row-major, no padding */
    int64_t *indices;       /* [n_frames] index of each frame in presentation order */
    double *timestamps_s;   /* [n_frames] presentation time of each frame in seconds */
    int64_t frames_decoded; /* work done: frames the decoder produced (re-decodes included) */
    int64_t seeks;          /* work done: seeks to a key frame */
} vlm_video;

/* Decodes the video at `path`. On success *out owns its arrays (vlm_video_free); on failure
 * *out is zeroed. `params` NULL means vlm_video_params_default(). Errors name the path. */
vlm_status vlm_video_decode_file(const char *path, const vlm_video_params *params, vlm_video *out,
                                 vlm_error *err);

/* Decodes a video held in memory (size bytes at data, not copied; it must stay valid during
 * the call). `name` is used in messages only (NULL: "<memory>"). */
vlm_status vlm_video_decode_memory(const void *data, size_t size, const char *name,
                                   const vlm_video_params *params, vlm_video *out, vlm_error *err);

/* Opens and scans without decoding a frame: fills *info (limits from params apply). */
vlm_status vlm_video_probe_file(const char *path, const vlm_video_params *params,
                                vlm_video_info *info, vlm_error *err);
vlm_status vlm_video_probe_memory(const void *data, size_t size, const char *name,
                                  const vlm_video_params *params, vlm_video_info *info,
                                  vlm_error *err);

/* Frees the arrays of *v and zeroes it; NULL or zeroed is a no-op. */
void vlm_video_free(vlm_video *v);

/* transformers' VideoMetadata.sampled_fps: n_sampled / total_frames * fps (fps, or 24 when
 * fps is unknown). Qwen2.5-VL's processor sets second_per_grid_ts to
 * temporal_patch_size / vlm_video_sampled_fps(v). */
double vlm_video_sampled_fps(const vlm_video *v);

#endif

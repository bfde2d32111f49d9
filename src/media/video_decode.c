/* Video decoding with FFmpeg: open through our own I/O (video_io.h), pick the video stream,
 * scan its packets for the frame table (count, presentation times, key frames), sample frame
 * indices (video_sample.c), then decode only as far as the sampled frames need — seeking to
 * the key frame before a wanted frame when that skips work — and convert just those frames to
 * RGB24 (video_rgb.c). See video.h for the semantics and the limits. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
#include <libavutil/frame.h>

#include "core/alloc.h"
#include "core/checked.h"
#include "core/error.h"
#include "media/video.h"
#include "media/video_internal.h"
#include "media/video_io.h"

/* ---------------------------------------------------------------- defaults */

vlm_video_params vlm_video_params_default(void) {
    vlm_video_params p;
    memset(&p, 0, sizeof p);
    p.sampling = vlm_video_sampling_default();
    p.threads = 0;
    return p;
}

static vlm_video_limits limits_resolve(const vlm_video_limits *in, uint64_t input_size) {
    vlm_video_limits l = *in;
    if (l.max_frames <= 0) l.max_frames = 768;
    if (l.max_pixels <= 0) l.max_pixels = (int64_t)8192 * 8192;
    if (l.max_dimension <= 0) l.max_dimension = 16384;
    if (l.max_stream_frames <= 0) l.max_stream_frames = (int64_t)1 << 20;
    if (l.max_decoded_frames <= 0) l.max_decoded_frames = (int64_t)1 << 20;
    if (!(l.max_duration_s > 0)) l.max_duration_s = 4.0 * 3600.0;
    if (l.max_output_bytes == 0) l.max_output_bytes = (uint64_t)4 << 30;
    if (l.max_read_bytes == 0) {
        uint64_t b;
        if (!vlm_u64_mul(input_size, 16, &b) || !vlm_u64_add(b, (uint64_t)64 << 20, &b))
            b = UINT64_MAX;
        l.max_read_bytes = b;
    }
    if (!(l.deadline_s > 0)) l.deadline_s = 600.0;
    return l;
}

/* ---------------------------------------------------------------- the decoder state */

/* One frame of the stream as the scan saw it. */
typedef struct frame_entry {
    int64_t pts;   /* presentation time in stream time base (dts when the packet has no pts) */
    int64_t order; /* position in the scan, to keep the sort stable */
    bool key;
} frame_entry;

typedef struct decoder {
    const char *name;
    vlm_video_io io;
    vlm_video_limits lim;
    int threads;

    AVFormatContext *fmt;
    AVCodecContext *dec;
    const AVCodec *codec;
    int si; /* stream index */
    AVPacket *pkt;
    AVFrame *frame, *prev;
    bool have_prev;
    vlm_video_rgb rgb;

    frame_entry *frames; /* [n_frames] sorted by pts */
    int64_t n_frames, cap_frames;
    int64_t *last_key; /* [n_frames] index of the last key frame at or before i, -1 none */
    int64_t frames_decoded, seeks;
    int64_t read_pts; /* highest pts given to the decoder since the last seek or restart */
    bool seek_ok;     /* cleared when a seek failed or overshot: decode forward only */
    bool after_seek;  /* the next decoded frame is the first after a seek */
    bool overshoot;   /* that frame came after the wanted one */

    vlm_video_info info;
} decoder;

static void decoder_close_input(decoder *d) {
    avcodec_free_context(&d->dec);
    if (d->fmt) avformat_close_input(&d->fmt); /* custom I/O: the AVIOContext stays ours */
}

static void decoder_free(decoder *d) {
    decoder_close_input(d);
    av_packet_free(&d->pkt);
    av_frame_free(&d->frame);
    av_frame_free(&d->prev);
    vlm_video_rgb_free(&d->rgb);
    vlm_video_io_close(&d->io);
    free(d->frames);
    free(d->last_key);
}

/* An FFmpeg failure as a vlm status: the budget and the deadline come first, because FFmpeg
 * reports them as a generic "exit requested". */
static vlm_status ff_fail(decoder *d, int ret, vlm_error *err, const char *what) {
    if (d->io.over_deadline)
        return vlm_err(err, VLM_ERR_LIMIT, "%s: decoding took longer than the %.0f s deadline",
                       d->name, d->lim.deadline_s);
    if (d->io.over_read_budget)
        return vlm_err(err, VLM_ERR_LIMIT,
                       "%s: read more than %llu bytes (the read budget) while %s; the file "
                       "makes the demuxer re-read too much",
                       d->name, (unsigned long long)d->lim.max_read_bytes, what);
    char msg[AV_ERROR_MAX_STRING_SIZE];
    av_strerror(ret, msg, sizeof msg);
    if (ret == AVERROR(ENOMEM))
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory while %s", d->name, what);
    return vlm_err(err, VLM_ERR_FORMAT,
                   "%s: %s failed: %s (the file is corrupt, truncated or "
                   "not a supported video)",
                   d->name, what, msg);
}

/* Refuses any attempt by a demuxer to open another file or URL (HLS, DASH, concat, ...). */
static int refuse_io_open(struct AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                          AVDictionary **options) {
    (void)s, (void)pb, (void)url, (void)flags, (void)options;
    return AVERROR(EPERM);
}

/* Opens the container on a freshly rewound source and finds the video stream. `want_si`
 * >= 0 insists on that stream (a reopen after the scan). */
static vlm_status decoder_open_input(decoder *d, int want_si, vlm_error *err) {
    decoder_close_input(d);
    vlm_status s = vlm_video_io_rewind(&d->io, d->name, err);
    if (s != VLM_OK) return s;
    AVFormatContext *fmt = avformat_alloc_context();
    if (!fmt) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", d->name);
    fmt->pb = d->io.avio;
    fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    fmt->interrupt_callback.callback = vlm_video_io_interrupted;
    fmt->interrupt_callback.opaque = &d->io;
    fmt->io_open = refuse_io_open;
    AVDictionary *opts = NULL;
    av_dict_set(&opts, "format_whitelist", VLM_VIDEO_FORMATS, 0);
    int ret = avformat_open_input(&fmt, "", NULL, &opts);
    av_dict_free(&opts);
    if (ret < 0) { /* fmt was freed by FFmpeg */
        /* INVALIDDATA: nothing recognised the bytes; EINVAL: what did is not on the format
         * whitelist (playlists, image sequences, raw streams, ...). */
        if ((ret == AVERROR_INVALIDDATA || ret == AVERROR(EINVAL)) && !d->io.over_deadline &&
            !d->io.over_read_budget) {
            if (d->io.size == 0)
                return vlm_err(err, VLM_ERR_FORMAT, "%s: the file is empty", d->name);
            return vlm_err(err, VLM_ERR_FORMAT,
                           "%s: not a video in a supported container (%s), or a damaged or "
                           "truncated one",
                           d->name, VLM_VIDEO_FORMATS);
        }
        return ff_fail(d, ret, err, "opening the container");
    }
    d->fmt = fmt;
    ret = avformat_find_stream_info(fmt, NULL);
    if (ret < 0) return ff_fail(d, ret, err, "reading the stream parameters");

    const AVCodec *codec = NULL;
    int si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, want_si, -1, &codec, 0);
    if (si == AVERROR_STREAM_NOT_FOUND ||
        (si >= 0 && (fmt->streams[si]->disposition & AV_DISPOSITION_ATTACHED_PIC)))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: the file has no video stream", d->name);
    if (si == AVERROR_DECODER_NOT_FOUND || (si >= 0 && !codec)) {
        int any = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, want_si, -1, NULL, 0);
        const char *cname =
            any >= 0 ? avcodec_get_name(fmt->streams[any]->codecpar->codec_id) : "unknown";
        return vlm_err(err, VLM_ERR_UNSUPPORTED, "%s: no decoder for the video codec '%s'", d->name,
                       cname);
    }
    if (si < 0) return ff_fail(d, si, err, "choosing the video stream");
    if (want_si >= 0 && si != want_si)
        return vlm_err(err, VLM_ERR_FORMAT, "%s: the video stream changed between two opens",
                       d->name);
    d->si = si;
    d->codec = codec;
    for (unsigned i = 0; i < fmt->nb_streams; i++)
        if ((int)i != si) fmt->streams[i]->discard = AVDISCARD_ALL;
    return VLM_OK;
}

/* ---------------------------------------------------------------- the scan */

static int cmp_entry(const void *a, const void *b) {
    const frame_entry *x = a, *y = b;
    if (x->pts != y->pts) return x->pts < y->pts ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static vlm_status push_frame(decoder *d, int64_t pts, bool key, vlm_error *err) {
    if (d->n_frames >= d->lim.max_stream_frames)
        return vlm_err(err, VLM_ERR_LIMIT, "%s: the video has more than %lld frames (the limit)",
                       d->name, (long long)d->lim.max_stream_frames);
    if (d->n_frames == d->cap_frames) {
        int64_t cap = d->cap_frames ? d->cap_frames * 2 : 256;
        frame_entry *f = vlm_realloc_array(d->frames, (size_t)cap, sizeof *f);
        if (!f) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", d->name);
        d->frames = f;
        d->cap_frames = cap;
    }
    d->frames[d->n_frames] = (frame_entry){pts, d->n_frames, key};
    d->n_frames++;
    return VLM_OK;
}

/* Reads every packet once (no decoding) and builds the frame table and the stream facts, as
 * torchcodec's exact mode does. */
static vlm_status decoder_scan(decoder *d, vlm_error *err) {
    AVStream *st = d->fmt->streams[d->si];
    AVCodecParameters *par = st->codecpar;
    vlm_video_info *info = &d->info;
    memset(info, 0, sizeof *info);
    info->stream_index = d->si;
    info->width = par->width;
    info->height = par->height;
    info->header_frames = st->nb_frames > 0 ? st->nb_frames : 0;
    AVRational hr = st->avg_frame_rate.num > 0 && st->avg_frame_rate.den > 0 ? st->avg_frame_rate
                                                                             : st->r_frame_rate;
    info->header_fps = hr.num > 0 && hr.den > 0 ? av_q2d(hr) : 0.0;
    snprintf(info->codec, sizeof info->codec, "%s", avcodec_get_name(par->codec_id));
    snprintf(info->container, sizeof info->container, "%s", d->fmt->iformat->name);

    if (par->width <= 0 || par->height <= 0)
        return vlm_err(err, VLM_ERR_FORMAT, "%s: the video stream has no frame size", d->name);
    if (par->width > d->lim.max_dimension || par->height > d->lim.max_dimension ||
        (int64_t)par->width * par->height > d->lim.max_pixels)
        return vlm_err(err, VLM_ERR_LIMIT,
                       "%s: frames are %dx%d, more than the limit (%d per side, %lld pixels)",
                       d->name, par->width, par->height, d->lim.max_dimension,
                       (long long)d->lim.max_pixels);

    int64_t begin = INT64_MAX, end = INT64_MIN, raw_packets = 0, all_packets = 0;
    for (;;) {
        int ret = av_read_frame(d->fmt, d->pkt);
        if (ret == AVERROR_EOF) break;
        if (ret < 0) return ff_fail(d, ret, err, "reading a packet");
        all_packets++;
        if (all_packets > 4 * d->lim.max_stream_frames + 1024) {
            av_packet_unref(d->pkt);
            return vlm_err(err, VLM_ERR_LIMIT,
                           "%s: the file has more than %lld packets (the limit)", d->name,
                           (long long)(4 * d->lim.max_stream_frames + 1024));
        }
        if (d->pkt->stream_index != d->si) {
            av_packet_unref(d->pkt);
            continue;
        }
        raw_packets++;
        bool corrupt = (d->pkt->flags & AV_PKT_FLAG_CORRUPT) != 0;
        bool discard = (d->pkt->flags & AV_PKT_FLAG_DISCARD) != 0;
        int64_t pts = d->pkt->pts != AV_NOPTS_VALUE ? d->pkt->pts : d->pkt->dts;
        int64_t dur = d->pkt->duration > 0 ? d->pkt->duration : 0;
        bool key = (d->pkt->flags & AV_PKT_FLAG_KEY) != 0;
        av_packet_unref(d->pkt);
        if (corrupt)
            return vlm_err(err, VLM_ERR_FORMAT,
                           "%s: video packet %lld is truncated or corrupt (the file is damaged)",
                           d->name, (long long)(raw_packets - 1));
        if (discard) continue;
        if (pts == AV_NOPTS_VALUE)
            return vlm_err(err, VLM_ERR_UNSUPPORTED,
                           "%s: video packet %lld has no timestamp; cannot index its frames",
                           d->name, (long long)(raw_packets - 1));
        /* Keep timestamps far from int64 overflow so pts + duration and the seconds below are
         * meaningful. */
        if (pts < -((int64_t)1 << 60) || pts > ((int64_t)1 << 60) || dur > ((int64_t)1 << 60))
            return vlm_err(err, VLM_ERR_FORMAT, "%s: video packet %lld has an absurd timestamp",
                           d->name, (long long)(raw_packets - 1));
        vlm_status s = push_frame(d, pts, key, err);
        if (s != VLM_OK) return s;
        if (pts < begin) begin = pts;
        if (pts + dur > end) end = pts + dur;
    }
    /* An MP4 lists its samples in the header: fewer packets than that is a cut file. */
    if (strncmp(d->fmt->iformat->name, "mov,", 4) == 0 && info->header_frames > 0 &&
        raw_packets < info->header_frames)
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: the header lists %lld video frames but the file holds %lld (it is "
                       "truncated)",
                       d->name, (long long)info->header_frames, (long long)raw_packets);
    if (d->n_frames == 0)
        return vlm_err(err, VLM_ERR_FORMAT, "%s: the video stream has no frames", d->name);

    qsort(d->frames, (size_t)d->n_frames, sizeof *d->frames, cmp_entry);
    d->last_key = vlm_malloc_array((size_t)d->n_frames, sizeof *d->last_key);
    if (!d->last_key) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", d->name);
    int64_t lk = -1;
    for (int64_t i = 0; i < d->n_frames; i++) {
        if (d->frames[i].key) lk = i;
        d->last_key[i] = lk;
    }

    double tb = av_q2d(st->time_base);
    info->total_frames = d->n_frames;
    info->start_s = (double)begin * tb;
    info->duration_s = (double)(end - begin) * tb;
    if (!(info->duration_s >= 0) || !isfinite(info->duration_s))
        return vlm_err(err, VLM_ERR_FORMAT, "%s: the video's timestamps are inconsistent", d->name);
    if (info->duration_s > d->lim.max_duration_s)
        return vlm_err(err, VLM_ERR_LIMIT, "%s: the video lasts %.1f s, more than the %.0f s limit",
                       d->name, info->duration_s, d->lim.max_duration_s);
    info->fps = info->duration_s > 0 ? (double)d->n_frames / info->duration_s : info->header_fps;
    return VLM_OK;
}

/* ---------------------------------------------------------------- decoding */

static vlm_status decoder_open_codec(decoder *d, vlm_error *err) {
    AVStream *st = d->fmt->streams[d->si];
    avcodec_free_context(&d->dec);
    d->dec = avcodec_alloc_context3(d->codec);
    if (!d->dec) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", d->name);
    int ret = avcodec_parameters_to_context(d->dec, st->codecpar);
    if (ret < 0) return ff_fail(d, ret, err, "configuring the decoder");
    d->dec->pkt_timebase = st->time_base;
    d->dec->thread_count = d->threads; /* 0: FFmpeg picks (at most 16) */
    d->dec->max_pixels = d->lim.max_pixels;
    ret = avcodec_open2(d->dec, d->codec, NULL);
    if (ret < 0) return ff_fail(d, ret, err, "opening the decoder");
    return VLM_OK;
}

/* Where the decode loop stands with the wanted frames. */
typedef struct want_state {
    const int64_t *idx; /* [n] wanted frame indices, non-decreasing */
    int64_t n, k;       /* next wanted: idx[k] */
    vlm_video *out;
} want_state;

static vlm_status emit(decoder *d, want_state *w, const AVFrame *f, vlm_error *err) {
    vlm_video *out = w->out;
    if (out->n_frames == 0) {
        /* The first returned frame fixes the output size. */
        if (f->width <= 0 || f->height <= 0 || f->width > d->lim.max_dimension ||
            f->height > d->lim.max_dimension || (int64_t)f->width * f->height > d->lim.max_pixels)
            return vlm_err(err, VLM_ERR_LIMIT, "%s: a decoded frame is %dx%d, beyond the limit",
                           d->name, f->width, f->height);
        size_t bytes;
        if (!vlm_size_mul((size_t)f->width * 3, (size_t)f->height, &bytes) ||
            !vlm_size_mul(bytes, (size_t)w->n, &bytes) || (uint64_t)bytes > d->lim.max_output_bytes)
            return vlm_err(err, VLM_ERR_LIMIT,
                           "%s: %lld frames of %dx%d RGB exceed the output limit of %llu bytes",
                           d->name, (long long)w->n, f->width, f->height,
                           (unsigned long long)d->lim.max_output_bytes);
        out->rgb = malloc(bytes ? bytes : 1);
        out->indices = vlm_malloc_array((size_t)w->n, sizeof *out->indices);
        out->timestamps_s = vlm_malloc_array((size_t)w->n, sizeof *out->timestamps_s);
        if (!out->rgb || !out->indices || !out->timestamps_s)
            return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes of frames",
                           d->name, bytes);
        out->width = f->width;
        out->height = f->height;
    } else if (f->width != out->width || f->height != out->height) {
        return vlm_err(err, VLM_ERR_UNSUPPORTED,
                       "%s: the frame size changes within the video (%dx%d, then %dx%d)", d->name,
                       out->width, out->height, f->width, f->height);
    }
    size_t frame_bytes = (size_t)out->width * (size_t)out->height * 3;
    vlm_status s = vlm_video_rgb_convert(&d->rgb, f, out->rgb + (size_t)out->n_frames * frame_bytes,
                                         d->name, err);
    if (s != VLM_OK) return s;
    out->indices[out->n_frames] = w->idx[w->k];
    out->timestamps_s[out->n_frames] =
        (double)f->best_effort_timestamp * av_q2d(d->fmt->streams[d->si]->time_base);
    out->n_frames++;
    w->k++;
    return VLM_OK;
}

/* Hands one decoded frame to the wanted list: every wanted frame whose time it reaches is
 * emitted — the previous frame for a wanted time it skipped over (the frame shown at that
 * time), this frame for its own time. The first frame after a seek must not come after the
 * wanted time; if it does the demuxer landed too late and d->overshoot asks for a restart. */
static vlm_status on_frame(decoder *d, want_state *w, AVFrame *f, vlm_error *err) {
    if (++d->frames_decoded > d->lim.max_decoded_frames)
        return vlm_err(err, VLM_ERR_LIMIT, "%s: decoded more than %lld frames (the limit)", d->name,
                       (long long)d->lim.max_decoded_frames);
    int64_t pts = f->best_effort_timestamp;
    if (pts == AV_NOPTS_VALUE) pts = f->pts;
    if (pts == AV_NOPTS_VALUE) return VLM_OK; /* cannot place it */
    f->best_effort_timestamp = pts;
    if (d->after_seek) {
        d->after_seek = false;
        if (w->k < w->n && d->frames[w->idx[w->k]].pts < pts) {
            d->overshoot = true;
            return VLM_OK;
        }
    }
    while (w->k < w->n && d->frames[w->idx[w->k]].pts < pts) {
        const AVFrame *src = d->have_prev ? d->prev : f;
        vlm_status s = emit(d, w, src, err);
        if (s != VLM_OK) return s;
    }
    while (w->k < w->n && d->frames[w->idx[w->k]].pts == pts) {
        vlm_status s = emit(d, w, f, err);
        if (s != VLM_OK) return s;
    }
    av_frame_unref(d->prev);
    int ret = av_frame_ref(d->prev, f);
    if (ret < 0) return ff_fail(d, ret, err, "keeping a frame");
    d->have_prev = true;
    return VLM_OK;
}

/* Drains every frame the decoder has ready. */
static vlm_status drain(decoder *d, want_state *w, vlm_error *err) {
    for (;;) {
        int ret = avcodec_receive_frame(d->dec, d->frame);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return VLM_OK;
        if (ret < 0) return ff_fail(d, ret, err, "decoding a frame");
        vlm_status s = on_frame(d, w, d->frame, err);
        av_frame_unref(d->frame);
        if (s != VLM_OK) return s;
        if (w->k >= w->n || d->overshoot) return VLM_OK;
    }
}

/* Starts over from the first frame with a fresh container and decoder, decoding forward only
 * from now on. Used when a seek fails or lands after the wanted frame. */
static vlm_status restart(decoder *d, vlm_error *err) {
    d->seek_ok = false;
    d->have_prev = false;
    d->after_seek = false;
    d->overshoot = false;
    d->read_pts = INT64_MIN;
    av_frame_unref(d->prev);
    vlm_status s = decoder_open_input(d, d->si, err);
    if (s != VLM_OK) return s;
    return decoder_open_codec(d, err);
}

/* Seeks to the key frame `kf` (frame table index) when the decoder has not been given its
 * packet yet: every frame between here and there would be decoded for nothing. */
static vlm_status maybe_seek(decoder *d, int64_t kf, vlm_error *err) {
    if (!d->seek_ok || kf <= 0 || d->frames[kf].pts <= d->read_pts) return VLM_OK;
    int ret = av_seek_frame(d->fmt, d->si, d->frames[kf].pts, AVSEEK_FLAG_BACKWARD);
    if (ret < 0) {
        if (d->io.over_deadline || d->io.over_read_budget) return ff_fail(d, ret, err, "seeking");
        return restart(d, err);
    }
    avcodec_flush_buffers(d->dec);
    av_frame_unref(d->prev);
    d->have_prev = false;
    d->after_seek = true;
    d->read_pts = d->frames[kf].pts;
    d->seeks++;
    return VLM_OK;
}

static vlm_status decoder_decode(decoder *d, want_state *w, vlm_error *err) {
    /* After the scan the container sits at its end: reopen it rather than trust every demuxer
     * to seek back to the start. */
    vlm_status s = decoder_open_input(d, d->si, err);
    if (s != VLM_OK) return s;
    s = decoder_open_codec(d, err);
    if (s != VLM_OK) return s;
    d->seek_ok = true;
    d->read_pts = INT64_MIN;

    bool eof = false;
    while (w->k < w->n && !eof) {
        s = maybe_seek(d, d->last_key[w->idx[w->k]], err);
        if (s != VLM_OK) return s;
        int ret = av_read_frame(d->fmt, d->pkt);
        if (ret == AVERROR_EOF) {
            eof = true;
            ret = avcodec_send_packet(d->dec, NULL); /* flush the decoder's delayed frames */
        } else if (ret < 0) {
            return ff_fail(d, ret, err, "reading a packet");
        } else if (d->pkt->stream_index != d->si) {
            av_packet_unref(d->pkt);
            continue;
        } else {
            int64_t pts = d->pkt->pts != AV_NOPTS_VALUE ? d->pkt->pts : d->pkt->dts;
            if (pts != AV_NOPTS_VALUE && pts > d->read_pts) d->read_pts = pts;
            ret = avcodec_send_packet(d->dec, d->pkt);
            av_packet_unref(d->pkt);
        }
        if (ret < 0 && ret != AVERROR(EAGAIN) && ret != AVERROR_EOF)
            return ff_fail(d, ret, err, "decoding a packet");
        s = drain(d, w, err);
        if (s != VLM_OK) return s;
        if (d->overshoot) {
            s = restart(d, err);
            if (s != VLM_OK) return s;
            eof = false;
        }
    }
    if (w->k < w->n) {
        int64_t i = w->idx[w->k];
        return vlm_err(err, VLM_ERR_FORMAT,
                       "%s: the decoder gave no frame for frame %lld of %lld (the file is "
                       "truncated or corrupt)",
                       d->name, (long long)i, (long long)d->n_frames);
    }
    return VLM_OK;
}

/* ---------------------------------------------------------------- entry points */

static vlm_status run(decoder *d, const vlm_video_params *params, vlm_video *out,
                      vlm_video_info *info_out, vlm_error *err) {
    vlm_video_params defaults = vlm_video_params_default();
    if (!params) params = &defaults;
    d->lim = limits_resolve(&params->limits, d->io.size);
    d->threads = params->threads < 0 ? 1 : params->threads;
    vlm_video_io_set_limits(&d->io, d->lim.max_read_bytes, d->lim.deadline_s);
    d->pkt = av_packet_alloc();
    d->frame = av_frame_alloc();
    d->prev = av_frame_alloc();
    if (!d->pkt || !d->frame || !d->prev)
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", d->name);
    if (d->io.size == 0) return vlm_err(err, VLM_ERR_FORMAT, "%s: the file is empty", d->name);

    vlm_status s = decoder_open_input(d, -1, err);
    if (s != VLM_OK) return s;
    s = decoder_scan(d, err);
    if (s != VLM_OK) return s;
    if (info_out) {
        *info_out = d->info;
        return VLM_OK;
    }

    want_state w = {0};
    int64_t *idx = NULL, n = 0;
    s = vlm_video_sample_indices(&params->sampling, d->n_frames, d->info.fps, &idx, &n, err);
    if (s != VLM_OK) {
        vlm_err_prefix(err, "%s", d->name);
        return s;
    }
    /* Drop indices past the last frame (torch.arange's float32 overshoot; see video.h). */
    int64_t n_sampled = n;
    while (n > 0 && idx[n - 1] >= d->n_frames)
        n--;
    if (n > d->lim.max_frames) {
        free(idx);
        return vlm_err(err, VLM_ERR_LIMIT,
                       "%s: %lld frames would be returned, more than the limit of %lld (sample "
                       "fewer frames)",
                       d->name, (long long)n, (long long)d->lim.max_frames);
    }
    for (int64_t i = 1; i < n; i++)
        if (idx[i] < idx[i - 1]) { /* sample_indices never does this; the loop relies on it */
            free(idx);
            return vlm_err(err, VLM_ERR_INTERNAL, "%s: sampled indices are not sorted", d->name);
        }
    w.idx = idx;
    w.n = n;
    w.out = out;
    out->info = d->info;
    out->n_sampled = n_sampled;
    s = n > 0 ? decoder_decode(d, &w, err) : VLM_OK;
    out->frames_decoded = d->frames_decoded;
    out->seeks = d->seeks;
    free(idx);
    return s;
}

static vlm_status decode_common(decoder *d, const vlm_video_params *params, vlm_video *out,
                                vlm_video_info *info, vlm_error *err) {
    vlm_status s = run(d, params, out, info, err);
    decoder_free(d);
    if (s != VLM_OK) {
        if (out) vlm_video_free(out);
        if (info) memset(info, 0, sizeof *info);
    }
    return s;
}

static vlm_status start_file(decoder *d, const char *path, vlm_error *err) {
    memset(d, 0, sizeof *d);
    d->io.fd = -1;
    d->name = path ? path : "(null)";
    return vlm_video_io_open_file(&d->io, path, err);
}

static void start_memory(decoder *d, const void *data, size_t size, const char *name) {
    memset(d, 0, sizeof *d);
    d->name = name ? name : "<memory>";
    vlm_video_io_open_memory(&d->io, data, size);
}

vlm_status vlm_video_decode_file(const char *path, const vlm_video_params *params, vlm_video *out,
                                 vlm_error *err) {
    if (!out) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "video: output is NULL");
    memset(out, 0, sizeof *out);
    decoder d;
    vlm_status s = start_file(&d, path, err);
    if (s != VLM_OK) return s;
    return decode_common(&d, params, out, NULL, err);
}

vlm_status vlm_video_decode_memory(const void *data, size_t size, const char *name,
                                   const vlm_video_params *params, vlm_video *out, vlm_error *err) {
    if (!out) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "video: output is NULL");
    memset(out, 0, sizeof *out);
    if (!data && size)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "video: data is NULL but size is %zu", size);
    decoder d;
    start_memory(&d, data, size, name);
    return decode_common(&d, params, out, NULL, err);
}

vlm_status vlm_video_probe_file(const char *path, const vlm_video_params *params,
                                vlm_video_info *info, vlm_error *err) {
    if (!info) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "video: info is NULL");
    memset(info, 0, sizeof *info);
    decoder d;
    vlm_status s = start_file(&d, path, err);
    if (s != VLM_OK) return s;
    return decode_common(&d, params, NULL, info, err);
}

vlm_status vlm_video_probe_memory(const void *data, size_t size, const char *name,
                                  const vlm_video_params *params, vlm_video_info *info,
                                  vlm_error *err) {
    if (!info) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "video: info is NULL");
    memset(info, 0, sizeof *info);
    if (!data && size)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "video: data is NULL but size is %zu", size);
    decoder d;
    start_memory(&d, data, size, name);
    return decode_common(&d, params, NULL, info, err);
}

void vlm_video_free(vlm_video *v) {
    if (!v) return;
    free(v->rgb);
    free(v->indices);
    free(v->timestamps_s);
    memset(v, 0, sizeof *v);
}

double vlm_video_sampled_fps(const vlm_video *v) {
    if (!v) return 0.0;
    if (!(v->info.fps > 0) || v->info.total_frames <= 0)
        return v->info.fps > 0 ? v->info.fps : 24.0;
    return (double)v->n_sampled / (double)v->info.total_frames * v->info.fps;
}

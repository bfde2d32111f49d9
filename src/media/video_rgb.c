/* Decoded video frame -> packed RGB24 with libswscale (see video_internal.h for the exact
 * conversion, chosen to match torchcodec's CPU path and FFmpeg's scale filter). */
#include <stdbool.h>
#include <string.h>

#include <libavutil/frame.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>

#include "core/error.h"
#include "media/video_internal.h"

/* Whether a frame's samples use the full 0..255 range: its tag when it has one, else the
 * deprecated yuvj formats, which are full range by definition. */
static int frame_full_range(const AVFrame *f) {
    if (f->color_range == AVCOL_RANGE_JPEG) return 1;
    if (f->color_range == AVCOL_RANGE_MPEG) return 0;
    switch (f->format) {
    case AV_PIX_FMT_YUVJ420P:
    case AV_PIX_FMT_YUVJ422P:
    case AV_PIX_FMT_YUVJ444P:
    case AV_PIX_FMT_YUVJ440P:
    case AV_PIX_FMT_YUVJ411P:
        return 1;
    default:
        return 0;
    }
}

vlm_status vlm_video_rgb_convert(vlm_video_rgb *c, const AVFrame *f, uint8_t *out, const char *name,
                                 vlm_error *err) {
    if (f->width <= 0 || f->height <= 0 || f->format < 0)
        return vlm_err(err, VLM_ERR_FORMAT, "%s: a decoded frame has no size or format", name);
    if (f->width % 32 != 0 &&
        (!c->dst || c->dst->width != f->width || c->dst->height != f->height)) {
        av_frame_free(&c->dst);
        c->dst = av_frame_alloc();
        if (!c->dst) return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: out of memory", name);
        c->dst->format = AV_PIX_FMT_RGB24;
        c->dst->width = f->width;
        c->dst->height = f->height;
        if (av_frame_get_buffer(c->dst, 0) < 0)
            return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "%s: cannot allocate a %dx%d RGB frame",
                           name, f->width, f->height);
    }
    /* One context per (size, format); not sws_getCachedContext, which rebuilds the context
     * for every yuvj frame (swscale rewrites their format internally) and would drop the
     * colour details set below. */
    int full = frame_full_range(f);
    bool fresh = false;
    if (!c->sws || c->src_w != f->width || c->src_h != f->height || c->src_format != f->format) {
        sws_freeContext(c->sws);
        c->sws = sws_getContext(f->width, f->height, (enum AVPixelFormat)f->format, f->width,
                                f->height, AV_PIX_FMT_RGB24, SWS_BILINEAR, NULL, NULL, NULL);
        if (!c->sws) {
            const char *fmt = av_get_pix_fmt_name((enum AVPixelFormat)f->format);
            return vlm_err(err, VLM_ERR_UNSUPPORTED,
                           "%s: cannot convert frames of pixel format %s to RGB", name,
                           fmt ? fmt : "unknown");
        }
        c->src_w = f->width;
        c->src_h = f->height;
        c->src_format = f->format;
        fresh = true;
    }
    if (fresh || c->colorspace != (int)f->colorspace || c->full_range != full) {
        int *inv_table, *table, src_range, dst_range, brightness, contrast, saturation;
        if (sws_getColorspaceDetails(c->sws, &inv_table, &src_range, &table, &dst_range,
                                     &brightness, &contrast, &saturation) < 0)
            return vlm_err(err, VLM_ERR_INTERNAL, "%s: swscale has no colour details", name);
        /* sws_getCoefficients maps unspecified and unknown matrices to BT.601. */
        const int *coef = sws_getCoefficients((int)f->colorspace);
        if (sws_setColorspaceDetails(c->sws, coef, full, coef, dst_range, brightness, contrast,
                                     saturation) < 0)
            return vlm_err(err, VLM_ERR_UNSUPPORTED,
                           "%s: swscale cannot use the frame's colour details", name);
        c->colorspace = (int)f->colorspace;
        c->full_range = full;
    }
    /* swscale's SIMD writes whole blocks and may run past the last pixel of a row; with
     * widths that are a multiple of 32 it does not (torchcodec writes tightly packed output
     * under the same rule), so those frames go straight into `out`. */
    size_t row = (size_t)f->width * 3;
    if (f->width % 32 == 0) {
        uint8_t *dst[4] = {out, NULL, NULL, NULL};
        int stride[4] = {(int)row, 0, 0, 0};
        int h = sws_scale(c->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst,
                          stride);
        if (h != f->height)
            return vlm_err(err, VLM_ERR_INTERNAL, "%s: swscale converted %d of %d rows", name, h,
                           f->height);
        return VLM_OK;
    }
    int h = sws_scale(c->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height,
                      c->dst->data, c->dst->linesize);
    if (h != f->height)
        return vlm_err(err, VLM_ERR_INTERNAL, "%s: swscale converted %d of %d rows", name, h,
                       f->height);
    for (int y = 0; y < f->height; y++)
        memcpy(out + (size_t)y * row, c->dst->data[0] + (size_t)y * (size_t)c->dst->linesize[0],
               row);
    return VLM_OK;
}

void vlm_video_rgb_free(vlm_video_rgb *c) {
    if (!c) return;
    sws_freeContext(c->sws);
    av_frame_free(&c->dst);
    memset(c, 0, sizeof *c);
}

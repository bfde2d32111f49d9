/* Pieces the video decoder shares between its files: conversion of decoded frames to packed
 * RGB24 (video_rgb.c). Not part of the media API. */
#ifndef VLM_MEDIA_VIDEO_INTERNAL_H
#define VLM_MEDIA_VIDEO_INTERNAL_H

#include <stdint.h>

#include "vlm.h"

struct AVFrame;
struct SwsContext;

/* A cached swscale context and the aligned RGB24 frame it writes into. */
typedef struct vlm_video_rgb {
    struct SwsContext *sws;
    struct AVFrame *dst;          /* RGB24, linesize padded as FFmpeg allocates it */
    int src_w, src_h, src_format; /* what sws was made for */
    int colorspace, full_range;   /* colour details last set on sws */
} vlm_video_rgb;

/* Converts `frame` (any pixel format FFmpeg decodes to) to RGB24 at its own size, written
 * packed ([height][width][3], no row padding) to `out`. Conversion: SWS_BILINEAR, the frame's
 * colour matrix (unspecified -> BT.601) and range (full for pc/JPEG, or for yuvj formats when
 * the frame does not say), as FFmpeg's scale filter does with in_color_matrix=auto. swscale
 * may write whole SIMD blocks past the last pixel of a row, so unless the width is a multiple
 * of 32 it writes into an aligned, padded frame and the rows are copied out. */
vlm_status vlm_video_rgb_convert(vlm_video_rgb *c, const struct AVFrame *frame, uint8_t *out,
                                 const char *name, vlm_error *err);

void vlm_video_rgb_free(vlm_video_rgb *c);

#endif

/* Private interface between the image decoding front end (decode.c) and the per-format
 * decoders (decode_jpeg.c, decode_png.c, ...). Each decoder turns an in-memory file into
 * RGB8 pixels as Pillow's convert("RGB") would, checks the header's size with
 * vlm_decode_check_size before allocating anything, and reports the EXIF/XMP orientation
 * it found (the front end applies it). */
#ifndef VLM_MEDIA_DECODE_INTERNAL_H
#define VLM_MEDIA_DECODE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "media/image.h"

typedef struct vlm_decode_job {
    const uint8_t *data; /* the whole encoded file */
    size_t size;
    const char *name; /* for messages: a path or the caller's label */
    const vlm_image_decode_params *params;
    vlm_error *err;
    /* results */
    vlm_image out;   /* stored orientation (not yet transposed) */
    int orientation; /* 0 when the file carries none */
} vlm_decode_job;

/* VLM_ERR_FORMAT for a zero side, VLM_ERR_LIMIT for a side above max_dimension or a
 * pixel count above max_pixels. The message names the file and the format. */
vlm_status vlm_decode_check_size(vlm_decode_job *job, const char *format, int64_t width,
                                 int64_t height);

vlm_status vlm_decode_jpeg(vlm_decode_job *job);
vlm_status vlm_decode_png(vlm_decode_job *job);
vlm_status vlm_decode_webp(vlm_decode_job *job);
vlm_status vlm_decode_gif(vlm_decode_job *job);
vlm_status vlm_decode_bmp(vlm_decode_job *job);

/* The Orientation (tag 0x0112) of IFD0 in a TIFF-structured EXIF block (an optional
 * "Exif\0\0" prefix is skipped, as Pillow's Exif.load does): 1..9 as stored, 0 when the
 * block is malformed or has no usable tag. Integer tag types only (BYTE, SHORT, LONG and
 * their signed forms); the first value counts; the last entry wins, as in Pillow's dict. */
int vlm_exif_orientation(const uint8_t *data, size_t size);

/* Pillow's XMP fallback: the first match of tiff:Orientation(="|>)([0-9]) in the packet;
 * the digit, or 0 when there is none. */
int vlm_xmp_orientation(const uint8_t *data, size_t size);

#endif

/* RGB8 images and their decoding: the pixels every processor starts from. An image is
 * decoded from a path, a memory buffer or raw RGB into 8-bit interleaved RGB exactly as
 * transformers' PIL path sees it: Image.open -> ImageOps.exif_transpose -> convert("RGB")
 * (Pillow's decoders, settings and mode conversions; alpha dropped, never composited).
 * The format is sniffed from magic bytes (JPEG, PNG, WebP, GIF, BMP), never from the name.
 * Sizes claimed by a header are checked against limits before any pixel buffer exists.
 * Small geometric helpers (copy, crop, pad, EXIF transposition) live here too; resizing is
 * in resample.h, float conversion in normalize.h. */
#ifndef VLM_MEDIA_IMAGE_H
#define VLM_MEDIA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "vlm.h"

/* An 8-bit RGB image: pixel (x, y) channel c is data[y * stride + 3 * x + c].
 * Images made by the functions below own `data` (release with vlm_image_free). A caller
 * may also describe its own memory with a vlm_image to pass it as a `const vlm_image *`
 * input; such a view must never be given to vlm_image_free. */
typedef struct vlm_image {
    int width;     /* pixels, >= 1 */
    int height;    /* pixels, >= 1 */
    size_t stride; /* bytes from one row to the next, >= 3 * width */
    uint8_t *data; /* height * stride bytes */
} vlm_image;

/* ---------------------------------------------------------------- limits */

/* Pillow refuses images above 2 * Image.MAX_IMAGE_PIXELS (2 * 89478485) pixels with
 * DecompressionBombError; we refuse the same ones. */
#define VLM_IMAGE_MAX_PIXELS_DEFAULT 178956970LL
/* No side longer than this (4 x JPEG's own 65535, so long PNG/BMP strips that Pillow
 * opens still open); keeps every row size and coordinate far inside int. */
#define VLM_IMAGE_MAX_DIMENSION_DEFAULT 262144
/* Largest encoded file read from a path (a full 178 MP PNG fits). */
#define VLM_IMAGE_MAX_FILE_BYTES_DEFAULT ((size_t)1 << 30)

typedef enum vlm_image_format {
    VLM_IMAGE_FORMAT_UNKNOWN = 0,
    VLM_IMAGE_FORMAT_JPEG,
    VLM_IMAGE_FORMAT_PNG,
    VLM_IMAGE_FORMAT_WEBP,
    VLM_IMAGE_FORMAT_GIF,
    VLM_IMAGE_FORMAT_BMP
} vlm_image_format;

typedef struct vlm_image_decode_params {
    int64_t max_pixels; /* width * height above this: VLM_ERR_LIMIT (header, before allocating) */
    int max_dimension;  /* width or height above this: VLM_ERR_LIMIT */
    size_t max_file_bytes;      /* vlm_image_decode_file only: larger files are VLM_ERR_LIMIT */
    int apply_exif_orientation; /* 1 (default): rotate/flip as ImageOps.exif_transpose */
} vlm_image_decode_params;

/* What a decode saw besides the pixels (all optional to read). */
typedef struct vlm_image_info {
    vlm_image_format format;
    int orientation;  /* EXIF/XMP orientation found, 1..8 (1 when absent or invalid) */
    int stored_width; /* size in the file, before the orientation was applied */
    int stored_height;
} vlm_image_info;

/* Defaults: the limits above, orientation applied. */
vlm_image_decode_params vlm_image_decode_params_default(void);

/* The format whose magic bytes start `data` (needs 12 bytes for WebP, fewer for others). */
vlm_image_format vlm_image_sniff(const void *data, size_t size);
/* "jpeg", "png", "webp", "gif", "bmp", "unknown". */
const char *vlm_image_format_name(vlm_image_format format);

/* Decodes the image file at `path` (a regular file; FIFOs, devices and directories are
 * refused without blocking). params may be NULL (defaults); info may be NULL. On success
 * *out owns a new image; on failure *out is zeroed and err names the path. Corrupt or
 * truncated data is an error (Pillow without LOAD_TRUNCATED_IMAGES raises too).
 * Thread-safe. */
vlm_status vlm_image_decode_file(const char *path, const vlm_image_decode_params *params,
                                 vlm_image *out, vlm_image_info *info, vlm_error *err);

/* The same from `size` encoded bytes at `data` (not retained). `name` labels errors (for
 * example "request image 2"); NULL gives "<memory>". Thread-safe. */
vlm_status vlm_image_decode_memory(const void *data, size_t size, const char *name,
                                   const vlm_image_decode_params *params, vlm_image *out,
                                   vlm_image_info *info, vlm_error *err);

/* Copies caller pixels (rows of 3 * width bytes, `stride` apart; stride 0 means tightly
 * packed) into a new image, checking the same limits (params may be NULL). */
vlm_status vlm_image_from_rgb(const uint8_t *rgb, int width, int height, size_t stride,
                              const vlm_image_decode_params *params, vlm_image *out,
                              vlm_error *err);

/* ---------------------------------------------------------------- basic operations */

/* A new uninitialised width x height image with a tight stride (3 * width). Fails with
 * VLM_ERR_INVALID_ARGUMENT on a size < 1 and VLM_ERR_OUT_OF_MEMORY on overflow/exhaustion. */
vlm_status vlm_image_alloc(vlm_image *out, int width, int height, vlm_error *err);
/* Releases the pixels and zeroes the struct. NULL or a zeroed image is a no-op. */
void vlm_image_free(vlm_image *img);
/* A tightly packed deep copy. */
vlm_status vlm_image_copy(const vlm_image *in, vlm_image *out, vlm_error *err);

/* The rectangle [x0, x0 + width) x [y0, y0 + height), which must lie inside the image
 * (as Pillow's crop of an in-bounds box). */
vlm_status vlm_image_crop(const vlm_image *in, int x0, int y0, int width, int height,
                          vlm_image *out, vlm_error *err);

/* Places the image at (left, top) on a new out_width x out_height canvas filled with
 * `fill` (RGB). The image must fit. This is the uint8 analogue of numpy's constant pad
 * used by transformers (pad right/bottom: left = top = 0). */
vlm_status vlm_image_pad(const vlm_image *in, int out_width, int out_height, int left, int top,
                         const uint8_t fill[3], vlm_image *out, vlm_error *err);

/* Applies an EXIF orientation (1..8) as ImageOps.exif_transpose does: 2 FLIP_LEFT_RIGHT,
 * 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE, 6 ROTATE_270, 7 TRANSVERSE, 8 ROTATE_90;
 * 1 (and any other value) copies. Orientations 5-8 swap width and height. */
vlm_status vlm_image_orient(const vlm_image *in, int orientation, vlm_image *out, vlm_error *err);

#endif

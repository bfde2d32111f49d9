/* The RGB8 image type: allocation, copies, crop, pad and the eight EXIF orientations
 * (see image.h). Everything here is plain byte movement; nothing rounds. */
#include "media/image.h"

#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "media/buffer.h"

vlm_status vlm_image_alloc(vlm_image *out, int width, int height, vlm_error *err) {
    memset(out, 0, sizeof *out);
    if (width < 1 || height < 1)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "image size %dx%d: sides must be >= 1", width,
                       height);
    size_t stride, bytes;
    if (!vlm_size_mul((size_t)width, 3, &stride) || !vlm_size_mul(stride, (size_t)height, &bytes))
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "image size %dx%d overflows", width, height);
    uint8_t *data = vlm_media_alloc(bytes);
    if (!data)
        return vlm_err(err, VLM_ERR_OUT_OF_MEMORY, "cannot allocate a %dx%d image (%zu bytes)",
                       width, height, bytes);
    out->width = width;
    out->height = height;
    out->stride = stride;
    out->data = data;
    return VLM_OK;
}

void vlm_image_free(vlm_image *img) {
    if (!img) return;
    free(img->data);
    memset(img, 0, sizeof *img);
}

static vlm_status check_input(const vlm_image *in, const char *what, vlm_error *err) {
    if (!in || !in->data || in->width < 1 || in->height < 1 || in->stride < (size_t)in->width * 3)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "%s: not a valid image", what);
    return VLM_OK;
}

vlm_status vlm_image_copy(const vlm_image *in, vlm_image *out, vlm_error *err) {
    vlm_status s = check_input(in, "image copy", err);
    if (s != VLM_OK) {
        memset(out, 0, sizeof *out);
        return s;
    }
    return vlm_image_crop(in, 0, 0, in->width, in->height, out, err);
}

vlm_status vlm_image_crop(const vlm_image *in, int x0, int y0, int width, int height,
                          vlm_image *out, vlm_error *err) {
    memset(out, 0, sizeof *out);
    vlm_status s = check_input(in, "image crop", err);
    if (s != VLM_OK) return s;
    if (x0 < 0 || y0 < 0 || width < 1 || height < 1 || width > in->width - x0 ||
        height > in->height - y0)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "image crop: box (%d, %d) size %dx%d is not inside the %dx%d image", x0, y0,
                       width, height, in->width, in->height);
    s = vlm_image_alloc(out, width, height, err);
    if (s != VLM_OK) return s;
    for (int y = 0; y < height; y++)
        memcpy(out->data + (size_t)y * out->stride,
               in->data + (size_t)(y0 + y) * in->stride + (size_t)x0 * 3, (size_t)width * 3);
    return VLM_OK;
}

vlm_status vlm_image_pad(const vlm_image *in, int out_width, int out_height, int left, int top,
                         const uint8_t fill[3], vlm_image *out, vlm_error *err) {
    memset(out, 0, sizeof *out);
    vlm_status s = check_input(in, "image pad", err);
    if (s != VLM_OK) return s;
    if (left < 0 || top < 0 || out_width < 1 || out_height < 1 || in->width > out_width - left ||
        in->height > out_height - top)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "image pad: a %dx%d image at (%d, %d) does not fit a %dx%d canvas",
                       in->width, in->height, left, top, out_width, out_height);
    s = vlm_image_alloc(out, out_width, out_height, err);
    if (s != VLM_OK) return s;
    const uint8_t zero[3] = {0, 0, 0};
    if (!fill) fill = zero;
    for (int y = 0; y < out_height; y++) {
        uint8_t *row = out->data + (size_t)y * out->stride;
        for (int x = 0; x < out_width; x++)
            memcpy(row + 3 * (size_t)x, fill, 3);
        if (y >= top && y < top + in->height)
            memcpy(row + (size_t)left * 3, in->data + (size_t)(y - top) * in->stride,
                   (size_t)in->width * 3);
    }
    return VLM_OK;
}

/* Orientation o maps output pixel (x, y) of a (W', H') image to input (sx, sy). With
 * W, H the input size:
 *   2 FLIP_LEFT_RIGHT (W-1-x, y)      3 ROTATE_180 (W-1-x, H-1-y)   4 FLIP_TOP_BOTTOM (x, H-1-y)
 *   5 TRANSPOSE       (y, x)          6 ROTATE_270 (y, H-1-x)       7 TRANSVERSE (W-1-y, H-1-x)
 *   8 ROTATE_90       (W-1-y, x)
 * (ROTATE_n turns counter-clockwise by n degrees, as Pillow's Transpose does.) */
vlm_status vlm_image_orient(const vlm_image *in, int orientation, vlm_image *out, vlm_error *err) {
    memset(out, 0, sizeof *out);
    vlm_status s = check_input(in, "image orientation", err);
    if (s != VLM_OK) return s;
    if (orientation < 2 || orientation > 8) return vlm_image_copy(in, out, err);
    const int W = in->width, H = in->height;
    const int swap = orientation >= 5;
    s = vlm_image_alloc(out, swap ? H : W, swap ? W : H, err);
    if (s != VLM_OK) return s;
    for (int y = 0; y < out->height; y++) {
        uint8_t *dst = out->data + (size_t)y * out->stride;
        for (int x = 0; x < out->width; x++) {
            int sx, sy;
            switch (orientation) {
            case 2:
                sx = W - 1 - x;
                sy = y;
                break;
            case 3:
                sx = W - 1 - x;
                sy = H - 1 - y;
                break;
            case 4:
                sx = x;
                sy = H - 1 - y;
                break;
            case 5:
                sx = y;
                sy = x;
                break;
            case 6:
                sx = y;
                sy = H - 1 - x;
                break;
            case 7:
                sx = W - 1 - y;
                sy = H - 1 - x;
                break;
            default:
                sx = W - 1 - y;
                sy = x;
                break; /* 8 */
            }
            const uint8_t *src = in->data + (size_t)sy * in->stride + (size_t)sx * 3;
            dst[3 * (size_t)x + 0] = src[0];
            dst[3 * (size_t)x + 1] = src[1];
            dst[3 * (size_t)x + 2] = src[2];
        }
    }
    return VLM_OK;
}

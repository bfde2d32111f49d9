/* Image decoding front end: sniffing, limits, the per-format decoder, then the EXIF
 * orientation (see image.h). */
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "core/file.h"
#include "media/decode_internal.h"

vlm_image_decode_params vlm_image_decode_params_default(void) {
    vlm_image_decode_params p;
    memset(&p, 0, sizeof p);
    p.max_pixels = VLM_IMAGE_MAX_PIXELS_DEFAULT;
    p.max_dimension = VLM_IMAGE_MAX_DIMENSION_DEFAULT;
    p.max_file_bytes = VLM_IMAGE_MAX_FILE_BYTES_DEFAULT;
    p.apply_exif_orientation = 1;
    return p;
}

vlm_image_format vlm_image_sniff(const void *data, size_t size) {
    const uint8_t *p = data;
    if (!p) return VLM_IMAGE_FORMAT_UNKNOWN;
    /* Pillow's _accept tests: JPEG FF D8 FF; PNG signature; RIFF....WEBP; GIF87a/89a; BM */
    if (size >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return VLM_IMAGE_FORMAT_JPEG;
    if (size >= 8 && memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) return VLM_IMAGE_FORMAT_PNG;
    if (size >= 12 && memcmp(p, "RIFF", 4) == 0 && memcmp(p + 8, "WEBP", 4) == 0)
        return VLM_IMAGE_FORMAT_WEBP;
    if (size >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
        return VLM_IMAGE_FORMAT_GIF;
    if (size >= 2 && p[0] == 'B' && p[1] == 'M') return VLM_IMAGE_FORMAT_BMP;
    return VLM_IMAGE_FORMAT_UNKNOWN;
}

const char *vlm_image_format_name(vlm_image_format format) {
    switch (format) {
    case VLM_IMAGE_FORMAT_JPEG:
        return "jpeg";
    case VLM_IMAGE_FORMAT_PNG:
        return "png";
    case VLM_IMAGE_FORMAT_WEBP:
        return "webp";
    case VLM_IMAGE_FORMAT_GIF:
        return "gif";
    case VLM_IMAGE_FORMAT_BMP:
        return "bmp";
    default:
        return "unknown";
    }
}

vlm_status vlm_decode_check_size(vlm_decode_job *job, const char *format, int64_t width,
                                 int64_t height) {
    const vlm_image_decode_params *p = job->params;
    if (width < 1 || height < 1)
        return vlm_err(job->err, VLM_ERR_FORMAT,
                       "%s: %s header gives a zero-size image (%lldx%lld)", job->name, format,
                       (long long)width, (long long)height);
    if (width > p->max_dimension || height > p->max_dimension)
        return vlm_err(job->err, VLM_ERR_LIMIT,
                       "%s: %s image is %lldx%lld, a side above the %d-pixel limit", job->name,
                       format, (long long)width, (long long)height, p->max_dimension);
    int64_t pixels;
    if (!vlm_i64_mul(width, height, &pixels) || pixels > p->max_pixels)
        return vlm_err(job->err, VLM_ERR_LIMIT,
                       "%s: %s image is %lldx%lld pixels, more than the %lld allowed "
                       "(a decompression bomb?)",
                       job->name, format, (long long)width, (long long)height,
                       (long long)p->max_pixels);
    return VLM_OK;
}

static vlm_status check_params(const vlm_image_decode_params *p, vlm_error *err) {
    if (p->max_pixels < 1 || p->max_dimension < 1)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT,
                       "image decode: max_pixels and max_dimension must be >= 1");
    return VLM_OK;
}

vlm_status vlm_image_decode_memory(const void *data, size_t size, const char *name,
                                   const vlm_image_decode_params *params, vlm_image *out,
                                   vlm_image_info *info, vlm_error *err) {
    memset(out, 0, sizeof *out);
    if (info) memset(info, 0, sizeof *info);
    vlm_image_decode_params def = vlm_image_decode_params_default();
    vlm_decode_job job = {.data = data,
                          .size = size,
                          .name = name ? name : "<memory>",
                          .params = params ? params : &def,
                          .err = err};
    vlm_status s = check_params(job.params, err);
    if (s != VLM_OK) return s;
    if (!data || size == 0) return vlm_err(err, VLM_ERR_FORMAT, "%s: empty image data", job.name);
    vlm_image_format fmt = vlm_image_sniff(data, size);
    switch (fmt) {
    case VLM_IMAGE_FORMAT_JPEG:
        s = vlm_decode_jpeg(&job);
        break;
    case VLM_IMAGE_FORMAT_PNG:
        s = vlm_decode_png(&job);
        break;
    case VLM_IMAGE_FORMAT_WEBP:
        s = vlm_decode_webp(&job);
        break;
    case VLM_IMAGE_FORMAT_GIF:
        s = vlm_decode_gif(&job);
        break;
    case VLM_IMAGE_FORMAT_BMP:
        s = vlm_decode_bmp(&job);
        break;
    default:
        return vlm_err(err, VLM_ERR_UNSUPPORTED,
                       "%s: not a JPEG, PNG, WebP, GIF or BMP image (unrecognised first bytes)",
                       job.name);
    }
    if (s != VLM_OK) {
        vlm_image_free(&job.out);
        return s;
    }
    int orientation = (job.orientation >= 1 && job.orientation <= 8) ? job.orientation : 1;
    if (info) {
        info->format = fmt;
        info->orientation = orientation;
        info->stored_width = job.out.width;
        info->stored_height = job.out.height;
    }
    if (job.params->apply_exif_orientation && orientation != 1) {
        s = vlm_image_orient(&job.out, orientation, out, err);
        vlm_image_free(&job.out);
        if (s != VLM_OK) vlm_err_prefix(err, "%s", job.name);
        return s;
    }
    *out = job.out;
    return VLM_OK;
}

vlm_status vlm_image_decode_file(const char *path, const vlm_image_decode_params *params,
                                 vlm_image *out, vlm_image_info *info, vlm_error *err) {
    memset(out, 0, sizeof *out);
    if (info) memset(info, 0, sizeof *info);
    vlm_image_decode_params def = vlm_image_decode_params_default();
    const vlm_image_decode_params *p = params ? params : &def;
    char *buf = NULL;
    size_t len = 0;
    vlm_status s = vlm_file_read(path, p->max_file_bytes, &buf, &len, err);
    if (s != VLM_OK) return s;
    s = vlm_image_decode_memory(buf, len, path, p, out, info, err);
    free(buf);
    return s;
}

vlm_status vlm_image_from_rgb(const uint8_t *rgb, int width, int height, size_t stride,
                              const vlm_image_decode_params *params, vlm_image *out,
                              vlm_error *err) {
    memset(out, 0, sizeof *out);
    vlm_image_decode_params def = vlm_image_decode_params_default();
    vlm_decode_job job = {.name = "raw RGB", .params = params ? params : &def, .err = err};
    vlm_status s = check_params(job.params, err);
    if (s != VLM_OK) return s;
    if (!rgb) return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "raw RGB: pixel pointer is NULL");
    s = vlm_decode_check_size(&job, "raw RGB", width, height);
    if (s != VLM_OK) return s;
    if (stride == 0) stride = (size_t)width * 3;
    if (stride < (size_t)width * 3)
        return vlm_err(err, VLM_ERR_INVALID_ARGUMENT, "raw RGB: stride %zu is less than 3 * %d",
                       stride, width);
    vlm_image view = {.width = width, .height = height, .stride = stride, .data = (uint8_t *)rgb};
    return vlm_image_copy(&view, out, err);
}

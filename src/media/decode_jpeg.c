/* JPEG through libjpeg-turbo's libjpeg API with the settings Pillow's JpegDecode.c uses:
 * the library defaults (JDCT_ISLOW, fancy upsampling on, no scaling, no draft mode), the
 * colour space libjpeg detects, output GRAYSCALE for 1 component, RGB for 3 and CMYK for
 * 4. Pillow then treats CMYK as Adobe-inverted ("CMYK;I") and converts to RGB with
 * cmyk2rgb; grayscale is replicated. Warnings are ignored as Pillow ignores them, except
 * running out of data before the last scanline, which Pillow reports as a truncated file.
 * Errors longjmp back through a custom error manager; all allocations live in a context
 * outside the setjmp frame, so the error path frees them. */
#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE */
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "core/error.h"
#include "media/decode_internal.h"

typedef struct jpeg_err_mgr {
    struct jpeg_error_mgr pub;
    jmp_buf jmp;
    int hit_eof; /* JWRN_JPEG_EOF seen (the data ended early) */
    char message[JMSG_LENGTH_MAX];
} jpeg_err_mgr;

/* Progressive files may hold any number of scans, each a full pass over the coefficients;
 * a few KB of crafted scans can keep a decoder busy for minutes. Real encoders write
 * about 10; Pillow has no limit, we stop at this many (a documented difference). */
#define JPEG_MAX_SCANS 1000

typedef struct jpeg_ctx {
    struct jpeg_decompress_struct cinfo;
    jpeg_err_mgr jerr;
    struct jpeg_progress_mgr progress;
    int created;
    uint8_t *row; /* one scanline for gray/CMYK conversion */
    vlm_decode_job *job;
} jpeg_ctx;

static void on_error_exit(j_common_ptr cinfo) {
    jpeg_err_mgr *e = (jpeg_err_mgr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->message);
    longjmp(e->jmp, 1);
}

static void on_emit_message(j_common_ptr cinfo, int level) {
    jpeg_err_mgr *e = (jpeg_err_mgr *)cinfo->err;
    if (level < 0) {
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) e->hit_eof = 1;
        cinfo->err->num_warnings++;
    }
}

static void on_progress(j_common_ptr cinfo) {
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (cinfo->is_decompressor && d->input_scan_number > JPEG_MAX_SCANS) {
        jpeg_err_mgr *e = (jpeg_err_mgr *)cinfo->err;
        snprintf(e->message, sizeof e->message, "more than %d progressive scans (refused)",
                 JPEG_MAX_SCANS);
        longjmp(e->jmp, 1);
    }
}

static void on_output_message(j_common_ptr cinfo) {
    (void)cinfo; /* Pillow prints nothing; neither do we */
}

/* Pillow's MULDIV255 and cmyk2rgb, after the "CMYK;I" unpacker inverted each byte. */
static inline uint8_t muldiv255(int a, int b) {
    int t = a * b + 128;
    return (uint8_t)(((t >> 8) + t) >> 8);
}

static void cmyk_row_to_rgb(uint8_t *dst, const uint8_t *src, int width) {
    for (int x = 0; x < width; x++, src += 4, dst += 3) {
        int c = 255 - src[0], m = 255 - src[1], y = 255 - src[2], k = 255 - src[3];
        int nk = 255 - k;
        int r = nk - muldiv255(c, nk), g = nk - muldiv255(m, nk), b = nk - muldiv255(y, nk);
        dst[0] = (uint8_t)(r < 0 ? 0 : r);
        dst[1] = (uint8_t)(g < 0 ? 0 : g);
        dst[2] = (uint8_t)(b < 0 ? 0 : b);
    }
}

/* Everything that can longjmp happens here; ctx lives in the caller's frame. */
static vlm_status jpeg_run(jpeg_ctx *ctx) {
    vlm_decode_job *job = ctx->job;
    struct jpeg_decompress_struct *ci = &ctx->cinfo;
    if (setjmp(ctx->jerr.jmp))
        return vlm_err(job->err, VLM_ERR_FORMAT, "%s: JPEG: %s", job->name, ctx->jerr.message);
    jpeg_create_decompress(ci);
    ctx->created = 1;
    ctx->progress.progress_monitor = on_progress;
    ci->progress = &ctx->progress;
    jpeg_mem_src(ci, job->data, (unsigned long)job->size);
    jpeg_save_markers(ci, JPEG_APP0 + 1, 0xFFFF);
    if (jpeg_read_header(ci, TRUE) != JPEG_HEADER_OK)
        return vlm_err(job->err, VLM_ERR_FORMAT, "%s: JPEG: no image in the file", job->name);
    vlm_status s = vlm_decode_check_size(job, "JPEG", ci->image_width, ci->image_height);
    if (s != VLM_OK) return s;
    if (ci->data_precision != 8)
        return vlm_err(job->err, VLM_ERR_UNSUPPORTED, "%s: JPEG: cannot handle %d-bit layers",
                       job->name, ci->data_precision);
    switch (ci->num_components) {
    case 1:
        ci->out_color_space = JCS_GRAYSCALE;
        break;
    case 3:
        ci->out_color_space = JCS_RGB;
        break;
    case 4:
        ci->out_color_space = JCS_CMYK;
        break;
    default:
        return vlm_err(job->err, VLM_ERR_UNSUPPORTED, "%s: JPEG: cannot handle %d-layer images",
                       job->name, ci->num_components);
    }
    /* Orientation: EXIF from the APP1 "Exif\0\0" segments (Pillow appends later ones to
     * the first), else XMP from the last "http://ns.adobe.com/xap/1.0/\0" segment. */
    {
        static const char xmp_id[] = "http://ns.adobe.com/xap/1.0/";
        const jpeg_saved_marker_ptr first = ci->marker_list;
        const uint8_t *exif = NULL, *xmp = NULL;
        size_t exif_len = 0, xmp_len = 0;
        size_t exif_total = 0, n_exif = 0;
        for (jpeg_saved_marker_ptr m = first; m; m = m->next) {
            if (m->marker != JPEG_APP0 + 1) continue;
            if (m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0) {
                if (!exif) {
                    exif = m->data;
                    exif_len = m->data_length;
                }
                exif_total += m->data_length;
                n_exif++;
            } else if (m->data_length >= sizeof xmp_id &&
                       memcmp(m->data, xmp_id, sizeof xmp_id) == 0) {
                xmp = m->data + sizeof xmp_id;
                xmp_len = m->data_length - sizeof xmp_id;
            }
        }
        if (n_exif > 1) {
            /* Rare: EXIF split over segments; join them as Pillow does (s[6:] appended). */
            uint8_t *joined = malloc(exif_total);
            if (joined) {
                size_t at = 0;
                int seen = 0;
                for (jpeg_saved_marker_ptr m = first; m; m = m->next) {
                    if (m->marker != JPEG_APP0 + 1 || m->data_length < 6 ||
                        memcmp(m->data, "Exif\0\0", 6) != 0)
                        continue;
                    size_t skip = seen++ ? 6 : 0;
                    memcpy(joined + at, m->data + skip, m->data_length - skip);
                    at += m->data_length - skip;
                }
                job->orientation = vlm_exif_orientation(joined, at);
                free(joined);
            }
        } else if (exif) {
            job->orientation = vlm_exif_orientation(exif, exif_len);
        }
        if (!job->orientation && xmp) job->orientation = vlm_xmp_orientation(xmp, xmp_len);
    }
    jpeg_start_decompress(ci);
    if (ctx->jerr.hit_eof)
        return vlm_err(job->err, VLM_ERR_FORMAT, "%s: JPEG: image file is truncated", job->name);
    const int w = (int)ci->output_width, h = (int)ci->output_height;
    s = vlm_image_alloc(&job->out, w, h, job->err);
    if (s != VLM_OK) return s;
    if (ci->output_components != 3) {
        ctx->row = malloc((size_t)w * (size_t)ci->output_components);
        if (!ctx->row)
            return vlm_err(job->err, VLM_ERR_OUT_OF_MEMORY, "%s: JPEG: out of memory", job->name);
    }
    while (ci->output_scanline < ci->output_height) {
        const int y = (int)ci->output_scanline;
        uint8_t *dst = job->out.data + (size_t)y * job->out.stride;
        JSAMPROW rowp = ctx->row ? ctx->row : dst;
        if (jpeg_read_scanlines(ci, &rowp, 1) != 1)
            return vlm_err(job->err, VLM_ERR_FORMAT, "%s: JPEG: image file is truncated",
                           job->name);
        if (ci->output_components == 1) {
            for (int x = 0; x < w; x++)
                dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = ctx->row[x];
        } else if (ci->output_components == 4) {
            cmyk_row_to_rgb(dst, ctx->row, w);
        }
    }
    /* Data that ended before the last scanline: Pillow raises "image file is truncated". */
    if (ctx->jerr.hit_eof)
        return vlm_err(job->err, VLM_ERR_FORMAT, "%s: JPEG: image file is truncated", job->name);
    /* After the last scanline Pillow ignores what finishing reports (a missing EOI). */
    jpeg_abort_decompress(ci);
    return VLM_OK;
}

vlm_status vlm_decode_jpeg(vlm_decode_job *job) {
    jpeg_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return vlm_err(job->err, VLM_ERR_OUT_OF_MEMORY, "%s: JPEG: out of memory", job->name);
    ctx->job = job;
    ctx->cinfo.err = jpeg_std_error(&ctx->jerr.pub);
    ctx->jerr.pub.error_exit = on_error_exit;
    ctx->jerr.pub.emit_message = on_emit_message;
    ctx->jerr.pub.output_message = on_output_message;
    vlm_status s = jpeg_run(ctx);
    if (ctx->created) jpeg_destroy_decompress(&ctx->cinfo);
    free(ctx->row);
    if (s != VLM_OK) vlm_image_free(&job->out);
    free(ctx);
    return s;
}

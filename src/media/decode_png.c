/* PNG through libpng, converted as Pillow's PngImagePlugin + convert("RGB") do:
 *   gray 1/2/4/8 bit   -> value scaled to 0..255 (x255, x85, x17, x1), replicated
 *   gray 16 bit        -> Pillow's "I;16" mode: min(value, 255) (not the high byte!)
 *   RGB/RGBA/LA 16 bit -> the high byte of each sample
 *   palette            -> PLTE lookup (indices past the palette give black, as Pillow >= 10)
 *   alpha, tRNS        -> dropped, never composited
 * Checks that mirror Pillow: the CRC of every chunk before the first IDAT is verified (Pillow
 * raises "broken PNG file"), IDAT CRCs are not (Pillow skips them); a file that ends after
 * the image data but before IEND decodes (Pillow tolerates it), one that ends earlier is
 * truncated. Orientation: eXIf, else a text chunk "exif" / "Raw profile type exif", else
 * XMP (text key "XML:com.adobe.xmp"). libpng errors longjmp to a frame that owns nothing:
 * all allocations hang off a heap context freed by the caller. */
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

#include "core/checked.h"
#include "core/error.h"
#include "media/decode_internal.h"

typedef struct png_ctx {
    vlm_decode_job *job;
    png_structp png;
    png_infop info;
    size_t pos;                      /* read position in job->data */
    int in_end;                      /* reading after the image data: errors are tolerated */
    int last_row;                    /* the final png_read_row call is running */
    int hit_eof;                     /* the data ran out */
    int (*finish)(struct png_ctx *); /* completes the image after an EOF in the last row */
    char message[256];               /* libpng's error text */
    uint8_t *native;                 /* whole image (interlaced) or one row, libpng's layout */
    int width, height, color_type, depth, interlaced;
    size_t rowbytes;
    uint8_t palette[256][3];
    uint8_t *exif_buf; /* decoded "Raw profile type exif" */
} png_ctx;

static void on_png_error(png_structp png, png_const_charp msg) {
    png_ctx *ctx = png_get_error_ptr(png);
    snprintf(ctx->message, sizeof ctx->message, "%s", msg ? msg : "error");
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static void on_png_read(png_structp png, png_bytep out, size_t n) {
    png_ctx *ctx = png_get_io_ptr(png);
    if (n > ctx->job->size - ctx->pos) {
        ctx->hit_eof = 1;
        png_error(png, "image file is truncated");
    }
    memcpy(out, ctx->job->data + ctx->pos, n);
    ctx->pos += n;
}

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* zlib's CRC-32, four bits at a time (the 16 entries are the CRC of each nibble). */
static uint32_t crc32_bytes(uint32_t crc, const uint8_t *p, size_t n) {
    static const uint32_t t[16] = {0x00000000, 0x1DB71064, 0x3B6E20C8, 0x26D930AC,
                                   0x76DC4190, 0x6B6B51F4, 0x4DB26158, 0x5005713C,
                                   0xEDB88320, 0xF00F9344, 0xD6D6A3E8, 0xCB61B38C,
                                   0x9B64C2B0, 0x86D3D2D4, 0xA00AE278, 0xBDBDF21C};
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ t[crc & 15];
        crc = (crc >> 4) ^ t[crc & 15];
    }
    return ~crc;
}

/* Walks the chunks before the first IDAT: IHDR first and sane, sizes checked against the
 * limits, CRCs verified. Nothing is allocated. */
static vlm_status png_prescan(vlm_decode_job *job) {
    const uint8_t *d = job->data;
    const size_t n = job->size;
    size_t at = 8;
    int first = 1;
    for (;;) {
        if (n - at < 12)
            return vlm_err(job->err, VLM_ERR_FORMAT,
                           "%s: PNG: image file is truncated (no image data)", job->name);
        uint32_t len = be32(d + at);
        const uint8_t *type = d + at + 4;
        if (!first && memcmp(type, "IDAT", 4) == 0) return VLM_OK; /* libpng reads the rest */
        if (len > 0x7FFFFFFFu || (size_t)len > n - at - 12)
            return vlm_err(job->err, VLM_ERR_FORMAT,
                           "%s: PNG: chunk '%.4s' of %u bytes runs past the end of the file",
                           job->name, (const char *)type, len);
        if (first) {
            if (memcmp(type, "IHDR", 4) != 0 || len != 13)
                return vlm_err(job->err, VLM_ERR_FORMAT, "%s: PNG: the first chunk is not IHDR",
                               job->name);
            vlm_status s = vlm_decode_check_size(job, "PNG", be32(d + at + 8), be32(d + at + 12));
            if (s != VLM_OK) return s;
            first = 0;
        }
        if (memcmp(type, "IDAT", 4) == 0) return VLM_OK;
        if (crc32_bytes(0, type, 4 + (size_t)len) != be32(d + at + 8 + len))
            return vlm_err(job->err, VLM_ERR_FORMAT,
                           "%s: PNG: broken PNG file (bad header checksum in '%.4s')", job->name,
                           (const char *)type);
        if (memcmp(type, "IEND", 4) == 0)
            return vlm_err(job->err, VLM_ERR_FORMAT, "%s: PNG: no image data before IEND",
                           job->name);
        at += 12 + (size_t)len;
    }
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* ImageMagick's "Raw profile type exif": "\nexif\n   <len>\n<hex lines>"; Pillow joins the
 * lines after the third newline and hex-decodes them. */
static int raw_profile_orientation(png_ctx *ctx, const char *text, size_t len) {
    size_t at = 0;
    for (int nl = 0; nl < 3; nl++) {
        while (at < len && text[at] != '\n')
            at++;
        if (at >= len) return 0;
        at++;
    }
    free(ctx->exif_buf);
    ctx->exif_buf = malloc((len - at) / 2 + 1);
    if (!ctx->exif_buf) return 0;
    size_t n = 0;
    int hi = -1;
    for (; at < len; at++) {
        int c = (unsigned char)text[at];
        if (c == '\n' || c == ' ' || c == '\t' || c == '\r') {
            if (hi >= 0) return 0;
            continue;
        }
        int v = hexval(c);
        if (v < 0) return 0;
        if (hi < 0) {
            hi = v;
        } else {
            ctx->exif_buf[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    return hi >= 0 ? 0 : vlm_exif_orientation(ctx->exif_buf, n);
}

static void png_find_orientation(png_ctx *ctx) {
    png_bytep exif = NULL;
    png_uint_32 exif_len = 0;
    if (png_get_eXIf_1(ctx->png, ctx->info, &exif_len, &exif) && exif && exif_len) {
        ctx->job->orientation = vlm_exif_orientation(exif, exif_len);
        if (ctx->job->orientation) return;
    }
    png_textp text = NULL;
    int n = 0;
    png_get_text(ctx->png, ctx->info, &text, &n);
    int o = 0;
    for (int i = 0; i < n && !o; i++) {
        size_t len = text[i].compression > 0 ? text[i].itxt_length : text[i].text_length;
        if (!exif && strcmp(text[i].key, "exif") == 0)
            o = vlm_exif_orientation((const uint8_t *)text[i].text, len);
        else if (!exif && strcmp(text[i].key, "Raw profile type exif") == 0)
            o = raw_profile_orientation(ctx, text[i].text, len);
    }
    for (int i = 0; i < n && !o; i++) {
        size_t len = text[i].compression > 0 ? text[i].itxt_length : text[i].text_length;
        if (strcmp(text[i].key, "XML:com.adobe.xmp") == 0)
            o = vlm_xmp_orientation((const uint8_t *)text[i].text, len);
    }
    ctx->job->orientation = o;
}

/* One row in libpng's layout (after png_set_packing: one byte per sample below 8 bits,
 * big-endian 16-bit samples) to RGB8. */
static void convert_row(const png_ctx *ctx, uint8_t *dst, const uint8_t *src, int width,
                        int color_type, int depth) {
    const int wide = depth == 16;
    switch (color_type) {
    case PNG_COLOR_TYPE_GRAY:
        for (int x = 0; x < width; x++) {
            int v;
            if (wide)
                v = src[2 * x] ? 255 : src[2 * x + 1]; /* I;16 -> RGB clips */
            else if (depth == 8)
                v = src[x];
            else
                v = src[x] * (depth == 1 ? 255 : depth == 2 ? 85 : 17);
            dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = (uint8_t)v;
        }
        break;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
        for (int x = 0; x < width; x++) {
            uint8_t v = src[(wide ? 4 : 2) * x]; /* high byte when 16-bit */
            dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = v;
        }
        break;
    case PNG_COLOR_TYPE_RGB:
        if (!wide) {
            memcpy(dst, src, (size_t)width * 3);
        } else {
            for (int x = 0; x < 3 * width; x++)
                dst[x] = src[2 * x];
        }
        break;
    case PNG_COLOR_TYPE_RGB_ALPHA:
        for (int x = 0; x < width; x++)
            for (int c = 0; c < 3; c++)
                dst[3 * x + c] = src[(wide ? 8 : 4) * x + (wide ? 2 : 1) * c];
        break;
    default: /* palette */
        for (int x = 0; x < width; x++)
            memcpy(dst + 3 * x, ctx->palette[src[x]], 3);
        break;
    }
}

/* Converts what is in `native` to the output: the whole interlaced image, or the last row
 * of a sequential one. Returns 1. */
static int finish_image(png_ctx *ctx) {
    vlm_image *out = &ctx->job->out;
    if (ctx->interlaced) {
        for (int y = 0; y < ctx->height; y++)
            convert_row(ctx, out->data + (size_t)y * out->stride,
                        ctx->native + (size_t)y * ctx->rowbytes, ctx->width, ctx->color_type,
                        ctx->depth);
    } else {
        convert_row(ctx, out->data + (size_t)(ctx->height - 1) * out->stride, ctx->native,
                    ctx->width, ctx->color_type, ctx->depth);
    }
    return 1;
}

static vlm_status png_run(png_ctx *ctx) {
    vlm_decode_job *job = ctx->job;
    if (setjmp(png_jmpbuf(ctx->png))) {
        if (ctx->in_end) return VLM_OK; /* the image is complete; trailing chunks are not */
        /* The data ended while libpng looked for the IDAT CRC after the last row: every
         * pixel is there, and Pillow (which never reads IDAT CRCs) decodes such a file. */
        if (ctx->last_row && ctx->hit_eof && ctx->finish)
            return ctx->finish(ctx)
                       ? VLM_OK
                       : vlm_err(job->err, VLM_ERR_FORMAT, "%s: PNG: %s", job->name, ctx->message);
        return vlm_err(job->err, VLM_ERR_FORMAT, "%s: PNG: %s", job->name, ctx->message);
    }
    png_set_read_fn(ctx->png, ctx, on_png_read);
    png_set_user_limits(ctx->png, (png_uint_32)job->params->max_dimension,
                        (png_uint_32)job->params->max_dimension);
    /* Pillow checks no IDAT CRC; pre-IDAT CRCs were checked by png_prescan. */
    png_set_crc_action(ctx->png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
    png_set_benign_errors(ctx->png, 1);
    png_read_info(ctx->png, ctx->info);
    png_uint_32 w32, h32;
    int depth, color_type, interlace;
    png_get_IHDR(ctx->png, ctx->info, &w32, &h32, &depth, &color_type, &interlace, NULL, NULL);
    vlm_status s = vlm_decode_check_size(job, "PNG", w32, h32);
    if (s != VLM_OK) return s;
    const int w = (int)w32, h = (int)h32;
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_colorp pal = NULL;
        int npal = 0;
        memset(ctx->palette, 0, sizeof ctx->palette);
        if (png_get_PLTE(ctx->png, ctx->info, &pal, &npal))
            for (int i = 0; i < npal && i < 256; i++) {
                ctx->palette[i][0] = pal[i].red;
                ctx->palette[i][1] = pal[i].green;
                ctx->palette[i][2] = pal[i].blue;
            }
    }
    if (depth < 8) png_set_packing(ctx->png);
    int passes = png_set_interlace_handling(ctx->png);
    png_read_update_info(ctx->png, ctx->info);
    const size_t rowbytes = png_get_rowbytes(ctx->png, ctx->info);
    s = vlm_image_alloc(&job->out, w, h, job->err);
    if (s != VLM_OK) return s;
    ctx->width = w;
    ctx->height = h;
    ctx->color_type = color_type;
    ctx->depth = depth;
    ctx->rowbytes = rowbytes;
    ctx->interlaced = passes > 1;
    ctx->finish = finish_image;
    if (passes > 1) {
        size_t total;
        if (!vlm_size_mul(rowbytes, (size_t)h, &total) || !(ctx->native = malloc(total)))
            return vlm_err(job->err, VLM_ERR_OUT_OF_MEMORY, "%s: PNG: out of memory", job->name);
        for (int p = 0; p < passes; p++)
            for (int y = 0; y < h; y++) {
                ctx->last_row = p == passes - 1 && y == h - 1;
                png_read_row(ctx->png, ctx->native + (size_t)y * rowbytes, NULL);
            }
        finish_image(ctx);
    } else {
        if (!(ctx->native = malloc(rowbytes)))
            return vlm_err(job->err, VLM_ERR_OUT_OF_MEMORY, "%s: PNG: out of memory", job->name);
        for (int y = 0; y < h; y++) {
            ctx->last_row = y == h - 1;
            png_read_row(ctx->png, ctx->native, NULL);
            convert_row(ctx, job->out.data + (size_t)y * job->out.stride, ctx->native, w,
                        color_type, depth);
        }
    }
    ctx->last_row = 0;
    ctx->in_end = 1;
    png_read_end(ctx->png, ctx->info);
    return VLM_OK;
}

vlm_status vlm_decode_png(vlm_decode_job *job) {
    vlm_status s = png_prescan(job);
    if (s != VLM_OK) return s;
    png_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return vlm_err(job->err, VLM_ERR_OUT_OF_MEMORY, "%s: PNG: out of memory", job->name);
    ctx->job = job;
    ctx->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, ctx, on_png_error, on_png_warning);
    if (ctx->png) ctx->info = png_create_info_struct(ctx->png);
    if (!ctx->png || !ctx->info) {
        s = vlm_err(job->err, VLM_ERR_OUT_OF_MEMORY, "%s: PNG: cannot create a decoder", job->name);
    } else {
        s = png_run(ctx);
        /* Metadata read so far (also after a tolerated trailing error). */
        if (s == VLM_OK) png_find_orientation(ctx);
    }
    png_destroy_read_struct(ctx->png ? &ctx->png : NULL, ctx->info ? &ctx->info : NULL, NULL);
    free(ctx->native);
    free(ctx->exif_buf);
    free(ctx);
    if (s != VLM_OK) vlm_image_free(&job->out);
    return s;
}

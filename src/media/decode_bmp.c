/* BMP, parsed here following Pillow's BmpImagePlugin: header sizes 12 (OS/2) and 40..124;
 * 1/4/8-bit palettes (BGRX entries, BGR for OS/2), 16-bit (5-5-5 by default, 5-6-5 or
 * 5-5-5 bitfields; channels scaled v * 255 / max with integer division), 24-bit BGR,
 * 32-bit BGRX or the bitfield layouts Pillow lists; RLE8 and RLE4 as Pillow's
 * BmpRleDecoder (rows padded at end-of-line, delta skips, data that stops early is an
 * error). Bottom-up unless the height is negative. Pixel data starts at bfOffBits, except
 * that Pillow skips the palette when the offset points right after the header. Alpha is
 * never used (convert("RGB")). */
#include <stdlib.h>
#include <string.h>

#include "core/checked.h"
#include "core/error.h"
#include "media/decode_internal.h"

static uint32_t le16(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}
static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

enum { RAW = 0, RLE8 = 1, RLE4 = 2, BITFIELDS = 3 };

/* How one pixel of a 16/32-bit layout maps to RGB: byte positions (32-bit) or 5/6-bit
 * fields (16-bit). */
typedef struct bmp_layout {
    int bits;
    int r, g, b; /* 32-bit: byte index of each channel; 24: 2, 1, 0 */
    int green6;  /* 16-bit: 5-6-5 */
} bmp_layout;

static vlm_status bad(vlm_decode_job *job, const char *what) {
    return vlm_err(job->err, VLM_ERR_FORMAT, "%s: BMP: %s", job->name, what);
}

/* Pillow's RLE decoder on a linear index buffer (rows in file order). */
static vlm_status bmp_rle(vlm_decode_job *job, size_t at, int w, int h, int rle4, uint8_t *out) {
    const uint8_t *d = job->data;
    const size_t n = job->size, dest = (size_t)w * h;
    size_t len = 0;
    int64_t x = 0;
    memset(out, 0, dest);
#define PUT(v)                                                                                     \
    do {                                                                                           \
        if (len < dest) out[len] = (v);                                                            \
        len++;                                                                                     \
    } while (0)
    while (len < dest) {
        if (n - at < 2) break;
        int count = d[at], byte = d[at + 1];
        at += 2;
        if (count) {
            if (x + count > w) count = (int)(w - x > 0 ? w - x : 0);
            for (int i = 0; i < count; i++)
                PUT((uint8_t)(rle4 ? ((i % 2 == 0) ? byte >> 4 : byte & 15) : byte));
            x += count;
        } else if (byte == 0) { /* end of line */
            while (len % (size_t)w != 0)
                PUT(0);
            x = 0;
        } else if (byte == 1) { /* end of bitmap */
            break;
        } else if (byte == 2) { /* delta */
            if (n - at < 2) break;
            size_t skip = d[at] + (size_t)d[at + 1] * (size_t)w;
            at += 2;
            for (size_t i = 0; i < skip && len < dest; i++)
                PUT(0);
            if (len >= dest) len += 0;
            x = (int64_t)(len % (size_t)w);
        } else { /* absolute run */
            size_t want = dest - len < (size_t)byte ? dest - len : (size_t)byte;
            size_t nbytes = rle4 ? (want + 1) / 2 : want;
            size_t got = n - at < nbytes ? n - at : nbytes;
            for (size_t i = 0; i < got; i++) {
                if (rle4) {
                    PUT((uint8_t)(d[at + i] >> 4));
                    if (i * 2 + 1 < want) PUT((uint8_t)(d[at + i] & 15));
                } else {
                    PUT(d[at + i]);
                }
            }
            at += got;
            if (got < nbytes || len == dest) break;
            x += byte;
            if (at % 2 != 0) at++; /* word alignment (file offsets) */
        }
    }
#undef PUT
    if (len < dest) return bad(job, "not enough image data");
    return VLM_OK;
}

vlm_status vlm_decode_bmp(vlm_decode_job *job) {
    const uint8_t *d = job->data;
    const size_t n = job->size;
    if (n < 18) return bad(job, "image file is truncated (header)");
    const uint32_t offset = le32(d + 10);
    const uint32_t hsize = le32(d + 14);
    if (!(hsize == 12 || hsize == 40 || hsize == 52 || hsize == 56 || hsize == 64 || hsize == 108 ||
          hsize == 124))
        return vlm_err(job->err, VLM_ERR_UNSUPPORTED, "%s: BMP: unsupported header type (%u)",
                       job->name, hsize);
    if (n - 14 < hsize) return bad(job, "image file is truncated (header)");
    const uint8_t *h = d + 18; /* header data after its size field */
    int64_t width, height;
    int bits, compression = RAW, direction = -1, pal_entry;
    uint32_t colors = 0, masks[4] = {0, 0, 0, 0};
    size_t pal_at = 14 + hsize;
    if (hsize == 12) {
        width = le16(h);
        height = le16(h + 2);
        bits = (int)le16(h + 6);
        pal_entry = 3;
    } else {
        int y_flip = h[7] == 0xFF;
        direction = y_flip ? 1 : -1;
        width = (int32_t)le32(h);
        uint32_t hv = le32(h + 4);
        height = y_flip ? (int64_t)(0x100000000ULL - hv) : (int64_t)hv;
        bits = (int)le16(h + 10);
        compression = (int)le32(h + 12);
        colors = le32(h + 28);
        pal_entry = 4;
        if (compression == BITFIELDS) {
            if (hsize >= 52) {
                for (int i = 0; i < (hsize >= 56 ? 4 : 3); i++)
                    masks[i] = le32(h + 36 + 4 * i);
            } else {
                if (n - pal_at < 12) return bad(job, "image file is truncated (bitfields)");
                for (int i = 0; i < 3; i++)
                    masks[i] = le32(d + pal_at + 4 * i);
                pal_at += 12;
            }
        }
    }
    vlm_status s = vlm_decode_check_size(job, "BMP", width, height);
    if (s != VLM_OK) return s;
    const int w = (int)width, hh = (int)height;
    if (!colors) colors = bits < 32 ? 1u << bits : 0;
    size_t data_at = offset;
    if (offset == 14 + hsize && bits <= 8) data_at += (size_t)pal_entry * colors;

    bmp_layout lay = {.bits = bits, .r = 2, .g = 1, .b = 0};
    int palette = 0;
    if (bits == 1 || bits == 4 || bits == 8) {
        palette = 1;
    } else if (bits == 16 || bits == 24 || bits == 32) {
        if (compression == BITFIELDS) {
            const uint32_t r = masks[0], g = masks[1], b = masks[2], a = masks[3];
            int ok = 0;
            if (bits == 32) {
                /* Pillow's SUPPORTED[32] table; the byte holding each channel. */
                static const struct {
                    uint32_t m[4];
                    int r, g, b;
                } t[] = {
                    {{0xFF0000, 0xFF00, 0xFF, 0}, 2, 1, 0},          /* BGRX */
                    {{0xFF000000, 0xFF0000, 0xFF00, 0}, 3, 2, 1},    /* XBGR */
                    {{0xFF000000, 0xFF00, 0xFF, 0}, 3, 1, 0},        /* BGXR */
                    {{0xFF000000, 0xFF0000, 0xFF00, 0xFF}, 3, 2, 1}, /* ABGR */
                    {{0xFF, 0xFF00, 0xFF0000, 0xFF000000}, 0, 1, 2}, /* RGBA */
                    {{0xFF0000, 0xFF00, 0xFF, 0xFF000000}, 2, 1, 0}, /* BGRA */
                    {{0xFF000000, 0xFF00, 0xFF, 0xFF0000}, 3, 1, 0}, /* BGAR */
                    {{0, 0, 0, 0}, 2, 1, 0},                         /* BGRA */
                };
                for (size_t i = 0; i < sizeof t / sizeof t[0] && !ok; i++)
                    if (t[i].m[0] == r && t[i].m[1] == g && t[i].m[2] == b && t[i].m[3] == a) {
                        lay.r = t[i].r, lay.g = t[i].g, lay.b = t[i].b;
                        ok = 1;
                    }
            } else if (bits == 24) {
                ok = r == 0xFF0000 && g == 0xFF00 && b == 0xFF;
            } else {
                if (r == 0xF800 && g == 0x7E0 && b == 0x1F)
                    ok = 1, lay.green6 = 1;
                else if (r == 0x7C00 && g == 0x3E0 && b == 0x1F)
                    ok = 1;
            }
            if (!ok)
                return vlm_err(job->err, VLM_ERR_UNSUPPORTED,
                               "%s: BMP: unsupported bitfields layout", job->name);
        } else if (compression != RAW) {
            return vlm_err(job->err, VLM_ERR_UNSUPPORTED, "%s: BMP: unsupported compression (%d)",
                           job->name, compression);
        }
    } else {
        return vlm_err(job->err, VLM_ERR_UNSUPPORTED, "%s: BMP: unsupported pixel depth (%d)",
                       job->name, bits);
    }
    if (palette && compression != RAW && compression != RLE8 && compression != RLE4)
        return vlm_err(job->err, VLM_ERR_UNSUPPORTED, "%s: BMP: unsupported compression (%d)",
                       job->name, compression);
    if ((compression == RLE8 && bits != 8) || (compression == RLE4 && bits != 4))
        return bad(job, "RLE compression does not match the pixel depth");

    uint8_t lut[256][3];
    if (palette) {
        if (!(colors > 0 && colors <= 65536))
            return vlm_err(job->err, VLM_ERR_UNSUPPORTED, "%s: BMP: unsupported palette size (%u)",
                           job->name, colors);
        size_t pal_bytes = (size_t)pal_entry * colors;
        if (n < pal_at || n - pal_at < pal_bytes)
            return bad(job, "image file is truncated (palette)");
        /* Pillow: an exact gray ramp (or black/white for 2 colours) is mode "1"/"L", whose
         * value is the index itself; other palettes are looked up, black past the end. */
        int gray = 1;
        for (uint32_t i = 0; i < colors && gray; i++) {
            uint32_t v = colors == 2 ? (i ? 255 : 0) : i;
            const uint8_t *e = d + pal_at + (size_t)pal_entry * i;
            if (!(e[0] == v && e[1] == v && e[2] == v)) gray = 0;
        }
        memset(lut, 0, sizeof lut);
        for (int i = 0; i < 256; i++) {
            if (gray) {
                int v = (colors == 2 && i == 1) ? 255 : i;
                lut[i][0] = lut[i][1] = lut[i][2] = (uint8_t)v;
            } else if ((uint32_t)i < colors) {
                const uint8_t *e = d + pal_at + (size_t)pal_entry * i; /* B, G, R */
                lut[i][0] = e[2], lut[i][1] = e[1], lut[i][2] = e[0];
            }
        }
    }
    s = vlm_image_alloc(&job->out, w, hh, job->err);
    if (s != VLM_OK) return s;

    if (compression == RLE8 || compression == RLE4) {
        uint8_t *idx = malloc((size_t)w * hh);
        if (!idx)
            return vlm_err(job->err, VLM_ERR_OUT_OF_MEMORY, "%s: BMP: out of memory", job->name);
        s = data_at <= n ? bmp_rle(job, data_at, w, hh, compression == RLE4, idx)
                         : bad(job, "image file is truncated (no pixel data)");
        if (s == VLM_OK)
            for (int r = 0; r < hh; r++) {
                int y = direction < 0 ? hh - 1 - r : r;
                uint8_t *dst = job->out.data + (size_t)y * job->out.stride;
                for (int x = 0; x < w; x++)
                    memcpy(dst + 3 * x, lut[idx[(size_t)r * w + x]], 3);
            }
        free(idx);
        return s;
    }

    const size_t row_bytes = ((((size_t)w * (size_t)bits) + 31) >> 3) & ~(size_t)3;
    size_t need;
    if (!vlm_size_mul(row_bytes, (size_t)hh, &need) || data_at > n || n - data_at < need)
        return bad(job, "image file is truncated (pixel data)");
    for (int r = 0; r < hh; r++) {
        const uint8_t *src = d + data_at + (size_t)r * row_bytes;
        int y = direction < 0 ? hh - 1 - r : r;
        uint8_t *dst = job->out.data + (size_t)y * job->out.stride;
        for (int x = 0; x < w; x++, dst += 3) {
            switch (bits) {
            case 1:
                memcpy(dst, lut[(src[x >> 3] >> (7 - (x & 7))) & 1], 3);
                break;
            case 4:
                memcpy(dst, lut[(src[x >> 1] >> ((x & 1) ? 0 : 4)) & 15], 3);
                break;
            case 8:
                memcpy(dst, lut[src[x]], 3);
                break;
            case 16: {
                uint32_t px = le16(src + 2 * x);
                /* Pillow's BGR;15 / BGR;16 unpackers: blue in the low bits */
                dst[2] = (uint8_t)((px & 31) * 255 / 31);
                if (lay.green6) {
                    dst[1] = (uint8_t)(((px >> 5) & 63) * 255 / 63);
                    dst[0] = (uint8_t)(((px >> 11) & 31) * 255 / 31);
                } else {
                    dst[1] = (uint8_t)(((px >> 5) & 31) * 255 / 31);
                    dst[0] = (uint8_t)(((px >> 10) & 31) * 255 / 31);
                }
                break;
            }
            case 24:
                dst[0] = src[3 * x + 2], dst[1] = src[3 * x + 1], dst[2] = src[3 * x];
                break;
            default: /* 32 */
                dst[0] = src[4 * x + lay.r], dst[1] = src[4 * x + lay.g],
                dst[2] = src[4 * x + lay.b];
                break;
            }
        }
    }
    return VLM_OK;
}

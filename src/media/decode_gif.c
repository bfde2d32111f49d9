/* GIF through giflib's low-level reader, first frame only, composed as Pillow's
 * GifImagePlugin does for frame 0: the canvas is the logical screen (grown when the frame
 * reaches past it), filled with the frame's transparent index (or 0), the frame's indices
 * drawn at its offset (interlaced rows put back in order), then convert("RGB") looks the
 * indices up in the local palette, else the global one. A palette that is the identity gray
 * ramp, or no palette at all, makes Pillow use mode "L": the index is the gray value.
 * Indices past a real palette give black (Pillow >= 10). Transparency never composites. */
#include <stdlib.h>
#include <string.h>

#include <gif_lib.h>

#include "core/error.h"
#include "media/decode_internal.h"

typedef struct gif_reader {
    const uint8_t *data;
    size_t size, pos;
} gif_reader;

static int gif_read(GifFileType *gif, GifByteType *out, int n) {
    gif_reader *r = gif->UserData;
    size_t avail = r->size - r->pos;
    size_t k = n < 0 ? 0 : (size_t)n;
    if (k > avail) k = avail;
    memcpy(out, r->data + r->pos, k);
    r->pos += k;
    return (int)k;
}

/* Pillow's _is_palette_needed: false when entry i is (i, i, i) for every entry. */
static int palette_needed(const ColorMapObject *cm) {
    for (int i = 0; i < cm->ColorCount; i++) {
        const GifColorType *c = &cm->Colors[i];
        if (!(c->Red == i && c->Green == i && c->Blue == i)) return 1;
    }
    return 0;
}

static vlm_status gif_fail(vlm_decode_job *job, const char *what, int code) {
    const char *why = GifErrorString(code);
    return vlm_err(job->err, VLM_ERR_FORMAT, "%s: GIF: %s%s%s", job->name, what, why ? ": " : "",
                   why ? why : "");
}

static vlm_status gif_first_frame(vlm_decode_job *job, GifFileType *gif, uint8_t **idx) {
    int transparent = -1;
    for (;;) {
        GifRecordType rt;
        if (DGifGetRecordType(gif, &rt) == GIF_ERROR)
            return gif_fail(job, "image file is truncated or corrupt", gif->Error);
        if (rt == TERMINATE_RECORD_TYPE)
            return vlm_err(job->err, VLM_ERR_FORMAT, "%s: GIF: no image in the file", job->name);
        if (rt == EXTENSION_RECORD_TYPE) {
            int code;
            GifByteType *ext = NULL;
            if (DGifGetExtension(gif, &code, &ext) == GIF_ERROR)
                return gif_fail(job, "bad extension block", gif->Error);
            if (code == GRAPHICS_EXT_FUNC_CODE && ext && ext[0] >= 4) {
                /* Pillow: flags = block[0]; transparency = block[3] when flags & 1 */
                transparent = (ext[1] & 1) ? ext[4] : -1;
            }
            while (ext) {
                if (DGifGetExtensionNext(gif, &ext) == GIF_ERROR)
                    return gif_fail(job, "bad extension block", gif->Error);
            }
            continue;
        }
        if (rt != IMAGE_DESC_RECORD_TYPE) continue;
        if (DGifGetImageDesc(gif) == GIF_ERROR)
            return gif_fail(job, "bad image descriptor", gif->Error);
        const GifImageDesc *im = &gif->Image;
        const int64_t x0 = im->Left, y0 = im->Top, fw = im->Width, fh = im->Height;
        const int64_t W = x0 + fw > gif->SWidth ? x0 + fw : gif->SWidth;
        const int64_t H = y0 + fh > gif->SHeight ? y0 + fh : gif->SHeight;
        vlm_status s = vlm_decode_check_size(job, "GIF", W, H);
        if (s != VLM_OK) return s;
        if (fw < 1 || fh < 1)
            return vlm_err(job->err, VLM_ERR_FORMAT, "%s: GIF: empty first frame", job->name);
        *idx = malloc((size_t)W * (size_t)H);
        if (!*idx)
            return vlm_err(job->err, VLM_ERR_OUT_OF_MEMORY, "%s: GIF: out of memory", job->name);
        memset(*idx, transparent >= 0 ? transparent : 0, (size_t)W * (size_t)H);
        /* Rows arrive in file order; interlaced files send rows 0,8,.. then 4,12,.. then
         * 2,6,.. then 1,3,.. */
        static const int start[4] = {0, 4, 2, 1}, step[4] = {8, 8, 4, 2};
        const int passes = im->Interlace ? 4 : 1;
        for (int p = 0; p < passes; p++) {
            const int y_first = im->Interlace ? start[p] : 0, y_step = im->Interlace ? step[p] : 1;
            for (int64_t y = y_first; y < fh; y += y_step) {
                if (DGifGetLine(gif, *idx + (size_t)(y0 + y) * W + x0, (int)fw) == GIF_ERROR)
                    return gif_fail(job, "image file is truncated or corrupt", gif->Error);
            }
        }
        /* The palette: local, else global; the gray ramp or none means mode "L". */
        const ColorMapObject *cm = im->ColorMap ? im->ColorMap : gif->SColorMap;
        uint8_t lut[256][3];
        memset(lut, 0, sizeof lut);
        if (cm && palette_needed(cm)) {
            for (int i = 0; i < cm->ColorCount && i < 256; i++) {
                lut[i][0] = cm->Colors[i].Red;
                lut[i][1] = cm->Colors[i].Green;
                lut[i][2] = cm->Colors[i].Blue;
            }
        } else {
            for (int i = 0; i < 256; i++)
                lut[i][0] = lut[i][1] = lut[i][2] = (uint8_t)i;
        }
        s = vlm_image_alloc(&job->out, (int)W, (int)H, job->err);
        if (s != VLM_OK) return s;
        for (int64_t y = 0; y < H; y++) {
            const uint8_t *src = *idx + (size_t)y * W;
            uint8_t *dst = job->out.data + (size_t)y * job->out.stride;
            for (int64_t x = 0; x < W; x++)
                memcpy(dst + 3 * x, lut[src[x]], 3);
        }
        return VLM_OK;
    }
}

vlm_status vlm_decode_gif(vlm_decode_job *job) {
    gif_reader r = {.data = job->data, .size = job->size};
    int code = 0;
    GifFileType *gif = DGifOpen(&r, gif_read, &code);
    if (!gif) return gif_fail(job, "cannot read the header", code);
    uint8_t *idx = NULL;
    vlm_status s = vlm_decode_check_size(job, "GIF", gif->SWidth < 1 ? 1 : gif->SWidth,
                                         gif->SHeight < 1 ? 1 : gif->SHeight);
    if (s == VLM_OK) s = gif_first_frame(job, gif, &idx);
    free(idx);
    DGifCloseFile(gif, &code);
    return s;
}

/* WebP through libwebp the way Pillow's _webp.c reads every WebP file: WebPAnimDecoder
 * with default options (non-premultiplied RGBA, fancy upsampling), first frame on the
 * canvas; RGB is the first three bytes (alpha dropped, as convert("RGB") with no
 * compositing). The canvas size is checked (WebPGetFeatures) before the decoder allocates
 * it. Orientation from the EXIF chunk, else the XMP chunk. */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

#include "core/error.h"
#include "media/decode_internal.h"

vlm_status vlm_decode_webp(vlm_decode_job *job) {
    const uint8_t *d = job->data;
    /* Pillow's _accept: RIFF, WEBP, then a VP8 / VP8L / VP8X chunk */
    if (job->size < 16 || (memcmp(d + 12, "VP8 ", 4) != 0 && memcmp(d + 12, "VP8L", 4) != 0 &&
                           memcmp(d + 12, "VP8X", 4) != 0))
        return vlm_err(job->err, VLM_ERR_FORMAT, "%s: WebP: not a WEBP file (no VP8 chunk)",
                       job->name);
    WebPBitstreamFeatures feat;
    VP8StatusCode st = WebPGetFeatures(d, job->size, &feat);
    if (st != VP8_STATUS_OK)
        return vlm_err(job->err, VLM_ERR_FORMAT, "%s: WebP: %s", job->name,
                       st == VP8_STATUS_NOT_ENOUGH_DATA ? "image file is truncated"
                                                        : "could not read the bitstream header");
    vlm_status s = vlm_decode_check_size(job, "WebP", feat.width, feat.height);
    if (s != VLM_OK) return s;
    WebPData wd = {.bytes = d, .size = job->size};
    WebPAnimDecoderOptions opt;
    if (!WebPAnimDecoderOptionsInit(&opt))
        return vlm_err(job->err, VLM_ERR_INTERNAL, "%s: WebP: library version mismatch", job->name);
    opt.color_mode = MODE_RGBA;
    opt.use_threads = 0;
    WebPAnimDecoder *dec = WebPAnimDecoderNew(&wd, &opt);
    if (!dec)
        return vlm_err(job->err, VLM_ERR_FORMAT,
                       "%s: WebP: could not create decoder object (truncated or corrupt file)",
                       job->name);
    WebPAnimInfo info;
    if (!WebPAnimDecoderGetInfo(dec, &info)) {
        WebPAnimDecoderDelete(dec);
        return vlm_err(job->err, VLM_ERR_FORMAT, "%s: WebP: no image information", job->name);
    }
    s = vlm_decode_check_size(job, "WebP", info.canvas_width, info.canvas_height);
    uint8_t *rgba = NULL;
    int ts = 0;
    if (s == VLM_OK && !WebPAnimDecoderGetNext(dec, &rgba, &ts))
        s = vlm_err(job->err, VLM_ERR_FORMAT, "%s: WebP: failed to decode the first frame",
                    job->name);
    if (s == VLM_OK)
        s = vlm_image_alloc(&job->out, (int)info.canvas_width, (int)info.canvas_height, job->err);
    if (s == VLM_OK) {
        const int w = job->out.width;
        for (int y = 0; y < job->out.height; y++) {
            const uint8_t *src = rgba + (size_t)y * w * 4;
            uint8_t *dst = job->out.data + (size_t)y * job->out.stride;
            for (int x = 0; x < w; x++)
                memcpy(dst + 3 * x, src + 4 * x, 3);
        }
        const WebPDemuxer *demux = WebPAnimDecoderGetDemuxer(dec);
        WebPChunkIterator it;
        if (WebPDemuxGetChunk(demux, "EXIF", 1, &it)) {
            job->orientation = vlm_exif_orientation(it.chunk.bytes, it.chunk.size);
            WebPDemuxReleaseChunkIterator(&it);
        }
        if (!job->orientation && WebPDemuxGetChunk(demux, "XMP ", 1, &it)) {
            job->orientation = vlm_xmp_orientation(it.chunk.bytes, it.chunk.size);
            WebPDemuxReleaseChunkIterator(&it);
        }
    }
    WebPAnimDecoderDelete(dec);
    return s;
}

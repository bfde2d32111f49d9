/* The small image operations, checked against definitions independent of their code: crop
 * against the synthetic image formula (media_util.h), pad against the fill and the source,
 * the EXIF orientations against their algebra (6 then 8 is the identity, 3 twice is the
 * identity, 5 is 6 then 2, every orientation's corner mapping), float padding, and the
 * rescale/normalize table against transformers' float32 formula evaluated in double with
 * explicit float rounding. (Decoding tests cover the orientations against Pillow.) */
#include "test.h"
#include "media_util.h"

#include "media/normalize.h"

static int same(const vlm_image *a, const vlm_image *b) {
    if (a->width != b->width || a->height != b->height) return 0;
    for (int y = 0; y < a->height; y++)
        if (memcmp(a->data + y * a->stride, b->data + y * b->stride, (size_t)a->width * 3))
            return 0;
    return 1;
}

static const uint8_t *px(const vlm_image *im, int x, int y) {
    return im->data + (size_t)y * im->stride + 3 * (size_t)x;
}

int main(void) {
    vlm_image src, a, b, c;
    vlm_error err;
    CHECK(media_synth_rgb(13, 7, 5, 1, &src) == VLM_OK);
    /* crop */
    CHECK(vlm_image_crop(&src, 3, 2, 6, 4, &a, &err) == VLM_OK);
    int ok = a.width == 6 && a.height == 4;
    for (int y = 0; ok && y < 4; y++)
        for (int x = 0; x < 6; x++)
            ok &= memcmp(px(&a, x, y), px(&src, x + 3, y + 2), 3) == 0;
    CHECK(ok);
    vlm_image_free(&a);
    CHECK(vlm_image_crop(&src, 8, 0, 6, 1, &a, &err) == VLM_ERR_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.message, "not inside");
    /* pad */
    const uint8_t fill[3] = {1, 2, 3};
    CHECK(vlm_image_pad(&src, 20, 9, 4, 1, fill, &a, &err) == VLM_OK);
    ok = a.width == 20 && a.height == 9;
    for (int y = 0; ok && y < 9; y++)
        for (int x = 0; x < 20; x++) {
            int inside = x >= 4 && x < 17 && y >= 1 && y < 8;
            ok &= memcmp(px(&a, x, y), inside ? px(&src, x - 4, y - 1) : fill, 3) == 0;
        }
    CHECK(ok);
    vlm_image_free(&a);
    CHECK(vlm_image_pad(&src, 13, 7, 1, 0, fill, &a, &err) == VLM_ERR_INVALID_ARGUMENT);
    /* orientations: corner (0,0) of the output comes from these input corners */
    const int W = src.width, H = src.height;
    const int corner[9][2] = {{0, 0}, {0, 0},     {W - 1, 0},     {W - 1, H - 1}, {0, H - 1},
                              {0, 0}, {0, H - 1}, {W - 1, H - 1}, {W - 1, 0}};
    for (int o = 1; o <= 8; o++) {
        CHECK(vlm_image_orient(&src, o, &a, &err) == VLM_OK);
        CHECK(a.width == (o >= 5 ? H : W) && a.height == (o >= 5 ? W : H));
        CHECK_MSG(memcmp(px(&a, 0, 0), px(&src, corner[o][0], corner[o][1]), 3) == 0,
                  "orientation %d corner", o);
        vlm_image_free(&a);
    }
    CHECK(vlm_image_orient(&src, 6, &a, &err) == VLM_OK);
    CHECK(vlm_image_orient(&a, 8, &b, &err) == VLM_OK);
    CHECK(same(&b, &src));
    vlm_image_free(&a), vlm_image_free(&b);
    CHECK(vlm_image_orient(&src, 3, &a, &err) == VLM_OK);
    CHECK(vlm_image_orient(&a, 3, &b, &err) == VLM_OK);
    CHECK(same(&b, &src));
    vlm_image_free(&a), vlm_image_free(&b);
    CHECK(vlm_image_orient(&src, 6, &a, &err) == VLM_OK); /* ROTATE_270 */
    CHECK(vlm_image_orient(&a, 2, &b, &err) == VLM_OK);   /* then FLIP_LEFT_RIGHT */
    CHECK(vlm_image_orient(&src, 5, &c, &err) == VLM_OK); /* = TRANSPOSE */
    CHECK(same(&b, &c));
    vlm_image_free(&a), vlm_image_free(&b), vlm_image_free(&c);
    /* float pad */
    float in[2 * 2 * 3], out[2 * 3 * 4];
    for (int i = 0; i < 12; i++)
        in[i] = (float)i;
    CHECK(vlm_chw_pad(in, 2, 2, 3, 3, 4, -1.0f, out, &err) == VLM_OK);
    CHECK(out[0] == 0 && out[2] == 2 && out[3] == -1 && out[4] == 3 && out[8] == -1 &&
          out[12] == 6 && out[23] == -1);
    CHECK(vlm_chw_pad(in, 2, 2, 3, 1, 4, 0, out, &err) == VLM_ERR_INVALID_ARGUMENT);
    /* the table: (float(v * (1/255)) - float(mean)) / float(std), each step rounded to float */
    vlm_pixel_norm n = vlm_pixel_norm_clip();
    float lut[3][256];
    vlm_pixel_norm_lut(&n, lut);
    const double mean[3] = VLM_CLIP_MEAN, stdv[3] = VLM_CLIP_STD;
    for (int ch = 0; ch < 3; ch++)
        for (int v = 0; v < 256; v++) {
            /* +, -, * and / of floats done in double and rounded once are the float results */
            volatile float x = (float)((double)v * (1.0 / 255.0));
            volatile float d = (float)((double)x - (double)(float)mean[ch]);
            float want = (float)((double)d / (double)(float)stdv[ch]);
            CHECK_MSG(lut[ch][v] == want, "lut[%d][%d] %.9g vs %.9g", ch, v, lut[ch][v], want);
        }
    vlm_image_free(&src);
    TEST_DONE();
}

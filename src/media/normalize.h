/* uint8 pixels to the float32 values a vision tower is fed, exactly as transformers' PIL
 * path computes them (image_transforms.rescale / normalize):
 *   rescale:   x = float32(float64(u8) * rescale_factor)
 *   normalize: y = (x - float32(mean[c])) / float32(std[c])      (float32 arithmetic)
 * (normalize without rescale first casts u8 to float32). Since the result depends only on
 * the byte and the channel, it is tabulated once per channel: 3 x 256 floats. */
#ifndef VLM_MEDIA_NORMALIZE_H
#define VLM_MEDIA_NORMALIZE_H

#include "media/image.h"

/* transformers' OPENAI_CLIP_MEAN / OPENAI_CLIP_STD and IMAGENET_STANDARD_* (0.5). */
#define VLM_CLIP_MEAN                                                                              \
    { 0.48145466, 0.4578275, 0.40821073 }
#define VLM_CLIP_STD                                                                               \
    { 0.26862954, 0.26130258, 0.27577711 }
#define VLM_IMAGENET_STANDARD_MEAN                                                                 \
    { 0.5, 0.5, 0.5 }
#define VLM_IMAGENET_STANDARD_STD                                                                  \
    { 0.5, 0.5, 0.5 }

typedef struct vlm_pixel_norm {
    int do_rescale;
    double rescale_factor; /* a Python float in the config: 1/255 is 0.00392156862745098 */
    int do_normalize;
    double mean[3]; /* as written in the config; rounded to float32 when used */
    double std[3];
} vlm_pixel_norm;

/* rescale 1/255 and CLIP mean/std (Qwen2-VL's preprocessor_config.json). */
vlm_pixel_norm vlm_pixel_norm_clip(void);

/* lut[c][v]: the float32 value transformers produces for byte v in channel c. */
void vlm_pixel_norm_lut(const vlm_pixel_norm *n, float lut[3][256]);

/* Writes the image as float32 planes out[c][y][x] (3 * height * width floats, channels
 * first as the PIL backend keeps them). Thread-safe. */
void vlm_image_to_chw(const vlm_image *img, const vlm_pixel_norm *n, float *out);

/* Pads float planes [channels][height][width] to [channels][out_height][out_width] with the
 * image at the top-left and `fill` elsewhere: numpy's constant pad of ((0,0), (0, dh),
 * (0, dw)) that transformers applies to normalized pixel values (e.g. Idefics3). out must
 * not overlap in. Returns VLM_ERR_INVALID_ARGUMENT when the image does not fit. */
vlm_status vlm_chw_pad(const float *in, int channels, int height, int width, int out_height,
                       int out_width, float fill, float *out, vlm_error *err);

#endif

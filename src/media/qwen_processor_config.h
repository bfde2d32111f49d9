/* The Qwen2-VL / Qwen2.5-VL processor settings a checkpoint directory carries, read the way
 * transformers 5.17 builds its Qwen2VLImageProcessor and Qwen2VLVideoProcessor from it:
 *   image: preprocessor_config.json, else processor_config.json's "image_processor" object;
 *   video: video_preprocessor_config.json, else preprocessor_config.json, else
 *          processor_config.json's "video_processor" object (transformers' own fallback order,
 *          so a Hub checkpoint without a video config gives its image min/max_pixels to
 *          videos too).
 * Each processor starts from its class defaults and takes the file's values:
 *   image: size {shortest_edge 56*56, longest_edge 28*28*1280}, patch 14, temporal 2, merge 2,
 *          resample BICUBIC (3), rescale 1/255, CLIP mean/std;
 *   video: size {shortest_edge 128*28*28, longest_edge 28*28*768}, the same others, and
 *          do_sample_frames false, fps/num_frames unset, min_frames 4, max_frames 768.
 * "min_pixels"/"max_pixels" (top level) override "size" ({"shortest_edge","longest_edge"}
 * or the legacy {"min_pixels","max_pixels"}). Sampling: off -> every frame; on with
 * num_frames -> by count; on with fps -> by fps; on with neither -> every frame.
 * Qwen2.5-VL's processor (model_type "qwen2_5_vl" or processor class Qwen2_5_VLProcessor)
 * also returns second_per_grid_ts. Wrong types are errors naming the file and the field. */
#ifndef VLM_MEDIA_QWEN_PROCESSOR_CONFIG_H
#define VLM_MEDIA_QWEN_PROCESSOR_CONFIG_H

#include <stdbool.h>

#include "core/json.h"
#include "media/qwen_vision.h"
#include "media/video.h"

typedef struct vlm_qwen_processor_config {
    vlm_qwen_vision_params image;
    vlm_qwen_vision_params video;
    vlm_video_sampling sampling; /* the video processor's frame sampling */
    bool second_per_grid_ts;     /* Qwen2.5-VL */
    char image_source[64];       /* file the image settings came from ("" = class defaults) */
    char video_source[64];       /* likewise for the video settings */
} vlm_qwen_processor_config;

/* Class defaults (image and video as above; no second_per_grid_ts). */
vlm_qwen_processor_config vlm_qwen_processor_config_default(void);

/* Applies one processor's JSON object (`origin` names it in errors) to *p (and, for a video
 * processor, to *sampling; NULL for an image processor). */
vlm_status vlm_qwen_processor_config_apply(const vlm_json *obj, const char *origin,
                                           vlm_qwen_vision_params *p, vlm_video_sampling *sampling,
                                           vlm_error *err);

/* Reads the configs of the checkpoint directory `dir` (see above). `model_type` (may be NULL)
 * and the files' processor_class decide second_per_grid_ts. */
vlm_status vlm_qwen_processor_config_load(const char *dir, const char *model_type,
                                          vlm_qwen_processor_config *out, vlm_error *err);

#endif

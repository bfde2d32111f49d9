/* The Qwen2-VL / Qwen2.5-VL family: model state (config, weights, processor settings),
 * its constructors for the registry, and the family operations the engine calls. */
#ifndef VLM_MODELS_QWEN2_VL_MODEL_H
#define VLM_MODELS_QWEN2_VL_MODEL_H

#include "media/qwen_processor_config.h"
#include "models/family.h"
#include "models/qwen2_vl/config.h"
#include "models/qwen2_vl/weights.h"

typedef struct qwen2_vl_model {
    qwen2_vl_config cfg;
    qwen2_vl_weights w;
    vlm_qwen_processor_config proc;
    int64_t patch_dim; /* C * T * P * P: columns of pixel_values */
} qwen2_vl_model;

/* A prompt's prepared media: images and videos, each concatenated row-wise. */
typedef struct qwen2_vl_media {
    float *pixels;    /* [rows, patch_dim] */
    int64_t rows;
    int64_t *grids;   /* [n_images][3] */
    int n_images;
    float *vpixels;   /* [vrows, patch_dim] */
    int64_t vrows;
    int64_t *vgrids;  /* [n_videos][3] */
    double *spg;      /* [n_videos] seconds per temporal grid step */
    int n_videos;
} qwen2_vl_media;

void qwen2_vl_media_free(void *media);

vlm_status qwen2_vl_model_construct(vlm_model *m, void *user, vlm_error *err);
vlm_status qwen2_vl_processor_construct(vlm_model *m, void *user, vlm_error *err);

vlm_status qwen2_vl_prompt_build(const vlm_model *m, const int32_t *ids, int64_t n,
                                 const vlm_request *chat, const vlm_generate_params *gp,
                                 vlm_prompt *out, vlm_error *err);

extern const vlm_family qwen2_vl_ops;

#endif

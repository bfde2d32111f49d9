/* Internal logging: a logger is a value (callback, user pointer, threshold) carried by the
 * model, never a global. A zeroed logger drops everything. */
#ifndef VLM_CORE_LOG_H
#define VLM_CORE_LOG_H

#include "core/error.h"
#include "vlm.h"

typedef struct vlm_logger {
    vlm_log_fn fn;
    void *user;
    vlm_log_level level;
} vlm_logger;

void vlm_log(const vlm_logger *log, vlm_log_level level, const char *fmt, ...) VLM_PRINTF(3, 4);

#endif

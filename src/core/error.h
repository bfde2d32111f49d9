/* Internal error helpers: fill a caller's vlm_error and return the status in one step,
 * so every failure site reads `return vlm_err(err, VLM_ERR_FORMAT, "%s: ...", path);`. */
#ifndef VLM_CORE_ERROR_H
#define VLM_CORE_ERROR_H

#include "vlm.h"

#if defined(__GNUC__)
#define VLM_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define VLM_PRINTF(f, a)
#endif

/* Sets err (when not NULL) to `status` and the formatted message; returns `status`. */
vlm_status vlm_err(vlm_error *err, vlm_status status, const char *fmt, ...) VLM_PRINTF(3, 4);

/* Clears err to VLM_OK with an empty message; returns VLM_OK. */
vlm_status vlm_err_ok(vlm_error *err);

/* Prepends "prefix: " to an existing message (for context added by a caller). */
void vlm_err_prefix(vlm_error *err, const char *fmt, ...) VLM_PRINTF(2, 3);

#endif

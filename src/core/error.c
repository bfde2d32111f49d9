/* Status names and the error-detail helpers behind every fallible function. */
#include "core/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *vlm_status_str(vlm_status status) {
    switch (status) {
    case VLM_OK: return "ok";
    case VLM_ERR_INVALID_ARGUMENT: return "invalid argument";
    case VLM_ERR_IO: return "i/o error";
    case VLM_ERR_FORMAT: return "format error";
    case VLM_ERR_UNSUPPORTED: return "unsupported";
    case VLM_ERR_NOT_FOUND: return "not found";
    case VLM_ERR_LIMIT: return "limit exceeded";
    case VLM_ERR_OUT_OF_MEMORY: return "out of memory";
    case VLM_ERR_DEVICE: return "device error";
    case VLM_ERR_CANCELLED: return "cancelled";
    case VLM_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}

const char *vlm_version(void) {
    return VLM_VERSION_STRING;
}

vlm_status vlm_err(vlm_error *err, vlm_status status, const char *fmt, ...) {
    if (err) {
        err->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

vlm_status vlm_err_ok(vlm_error *err) {
    if (err) {
        err->status = VLM_OK;
        err->message[0] = '\0';
    }
    return VLM_OK;
}

void vlm_err_prefix(vlm_error *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[sizeof err->message];
    memcpy(old, err->message, sizeof old);
    snprintf(err->message, sizeof err->message, "%s: %s", prefix, old);
}

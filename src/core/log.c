/* Formats a message and hands it to the logger's callback when its level passes. */
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

const char *vlm_log_level_str(vlm_log_level level) {
    switch (level) {
    case VLM_LOG_DEBUG: return "debug";
    case VLM_LOG_INFO: return "info";
    case VLM_LOG_WARN: return "warn";
    case VLM_LOG_ERROR: return "error";
    }
    return "unknown";
}

void vlm_log(const vlm_logger *log, vlm_log_level level, const char *fmt, ...) {
    if (!log || !log->fn || level < log->level) return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log->fn(level, msg, log->user);
}

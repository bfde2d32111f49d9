/* Huge-page friendly allocation for large pixel buffers (see buffer.h). */
#include "media/buffer.h"

#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

void *vlm_media_alloc(size_t bytes) {
    if (bytes == 0) return NULL;
    if (bytes < 2 * HUGE_PAGE) return malloc(bytes);
    size_t rounded = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    if (rounded < bytes) return NULL;
    void *p = NULL;
    if (posix_memalign(&p, HUGE_PAGE, rounded) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, rounded, MADV_HUGEPAGE); /* advisory: failure changes nothing */
#endif
    return p;
}

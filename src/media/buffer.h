/* Large pixel buffers. A 1080p image's pixel_values are ~50 MB of fresh memory; faulting
 * it in 4 KiB pages costs more than computing it. Buffers of 4 MiB and more are therefore
 * 2 MiB-aligned and advised for transparent huge pages (a hint; the kernel may ignore it).
 * Every buffer is released with free(). */
#ifndef VLM_MEDIA_BUFFER_H
#define VLM_MEDIA_BUFFER_H

#include <stddef.h>

/* malloc(bytes), huge-page friendly when large; NULL on exhaustion or bytes == 0. */
void *vlm_media_alloc(size_t bytes);

#endif

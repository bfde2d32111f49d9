/* Orientation from EXIF (TIFF IFD0 tag 0x0112) and XMP (tiff:Orientation), the two places
 * Pillow's Image.getexif looks. Every offset is checked against the block; a malformed
 * block yields "no orientation" (Pillow would raise from exif_transpose on some of these;
 * we keep the image upright instead). */
#include <string.h>

#include "media/decode_internal.h"

static uint32_t rd16(const uint8_t *p, bool le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : (uint32_t)p[0] << 8 | p[1];
}

static uint32_t rd32(const uint8_t *p, bool le) {
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
              : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int vlm_exif_orientation(const uint8_t *data, size_t size) {
    while (size >= 6 && memcmp(data, "Exif\0\0", 6) == 0) {
        data += 6;
        size -= 6;
    }
    if (size < 8) return 0;
    bool le;
    if (data[0] == 'I' && data[1] == 'I')
        le = true;
    else if (data[0] == 'M' && data[1] == 'M')
        le = false;
    else
        return 0;
    if (rd16(data + 2, le) != 42) return 0;
    uint32_t ifd = rd32(data + 4, le);
    if (ifd > size || size - ifd < 2) return 0;
    uint32_t count = rd16(data + ifd, le);
    int orientation = 0;
    for (uint32_t i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e + 12 > size) break; /* a truncated directory keeps what was read */
        if (rd16(data + e, le) != 0x0112) continue;
        uint32_t type = rd16(data + e + 2, le), n = rd32(data + e + 4, le);
        int unit;
        switch (type) {
        case 1: /* BYTE */
        case 6: /* SBYTE */
            unit = 1;
            break;
        case 3: /* SHORT */
        case 8: /* SSHORT */
            unit = 2;
            break;
        case 4: /* LONG */
        case 9: /* SLONG */
            unit = 4;
            break;
        default:
            continue;
        }
        if (n < 1) continue;
        const uint8_t *v = data + e + 8;
        if ((uint64_t)n * unit > 4) {
            uint32_t off = rd32(data + e + 8, le);
            if (off > size || size - off < (size_t)unit) continue;
            v = data + off;
        }
        int64_t val;
        switch (type) {
        case 1:
            val = v[0];
            break;
        case 6:
            val = (int8_t)v[0];
            break;
        case 3:
            val = rd16(v, le);
            break;
        case 8:
            val = (int16_t)rd16(v, le);
            break;
        case 4:
            val = rd32(v, le);
            break;
        default:
            val = (int32_t)rd32(v, le);
            break;
        }
        orientation = (val >= 1 && val <= 9) ? (int)val : 0;
    }
    return orientation;
}

int vlm_xmp_orientation(const uint8_t *data, size_t size) {
    static const char key[] = "tiff:Orientation";
    const size_t klen = sizeof key - 1;
    for (size_t i = 0; i + klen + 2 <= size; i++) {
        if (memcmp(data + i, key, klen) != 0) continue;
        size_t j = i + klen;
        if (data[j] == '>' && data[j + 1] >= '0' && data[j + 1] <= '9') return data[j + 1] - '0';
        if (data[j] == '=' && j + 2 < size && data[j + 1] == '"' && data[j + 2] >= '0' &&
            data[j + 2] <= '9')
            return data[j + 2] - '0';
    }
    return 0;
}

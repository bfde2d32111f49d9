/* Python text rules for the Jinja evaluator (see jinja_pystr.h). The small tables below are
 * Unicode properties utf8proc does not expose (Other_Uppercase, Other_Lowercase, digits
 * outside Nd) and Unicode's special (multi-code-point) case mappings. */
#include "text/jinja_pystr.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

typedef struct cp_range {
    uint32_t lo, hi;
} cp_range;

static bool in_ranges(uint32_t cp, const cp_range *r, size_t n) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid].lo)
            hi = mid;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}
#define IN(cp, table) in_ranges(cp, table, sizeof table / sizeof table[0])

/* Unicode Other_Uppercase: counted as uppercase by str.isupper(). */
static const cp_range other_upper[] = {
    {0x2160, 0x216F}, {0x24B6, 0x24CF}, {0x1F130, 0x1F149}, {0x1F150, 0x1F169}, {0x1F170, 0x1F189}};
/* Unicode Other_Lowercase. */
static const cp_range other_lower[] = {
    {0x00AA, 0x00AA},   {0x00BA, 0x00BA},   {0x02B0, 0x02B8},   {0x02C0, 0x02C1},  {0x02E0, 0x02E4},
    {0x0345, 0x0345},   {0x037A, 0x037A},   {0x1D2C, 0x1D6A},   {0x1D78, 0x1D78},  {0x1D9B, 0x1DBF},
    {0x2071, 0x2071},   {0x207F, 0x207F},   {0x2090, 0x209C},   {0x2170, 0x217F},  {0x24D0, 0x24E9},
    {0x2C7C, 0x2C7D},   {0xA69C, 0xA69D},   {0xA770, 0xA770},   {0xA7F8, 0xA7F9},  {0xAB5C, 0xAB5F},
    {0x10780, 0x10780}, {0x10783, 0x10785}, {0x10787, 0x107B0}, {0x107B2, 0x107BA}};
/* Numeric_Type=Digit code points outside category Nd (str.isdigit() is true for them). */
static const cp_range extra_digits[] = {
    {0x00B2, 0x00B3},   {0x00B9, 0x00B9},   {0x1369, 0x1371},   {0x19DA, 0x19DA},
    {0x2070, 0x2070},   {0x2074, 0x2079},   {0x2080, 0x2089},   {0x2460, 0x2468},
    {0x2474, 0x247C},   {0x2488, 0x2490},   {0x24EA, 0x24EA},   {0x24F5, 0x24FD},
    {0x24FF, 0x24FF},   {0x2776, 0x277E},   {0x2780, 0x2788},   {0x278A, 0x2792},
    {0x10A40, 0x10A43}, {0x10E60, 0x10E68}, {0x11052, 0x1105A}, {0x1F100, 0x1F10A}};
/* ------------------------------------------------------------- UTF-8 */

void vlm_utf8_put(vlm_strbuf *b, uint32_t cp) {
    char t[4];
    size_t n;
    if (cp < 0x80) {
        t[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        t[0] = (char)(0xC0 | (cp >> 6));
        t[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        t[0] = (char)(0xE0 | (cp >> 12));
        t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        t[0] = (char)(0xF0 | (cp >> 18));
        t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    vlm_strbuf_append(b, t, n);
}

size_t vlm_utf8_valid_prefix(const char *s, size_t n) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
            min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
            min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
            min = 0x10000;
        } else {
            return i;
        }
        if (n - i <= need) return i;
        for (size_t k = 1; k <= need; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
        i += need + 1;
    }
    return n;
}

void vlm_utf8_trim_partial(char *s) {
    size_t len = strlen(s);
    size_t start = len;
    while (start > 0 && ((unsigned char)s[start - 1] & 0xC0) == 0x80 && len - start < 3)
        start--;
    if (start == 0) return;
    unsigned char lead = (unsigned char)s[start - 1];
    if (lead < 0xC0) return; /* ASCII or a stray continuation run: nothing to do */
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    if (len - (start - 1) < need) s[start - 1] = '\0';
}

size_t vlm_jstr_offset(const vlm_jstr *s, size_t cp) {
    if (s->ascii || cp == 0) return cp < s->len ? cp : s->len;
    if (cp >= s->ncp) return s->len;
    size_t i = 0;
    for (size_t k = 0; k < cp; k++) {
        i++;
        while (i < s->len && ((unsigned char)s->data[i] & 0xC0) == 0x80)
            i++;
    }
    return i;
}

/* ------------------------------------------------------------- classes */

bool vlm_py_isspace(uint32_t cp) {
    if (cp < 0x80) return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20);
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

bool vlm_py_islinebreak(uint32_t cp) {
    return (cp >= 0x0A && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x1E) || cp == 0x85 || cp == 0x2028 ||
           cp == 0x2029;
}

bool vlm_py_isprintable(uint32_t cp) {
    if (cp < 0x80) return cp >= 0x20 && cp < 0x7F;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_ZS:
        return false;
    default:
        return true;
    }
}

bool vlm_py_isalpha(uint32_t cp) {
    if (cp < 0x80) return (cp | 0x20) >= 'a' && (cp | 0x20) <= 'z';
    int c = utf8proc_category((utf8proc_int32_t)cp);
    return c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO;
}

bool vlm_py_isdecimal(uint32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    return utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_ND;
}

bool vlm_py_isdigit(uint32_t cp) {
    return vlm_py_isdecimal(cp) || (cp >= 0x80 && IN(cp, extra_digits));
}

bool vlm_py_isnumeric(uint32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    int c = utf8proc_category((utf8proc_int32_t)cp);
    return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

bool vlm_py_isalnum(uint32_t cp) {
    return vlm_py_isalpha(cp) || vlm_py_isdigit(cp) || vlm_py_isnumeric(cp);
}

bool vlm_py_isupper(uint32_t cp) {
    if (cp < 0x80) return cp >= 'A' && cp <= 'Z';
    return utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_LU || IN(cp, other_upper);
}

bool vlm_py_islower(uint32_t cp) {
    if (cp < 0x80) return cp >= 'a' && cp <= 'z';
    return utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_LL || IN(cp, other_lower);
}

bool vlm_py_iscased(uint32_t cp) {
    return vlm_py_isupper(cp) || vlm_py_islower(cp) ||
           (cp >= 0x80 && utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_LT);
}

/* ------------------------------------------------------------- case mapping */

/* Unicode's SpecialCasing.txt (unconditional part): the code points whose full upper,
 * title or lower mapping has more than one code point, as Python applies them. */
typedef struct special_case {
    uint32_t cp;
    uint32_t upper[3], title[3], lower[3];
} special_case;

static const special_case special_cases[] = {
    /* cp, upper, title, lower (up to 3 code points each, 0-padded) */
    {0x00DF, {0x0053, 0x0053, 0x0000}, {0x0053, 0x0073, 0x0000}, {0x00DF, 0x0000, 0x0000}},
    {0x0130, {0x0130, 0x0000, 0x0000}, {0x0130, 0x0000, 0x0000}, {0x0069, 0x0307, 0x0000}},
    {0x0149, {0x02BC, 0x004E, 0x0000}, {0x02BC, 0x004E, 0x0000}, {0x0149, 0x0000, 0x0000}},
    {0x01F0, {0x004A, 0x030C, 0x0000}, {0x004A, 0x030C, 0x0000}, {0x01F0, 0x0000, 0x0000}},
    {0x0390, {0x0399, 0x0308, 0x0301}, {0x0399, 0x0308, 0x0301}, {0x0390, 0x0000, 0x0000}},
    {0x03B0, {0x03A5, 0x0308, 0x0301}, {0x03A5, 0x0308, 0x0301}, {0x03B0, 0x0000, 0x0000}},
    {0x0587, {0x0535, 0x0552, 0x0000}, {0x0535, 0x0582, 0x0000}, {0x0587, 0x0000, 0x0000}},
    {0x1E96, {0x0048, 0x0331, 0x0000}, {0x0048, 0x0331, 0x0000}, {0x1E96, 0x0000, 0x0000}},
    {0x1E97, {0x0054, 0x0308, 0x0000}, {0x0054, 0x0308, 0x0000}, {0x1E97, 0x0000, 0x0000}},
    {0x1E98, {0x0057, 0x030A, 0x0000}, {0x0057, 0x030A, 0x0000}, {0x1E98, 0x0000, 0x0000}},
    {0x1E99, {0x0059, 0x030A, 0x0000}, {0x0059, 0x030A, 0x0000}, {0x1E99, 0x0000, 0x0000}},
    {0x1E9A, {0x0041, 0x02BE, 0x0000}, {0x0041, 0x02BE, 0x0000}, {0x1E9A, 0x0000, 0x0000}},
    {0x1F50, {0x03A5, 0x0313, 0x0000}, {0x03A5, 0x0313, 0x0000}, {0x1F50, 0x0000, 0x0000}},
    {0x1F52, {0x03A5, 0x0313, 0x0300}, {0x03A5, 0x0313, 0x0300}, {0x1F52, 0x0000, 0x0000}},
    {0x1F54, {0x03A5, 0x0313, 0x0301}, {0x03A5, 0x0313, 0x0301}, {0x1F54, 0x0000, 0x0000}},
    {0x1F56, {0x03A5, 0x0313, 0x0342}, {0x03A5, 0x0313, 0x0342}, {0x1F56, 0x0000, 0x0000}},
    {0x1F80, {0x1F08, 0x0399, 0x0000}, {0x1F88, 0x0000, 0x0000}, {0x1F80, 0x0000, 0x0000}},
    {0x1F81, {0x1F09, 0x0399, 0x0000}, {0x1F89, 0x0000, 0x0000}, {0x1F81, 0x0000, 0x0000}},
    {0x1F82, {0x1F0A, 0x0399, 0x0000}, {0x1F8A, 0x0000, 0x0000}, {0x1F82, 0x0000, 0x0000}},
    {0x1F83, {0x1F0B, 0x0399, 0x0000}, {0x1F8B, 0x0000, 0x0000}, {0x1F83, 0x0000, 0x0000}},
    {0x1F84, {0x1F0C, 0x0399, 0x0000}, {0x1F8C, 0x0000, 0x0000}, {0x1F84, 0x0000, 0x0000}},
    {0x1F85, {0x1F0D, 0x0399, 0x0000}, {0x1F8D, 0x0000, 0x0000}, {0x1F85, 0x0000, 0x0000}},
    {0x1F86, {0x1F0E, 0x0399, 0x0000}, {0x1F8E, 0x0000, 0x0000}, {0x1F86, 0x0000, 0x0000}},
    {0x1F87, {0x1F0F, 0x0399, 0x0000}, {0x1F8F, 0x0000, 0x0000}, {0x1F87, 0x0000, 0x0000}},
    {0x1F88, {0x1F08, 0x0399, 0x0000}, {0x1F88, 0x0000, 0x0000}, {0x1F80, 0x0000, 0x0000}},
    {0x1F89, {0x1F09, 0x0399, 0x0000}, {0x1F89, 0x0000, 0x0000}, {0x1F81, 0x0000, 0x0000}},
    {0x1F8A, {0x1F0A, 0x0399, 0x0000}, {0x1F8A, 0x0000, 0x0000}, {0x1F82, 0x0000, 0x0000}},
    {0x1F8B, {0x1F0B, 0x0399, 0x0000}, {0x1F8B, 0x0000, 0x0000}, {0x1F83, 0x0000, 0x0000}},
    {0x1F8C, {0x1F0C, 0x0399, 0x0000}, {0x1F8C, 0x0000, 0x0000}, {0x1F84, 0x0000, 0x0000}},
    {0x1F8D, {0x1F0D, 0x0399, 0x0000}, {0x1F8D, 0x0000, 0x0000}, {0x1F85, 0x0000, 0x0000}},
    {0x1F8E, {0x1F0E, 0x0399, 0x0000}, {0x1F8E, 0x0000, 0x0000}, {0x1F86, 0x0000, 0x0000}},
    {0x1F8F, {0x1F0F, 0x0399, 0x0000}, {0x1F8F, 0x0000, 0x0000}, {0x1F87, 0x0000, 0x0000}},
    {0x1F90, {0x1F28, 0x0399, 0x0000}, {0x1F98, 0x0000, 0x0000}, {0x1F90, 0x0000, 0x0000}},
    {0x1F91, {0x1F29, 0x0399, 0x0000}, {0x1F99, 0x0000, 0x0000}, {0x1F91, 0x0000, 0x0000}},
    {0x1F92, {0x1F2A, 0x0399, 0x0000}, {0x1F9A, 0x0000, 0x0000}, {0x1F92, 0x0000, 0x0000}},
    {0x1F93, {0x1F2B, 0x0399, 0x0000}, {0x1F9B, 0x0000, 0x0000}, {0x1F93, 0x0000, 0x0000}},
    {0x1F94, {0x1F2C, 0x0399, 0x0000}, {0x1F9C, 0x0000, 0x0000}, {0x1F94, 0x0000, 0x0000}},
    {0x1F95, {0x1F2D, 0x0399, 0x0000}, {0x1F9D, 0x0000, 0x0000}, {0x1F95, 0x0000, 0x0000}},
    {0x1F96, {0x1F2E, 0x0399, 0x0000}, {0x1F9E, 0x0000, 0x0000}, {0x1F96, 0x0000, 0x0000}},
    {0x1F97, {0x1F2F, 0x0399, 0x0000}, {0x1F9F, 0x0000, 0x0000}, {0x1F97, 0x0000, 0x0000}},
    {0x1F98, {0x1F28, 0x0399, 0x0000}, {0x1F98, 0x0000, 0x0000}, {0x1F90, 0x0000, 0x0000}},
    {0x1F99, {0x1F29, 0x0399, 0x0000}, {0x1F99, 0x0000, 0x0000}, {0x1F91, 0x0000, 0x0000}},
    {0x1F9A, {0x1F2A, 0x0399, 0x0000}, {0x1F9A, 0x0000, 0x0000}, {0x1F92, 0x0000, 0x0000}},
    {0x1F9B, {0x1F2B, 0x0399, 0x0000}, {0x1F9B, 0x0000, 0x0000}, {0x1F93, 0x0000, 0x0000}},
    {0x1F9C, {0x1F2C, 0x0399, 0x0000}, {0x1F9C, 0x0000, 0x0000}, {0x1F94, 0x0000, 0x0000}},
    {0x1F9D, {0x1F2D, 0x0399, 0x0000}, {0x1F9D, 0x0000, 0x0000}, {0x1F95, 0x0000, 0x0000}},
    {0x1F9E, {0x1F2E, 0x0399, 0x0000}, {0x1F9E, 0x0000, 0x0000}, {0x1F96, 0x0000, 0x0000}},
    {0x1F9F, {0x1F2F, 0x0399, 0x0000}, {0x1F9F, 0x0000, 0x0000}, {0x1F97, 0x0000, 0x0000}},
    {0x1FA0, {0x1F68, 0x0399, 0x0000}, {0x1FA8, 0x0000, 0x0000}, {0x1FA0, 0x0000, 0x0000}},
    {0x1FA1, {0x1F69, 0x0399, 0x0000}, {0x1FA9, 0x0000, 0x0000}, {0x1FA1, 0x0000, 0x0000}},
    {0x1FA2, {0x1F6A, 0x0399, 0x0000}, {0x1FAA, 0x0000, 0x0000}, {0x1FA2, 0x0000, 0x0000}},
    {0x1FA3, {0x1F6B, 0x0399, 0x0000}, {0x1FAB, 0x0000, 0x0000}, {0x1FA3, 0x0000, 0x0000}},
    {0x1FA4, {0x1F6C, 0x0399, 0x0000}, {0x1FAC, 0x0000, 0x0000}, {0x1FA4, 0x0000, 0x0000}},
    {0x1FA5, {0x1F6D, 0x0399, 0x0000}, {0x1FAD, 0x0000, 0x0000}, {0x1FA5, 0x0000, 0x0000}},
    {0x1FA6, {0x1F6E, 0x0399, 0x0000}, {0x1FAE, 0x0000, 0x0000}, {0x1FA6, 0x0000, 0x0000}},
    {0x1FA7, {0x1F6F, 0x0399, 0x0000}, {0x1FAF, 0x0000, 0x0000}, {0x1FA7, 0x0000, 0x0000}},
    {0x1FA8, {0x1F68, 0x0399, 0x0000}, {0x1FA8, 0x0000, 0x0000}, {0x1FA0, 0x0000, 0x0000}},
    {0x1FA9, {0x1F69, 0x0399, 0x0000}, {0x1FA9, 0x0000, 0x0000}, {0x1FA1, 0x0000, 0x0000}},
    {0x1FAA, {0x1F6A, 0x0399, 0x0000}, {0x1FAA, 0x0000, 0x0000}, {0x1FA2, 0x0000, 0x0000}},
    {0x1FAB, {0x1F6B, 0x0399, 0x0000}, {0x1FAB, 0x0000, 0x0000}, {0x1FA3, 0x0000, 0x0000}},
    {0x1FAC, {0x1F6C, 0x0399, 0x0000}, {0x1FAC, 0x0000, 0x0000}, {0x1FA4, 0x0000, 0x0000}},
    {0x1FAD, {0x1F6D, 0x0399, 0x0000}, {0x1FAD, 0x0000, 0x0000}, {0x1FA5, 0x0000, 0x0000}},
    {0x1FAE, {0x1F6E, 0x0399, 0x0000}, {0x1FAE, 0x0000, 0x0000}, {0x1FA6, 0x0000, 0x0000}},
    {0x1FAF, {0x1F6F, 0x0399, 0x0000}, {0x1FAF, 0x0000, 0x0000}, {0x1FA7, 0x0000, 0x0000}},
    {0x1FB2, {0x1FBA, 0x0399, 0x0000}, {0x1FBA, 0x0345, 0x0000}, {0x1FB2, 0x0000, 0x0000}},
    {0x1FB3, {0x0391, 0x0399, 0x0000}, {0x1FBC, 0x0000, 0x0000}, {0x1FB3, 0x0000, 0x0000}},
    {0x1FB4, {0x0386, 0x0399, 0x0000}, {0x0386, 0x0345, 0x0000}, {0x1FB4, 0x0000, 0x0000}},
    {0x1FB6, {0x0391, 0x0342, 0x0000}, {0x0391, 0x0342, 0x0000}, {0x1FB6, 0x0000, 0x0000}},
    {0x1FB7, {0x0391, 0x0342, 0x0399}, {0x0391, 0x0342, 0x0345}, {0x1FB7, 0x0000, 0x0000}},
    {0x1FBC, {0x0391, 0x0399, 0x0000}, {0x1FBC, 0x0000, 0x0000}, {0x1FB3, 0x0000, 0x0000}},
    {0x1FC2, {0x1FCA, 0x0399, 0x0000}, {0x1FCA, 0x0345, 0x0000}, {0x1FC2, 0x0000, 0x0000}},
    {0x1FC3, {0x0397, 0x0399, 0x0000}, {0x1FCC, 0x0000, 0x0000}, {0x1FC3, 0x0000, 0x0000}},
    {0x1FC4, {0x0389, 0x0399, 0x0000}, {0x0389, 0x0345, 0x0000}, {0x1FC4, 0x0000, 0x0000}},
    {0x1FC6, {0x0397, 0x0342, 0x0000}, {0x0397, 0x0342, 0x0000}, {0x1FC6, 0x0000, 0x0000}},
    {0x1FC7, {0x0397, 0x0342, 0x0399}, {0x0397, 0x0342, 0x0345}, {0x1FC7, 0x0000, 0x0000}},
    {0x1FCC, {0x0397, 0x0399, 0x0000}, {0x1FCC, 0x0000, 0x0000}, {0x1FC3, 0x0000, 0x0000}},
    {0x1FD2, {0x0399, 0x0308, 0x0300}, {0x0399, 0x0308, 0x0300}, {0x1FD2, 0x0000, 0x0000}},
    {0x1FD3, {0x0399, 0x0308, 0x0301}, {0x0399, 0x0308, 0x0301}, {0x1FD3, 0x0000, 0x0000}},
    {0x1FD6, {0x0399, 0x0342, 0x0000}, {0x0399, 0x0342, 0x0000}, {0x1FD6, 0x0000, 0x0000}},
    {0x1FD7, {0x0399, 0x0308, 0x0342}, {0x0399, 0x0308, 0x0342}, {0x1FD7, 0x0000, 0x0000}},
    {0x1FE2, {0x03A5, 0x0308, 0x0300}, {0x03A5, 0x0308, 0x0300}, {0x1FE2, 0x0000, 0x0000}},
    {0x1FE3, {0x03A5, 0x0308, 0x0301}, {0x03A5, 0x0308, 0x0301}, {0x1FE3, 0x0000, 0x0000}},
    {0x1FE4, {0x03A1, 0x0313, 0x0000}, {0x03A1, 0x0313, 0x0000}, {0x1FE4, 0x0000, 0x0000}},
    {0x1FE6, {0x03A5, 0x0342, 0x0000}, {0x03A5, 0x0342, 0x0000}, {0x1FE6, 0x0000, 0x0000}},
    {0x1FE7, {0x03A5, 0x0308, 0x0342}, {0x03A5, 0x0308, 0x0342}, {0x1FE7, 0x0000, 0x0000}},
    {0x1FF2, {0x1FFA, 0x0399, 0x0000}, {0x1FFA, 0x0345, 0x0000}, {0x1FF2, 0x0000, 0x0000}},
    {0x1FF3, {0x03A9, 0x0399, 0x0000}, {0x1FFC, 0x0000, 0x0000}, {0x1FF3, 0x0000, 0x0000}},
    {0x1FF4, {0x038F, 0x0399, 0x0000}, {0x038F, 0x0345, 0x0000}, {0x1FF4, 0x0000, 0x0000}},
    {0x1FF6, {0x03A9, 0x0342, 0x0000}, {0x03A9, 0x0342, 0x0000}, {0x1FF6, 0x0000, 0x0000}},
    {0x1FF7, {0x03A9, 0x0342, 0x0399}, {0x03A9, 0x0342, 0x0345}, {0x1FF7, 0x0000, 0x0000}},
    {0x1FFC, {0x03A9, 0x0399, 0x0000}, {0x1FFC, 0x0000, 0x0000}, {0x1FF3, 0x0000, 0x0000}},
    {0xFB00, {0x0046, 0x0046, 0x0000}, {0x0046, 0x0066, 0x0000}, {0xFB00, 0x0000, 0x0000}},
    {0xFB01, {0x0046, 0x0049, 0x0000}, {0x0046, 0x0069, 0x0000}, {0xFB01, 0x0000, 0x0000}},
    {0xFB02, {0x0046, 0x004C, 0x0000}, {0x0046, 0x006C, 0x0000}, {0xFB02, 0x0000, 0x0000}},
    {0xFB03, {0x0046, 0x0046, 0x0049}, {0x0046, 0x0066, 0x0069}, {0xFB03, 0x0000, 0x0000}},
    {0xFB04, {0x0046, 0x0046, 0x004C}, {0x0046, 0x0066, 0x006C}, {0xFB04, 0x0000, 0x0000}},
    {0xFB05, {0x0053, 0x0054, 0x0000}, {0x0053, 0x0074, 0x0000}, {0xFB05, 0x0000, 0x0000}},
    {0xFB06, {0x0053, 0x0054, 0x0000}, {0x0053, 0x0074, 0x0000}, {0xFB06, 0x0000, 0x0000}},
    {0xFB13, {0x0544, 0x0546, 0x0000}, {0x0544, 0x0576, 0x0000}, {0xFB13, 0x0000, 0x0000}},
    {0xFB14, {0x0544, 0x0535, 0x0000}, {0x0544, 0x0565, 0x0000}, {0xFB14, 0x0000, 0x0000}},
    {0xFB15, {0x0544, 0x053B, 0x0000}, {0x0544, 0x056B, 0x0000}, {0xFB15, 0x0000, 0x0000}},
    {0xFB16, {0x054E, 0x0546, 0x0000}, {0x054E, 0x0576, 0x0000}, {0xFB16, 0x0000, 0x0000}},
    {0xFB17, {0x0544, 0x053D, 0x0000}, {0x0544, 0x056D, 0x0000}, {0xFB17, 0x0000, 0x0000}},
};

static const special_case *find_special(uint32_t cp) {
    size_t lo = 0, hi = sizeof special_cases / sizeof special_cases[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < special_cases[mid].cp)
            hi = mid;
        else if (cp > special_cases[mid].cp)
            lo = mid + 1;
        else
            return &special_cases[mid];
    }
    return NULL;
}

const char *vlm_py_case_put(vlm_strbuf *b, uint32_t cp, vlm_py_case which) {
    if (cp < 0x80) {
        if (which == VLM_PY_LOWER)
            vlm_strbuf_putc(b, (char)((cp >= 'A' && cp <= 'Z') ? cp + 32 : cp));
        else
            vlm_strbuf_putc(b, (char)((cp >= 'a' && cp <= 'z') ? cp - 32 : cp));
        return NULL;
    }
    /* Python lowercases capital sigma to final sigma at the end of a word (judged through
     * case-ignorable characters, a property utf8proc does not expose). */
    if (which == VLM_PY_LOWER && cp == 0x3A3)
        return "lowercasing 'Σ' (context-dependent in Python) is not supported";
    const special_case *sc = find_special(cp);
    if (sc) {
        const uint32_t *m = which == VLM_PY_UPPER   ? sc->upper
                            : which == VLM_PY_TITLE ? sc->title
                                                    : sc->lower;
        for (int k = 0; k < 3 && m[k]; k++)
            vlm_utf8_put(b, m[k]);
        return NULL;
    }
    utf8proc_int32_t c = (utf8proc_int32_t)cp;
    vlm_utf8_put(b, (uint32_t)(which == VLM_PY_UPPER   ? utf8proc_toupper(c)
                               : which == VLM_PY_TITLE ? utf8proc_totitle(c)
                                                       : utf8proc_tolower(c)));
    return NULL;
}

static const char *map_all(vlm_strbuf *b, const char *s, size_t n, vlm_py_case which) {
    size_t i = 0;
    while (i < n) {
        const char *e = vlm_py_case_put(b, vlm_utf8_next(s, n, &i), which);
        if (e) return e;
    }
    return NULL;
}

const char *vlm_py_upper(vlm_strbuf *b, const char *s, size_t n) {
    return map_all(b, s, n, VLM_PY_UPPER);
}

const char *vlm_py_lower(vlm_strbuf *b, const char *s, size_t n) {
    return map_all(b, s, n, VLM_PY_LOWER);
}

const char *vlm_py_capitalize(vlm_strbuf *b, const char *s, size_t n) {
    if (!n) return NULL;
    size_t i = 0;
    const char *e = vlm_py_case_put(b, vlm_utf8_next(s, n, &i), VLM_PY_TITLE);
    if (e) return e;
    return map_all(b, s + i, n - i, VLM_PY_LOWER);
}

const char *vlm_py_title(vlm_strbuf *b, const char *s, size_t n) {
    bool prev_cased = false;
    size_t i = 0;
    while (i < n) {
        uint32_t cp = vlm_utf8_next(s, n, &i);
        const char *e = vlm_py_case_put(b, cp, prev_cased ? VLM_PY_LOWER : VLM_PY_TITLE);
        if (e) return e;
        prev_cased = vlm_py_iscased(cp);
    }
    return NULL;
}

const char *vlm_py_swapcase(vlm_strbuf *b, const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        uint32_t cp = vlm_utf8_next(s, n, &i);
        const char *e = NULL;
        if (vlm_py_isupper(cp))
            e = vlm_py_case_put(b, cp, VLM_PY_LOWER);
        else if (vlm_py_islower(cp))
            e = vlm_py_case_put(b, cp, VLM_PY_UPPER);
        else
            vlm_strbuf_append(b, s + start, i - start);
        if (e) return e;
    }
    return NULL;
}

/* ------------------------------------------------------------- repr / str */

void vlm_py_float_repr(vlm_strbuf *b, double f) {
    if (isnan(f)) {
        vlm_strbuf_puts(b, "nan");
        return;
    }
    if (isinf(f)) {
        vlm_strbuf_puts(b, f < 0 ? "-inf" : "inf");
        return;
    }
    if (f == 0) {
        vlm_strbuf_puts(b, signbit(f) ? "-0.0" : "0.0");
        return;
    }
    /* The shortest round-tripping digits: the correctly rounded p-digit decimal for the
     * smallest p that reads back exactly (what Python's repr produces). */
    char buf[48];
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, sizeof buf, "%.*e", p - 1, f);
        if (strtod(buf, NULL) == f) break;
    }
    const char *q = buf;
    bool neg = *q == '-';
    if (neg) q++;
    char digits[24];
    int nd = 0;
    for (; *q && *q != 'e'; q++)
        if (*q >= '0' && *q <= '9' && nd < 20) digits[nd++] = *q;
    int exp10 = *q == 'e' ? atoi(q + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    int decpt = exp10 + 1; /* value = 0.d1d2... * 10^decpt */
    if (neg) vlm_strbuf_putc(b, '-');
    if (decpt > -4 && decpt <= 16) {
        if (decpt <= 0) {
            vlm_strbuf_puts(b, "0.");
            for (int k = 0; k < -decpt; k++)
                vlm_strbuf_putc(b, '0');
            vlm_strbuf_append(b, digits, (size_t)nd);
        } else if (decpt >= nd) {
            vlm_strbuf_append(b, digits, (size_t)nd);
            for (int k = nd; k < decpt; k++)
                vlm_strbuf_putc(b, '0');
            vlm_strbuf_puts(b, ".0");
        } else {
            vlm_strbuf_append(b, digits, (size_t)decpt);
            vlm_strbuf_putc(b, '.');
            vlm_strbuf_append(b, digits + decpt, (size_t)(nd - decpt));
        }
    } else {
        vlm_strbuf_putc(b, digits[0]);
        if (nd > 1) {
            vlm_strbuf_putc(b, '.');
            vlm_strbuf_append(b, digits + 1, (size_t)(nd - 1));
        }
        int e = decpt - 1;
        vlm_strbuf_printf(b, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    }
}

void vlm_py_str_repr(vlm_strbuf *b, const char *s, size_t n) {
    bool has_single = memchr(s, '\'', n) != NULL, has_double = memchr(s, '"', n) != NULL;
    char quote = (has_single && !has_double) ? '"' : '\'';
    vlm_strbuf_putc(b, quote);
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        uint32_t cp = vlm_utf8_next(s, n, &i);
        if (cp == (uint32_t)quote || cp == '\\') {
            vlm_strbuf_putc(b, '\\');
            vlm_strbuf_putc(b, (char)cp);
        } else if (cp == '\t') {
            vlm_strbuf_puts(b, "\\t");
        } else if (cp == '\n') {
            vlm_strbuf_puts(b, "\\n");
        } else if (cp == '\r') {
            vlm_strbuf_puts(b, "\\r");
        } else if (cp < 0x20 || cp == 0x7F) {
            vlm_strbuf_printf(b, "\\x%02x", cp);
        } else if (cp < 0x7F || vlm_py_isprintable(cp)) {
            vlm_strbuf_append(b, s + start, i - start);
        } else if (cp <= 0xFF) {
            vlm_strbuf_printf(b, "\\x%02x", cp);
        } else if (cp <= 0xFFFF) {
            vlm_strbuf_printf(b, "\\u%04x", cp);
        } else {
            vlm_strbuf_printf(b, "\\U%08x", cp);
        }
    }
    vlm_strbuf_putc(b, quote);
}

static const char *write_any(vlm_strbuf *b, vlm_jv v, bool repr, int depth);

static const char *write_seq(vlm_strbuf *b, const vlm_jlist *l, const char *open, const char *close,
                             int depth) {
    vlm_strbuf_puts(b, open);
    for (size_t i = 0; i < l->n; i++) {
        if (i) vlm_strbuf_puts(b, ", ");
        const char *e = write_any(b, l->items[i], true, depth + 1);
        if (e) return e;
    }
    if (l->kind == VLM_JLIST_TUPLE && l->n == 1) vlm_strbuf_putc(b, ',');
    vlm_strbuf_puts(b, close);
    return NULL;
}

static const char *write_dict(vlm_strbuf *b, const vlm_jdict *d, int depth) {
    vlm_strbuf_putc(b, '{');
    for (size_t i = 0; i < d->n; i++) {
        if (i) vlm_strbuf_puts(b, ", ");
        const char *e = write_any(b, d->keys[i], true, depth + 1);
        if (!e) {
            vlm_strbuf_puts(b, ": ");
            e = write_any(b, d->vals[i], true, depth + 1);
        }
        if (e) return e;
    }
    vlm_strbuf_putc(b, '}');
    return NULL;
}

/* Namespaces can hold themselves; such a cycle ends at the depth limit with an error. */
static const char *write_any(vlm_strbuf *b, vlm_jv v, bool repr, int depth) {
    if (depth > VLM_JV_MAX_NEST) return "value nested too deeply to print";
    switch (v.type) {
    case VLM_JV_UNDEFINED:
        if (repr) vlm_strbuf_puts(b, "Undefined");
        return NULL;
    case VLM_JV_NONE:
        vlm_strbuf_puts(b, "None");
        return NULL;
    case VLM_JV_BOOL:
        vlm_strbuf_puts(b, v.u.b ? "True" : "False");
        return NULL;
    case VLM_JV_INT:
        vlm_strbuf_printf(b, "%lld", (long long)v.u.i);
        return NULL;
    case VLM_JV_FLOAT:
        vlm_py_float_repr(b, v.u.f);
        return NULL;
    case VLM_JV_STR:
        if (repr && v.u.s->markup) { /* markupsafe.Markup.__repr__ */
            vlm_strbuf_puts(b, "Markup(");
            vlm_py_str_repr(b, v.u.s->data, v.u.s->len);
            vlm_strbuf_putc(b, ')');
        } else if (repr) {
            vlm_py_str_repr(b, v.u.s->data, v.u.s->len);
        } else {
            vlm_strbuf_append(b, v.u.s->data, v.u.s->len);
        }
        return NULL;
    case VLM_JV_LIST: {
        const vlm_jlist *l = v.u.l;
        switch (l->kind) {
        case VLM_JLIST_TUPLE:
            return write_seq(b, l, "(", ")", depth);
        case VLM_JLIST_RANGE:
            if (l->range_step == 1)
                vlm_strbuf_printf(b, "range(%lld, %lld)", (long long)l->range_start,
                                  (long long)l->range_stop);
            else
                vlm_strbuf_printf(b, "range(%lld, %lld, %lld)", (long long)l->range_start,
                                  (long long)l->range_stop, (long long)l->range_step);
            return NULL;
        case VLM_JLIST_GENERATOR:
            return "printing a generator (the result of map, select, reverse, ...) gives a "
                   "memory address in jinja2; convert it with |list";
        case VLM_JLIST_KEYS:
            return write_seq(b, l, "dict_keys([", "])", depth);
        case VLM_JLIST_VALUES:
            return write_seq(b, l, "dict_values([", "])", depth);
        case VLM_JLIST_ITEMS:
            return write_seq(b, l, "dict_items([", "])", depth);
        default:
            return write_seq(b, l, "[", "]", depth);
        }
    }
    case VLM_JV_DICT:
        return write_dict(b, v.u.d, depth);
    case VLM_JV_NAMESPACE: {
        vlm_strbuf_puts(b, "<Namespace {");
        const vlm_jdict *d = v.u.ns->attrs;
        for (size_t i = 0; i < d->n; i++) {
            if (i) vlm_strbuf_puts(b, ", ");
            const char *e = write_any(b, d->keys[i], true, depth + 1);
            if (!e) {
                vlm_strbuf_puts(b, ": ");
                e = write_any(b, d->vals[i], true, depth + 1);
            }
            if (e) return e;
        }
        vlm_strbuf_puts(b, "}>");
        return NULL;
    }
    case VLM_JV_FUNC:
        if (v.u.fn->kind == VLM_JFUNC_MACRO) {
            vlm_strbuf_puts(b, "<Macro ");
            vlm_py_str_repr(b, v.u.fn->name, strlen(v.u.fn->name));
            vlm_strbuf_putc(b, '>');
            return NULL;
        }
        return "printing a function gives a memory address in jinja2";
    case VLM_JV_LOOP:
        vlm_strbuf_printf(b, "<LoopContext %zu/%zu>", v.u.loop->index0 + 1, v.u.loop->items->n);
        return NULL;
    default:
        return "cannot print this value";
    }
}

const char *vlm_jv_write_str(vlm_strbuf *b, vlm_jv v) {
    return write_any(b, v, false, 0);
}

const char *vlm_jv_write_repr(vlm_strbuf *b, vlm_jv v) {
    return write_any(b, v, true, 0);
}

const char *vlm_jv_to_str(vlm_jv v, vlm_jv *out) {
    if (v.type == VLM_JV_STR) {
        *out = vlm_jv_incref(v);
        return NULL;
    }
    vlm_strbuf b;
    vlm_strbuf_init(&b);
    const char *e = vlm_jv_write_str(&b, v);
    if (!e && (b.failed || !vlm_jv_str(vlm_strbuf_cstr(&b), b.len, out))) e = "out of memory";
    vlm_strbuf_free(&b);
    if (e) *out = vlm_jv_undef();
    return e;
}

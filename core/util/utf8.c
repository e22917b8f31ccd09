/*
 * utf8.c — the UTF-8 decoder shared by the utilities (see utf8.h). Strict RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF.
 */
#include "utf8.h"

#include <string.h>

uint32_t tutf8_decode(const unsigned char *s, size_t len, size_t *adv)
{
	uint32_t c = s[0], min;
	size_t n;
	*adv = 1;
	if (c < 0x80)
		return c;
	if ((c & 0xE0) == 0xC0) {
		n = 2, c &= 0x1F, min = 0x80;
	} else if ((c & 0xF0) == 0xE0) {
		n = 3, c &= 0x0F, min = 0x800;
	} else if ((c & 0xF8) == 0xF0) {
		n = 4, c &= 0x07, min = 0x10000;
	} else {
		return TUTF8_INVALID;
	}
	if (len < n)
		return TUTF8_INVALID;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return TUTF8_INVALID;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return TUTF8_INVALID;
	*adv = n;
	return c;
}

size_t tutf8_count(const char *s)
{
	size_t n = 0, len = strlen(s), adv;
	for (size_t i = 0; i < len; i += adv, n++)
		tutf8_decode((const unsigned char *)s + i, len - i, &adv);
	return n;
}

size_t tutf8_bad_offset(const char *s, size_t len)
{
	size_t adv;
	for (size_t i = 0; i < len; i += adv)
		if (s[i] == '\0' || tutf8_decode((const unsigned char *)s + i, len - i, &adv) == TUTF8_INVALID)
			return i;
	return len;
}

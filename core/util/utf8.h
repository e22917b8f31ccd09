/*
 * utf8.h — decoding UTF-8 one code point at a time, counting and checking. The one UTF-8 reader of the
 * utilities (YAML/JSON input, JSON Schema lengths and formats, regular expressions); knows nothing else.
 */
#ifndef TASKER_CORE_UTF8_H
#define TASKER_CORE_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define TUTF8_INVALID UINT32_MAX

/* Decodes the code point at s[0..len), len > 0; *adv receives its length in bytes. A malformed sequence
 * (overlong, surrogate, truncated, above U+10FFFF, a stray continuation byte) is TUTF8_INVALID and
 * advances one byte, so a scan never stalls and sees every byte once. */
uint32_t tutf8_decode(const unsigned char *s, size_t len, size_t *adv);
/* Code points in the NUL-terminated s (a malformed byte counts as one). */
size_t tutf8_count(const char *s);
/* Offset of the first byte of s[0..len) that is not part of well-formed UTF-8, or is NUL; len if none. */
size_t tutf8_bad_offset(const char *s, size_t len);

#endif

/* UTF-8 checks for text that reaches JSON or a text column (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF). Pure functions, any thread. */
#ifndef SY_CORE_UTF8_H
#define SY_CORE_UTF8_H
#include <stdbool.h>
#include <stddef.h>

/* Length (1..4) of the well-formed sequence at p[0..n), n >= 1; 0 when it is not one. */
size_t sy_utf8_seq(const unsigned char *p, size_t n);
/* Whether s[0..n) is well-formed UTF-8. */
bool sy_utf8_valid(const char *s, size_t n);
/* Copies s[0..n) into out with every byte that starts no well-formed sequence replaced by
 * U+FFFD (EF BF BD); out holds at least 3 * n bytes. Returns the length written. */
size_t sy_utf8_scrub(const char *s, size_t n, char *out);

#endif

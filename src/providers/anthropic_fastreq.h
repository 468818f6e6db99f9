/* Private to providers/anthropic_fmt.c (and its tests): the fast path of the OpenAI -> Anthropic
 * request translation. Not part of the provider interface. */
#ifndef SY_PROVIDERS_ANTHROPIC_FASTREQ_H
#define SY_PROVIDERS_ANTHROPIC_FASTREQ_H
#include <stdbool.h>
#include <stddef.h>

#include "providers/fmt.h"

/* Translates the common request shape (plain text chat: see the DESIGN block of
 * anthropic_fastreq.c and docs/internals/ANTHROPIC.md "Fast path") without building a JSON tree.
 * Returns true with *out filled exactly as sy_anthropic_fmt_request would fill it on success
 * (same body bytes, stream, include_usage, warnings ""; out->body malloc'd, NUL-terminated, the
 * caller frees it). Returns false for anything outside that shape, including invalid JSON: the
 * caller then runs the general translation; *out holds nothing to free. Safe on any input; pure,
 * any thread. */
bool sy_anthropic_fast_request(const char *body, size_t len, const sy_fmt_req_opts_t *o,
                               sy_fmt_req_t *out);

/* The general (jansson) translation: sy_anthropic_fmt_request without the fast path. For the
 * differential tests; same contract as sy_anthropic_fmt_request. */
sy_err_t sy_anthropic_fmt_request_slow(const char *body, size_t len, const sy_fmt_req_opts_t *o,
                                       sy_fmt_req_t *out);

#endif

/* exsync/normalize.h - the one secret normaliser of record and replay.
 *
 * A recording must be safe to share: `exsync record` passes every header
 * block, body, command word, embedded file and report through one
 * struct exs_normalizer before anything is written, and `exsync replay`
 * passes every live request and the new report through the same rules
 * (read back from the recording) before matching and comparing, so a
 * scrubbed recording still matches (vcr/vcr #601: filter before compare).
 *
 * What it replaces, always with a named placeholder "{{secret:KIND}}":
 *  - header values of Authorization / Proxy-Authorization (the scheme name
 *    is kept: "Authorization: NTLM {{secret:authorization}}"), NTLM and
 *    Negotiate blobs in WWW-Authenticate / Proxy-Authenticate ("NTLM
 *    {{secret:ntlm}}"; a bare scheme list is kept as it is), Cookie and
 *    Set-Cookie values;
 *  - every secret added with exs_normalizer_add_secret (the run's known
 *    passwords) in text, in plain, base64 (all three alignments), hex
 *    (lower and upper case) and URL-encoded form;
 *  - extra rules "REGEX=REPLACEMENT" (POSIX extended regex, literal
 *    replacement), applied in the order added;
 *  - with anonymize on: e-mail addresses become "userN@anonM.invalid" and
 *    the registrable part (last two labels) of known host names becomes
 *    "anonM.invalid", keeping prefixes such as "autodiscover." that the
 *    Autodiscover search depends on. The same input always gives the same
 *    placeholder for the lifetime of the normaliser; placeholders pass
 *    through unchanged, so normalising twice is harmless.
 *
 * Thread-safety: the anonymisation map is guarded by an internal lock, so
 * one normaliser may be shared by the worker threads of a batch.
 * Memory: strings passed in are copied; output is appended to caller
 * buffers (struct exs_buf, with their own caps).
 */
#ifndef EXSYNC_NORMALIZE_H
#define EXSYNC_NORMALIZE_H

#include <stdbool.h>
#include <stddef.h>

#include "exsync/buf.h"

struct exs_normalizer;

/* New normaliser with no secrets, no rules, anonymize off. NULL on no
 * memory. Free with exs_normalizer_free (NULL is a no-op); secrets are
 * wiped. */
struct exs_normalizer *exs_normalizer_new(void);
void exs_normalizer_free(struct exs_normalizer *n);

/* Add a secret (a password). Empty and already known secrets are ignored.
 * Returns 0 or -1 (no memory). */
int exs_normalizer_add_secret(struct exs_normalizer *n, const char *secret);

/* Add a rule "REGEX=REPLACEMENT", split at the last '=' (so the regex may
 * contain '=', the replacement may not). Returns 0, or -1 with a message in
 * err (bad regex, no '='). */
int exs_normalizer_add_rule(struct exs_normalizer *n, const char *spec, char *err, size_t errlen);
/* How many rules were added. */
size_t exs_normalizer_rule_count(const struct exs_normalizer *n);

void exs_normalizer_set_anonymize(struct exs_normalizer *n, bool on);
bool exs_normalizer_anonymize(const struct exs_normalizer *n);
/* Teach the anonymiser a host name (from a URL) so later text naming it is
 * rewritten; no-op when anonymize is off. Returns 0 or -1. */
int exs_normalizer_learn_host(struct exs_normalizer *n, const char *host);

/* Normalise a header block ("Name: value" lines, LF or CRLF): secret
 * headers first, then the text rules. Appends to out. 0 or -1 (no memory
 * or out's cap). */
int exs_normalize_headers(struct exs_normalizer *n, const char *in, size_t len,
                          struct exs_buf *out);
/* Normalise free text (a body, a report, a file). Appends to out. 0 or -1. */
int exs_normalize_text(struct exs_normalizer *n, const char *in, size_t len, struct exs_buf *out);

#endif

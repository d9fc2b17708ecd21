/* exsync/buf.h - growable byte buffer with a hard size cap.
 *
 * Modelled on curl's dynbuf: every buffer is created with the largest size it
 * may ever reach, so a hostile peer cannot make us allocate without bound.
 * The struct is public so buffers can live on the stack; treat the fields as
 * read-only outside buf.c. The data is always NUL-terminated.
 */
#ifndef EXSYNC_BUF_H
#define EXSYNC_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct exs_buf {
  char *data; /* owned; NULL until the first append */
  size_t len; /* bytes used, not counting the terminating NUL */
  size_t cap; /* bytes allocated */
  size_t max; /* hard cap on len */
};

/* Prepare an empty buffer that may grow to max bytes. No allocation. */
void exs_buf_init(struct exs_buf *b, size_t max);
/* Free the data and leave the buffer empty and reusable. NULL is a no-op. */
void exs_buf_free(struct exs_buf *b);
/* Forget the contents, keep the allocation. */
void exs_buf_reset(struct exs_buf *b);

/* Append bytes. Return 0, or -1 when the cap would be exceeded or memory
 * ran out; on failure the buffer keeps its previous contents. */
int exs_buf_add(struct exs_buf *b, const void *p, size_t n);
int exs_buf_adds(struct exs_buf *b, const char *s);
int exs_buf_addf(struct exs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int exs_buf_vaddf(struct exs_buf *b, const char *fmt, va_list ap);
/* Append s with the five XML special characters escaped (text and attribute
 * safe). NULL appends nothing. */
int exs_buf_add_xml(struct exs_buf *b, const char *s);

/* Hand the data to the caller (who frees it with free()) and reset the
 * buffer. Returns an empty string for an empty buffer, NULL on no memory. */
char *exs_buf_steal(struct exs_buf *b);

/* Base64 (RFC 4648, with padding). Return 0 or -1 (cap exceeded / bad input). */
int exs_base64_encode(struct exs_buf *out, const unsigned char *in, size_t n);
int exs_base64_decode(struct exs_buf *out, const char *in, size_t n);

#endif

/* exsync/secret.h - credentials at rest: AES-256-GCM under a key file.
 *
 * The key file holds 32 random bytes written as 64 lowercase hex digits and
 * one newline (65 bytes; a file of exactly 64 hex digits without the newline
 * is accepted too). It is created on first use with mode 0600 whatever the
 * umask: the key is written to a private temporary file in the same directory
 * (O_CREAT|O_EXCL|O_NOFOLLOW, fchmod 0600, fsync) and then hard-linked to
 * its final name, so a concurrent opener sees either no file or a complete
 * one. An existing key file is refused when it is not a regular file, when
 * group or others have any permission on it (mode & 077), or when its size
 * or contents are wrong.
 *
 * A sealed secret is a printable string:
 *   "v1:" base64(nonce[12] | ciphertext[n] | tag[16])
 * with a fresh random 96-bit nonce for every encryption. The additional
 * data is the constant "exsync-secret-v1", followed for a bound value (the
 * _for calls) by a NUL byte and a context string naming where the value
 * lives (the store uses "table:column:key"): a bound value opens only with
 * the same context, so sealed values cannot be swapped between rows or
 * columns. Two encryptions of the same text differ.
 *
 * Secrets never appear in error texts: messages name the key file and what is
 * wrong with it, never key bytes or plaintext. Errors use EXS_CAT_CONFIG.
 */
#ifndef EXSYNC_SECRET_H
#define EXSYNC_SECRET_H

#include <stdbool.h>
#include <stddef.h>

#include "exsync/error.h"

#define EXS_SECRET_KEY_LEN 32
#define EXS_SECRET_NONCE_LEN 12
#define EXS_SECRET_TAG_LEN 16
#define EXS_SECRET_PREFIX "v1:"
/* Largest plaintext accepted (passwords are at most 250 characters). */
#define EXS_SECRET_MAX_PLAIN 4096

struct exs_secret;

/* Open the key file at key_file, creating it (mode 0600, 32 random bytes)
 * when it does not exist. Returns a handle (caller frees with
 * exs_secret_free) or NULL with err set (CONFIG): permissions wider than
 * 0600, wrong size or contents, not a regular file, I/O errors. */
struct exs_secret *exs_secret_open(const char *key_file, struct exs_error *err);
/* Like exs_secret_open, but a missing key file is created only when create
 * is true (else the error "key file K is missing"). */
struct exs_secret *exs_secret_load(const char *key_file, bool create, struct exs_error *err);
/* Wipe the key and free. NULL is a no-op. */
void exs_secret_free(struct exs_secret *s);

/* Seal plaintext (NUL-terminated, at most EXS_SECRET_MAX_PLAIN bytes). On
 * success *out is a malloc'd printable string the caller frees with free();
 * returns 0, or -1 with err set. */
int exs_secret_encrypt(struct exs_secret *s, const char *plaintext, char **out,
                       struct exs_error *err);

/* Open a sealed string into out (outlen bytes, NUL-terminated). Returns 0, or
 * -1 with err set (CONFIG): a blob that is not "v1:" + base64 or too short is
 * "corrupt"; a tag mismatch (wrong key file or altered blob) says so; a
 * plaintext longer than outlen-1 is refused. On failure out is zeroed. All
 * intermediate plaintext copies are wiped. */
int exs_secret_decrypt(struct exs_secret *s, const char *blob, char *out, size_t outlen,
                       struct exs_error *err);

/* The same, bound to context (see above; NULL: the unbound form). */
int exs_secret_encrypt_for(struct exs_secret *s, const char *plaintext, const char *context,
                           char **out, struct exs_error *err);
int exs_secret_decrypt_for(struct exs_secret *s, const char *blob, const char *context, char *out,
                           size_t outlen, struct exs_error *err);

/* Whether s looks like a sealed secret ("v1:" prefix). */
int exs_secret_is_sealed(const char *s);

#endif

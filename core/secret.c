/* secret.c - AES-256-GCM sealing of credentials under a 0600 key file.
 * See exsync/secret.h for the key file and blob formats. */
#include "exsync/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "exsync/buf.h"

#define KEY_HEX_LEN (2 * EXS_SECRET_KEY_LEN)
static const unsigned char aad[] = "exsync-secret-v1";

/* The additional data: the constant, then (bound values) a NUL and the
 * context, so a value only opens in the place it was sealed for. */
static int add_aad(EVP_CIPHER_CTX *ctx, const char *context, int encrypt)
{
  int len;
  int (*update)(EVP_CIPHER_CTX *, unsigned char *, int *, const unsigned char *, int) =
      encrypt ? EVP_EncryptUpdate : EVP_DecryptUpdate;

  if(update(ctx, NULL, &len, aad, context ? (int)sizeof(aad) : (int)sizeof(aad) - 1) != 1)
    return -1;
  if(context && *context &&
     update(ctx, NULL, &len, (const unsigned char *)context, (int)strlen(context)) != 1)
    return -1;
  return 0;
}

struct exs_secret {
  unsigned char key[EXS_SECRET_KEY_LEN];
};

static int hexval(int c)
{
  if(c >= '0' && c <= '9')
    return c - '0';
  if(c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if(c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static int write_all(int fd, const char *p, size_t n)
{
  while(n) {
    ssize_t w = write(fd, p, n);
    if(w < 0) {
      if(errno == EINTR)
        continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Create the key file atomically: temp file 0600, then link(). Returns 0,
 * 1 when another process created it first, -1 on error. */
static int create_key_file(const char *path, struct exs_error *err)
{
  unsigned char key[EXS_SECRET_KEY_LEN];
  char hex[KEY_HEX_LEN + 2];
  char tmp[4096];
  int fd = -1, result = -1, i;
  static const char digits[] = "0123456789abcdef";

  if(snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
    exs_error_set(err, EXS_CAT_CONFIG, "key file path too long: %s", path);
    return -1;
  }
  if(RAND_bytes(key, sizeof(key)) != 1) {
    exs_error_set(err, EXS_CAT_CONFIG, "cannot create key file %s: no random bytes", path);
    return -1;
  }
  for(i = 0; i < EXS_SECRET_KEY_LEN; i++) {
    hex[2 * i] = digits[key[i] >> 4];
    hex[2 * i + 1] = digits[key[i] & 15];
  }
  hex[KEY_HEX_LEN] = '\n';
  hex[KEY_HEX_LEN + 1] = 0;
  (void)unlink(tmp); /* a stale temp of a crashed creator with our pid */
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if(fd < 0) {
    exs_error_set(err, EXS_CAT_CONFIG, "cannot create key file %s: %s", tmp, strerror(errno));
    goto out;
  }
  /* umask may only have removed bits; make the mode exact. */
  if(fchmod(fd, 0600) || write_all(fd, hex, KEY_HEX_LEN + 1) || fsync(fd)) {
    exs_error_set(err, EXS_CAT_CONFIG, "cannot write key file %s: %s", tmp, strerror(errno));
    goto out;
  }
  if(close(fd)) {
    fd = -1;
    exs_error_set(err, EXS_CAT_CONFIG, "cannot write key file %s: %s", tmp, strerror(errno));
    goto out;
  }
  fd = -1;
  if(link(tmp, path)) {
    if(errno == EEXIST) {
      result = 1;
      goto out;
    }
    exs_error_set(err, EXS_CAT_CONFIG, "cannot create key file %s: %s", path, strerror(errno));
    goto out;
  }
  result = 0;
out:
  if(fd >= 0)
    close(fd);
  (void)unlink(tmp);
  OPENSSL_cleanse(key, sizeof(key));
  OPENSSL_cleanse(hex, sizeof(hex));
  return result;
}

static int read_key_file(const char *path, unsigned char *key, struct exs_error *err)
{
  char buf[KEY_HEX_LEN + 2];
  struct stat st;
  ssize_t n;
  int fd, result = -1, i;

  fd = open(path, O_RDONLY | O_CLOEXEC);
  if(fd < 0) {
    exs_error_set(err, EXS_CAT_CONFIG, "cannot open key file %s: %s", path, strerror(errno));
    return -1;
  }
  if(fstat(fd, &st)) {
    exs_error_set(err, EXS_CAT_CONFIG, "cannot stat key file %s: %s", path, strerror(errno));
    goto out;
  }
  if(!S_ISREG(st.st_mode)) {
    exs_error_set(err, EXS_CAT_CONFIG, "key file %s is not a regular file", path);
    goto out;
  }
  if(st.st_mode & 077) {
    exs_error_set(err, EXS_CAT_CONFIG,
                  "key file %s has mode %04o: it must not be accessible by group or others "
                  "(chmod 600 %s)",
                  path, (unsigned)(st.st_mode & 07777), path);
    goto out;
  }
  if(st.st_size != KEY_HEX_LEN && st.st_size != KEY_HEX_LEN + 1) {
    exs_error_set(err, EXS_CAT_CONFIG,
                  "key file %s has %lld bytes: expected %d hex digits and a newline", path,
                  (long long)st.st_size, KEY_HEX_LEN);
    goto out;
  }
  n = read(fd, buf, (size_t)st.st_size);
  if(n != st.st_size) {
    exs_error_set(err, EXS_CAT_CONFIG, "cannot read key file %s", path);
    goto out;
  }
  if(n == KEY_HEX_LEN + 1 && buf[KEY_HEX_LEN] != '\n') {
    exs_error_set(err, EXS_CAT_CONFIG, "key file %s is malformed: expected %d hex digits", path,
                  KEY_HEX_LEN);
    goto out;
  }
  for(i = 0; i < EXS_SECRET_KEY_LEN; i++) {
    int hi = hexval((unsigned char)buf[2 * i]), lo = hexval((unsigned char)buf[2 * i + 1]);
    if(hi < 0 || lo < 0) {
      exs_error_set(err, EXS_CAT_CONFIG, "key file %s is malformed: expected %d hex digits", path,
                    KEY_HEX_LEN);
      goto out;
    }
    key[i] = (unsigned char)(hi << 4 | lo);
  }
  result = 0;
out:
  OPENSSL_cleanse(buf, sizeof(buf));
  close(fd);
  return result;
}

struct exs_secret *exs_secret_open(const char *key_file, struct exs_error *err)
{
  return exs_secret_load(key_file, true, err);
}

struct exs_secret *exs_secret_load(const char *key_file, bool create, struct exs_error *err)
{
  struct exs_secret *s = NULL;
  struct stat st;
  int attempt;

  if(!key_file || !*key_file) {
    exs_error_set(err, EXS_CAT_CONFIG, "no key file given");
    return NULL;
  }
  s = calloc(1, sizeof(*s));
  if(!s) {
    exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
    return NULL;
  }
  for(attempt = 0; attempt < 2; attempt++) {
    if(lstat(key_file, &st) == 0 || errno != ENOENT)
      break;
    if(!create) {
      exs_error_set(err, EXS_CAT_CONFIG, "key file %s is missing", key_file);
      goto fail;
    }
    if(create_key_file(key_file, err) < 0)
      goto fail;
  }
  if(read_key_file(key_file, s->key, err))
    goto fail;
  return s;
fail:
  exs_secret_free(s);
  return NULL;
}

void exs_secret_free(struct exs_secret *s)
{
  if(!s)
    return;
  OPENSSL_cleanse(s->key, sizeof(s->key));
  free(s);
}

int exs_secret_is_sealed(const char *s)
{
  return s && !strncmp(s, EXS_SECRET_PREFIX, sizeof(EXS_SECRET_PREFIX) - 1);
}

int exs_secret_encrypt(struct exs_secret *s, const char *plaintext, char **out,
                       struct exs_error *err)
{
  return exs_secret_encrypt_for(s, plaintext, NULL, out, err);
}

int exs_secret_encrypt_for(struct exs_secret *s, const char *plaintext, const char *context,
                           char **out, struct exs_error *err)
{
  EVP_CIPHER_CTX *ctx = NULL;
  unsigned char *raw = NULL;
  struct exs_buf b;
  size_t n, rawlen;
  int len, result = -1;

  *out = NULL;
  exs_buf_init(&b, 2 * EXS_SECRET_MAX_PLAIN + 128);
  n = strlen(plaintext);
  if(n > EXS_SECRET_MAX_PLAIN) {
    exs_error_set(err, EXS_CAT_CONFIG, "secret too long (%zu bytes, at most %d)", n,
                  EXS_SECRET_MAX_PLAIN);
    goto out;
  }
  rawlen = EXS_SECRET_NONCE_LEN + n + EXS_SECRET_TAG_LEN;
  raw = malloc(rawlen);
  ctx = EVP_CIPHER_CTX_new();
  if(!raw || !ctx) {
    exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
    goto out;
  }
  if(RAND_bytes(raw, EXS_SECRET_NONCE_LEN) != 1 ||
     EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, EXS_SECRET_NONCE_LEN, NULL) != 1 ||
     EVP_EncryptInit_ex(ctx, NULL, NULL, s->key, raw) != 1 || add_aad(ctx, context, 1) ||
     EVP_EncryptUpdate(ctx, raw + EXS_SECRET_NONCE_LEN, &len, (const unsigned char *)plaintext,
                       (int)n) != 1 ||
     EVP_EncryptFinal_ex(ctx, raw + EXS_SECRET_NONCE_LEN + len, &len) != 1 ||
     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, EXS_SECRET_TAG_LEN,
                         raw + EXS_SECRET_NONCE_LEN + n) != 1) {
    exs_error_set(err, EXS_CAT_CONFIG, "encryption failed (OpenSSL)");
    goto out;
  }
  if(exs_buf_adds(&b, EXS_SECRET_PREFIX) || exs_base64_encode(&b, raw, rawlen)) {
    exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
    goto out;
  }
  *out = exs_buf_steal(&b);
  if(!*out) {
    exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
    goto out;
  }
  result = 0;
out:
  EVP_CIPHER_CTX_free(ctx);
  free(raw);
  exs_buf_free(&b);
  return result;
}

int exs_secret_decrypt(struct exs_secret *s, const char *blob, char *out, size_t outlen,
                       struct exs_error *err)
{
  return exs_secret_decrypt_for(s, blob, NULL, out, outlen, err);
}

int exs_secret_decrypt_for(struct exs_secret *s, const char *blob, const char *context, char *out,
                           size_t outlen, struct exs_error *err)
{
  EVP_CIPHER_CTX *ctx = NULL;
  unsigned char *plain = NULL;
  const unsigned char *raw;
  struct exs_buf b;
  size_t blen, n = 0;
  int len, result = -1;

  if(outlen)
    memset(out, 0, outlen);
  exs_buf_init(&b, 2 * EXS_SECRET_MAX_PLAIN + 128);
  if(!exs_secret_is_sealed(blob)) {
    exs_error_set(err, EXS_CAT_CONFIG, "stored secret is corrupt: not a v1 sealed value");
    goto out;
  }
  blob += sizeof(EXS_SECRET_PREFIX) - 1;
  blen = strlen(blob);
  if(exs_base64_decode(&b, blob, blen) || b.len < EXS_SECRET_NONCE_LEN + EXS_SECRET_TAG_LEN) {
    exs_error_set(err, EXS_CAT_CONFIG, "stored secret is corrupt: bad encoding or length");
    goto out;
  }
  raw = (const unsigned char *)b.data;
  n = b.len - EXS_SECRET_NONCE_LEN - EXS_SECRET_TAG_LEN;
  if(n + 1 > outlen) {
    exs_error_set(err, EXS_CAT_CONFIG, "stored secret is longer than %zu bytes",
                  outlen ? outlen - 1 : 0);
    goto out;
  }
  plain = malloc(n + 1);
  ctx = EVP_CIPHER_CTX_new();
  if(!plain || !ctx) {
    exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
    goto out;
  }
  if(EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, EXS_SECRET_NONCE_LEN, NULL) != 1 ||
     EVP_DecryptInit_ex(ctx, NULL, NULL, s->key, raw) != 1 || add_aad(ctx, context, 0) ||
     EVP_DecryptUpdate(ctx, plain, &len, raw + EXS_SECRET_NONCE_LEN, (int)n) != 1 ||
     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, EXS_SECRET_TAG_LEN,
                         (void *)(raw + EXS_SECRET_NONCE_LEN + n)) != 1) {
    exs_error_set(err, EXS_CAT_CONFIG, "decryption failed (OpenSSL)");
    goto out;
  }
  if(EVP_DecryptFinal_ex(ctx, plain + len, &len) != 1) {
    exs_error_set(err, EXS_CAT_CONFIG,
                  "cannot decrypt a stored secret: authentication failed (wrong key file, or "
                  "the stored value was altered or moved from another row)");
    goto out;
  }
  if(memchr(plain, 0, n)) {
    exs_error_set(err, EXS_CAT_CONFIG, "stored secret is corrupt: embedded NUL");
    goto out;
  }
  memcpy(out, plain, n);
  out[n] = 0;
  result = 0;
out:
  if(plain) {
    OPENSSL_cleanse(plain, n + 1);
    free(plain);
  }
  EVP_CIPHER_CTX_free(ctx);
  exs_buf_free(&b);
  return result;
}

/* ntlm.c - server side of NTLM ([MS-NLMP]); see ntlm.h for the invariants. */
#include "exsync-emulator/ntlm.h"

#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "exsync/clock.h"

static const uint8_t ntlmssp_sig[8] = {'N', 'T', 'L', 'M', 'S', 'S', 'P', 0};
/* 10.0.17763, NTLMSSP_REVISION_W2K3 */
static const uint8_t server_version[8] = {0x0a, 0x00, 0x63, 0x45, 0x00, 0x00, 0x00, 0x0f};

#define CHALLENGE_HEADER_LEN 56
#define AUTH_MIC_OFFSET 72
#define AUTH_MIC_END 88
#define V2_CLIENT_HEADER_LEN 28 /* RespType .. Reserved3 */
#define MAX_MESSAGE (EMU_NTLM_MAX_TOKEN / 4 * 3 + 3)

const char *emu_ntlm_strerror(int result)
{
  switch(result) {
  case EMU_NTLM_OK:
    return "ok";
  case EMU_NTLM_ERR_NOMEM:
    return "out of memory";
  case EMU_NTLM_ERR_ARG:
    return "invalid argument";
  case EMU_NTLM_ERR_MALFORMED:
    return "malformed NTLM message";
  case EMU_NTLM_ERR_TYPE:
    return "unexpected NTLM message type";
  case EMU_NTLM_ERR_SCHEME:
    return "Authorization header is not NTLM or Negotiate with a token";
  case EMU_NTLM_ERR_BASE64:
    return "NTLM token is not valid base64";
  case EMU_NTLM_ERR_TOO_LONG:
    return "NTLM token too long";
  case EMU_NTLM_ERR_SPNEGO:
    return "SPNEGO-wrapped token not supported (send raw NTLMSSP)";
  case EMU_NTLM_ERR_STATE:
    return "NTLM message out of sequence";
  case EMU_NTLM_ERR_NTLMV1:
    return "NTLMv1/LM response refused: only NTLMv2 is accepted";
  case EMU_NTLM_ERR_ANONYMOUS:
    return "anonymous NTLM logon refused";
  case EMU_NTLM_ERR_UNKNOWN_USER:
    return "unknown user";
  case EMU_NTLM_ERR_BAD_PROOF:
    return "NTLMv2 proof mismatch (wrong password)";
  case EMU_NTLM_ERR_MIC:
    return "NTLM message integrity code mismatch";
  case EMU_NTLM_ERR_CRYPTO:
    return "cryptographic primitive failed";
  }
  return "unknown NTLM error";
}

/* ---- little-endian helpers ---- */

static uint16_t rd16(const uint8_t *p)
{
  return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const uint8_t *p)
{
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static uint64_t rd64(const uint8_t *p)
{
  return (uint64_t)rd32(p) | ((uint64_t)rd32(p + 4) << 32);
}

static void wr16(uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void wr32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static void wr64(uint8_t *p, uint64_t v)
{
  wr32(p, (uint32_t)v);
  wr32(p + 4, (uint32_t)(v >> 32));
}

/* Read the field descriptor at off. The descriptor itself and the bytes it
 * points at must lie inside the message. */
static int get_field(const uint8_t *msg, size_t len, size_t off, const uint8_t **data, size_t *flen)
{
  uint16_t l;
  uint32_t o;

  if(off > len || len - off < 8)
    return EMU_NTLM_ERR_MALFORMED;
  l = rd16(msg + off);
  o = rd32(msg + off + 4);
  if(l == 0) {
    *data = NULL;
    *flen = 0;
    return EMU_NTLM_OK;
  }
  if(o > len || len - o < l)
    return EMU_NTLM_ERR_MALFORMED;
  *data = msg + o;
  *flen = l;
  return EMU_NTLM_OK;
}

/* ---- text conversion ---- */

static int put_utf8(char *out, size_t outsz, size_t *pos, uint32_t cp)
{
  uint8_t tmp[4];
  size_t n;

  if(cp < 0x80) {
    tmp[0] = (uint8_t)cp;
    n = 1;
  }
  else if(cp < 0x800) {
    tmp[0] = (uint8_t)(0xc0 | (cp >> 6));
    tmp[1] = (uint8_t)(0x80 | (cp & 0x3f));
    n = 2;
  }
  else if(cp < 0x10000) {
    tmp[0] = (uint8_t)(0xe0 | (cp >> 12));
    tmp[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    tmp[2] = (uint8_t)(0x80 | (cp & 0x3f));
    n = 3;
  }
  else {
    tmp[0] = (uint8_t)(0xf0 | (cp >> 18));
    tmp[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    tmp[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    tmp[3] = (uint8_t)(0x80 | (cp & 0x3f));
    n = 4;
  }
  if(outsz - *pos <= n) /* keep room for the NUL */
    return -1;
  memcpy(out + *pos, tmp, n);
  *pos += n;
  return 0;
}

/* Wire name (UTF-16LE or ISO-8859-1) -> NUL-terminated UTF-8. Refuses odd
 * lengths, unpaired surrogates, U+0000 and names that do not fit. */
static int wire_to_utf8(const uint8_t *p, size_t n, bool unicode, char *out, size_t outsz)
{
  size_t pos = 0, i;

  out[0] = '\0';
  if(unicode) {
    if(n % 2)
      return EMU_NTLM_ERR_MALFORMED;
    for(i = 0; i < n; i += 2) {
      uint32_t cp = rd16(p + i);

      if(cp >= 0xd800 && cp <= 0xdbff) {
        uint32_t lo;

        if(i + 4 > n)
          return EMU_NTLM_ERR_MALFORMED;
        lo = rd16(p + i + 2);
        if(lo < 0xdc00 || lo > 0xdfff)
          return EMU_NTLM_ERR_MALFORMED;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        i += 2;
      }
      else if(cp >= 0xdc00 && cp <= 0xdfff)
        return EMU_NTLM_ERR_MALFORMED;
      if(cp == 0 || put_utf8(out, outsz, &pos, cp))
        return EMU_NTLM_ERR_MALFORMED;
    }
  }
  else {
    for(i = 0; i < n; i++) {
      if(p[i] == 0 || put_utf8(out, outsz, &pos, p[i]))
        return EMU_NTLM_ERR_MALFORMED;
    }
  }
  out[pos] = '\0';
  return EMU_NTLM_OK;
}

/* Next code point of NUL-terminated UTF-8 s at *i; -1 on invalid UTF-8. */
static int32_t next_cp(const char *s, size_t *i)
{
  const uint8_t *p = (const uint8_t *)s + *i;
  uint32_t cp;
  size_t n, k;

  if(p[0] < 0x80) {
    *i += 1;
    return p[0];
  }
  if((p[0] & 0xe0) == 0xc0) {
    cp = p[0] & 0x1f;
    n = 2;
  }
  else if((p[0] & 0xf0) == 0xe0) {
    cp = p[0] & 0x0f;
    n = 3;
  }
  else if((p[0] & 0xf8) == 0xf0) {
    cp = p[0] & 0x07;
    n = 4;
  }
  else
    return -1;
  for(k = 1; k < n; k++) {
    if((p[k] & 0xc0) != 0x80)
      return -1;
    cp = (cp << 6) | (p[k] & 0x3f);
  }
  if((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
     (cp >= 0xd800 && cp <= 0xdfff))
    return -1;
  *i += n;
  return (int32_t)cp;
}

/* Simple upper-case mapping: ASCII, Latin-1, Greek, Cyrillic. */
static uint32_t upper_cp(uint32_t c)
{
  if(c >= 'a' && c <= 'z')
    return c - 32;
  if(c >= 0xe0 && c <= 0xfe && c != 0xf7)
    return c - 32;
  if(c == 0xff)
    return 0x178;
  if(c >= 0x3b1 && c <= 0x3c9 && c != 0x3c2)
    return c - 32;
  if(c >= 0x430 && c <= 0x44f)
    return c - 32;
  if(c >= 0x450 && c <= 0x45f)
    return c - 80;
  return c;
}

/* Append UTF-8 s to out as UTF-16LE (or ISO-8859-1 when !unicode; code
 * points above U+00FF become '?'), upper-cased when upper. */
static int add_wire(struct exs_buf *out, const char *s, bool unicode, bool upper)
{
  size_t i = 0;

  while(s[i]) {
    int32_t c = next_cp(s, &i);
    uint32_t cp;
    uint8_t b[4];

    if(c < 0)
      return EMU_NTLM_ERR_ARG;
    cp = upper ? upper_cp((uint32_t)c) : (uint32_t)c;
    if(!unicode) {
      b[0] = cp > 0xff ? '?' : (uint8_t)cp;
      if(exs_buf_add(out, b, 1))
        return EMU_NTLM_ERR_NOMEM;
    }
    else if(cp >= 0x10000) {
      cp -= 0x10000;
      wr16(b, (uint16_t)(0xd800 + (cp >> 10)));
      wr16(b + 2, (uint16_t)(0xdc00 + (cp & 0x3ff)));
      if(exs_buf_add(out, b, 4))
        return EMU_NTLM_ERR_NOMEM;
    }
    else {
      wr16(b, (uint16_t)cp);
      if(exs_buf_add(out, b, 2))
        return EMU_NTLM_ERR_NOMEM;
    }
  }
  return EMU_NTLM_OK;
}

/* Wipe and free a buffer that held secrets. */
static void buf_wipe(struct exs_buf *b)
{
  if(b->data)
    OPENSSL_cleanse(b->data, b->cap);
  exs_buf_free(b);
}

/* ---- MD4 (RFC 1320) ---- */

#define MD4_F(x, y, z) (((x) & (y)) | (~(x) & (z)))
#define MD4_G(x, y, z) (((x) & (y)) | ((x) & (z)) | ((y) & (z)))
#define MD4_H(x, y, z) ((x) ^ (y) ^ (z))
#define ROTL(x, s) (((x) << (s)) | ((x) >> (32 - (s))))

static void md4_block(uint32_t st[4], const uint8_t *blk)
{
  static const int r1[4] = {3, 7, 11, 19}, r2[4] = {3, 5, 9, 13}, r3[4] = {3, 9, 11, 15};
  static const int o3[16] = {0, 8, 4, 12, 2, 10, 6, 14, 1, 9, 5, 13, 3, 11, 7, 15};
  uint32_t x[16], a = st[0], b = st[1], c = st[2], d = st[3], t;
  int i;

  for(i = 0; i < 16; i++)
    x[i] = rd32(blk + 4 * i);
  for(i = 0; i < 16; i++) {
    t = a + MD4_F(b, c, d) + x[i];
    t = ROTL(t, r1[i % 4]);
    a = d;
    d = c;
    c = b;
    b = t;
  }
  for(i = 0; i < 16; i++) {
    t = a + MD4_G(b, c, d) + x[(i % 4) * 4 + i / 4] + 0x5a827999u;
    t = ROTL(t, r2[i % 4]);
    a = d;
    d = c;
    c = b;
    b = t;
  }
  for(i = 0; i < 16; i++) {
    t = a + MD4_H(b, c, d) + x[o3[i]] + 0x6ed9eba1u;
    t = ROTL(t, r3[i % 4]);
    a = d;
    d = c;
    c = b;
    b = t;
  }
  st[0] += a;
  st[1] += b;
  st[2] += c;
  st[3] += d;
  OPENSSL_cleanse(x, sizeof(x));
}

void emu_ntlm_md4_embedded(const void *data, size_t len, uint8_t out[16])
{
  uint32_t st[4] = {0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u};
  const uint8_t *p = data;
  uint8_t tail[128];
  size_t rest = len % 64, full = len - rest, tlen;
  int i;

  for(size_t off = 0; off < full; off += 64)
    md4_block(st, p + off);
  memset(tail, 0, sizeof(tail));
  if(rest)
    memcpy(tail, p + full, rest);
  tail[rest] = 0x80;
  tlen = rest < 56 ? 64 : 128;
  wr64(tail + tlen - 8, (uint64_t)len * 8);
  md4_block(st, tail);
  if(tlen == 128)
    md4_block(st, tail + 64);
  for(i = 0; i < 4; i++)
    wr32(out + 4 * i, st[i]);
  OPENSSL_cleanse(tail, sizeof(tail));
  OPENSSL_cleanse(st, sizeof(st));
}

/* MD4 from the legacy provider, loaded once into a private library context
 * so the process-wide default context (used for TLS) is left untouched. */
static pthread_once_t md4_once = PTHREAD_ONCE_INIT;
static EVP_MD *md4_md;

static void md4_init(void)
{
  OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();

  if(!ctx)
    return;
  if(!OSSL_PROVIDER_load(ctx, "legacy") || !OSSL_PROVIDER_load(ctx, "default")) {
    OSSL_LIB_CTX_free(ctx);
    return;
  }
  md4_md = EVP_MD_fetch(ctx, "MD4", NULL);
  /* ctx and the providers stay loaded for the life of the process. */
}

static void md4(const uint8_t *data, size_t len, uint8_t out[16])
{
  unsigned int n = 0;

  pthread_once(&md4_once, md4_init);
  if(md4_md && EVP_Digest(data, len, out, &n, md4_md, NULL) && n == 16)
    return;
  emu_ntlm_md4_embedded(data, len, out);
}

/* ---- RC4 (only to decrypt the 16-byte EncryptedRandomSessionKey) ---- */
static void rc4(const uint8_t key[16], const uint8_t *in, size_t n, uint8_t *out)
{
  uint8_t s[256], t;
  unsigned i, j = 0, k;

  for(i = 0; i < 256; i++)
    s[i] = (uint8_t)i;
  for(i = 0; i < 256; i++) {
    j = (j + s[i] + key[i % 16]) & 0xff;
    t = s[i];
    s[i] = s[j];
    s[j] = t;
  }
  i = j = 0;
  for(k = 0; k < n; k++) {
    i = (i + 1) & 0xff;
    j = (j + s[i]) & 0xff;
    t = s[i];
    s[i] = s[j];
    s[j] = t;
    out[k] = in[k] ^ s[(s[i] + s[j]) & 0xff];
  }
  OPENSSL_cleanse(s, sizeof(s));
}

/* ---- HMAC-MD5 ---- */
struct part {
  const uint8_t *p;
  size_t n;
};

static int hmac_md5_v(const uint8_t *key, size_t keylen, const struct part *parts, size_t nparts,
                      uint8_t out[16])
{
  EVP_MAC *mac = NULL;
  EVP_MAC_CTX *ctx = NULL;
  OSSL_PARAM params[2];
  size_t outlen = 0, i;
  int result = EMU_NTLM_ERR_CRYPTO;

  mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  if(!mac)
    goto out;
  ctx = EVP_MAC_CTX_new(mac);
  if(!ctx)
    goto out;
  params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"MD5", 0);
  params[1] = OSSL_PARAM_construct_end();
  if(!EVP_MAC_init(ctx, key, keylen, params))
    goto out;
  for(i = 0; i < nparts; i++) {
    if(parts[i].n && !EVP_MAC_update(ctx, parts[i].p, parts[i].n))
      goto out;
  }
  if(!EVP_MAC_final(ctx, out, &outlen, 16) || outlen != 16)
    goto out;
  result = EMU_NTLM_OK;
out:
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return result;
}

int emu_ntlm_hmac_md5(const uint8_t *key, size_t keylen, const uint8_t *a, size_t alen,
                      const uint8_t *b, size_t blen, uint8_t out[16])
{
  struct part parts[2] = {{a, alen}, {b, blen}};

  if(!key || !out || (alen && !a) || (blen && !b))
    return EMU_NTLM_ERR_ARG;
  return hmac_md5_v(key, keylen, parts, 2, out);
}

int emu_ntlm_nt_hash(const char *password, uint8_t out[16])
{
  struct exs_buf u;
  int result;

  if(!password || !out)
    return EMU_NTLM_ERR_ARG;
  exs_buf_init(&u, 4 * 1024);
  result = add_wire(&u, password, true, false);
  if(result)
    goto out;
  md4((const uint8_t *)(u.data ? u.data : ""), u.len, out);
out:
  buf_wipe(&u);
  return result;
}

int emu_ntlm_ntowfv2(const uint8_t nt_hash[16], const char *user, const char *domain,
                     uint8_t out[16])
{
  struct exs_buf u;
  int result;

  if(!nt_hash || !user || !domain || !out)
    return EMU_NTLM_ERR_ARG;
  exs_buf_init(&u, 8 * EMU_NTLM_NAME_MAX);
  result = add_wire(&u, user, true, true);
  if(!result)
    result = add_wire(&u, domain, true, false);
  if(!result)
    result = emu_ntlm_hmac_md5(nt_hash, 16, (const uint8_t *)u.data, u.len, NULL, 0, out);
  buf_wipe(&u);
  return result;
}

uint64_t emu_ntlm_filetime(int64_t unix_seconds)
{
  return ((uint64_t)unix_seconds + 11644473600ull) * 10000000ull;
}

/* ---- NEGOTIATE ---- */

static int check_header(const uint8_t *msg, size_t len, uint32_t type)
{
  if(!msg || len < 12 || memcmp(msg, ntlmssp_sig, 8))
    return EMU_NTLM_ERR_MALFORMED;
  if(rd32(msg + 8) != type)
    return EMU_NTLM_ERR_TYPE;
  return EMU_NTLM_OK;
}

int emu_ntlm_parse_negotiate(const uint8_t *msg, size_t len, struct emu_ntlm_negotiate *out)
{
  const uint8_t *p;
  size_t n;
  int result;

  if(!out)
    return EMU_NTLM_ERR_ARG;
  memset(out, 0, sizeof(*out));
  result = check_header(msg, len, 1);
  if(result)
    goto out;
  if(len < 16) {
    result = EMU_NTLM_ERR_MALFORMED;
    goto out;
  }
  out->flags = rd32(msg + 12);
  /* Very old clients stop after the flags; the rest is optional. */
  if(len >= 32) {
    result = get_field(msg, len, 16, &p, &n);
    if(!result && (out->flags & EMU_NTLM_NEGOTIATE_OEM_DOMAIN_SUPPLIED))
      result = wire_to_utf8(p, n, false, out->domain, sizeof(out->domain));
    if(!result)
      result = get_field(msg, len, 24, &p, &n);
    if(!result && (out->flags & EMU_NTLM_NEGOTIATE_OEM_WORKSTATION_SUPPLIED))
      result = wire_to_utf8(p, n, false, out->workstation, sizeof(out->workstation));
    if(result)
      goto out;
  }
  else if(len != 16) {
    result = EMU_NTLM_ERR_MALFORMED;
    goto out;
  }
  if((out->flags & EMU_NTLM_NEGOTIATE_VERSION) && len >= 40) {
    out->has_version = true;
    memcpy(out->version, msg + 32, 8);
  }
out:
  if(result)
    memset(out, 0, sizeof(*out));
  return result;
}

/* ---- CHALLENGE ---- */

uint32_t emu_ntlm_challenge_flags(uint32_t c)
{
  const uint32_t echo = EMU_NTLM_REQUEST_TARGET | EMU_NTLM_NEGOTIATE_SIGN |
                        EMU_NTLM_NEGOTIATE_SEAL | EMU_NTLM_NEGOTIATE_ALWAYS_SIGN |
                        EMU_NTLM_NEGOTIATE_EXTENDED_SESSIONSECURITY | EMU_NTLM_NEGOTIATE_128 |
                        EMU_NTLM_NEGOTIATE_56 | EMU_NTLM_NEGOTIATE_KEY_EXCH |
                        EMU_NTLM_NEGOTIATE_VERSION;
  uint32_t f = (c & echo) | EMU_NTLM_NEGOTIATE_NTLM | EMU_NTLM_NEGOTIATE_TARGET_INFO |
               EMU_NTLM_TARGET_TYPE_DOMAIN;

  if(c & EMU_NTLM_NEGOTIATE_UNICODE)
    f |= EMU_NTLM_NEGOTIATE_UNICODE;
  else if(c & EMU_NTLM_NEGOTIATE_OEM)
    f |= EMU_NTLM_NEGOTIATE_OEM;
  else
    f |= EMU_NTLM_NEGOTIATE_UNICODE;
  return f;
}

/* Append one AV pair whose value is a name (always UTF-16LE, [MS-NLMP]
 * 2.2.2.1). Empty/NULL names are skipped unless required. */
static int add_av_name(struct exs_buf *b, uint16_t id, const char *name, bool required)
{
  uint8_t hdr[4];
  size_t at;
  int result;

  if(!name || !*name)
    return required ? EMU_NTLM_ERR_ARG : EMU_NTLM_OK;
  if(strlen(name) >= EMU_NTLM_NAME_MAX)
    return EMU_NTLM_ERR_ARG;
  memset(hdr, 0, sizeof(hdr));
  at = b->len;
  if(exs_buf_add(b, hdr, 4))
    return EMU_NTLM_ERR_NOMEM;
  result = add_wire(b, name, true, false);
  if(result)
    return result;
  wr16((uint8_t *)b->data + at, id);
  wr16((uint8_t *)b->data + at + 2, (uint16_t)(b->len - at - 4));
  return EMU_NTLM_OK;
}

int emu_ntlm_build_challenge(uint32_t flags, const uint8_t server_challenge[8],
                             const struct emu_ntlm_target *target, uint64_t timestamp,
                             struct exs_buf *out)
{
  struct exs_buf name, info;
  uint8_t hdr[CHALLENGE_HEADER_LEN], av[12];
  bool unicode = (flags & EMU_NTLM_NEGOTIATE_UNICODE) != 0;
  int result;

  exs_buf_init(&name, 4 * EMU_NTLM_NAME_MAX);
  exs_buf_init(&info, 32 * EMU_NTLM_NAME_MAX);
  if(!server_challenge || !target || !out || !target->nb_domain || !target->nb_computer ||
     strlen(target->nb_domain) >= EMU_NTLM_NAME_MAX) {
    result = EMU_NTLM_ERR_ARG;
    goto out;
  }
  if(flags & EMU_NTLM_REQUEST_TARGET) {
    result = add_wire(&name, target->nb_domain, unicode, false);
    if(result)
      goto out;
  }
  result = add_av_name(&info, EMU_NTLM_AV_NB_DOMAIN, target->nb_domain, true);
  if(!result)
    result = add_av_name(&info, EMU_NTLM_AV_NB_COMPUTER, target->nb_computer, true);
  if(!result)
    result = add_av_name(&info, EMU_NTLM_AV_DNS_DOMAIN, target->dns_domain, false);
  if(!result)
    result = add_av_name(&info, EMU_NTLM_AV_DNS_COMPUTER, target->dns_computer, false);
  if(result)
    goto out;
  wr16(av, EMU_NTLM_AV_TIMESTAMP);
  wr16(av + 2, 8);
  wr64(av + 4, timestamp);
  if(exs_buf_add(&info, av, 12) || exs_buf_add(&info, "\0\0\0\0", 4)) {
    result = EMU_NTLM_ERR_NOMEM;
    goto out;
  }

  memset(hdr, 0, sizeof(hdr));
  memcpy(hdr, ntlmssp_sig, 8);
  wr32(hdr + 8, 2);
  wr16(hdr + 12, (uint16_t)name.len);
  wr16(hdr + 14, (uint16_t)name.len);
  wr32(hdr + 16, CHALLENGE_HEADER_LEN);
  wr32(hdr + 20, flags);
  memcpy(hdr + 24, server_challenge, 8);
  wr16(hdr + 40, (uint16_t)info.len);
  wr16(hdr + 42, (uint16_t)info.len);
  wr32(hdr + 44, (uint32_t)(CHALLENGE_HEADER_LEN + name.len));
  if(flags & EMU_NTLM_NEGOTIATE_VERSION)
    memcpy(hdr + 48, server_version, 8);
  if(exs_buf_add(out, hdr, sizeof(hdr)) || (name.len && exs_buf_add(out, name.data, name.len)) ||
     exs_buf_add(out, info.data, info.len)) {
    result = EMU_NTLM_ERR_NOMEM;
    goto out;
  }
  result = EMU_NTLM_OK;
out:
  exs_buf_free(&name);
  exs_buf_free(&info);
  return result;
}

/* ---- AUTHENTICATE ---- */

/* Parse the NTLMv2_CLIENT_CHALLENGE that follows NTProofStr. */
static int parse_v2_response(struct emu_ntlm_authenticate *a)
{
  const uint8_t *t = a->nt_response + 16, *p;
  size_t tlen = a->nt_response_len - 16, left;
  bool eol = false;

  if(tlen < V2_CLIENT_HEADER_LEN || t[0] != 1)
    return EMU_NTLM_ERR_MALFORMED;
  a->client_timestamp = rd64(t + 8);
  memcpy(a->client_challenge, t + 16, 8);
  p = t + V2_CLIENT_HEADER_LEN;
  left = tlen - V2_CLIENT_HEADER_LEN;
  a->av_pairs = p;
  while(left >= 4) {
    uint16_t id = rd16(p), n = rd16(p + 2);

    if(left - 4 < n)
      return EMU_NTLM_ERR_MALFORMED;
    if(id == EMU_NTLM_AV_EOL) {
      eol = true;
      a->av_pairs_len = (size_t)(p + 4 - a->av_pairs);
      break;
    }
    if(id == EMU_NTLM_AV_FLAGS) {
      if(n != 4)
        return EMU_NTLM_ERR_MALFORMED;
      a->av_flags = rd32(p + 4);
    }
    p += 4 + n;
    left -= 4 + (size_t)n;
  }
  if(!eol)
    return EMU_NTLM_ERR_MALFORMED;
  a->is_v2 = true;
  return EMU_NTLM_OK;
}

int emu_ntlm_parse_authenticate(const uint8_t *msg, size_t len, struct emu_ntlm_authenticate *out)
{
  const uint8_t *p;
  size_t n;
  bool unicode;
  int result;

  if(!out)
    return EMU_NTLM_ERR_ARG;
  memset(out, 0, sizeof(*out));
  result = check_header(msg, len, 3);
  if(result)
    goto out;
  if(len < 64) {
    result = EMU_NTLM_ERR_MALFORMED;
    goto out;
  }
  out->flags = rd32(msg + 60);
  unicode = (out->flags & EMU_NTLM_NEGOTIATE_UNICODE) != 0;
  result = get_field(msg, len, 12, &out->lm_response, &out->lm_response_len);
  if(!result)
    result = get_field(msg, len, 20, &out->nt_response, &out->nt_response_len);
  if(!result)
    result = get_field(msg, len, 52, &out->session_key, &out->session_key_len);
  if(!result)
    result = get_field(msg, len, 28, &p, &n);
  if(!result)
    result = wire_to_utf8(p, n, unicode, out->domain, sizeof(out->domain));
  if(!result)
    result = get_field(msg, len, 36, &p, &n);
  if(!result)
    result = wire_to_utf8(p, n, unicode, out->user, sizeof(out->user));
  if(!result)
    result = get_field(msg, len, 44, &p, &n);
  if(!result)
    result = wire_to_utf8(p, n, unicode, out->workstation, sizeof(out->workstation));
  if(result)
    goto out;

  if(out->nt_response_len > 24) {
    result = parse_v2_response(out);
    if(result)
      goto out;
  }
  else if(out->nt_response_len != 24 && out->nt_response_len != 0) {
    result = EMU_NTLM_ERR_MALFORMED;
    goto out;
  }
  if(out->av_flags & 0x2) {
    if(len < AUTH_MIC_END) {
      result = EMU_NTLM_ERR_MALFORMED;
      goto out;
    }
    out->has_mic = true;
    memcpy(out->mic, msg + AUTH_MIC_OFFSET, 16);
  }
out:
  if(result)
    memset(out, 0, sizeof(*out));
  return result;
}

/* ---- verification ---- */

/* Check the proof with one UserDom; fills sbk on success. */
static int check_proof(const uint8_t nt_hash[16], const struct emu_ntlm_authenticate *a,
                       const char *userdom, const uint8_t chal[8], uint8_t sbk[16])
{
  uint8_t key[16], proof[16];
  int result;

  result = emu_ntlm_ntowfv2(nt_hash, a->user, userdom, key);
  if(result)
    goto out;
  result = emu_ntlm_hmac_md5(key, 16, chal, 8, a->nt_response + 16, a->nt_response_len - 16, proof);
  if(result)
    goto out;
  if(CRYPTO_memcmp(proof, a->nt_response, 16)) {
    result = EMU_NTLM_ERR_BAD_PROOF;
    goto out;
  }
  result = emu_ntlm_hmac_md5(key, 16, proof, 16, NULL, 0, sbk);
out:
  OPENSSL_cleanse(key, sizeof(key));
  OPENSSL_cleanse(proof, sizeof(proof));
  return result;
}

static int check_mic(const struct emu_ntlm_authenticate *a, const struct emu_ntlm_verify_in *in,
                     const uint8_t key[16])
{
  uint8_t *copy = NULL, mic[16];
  struct part parts[3];
  int result;

  if(!in->negotiate_msg || !in->challenge_msg || !in->authenticate_msg ||
     in->authenticate_len < AUTH_MIC_END)
    return EMU_NTLM_ERR_MIC;
  copy = malloc(in->authenticate_len);
  if(!copy)
    return EMU_NTLM_ERR_NOMEM;
  memcpy(copy, in->authenticate_msg, in->authenticate_len);
  memset(copy + AUTH_MIC_OFFSET, 0, 16);
  parts[0] = (struct part){in->negotiate_msg, in->negotiate_len};
  parts[1] = (struct part){in->challenge_msg, in->challenge_len};
  parts[2] = (struct part){copy, in->authenticate_len};
  result = hmac_md5_v(key, 16, parts, 3, mic);
  if(!result && CRYPTO_memcmp(mic, a->mic, 16))
    result = EMU_NTLM_ERR_MIC;
  free(copy);
  return result;
}

int emu_ntlm_verify(const struct emu_ntlm_authenticate *a, const struct emu_ntlm_verify_in *in,
                    struct emu_ntlm_verified *out)
{
  struct emu_ntlm_secret secret;
  uint8_t nt_hash[16], sbk[16], exported[16];
  const char *lookup_dom;
  int result;

  memset(&secret, 0, sizeof(secret));
  if(out)
    memset(out, 0, sizeof(*out));
  if(!a || !in || !in->server_challenge || !in->lookup)
    return EMU_NTLM_ERR_ARG;
  if(!a->user[0] || (a->flags & EMU_NTLM_NEGOTIATE_ANONYMOUS)) {
    result = a->nt_response_len == 24 ? EMU_NTLM_ERR_NTLMV1 : EMU_NTLM_ERR_ANONYMOUS;
    goto out;
  }
  if(!a->is_v2) {
    result = EMU_NTLM_ERR_NTLMV1;
    goto out;
  }
  lookup_dom = a->domain;
  if(in->lookup(in->lookup_arg, a->user, a->domain, &secret)) {
    memset(&secret, 0, sizeof(secret));
    if(a->domain[0] || !in->default_domain || !in->default_domain[0] ||
       in->lookup(in->lookup_arg, a->user, in->default_domain, &secret)) {
      result = EMU_NTLM_ERR_UNKNOWN_USER;
      goto out;
    }
    lookup_dom = in->default_domain;
  }
  if(secret.has_nt_hash)
    memcpy(nt_hash, secret.nt_hash, 16);
  else if(secret.password) {
    result = emu_ntlm_nt_hash(secret.password, nt_hash);
    if(result)
      goto out;
  }
  else {
    result = EMU_NTLM_ERR_UNKNOWN_USER;
    goto out;
  }

  result = check_proof(nt_hash, a, a->domain, in->server_challenge, sbk);
  if(result == EMU_NTLM_ERR_BAD_PROOF && !a->domain[0] && lookup_dom != a->domain)
    result = check_proof(nt_hash, a, lookup_dom, in->server_challenge, sbk);
  if(result)
    goto out;

  if((a->flags & EMU_NTLM_NEGOTIATE_KEY_EXCH) && a->session_key_len == 16)
    rc4(sbk, a->session_key, 16, exported);
  else
    memcpy(exported, sbk, 16);
  if(a->has_mic) {
    result = check_mic(a, in, exported);
    if(result)
      goto out;
  }
  if(out) {
    snprintf(out->user, sizeof(out->user), "%s", a->user);
    snprintf(out->domain, sizeof(out->domain), "%s", a->domain);
    memcpy(out->session_base_key, sbk, 16);
    memcpy(out->exported_session_key, exported, 16);
  }
  result = EMU_NTLM_OK;
out:
  OPENSSL_cleanse(&secret, sizeof(secret));
  OPENSSL_cleanse(nt_hash, sizeof(nt_hash));
  OPENSSL_cleanse(sbk, sizeof(sbk));
  OPENSSL_cleanse(exported, sizeof(exported));
  return result;
}

/* ---- connection state machine ---- */

enum conn_state { ST_INITIAL, ST_CHALLENGED, ST_AUTHENTICATED };

struct emu_ntlm_conn {
  enum conn_state state;
  char nb_domain[EMU_NTLM_NAME_MAX];
  char nb_computer[EMU_NTLM_NAME_MAX];
  char dns_domain[EMU_NTLM_NAME_MAX];
  char dns_computer[EMU_NTLM_NAME_MAX];
  emu_ntlm_lookup_fn lookup;
  void *lookup_arg;
  bool fixed_challenge;
  uint8_t next_challenge[8];
  uint64_t fixed_timestamp;
  uint8_t challenge[8];     /* the outstanding one, valid in ST_CHALLENGED */
  struct exs_buf negotiate; /* raw type 1 of the handshake (for the MIC) */
  struct exs_buf chmsg;     /* raw type 2 we sent */
  struct exs_buf header;    /* "NTLM <b64>" */
};

static int copy_name(char *dst, const char *src, bool required)
{
  if(!src || !*src) {
    dst[0] = '\0';
    return required ? -1 : 0;
  }
  if(strlen(src) >= EMU_NTLM_NAME_MAX)
    return -1;
  strcpy(dst, src);
  return 0;
}

struct emu_ntlm_conn *emu_ntlm_conn_new(const struct emu_ntlm_config *cfg)
{
  struct emu_ntlm_conn *c;

  if(!cfg || !cfg->lookup)
    return NULL;
  c = calloc(1, sizeof(*c));
  if(!c)
    return NULL;
  if(copy_name(c->nb_domain, cfg->target.nb_domain, true) ||
     copy_name(c->nb_computer, cfg->target.nb_computer, true) ||
     copy_name(c->dns_domain, cfg->target.dns_domain, false) ||
     copy_name(c->dns_computer, cfg->target.dns_computer, false)) {
    free(c);
    return NULL;
  }
  c->lookup = cfg->lookup;
  c->lookup_arg = cfg->lookup_arg;
  exs_buf_init(&c->negotiate, MAX_MESSAGE);
  exs_buf_init(&c->chmsg, 64 * 1024);
  exs_buf_init(&c->header, 128 * 1024);
  return c;
}

static void conn_reset(struct emu_ntlm_conn *c)
{
  c->state = ST_INITIAL;
  OPENSSL_cleanse(c->challenge, sizeof(c->challenge));
  exs_buf_reset(&c->negotiate);
  exs_buf_reset(&c->chmsg);
}

void emu_ntlm_conn_free(struct emu_ntlm_conn *c)
{
  if(!c)
    return;
  conn_reset(c);
  exs_buf_free(&c->negotiate);
  exs_buf_free(&c->chmsg);
  exs_buf_free(&c->header);
  OPENSSL_cleanse(c, sizeof(*c));
  free(c);
}

void emu_ntlm_conn_set_challenge(struct emu_ntlm_conn *c, const uint8_t challenge[8])
{
  if(!c || !challenge)
    return;
  memcpy(c->next_challenge, challenge, 8);
  c->fixed_challenge = true;
}

void emu_ntlm_conn_set_timestamp(struct emu_ntlm_conn *c, uint64_t filetime)
{
  if(c)
    c->fixed_timestamp = filetime;
}

bool emu_ntlm_conn_authenticated(const struct emu_ntlm_conn *c)
{
  return c && c->state == ST_AUTHENTICATED;
}

/* Split "Scheme token" into the canonical scheme name and the token. */
static int split_header(const char *h, struct emu_ntlm_step_out *out, const char **tok,
                        size_t *toklen)
{
  const char *s = h, *e;
  size_t n;

  while(*s == ' ' || *s == '\t')
    s++;
  e = s;
  while(*e && *e != ' ' && *e != '\t')
    e++;
  n = (size_t)(e - s);
  if(n == 4 && !strncasecmp(s, "NTLM", 4))
    strcpy(out->scheme, "NTLM");
  else if(n == 9 && !strncasecmp(s, "Negotiate", 9))
    strcpy(out->scheme, "Negotiate");
  else
    return EMU_NTLM_ERR_SCHEME;
  while(*e == ' ' || *e == '\t')
    e++;
  n = strlen(e);
  while(n && (e[n - 1] == ' ' || e[n - 1] == '\t' || e[n - 1] == '\r' || e[n - 1] == '\n'))
    n--;
  if(!n)
    return EMU_NTLM_ERR_SCHEME;
  if(n > EMU_NTLM_MAX_TOKEN)
    return EMU_NTLM_ERR_TOO_LONG;
  *tok = e;
  *toklen = n;
  return EMU_NTLM_OK;
}

static int on_negotiate(struct emu_ntlm_conn *c, const uint8_t *msg, size_t len,
                        struct emu_ntlm_step_out *out)
{
  struct emu_ntlm_negotiate neg;
  struct emu_ntlm_target t;
  uint64_t ts;
  int result;

  conn_reset(c);
  result = emu_ntlm_parse_negotiate(msg, len, &neg);
  if(result)
    goto out;
  if(c->fixed_challenge) {
    memcpy(c->challenge, c->next_challenge, 8);
    c->fixed_challenge = false;
  }
  else if(RAND_bytes(c->challenge, 8) != 1) {
    result = EMU_NTLM_ERR_CRYPTO;
    goto out;
  }
  ts = c->fixed_timestamp ? c->fixed_timestamp : emu_ntlm_filetime((int64_t)exs_now());
  t.nb_domain = c->nb_domain;
  t.nb_computer = c->nb_computer;
  t.dns_domain = c->dns_domain;
  t.dns_computer = c->dns_computer;
  if(exs_buf_add(&c->negotiate, msg, len)) {
    result = EMU_NTLM_ERR_NOMEM;
    goto out;
  }
  result = emu_ntlm_build_challenge(emu_ntlm_challenge_flags(neg.flags), c->challenge, &t, ts,
                                    &c->chmsg);
  if(result)
    goto out;
  exs_buf_reset(&c->header);
  if(exs_buf_addf(&c->header, "%s ", out->scheme) ||
     exs_base64_encode(&c->header, (const uint8_t *)c->chmsg.data, c->chmsg.len)) {
    result = EMU_NTLM_ERR_NOMEM;
    goto out;
  }
  c->state = ST_CHALLENGED;
  out->action = EMU_NTLM_SEND_CHALLENGE;
  out->www_authenticate = c->header.data;
out:
  return result;
}

static int on_authenticate(struct emu_ntlm_conn *c, const uint8_t *msg, size_t len,
                           struct emu_ntlm_step_out *out)
{
  struct emu_ntlm_authenticate a;
  struct emu_ntlm_verify_in in;
  struct emu_ntlm_verified v;
  int result;

  if(c->state != ST_CHALLENGED)
    return EMU_NTLM_ERR_STATE;
  result = emu_ntlm_parse_authenticate(msg, len, &a);
  if(result)
    goto out;
  memset(&in, 0, sizeof(in));
  in.server_challenge = c->challenge;
  in.lookup = c->lookup;
  in.lookup_arg = c->lookup_arg;
  in.default_domain = c->nb_domain;
  in.negotiate_msg = (const uint8_t *)c->negotiate.data;
  in.negotiate_len = c->negotiate.len;
  in.challenge_msg = (const uint8_t *)c->chmsg.data;
  in.challenge_len = c->chmsg.len;
  in.authenticate_msg = msg;
  in.authenticate_len = len;
  result = emu_ntlm_verify(&a, &in, &v);
  if(result)
    goto out;
  conn_reset(c); /* the challenge is spent */
  c->state = ST_AUTHENTICATED;
  out->action = EMU_NTLM_AUTHENTICATED;
  snprintf(out->user, sizeof(out->user), "%s", v.user);
  snprintf(out->domain, sizeof(out->domain), "%s", v.domain);
out:
  OPENSSL_cleanse(&v, sizeof(v));
  return result;
}

int emu_ntlm_conn_step(struct emu_ntlm_conn *c, const char *authorization,
                       struct emu_ntlm_step_out *out)
{
  struct exs_buf raw;
  const char *tok = NULL;
  size_t toklen = 0;
  const uint8_t *msg;
  int result;

  exs_buf_init(&raw, MAX_MESSAGE);
  if(!out)
    return EMU_NTLM_ERR_ARG;
  memset(out, 0, sizeof(*out));
  out->action = EMU_NTLM_FAILED;
  if(!c || !authorization) {
    result = EMU_NTLM_ERR_ARG;
    goto out;
  }
  result = split_header(authorization, out, &tok, &toklen);
  if(result)
    goto out;
  if(exs_base64_decode(&raw, tok, toklen)) {
    result = EMU_NTLM_ERR_BASE64;
    goto out;
  }
  msg = (const uint8_t *)raw.data;
  if(raw.len && (msg[0] == 0x60 || msg[0] == 0xa1)) {
    result = EMU_NTLM_ERR_SPNEGO;
    goto out;
  }
  if(raw.len < 12 || memcmp(msg, ntlmssp_sig, 8)) {
    result = EMU_NTLM_ERR_MALFORMED;
    goto out;
  }
  switch(rd32(msg + 8)) {
  case 1:
    result = on_negotiate(c, msg, raw.len, out);
    break;
  case 3:
    result = on_authenticate(c, msg, raw.len, out);
    break;
  default:
    result = EMU_NTLM_ERR_TYPE;
    break;
  }
out:
  if(result) {
    if(c)
      conn_reset(c);
    out->action = EMU_NTLM_FAILED;
    out->www_authenticate = NULL;
    out->user[0] = out->domain[0] = '\0';
  }
  out->result = result;
  exs_buf_free(&raw);
  return result;
}

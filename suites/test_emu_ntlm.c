/* test_emu_ntlm.c - the emulator's server-side NTLM: MS-NLMP 4.2.4 vector,
 * hostile messages, the per-connection handshake against a client written
 * here from the spec. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exsync-emulator/ntlm.h"
#include "exsync/buf.h"
#include "testutil.h"

/* ---- helpers ---- */

static void hex2bin(const char *hex, uint8_t *out, size_t n)
{
  for(size_t i = 0; i < n; i++) {
    unsigned v;
    ck_assert_int_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
    out[i] = (uint8_t)v;
  }
}

static void assert_hex(const uint8_t *p, size_t n, const char *hex)
{
  char got[1024];

  ck_assert_uint_lt(2 * n, sizeof(got));
  for(size_t i = 0; i < n; i++)
    snprintf(got + 2 * i, 3, "%02x", p[i]);
  ck_assert_str_eq(got, hex);
}

static void w16(uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void w32(uint8_t *p, uint32_t v)
{
  w16(p, (uint16_t)v);
  w16(p + 2, (uint16_t)(v >> 16));
}

static uint16_t r16(const uint8_t *p)
{
  return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t r32(const uint8_t *p)
{
  return (uint32_t)r16(p) | ((uint32_t)r16(p + 2) << 16);
}

/* ASCII -> UTF-16LE (or bytes when !unicode); returns bytes written. */
static size_t put_str(uint8_t *out, const char *s, int unicode)
{
  size_t n = 0;

  for(; *s; s++) {
    out[n++] = (uint8_t)*s;
    if(unicode)
      out[n++] = 0;
  }
  return n;
}

/* A user table: "User"/"Domain" -> "Password", "alice"/"" (UPN) and
 * "bob"/"CONTOSO" given by NT hash. */
static int lookup(void *arg, const char *user, const char *domain, struct emu_ntlm_secret *s)
{
  int *calls = arg;

  if(calls)
    (*calls)++;
  if(!strcasecmp(user, "User") && !strcasecmp(domain, "Domain")) {
    s->password = "Password";
    return 0;
  }
  if(!strcasecmp(user, "alice@contoso.com")) {
    s->password = "S3cret!";
    return 0;
  }
  if(!strcasecmp(user, "bob") && !strcasecmp(domain, "CONTOSO")) {
    ck_assert_int_eq(emu_ntlm_nt_hash("hunter2", s->nt_hash), EMU_NTLM_OK);
    s->has_nt_hash = true;
    return 0;
  }
  return -1;
}

static int lookup_wrong(void *arg, const char *user, const char *domain, struct emu_ntlm_secret *s)
{
  s->password = "password"; /* case differs from the real one */
  return 0;
}

/* ---- MD4 ---- */

static const struct {
  const char *in, *md4;
} md4_cases[] = {
    {"", "31d6cfe0d16ae931b73c59d7e0c089c0"},
    {"a", "bde52cb31de33e46245e05fbdbd6fb24"},
    {"abc", "a448017aaf21d8525fc10ae87aa6729d"},
    {"message digest", "d9130a8164549fe818874806e1c7014b"},
    {"abcdefghijklmnopqrstuvwxyz", "d79e1c308aa5bbcdeea8ed63df412da9"},
    {"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
     "043f8582f241db351ce627e153e7f0e4"},
    {"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
     "e33b4ddc9c38f2199c3e7b164fcc0536"},
};

/* The embedded MD4 matches RFC 1320's test suite. */
START_TEST(md4_rfc1320_vectors)
{
  uint8_t out[16];

  emu_ntlm_md4_embedded(md4_cases[_i].in, strlen(md4_cases[_i].in), out);
  assert_hex(out, 16, md4_cases[_i].md4);
}
END_TEST

/* NT hash (legacy provider or embedded MD4) of "Password" per MS-NLMP 4.2.4. */
START_TEST(nt_hash_matches_spec)
{
  uint8_t h[16], e[16];
  const char *pw = "Password";
  uint8_t u[16];

  ck_assert_int_eq(emu_ntlm_nt_hash("Password", h), EMU_NTLM_OK);
  assert_hex(h, 16, "a4f49c406510bdcab6824ee7c30fd852");
  ck_assert_uint_eq(put_str(u, pw, 1), 16);
  emu_ntlm_md4_embedded(u, 16, e);
  ck_assert_mem_eq(h, e, 16);
}
END_TEST

/* ---- MS-NLMP 4.2.4 ---- */

static const char spec_chal_hex[] = "0123456789abcdef";
/* NTProofStr || temp, temp = 0101 000000000000 | time 0 | aa*8 | 00000000 |
 * AV {NbDomainName "Domain", NbComputerName "Server", EOL} | 00000000. */
static const char spec_ntv2_hex[] = "68cd0ab851e51c96aabc927bebef6a1c"
                                    "01010000000000000000000000000000aaaaaaaaaaaaaaaa00000000"
                                    "02000c0044006f006d00610069006e00"
                                    "01000c00530065007200760065007200"
                                    "0000000000000000";

/* Build the AUTHENTICATE message of 4.2.4.3 from its parts: LMv2 and NTLMv2
 * responses, "Domain", "User", "COMPUTER", EncryptedRandomSessionKey. The
 * flags are 4.2.4's (KEY_EXCH, 56, 128, VERSION, TARGET_INFO, ESS,
 * TARGET_TYPE_SERVER, ALWAYS_SIGN, NTLM, SEAL, SIGN, OEM, UNICODE). */
static size_t spec_type3(uint8_t *m, const uint8_t *nt, size_t ntlen)
{
  uint8_t lm[24], key[16];
  size_t pos = 72;
  struct {
    size_t at;
    const uint8_t *p;
    size_t n;
  } f[6];
  uint8_t dom[32], usr[32], ws[32];
  size_t dl = put_str(dom, "Domain", 1), ul = put_str(usr, "User", 1),
         wl = put_str(ws, "COMPUTER", 1);

  hex2bin("86c35097ac9cec102554764a57cccc19aaaaaaaaaaaaaaaa", lm, 24);
  hex2bin("c5dad2544fc9799094ce1ce90bc9d03e", key, 16);
  memset(m, 0, 72);
  memcpy(m, "NTLMSSP", 8);
  w32(m + 8, 3);
  w32(m + 60, 0xe28a8233u);
  memcpy(m + 64, "\x06\x00\x70\x17\x00\x00\x00\x0f", 8);
  f[0].at = 12, f[0].p = lm, f[0].n = 24;
  f[1].at = 20, f[1].p = nt, f[1].n = ntlen;
  f[2].at = 28, f[2].p = dom, f[2].n = dl;
  f[3].at = 36, f[3].p = usr, f[3].n = ul;
  f[4].at = 44, f[4].p = ws, f[4].n = wl;
  f[5].at = 52, f[5].p = key, f[5].n = 16;
  for(int i = 0; i < 6; i++) {
    w16(m + f[i].at, (uint16_t)f[i].n);
    w16(m + f[i].at + 2, (uint16_t)f[i].n);
    w32(m + f[i].at + 4, (uint32_t)pos);
    memcpy(m + pos, f[i].p, f[i].n);
    pos += f[i].n;
  }
  return pos;
}

/* ResponseKeyNT, NTProofStr, SessionBaseKey and the LMv2 response of
 * MS-NLMP 4.2.4.1/4.2.4.2, computed with the module's primitives. */
START_TEST(spec_424_keys)
{
  uint8_t nt[16], key[16], chal[8], ntv2[100], proof[16], sbk[16], lm[16], cc[8];

  hex2bin(spec_chal_hex, chal, 8);
  hex2bin(spec_ntv2_hex, ntv2, sizeof(spec_ntv2_hex) / 2);
  memset(cc, 0xaa, 8);
  ck_assert_int_eq(emu_ntlm_nt_hash("Password", nt), EMU_NTLM_OK);
  ck_assert_int_eq(emu_ntlm_ntowfv2(nt, "User", "Domain", key), EMU_NTLM_OK);
  assert_hex(key, 16, "0c868a403bfd7a93a3001ef22ef02e3f");
  ck_assert_int_eq(
      emu_ntlm_hmac_md5(key, 16, chal, 8, ntv2 + 16, sizeof(spec_ntv2_hex) / 2 - 16, proof),
      EMU_NTLM_OK);
  assert_hex(proof, 16, "68cd0ab851e51c96aabc927bebef6a1c");
  ck_assert_int_eq(emu_ntlm_hmac_md5(key, 16, proof, 16, NULL, 0, sbk), EMU_NTLM_OK);
  assert_hex(sbk, 16, "8de40ccadbc14a82f15cb0ad0de95ca3");
  ck_assert_int_eq(emu_ntlm_hmac_md5(key, 16, chal, 8, cc, 8, lm), EMU_NTLM_OK);
  assert_hex(lm, 16, "86c35097ac9cec102554764a57cccc19");
  /* user name case does not matter, domain case does */
  ck_assert_int_eq(emu_ntlm_ntowfv2(nt, "uSeR", "Domain", proof), EMU_NTLM_OK);
  ck_assert_mem_eq(proof, key, 16);
  ck_assert_int_eq(emu_ntlm_ntowfv2(nt, "User", "DOMAIN", proof), EMU_NTLM_OK);
  ck_assert_mem_ne(proof, key, 16);
}
END_TEST

/* The 4.2.4 AUTHENTICATE message parses and verifies; KEY_EXCH gives the
 * spec's RandomSessionKey (0x55 * 16) back. */
START_TEST(spec_424_authenticate_verifies)
{
  uint8_t m[512], nt[100], chal[8];
  size_t ntlen = sizeof(spec_ntv2_hex) / 2, len;
  struct emu_ntlm_authenticate a;
  struct emu_ntlm_verify_in in;
  struct emu_ntlm_verified v;
  int calls = 0;

  hex2bin(spec_ntv2_hex, nt, ntlen);
  hex2bin(spec_chal_hex, chal, 8);
  len = spec_type3(m, nt, ntlen);
  ck_assert_int_eq(emu_ntlm_parse_authenticate(m, len, &a), EMU_NTLM_OK);
  ck_assert_str_eq(a.user, "User");
  ck_assert_str_eq(a.domain, "Domain");
  ck_assert_str_eq(a.workstation, "COMPUTER");
  ck_assert(a.is_v2);
  ck_assert(!a.has_mic);
  ck_assert_uint_eq(a.client_timestamp, 0);
  assert_hex(a.client_challenge, 8, "aaaaaaaaaaaaaaaa");
  ck_assert_uint_eq(a.nt_response_len, ntlen);
  assert_hex(a.nt_response, ntlen, spec_ntv2_hex);

  memset(&in, 0, sizeof(in));
  in.server_challenge = chal;
  in.lookup = lookup;
  in.lookup_arg = &calls;
  ck_assert_int_eq(emu_ntlm_verify(&a, &in, &v), EMU_NTLM_OK);
  ck_assert_int_eq(calls, 1);
  ck_assert_str_eq(v.user, "User");
  ck_assert_str_eq(v.domain, "Domain");
  assert_hex(v.session_base_key, 16, "8de40ccadbc14a82f15cb0ad0de95ca3");
  assert_hex(v.exported_session_key, 16, "55555555555555555555555555555555");
}
END_TEST

/* Wrong password, unknown user, other challenge, tampered blob: refused. */
START_TEST(spec_424_wrong_inputs_fail)
{
  uint8_t m[512], nt[100], chal[8];
  size_t ntlen = sizeof(spec_ntv2_hex) / 2, len;
  struct emu_ntlm_authenticate a;
  struct emu_ntlm_verify_in in;

  hex2bin(spec_ntv2_hex, nt, ntlen);
  hex2bin(spec_chal_hex, chal, 8);
  len = spec_type3(m, nt, ntlen);
  ck_assert_int_eq(emu_ntlm_parse_authenticate(m, len, &a), EMU_NTLM_OK);
  memset(&in, 0, sizeof(in));
  in.server_challenge = chal;
  in.lookup = lookup_wrong;
  ck_assert_int_eq(emu_ntlm_verify(&a, &in, NULL), EMU_NTLM_ERR_BAD_PROOF);

  in.lookup = lookup;
  chal[7] ^= 1;
  ck_assert_int_eq(emu_ntlm_verify(&a, &in, NULL), EMU_NTLM_ERR_BAD_PROOF);
  chal[7] ^= 1;

  nt[40] ^= 0x80; /* client challenge byte */
  len = spec_type3(m, nt, ntlen);
  ck_assert_int_eq(emu_ntlm_parse_authenticate(m, len, &a), EMU_NTLM_OK);
  ck_assert_int_eq(emu_ntlm_verify(&a, &in, NULL), EMU_NTLM_ERR_BAD_PROOF);
  nt[40] ^= 0x80;

  len = spec_type3(m, nt, ntlen);
  m[r32(m + 40) + 6] = 'x'; /* user "User" -> "Usex" */
  ck_assert_int_eq(emu_ntlm_parse_authenticate(m, len, &a), EMU_NTLM_OK);
  ck_assert_str_eq(a.user, "Usex");
  ck_assert_int_eq(emu_ntlm_verify(&a, &in, NULL), EMU_NTLM_ERR_UNKNOWN_USER);
}
END_TEST

/* NTLMv1 (24-byte NT response), LM-only and anonymous logons are refused. */
START_TEST(v1_and_anonymous_refused)
{
  uint8_t m[512], v1[24], chal[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  struct emu_ntlm_authenticate a;
  struct emu_ntlm_verify_in in;
  size_t len;

  memset(v1, 0x11, sizeof(v1));
  memset(&in, 0, sizeof(in));
  in.server_challenge = chal;
  in.lookup = lookup;

  len = spec_type3(m, v1, 24);
  ck_assert_int_eq(emu_ntlm_parse_authenticate(m, len, &a), EMU_NTLM_OK);
  ck_assert(!a.is_v2);
  ck_assert_int_eq(emu_ntlm_verify(&a, &in, NULL), EMU_NTLM_ERR_NTLMV1);
  ck_assert_str_eq(emu_ntlm_strerror(EMU_NTLM_ERR_NTLMV1),
                   "NTLMv1/LM response refused: only NTLMv2 is accepted");

  len = spec_type3(m, v1, 0); /* LM response only */
  ck_assert_int_eq(emu_ntlm_parse_authenticate(m, len, &a), EMU_NTLM_OK);
  ck_assert_int_eq(emu_ntlm_verify(&a, &in, NULL), EMU_NTLM_ERR_NTLMV1);

  len = spec_type3(m, v1, 0);
  w16(m + 36, 0); /* empty user, no NT response: anonymous */
  ck_assert_int_eq(emu_ntlm_parse_authenticate(m, len, &a), EMU_NTLM_OK);
  ck_assert_int_eq(emu_ntlm_verify(&a, &in, NULL), EMU_NTLM_ERR_ANONYMOUS);

  len = spec_type3(m, v1, 16); /* neither v1 nor v2 */
  ck_assert_int_eq(emu_ntlm_parse_authenticate(m, len, &a), EMU_NTLM_ERR_MALFORMED);
}
END_TEST

/* ---- NEGOTIATE parsing ---- */

/* A type 1 with OEM domain "CONTOSO", workstation "WS01" and a version. */
static size_t sample_type1(uint8_t *m)
{
  memset(m, 0, 40);
  memcpy(m, "NTLMSSP", 8);
  w32(m + 8, 1);
  w32(m + 12, 0xe2089237u | EMU_NTLM_NEGOTIATE_OEM_DOMAIN_SUPPLIED |
                  EMU_NTLM_NEGOTIATE_OEM_WORKSTATION_SUPPLIED);
  w16(m + 16, 7), w16(m + 18, 7), w32(m + 20, 40);
  w16(m + 24, 4), w16(m + 26, 4), w32(m + 28, 47);
  memcpy(m + 32, "\x0a\x00\x63\x45\x00\x00\x00\x0f", 8);
  memcpy(m + 40, "CONTOSOWS01", 11);
  return 51;
}

START_TEST(negotiate_parses)
{
  uint8_t m[64];
  size_t len = sample_type1(m);
  struct emu_ntlm_negotiate n;

  ck_assert_int_eq(emu_ntlm_parse_negotiate(m, len, &n), EMU_NTLM_OK);
  ck_assert_str_eq(n.domain, "CONTOSO");
  ck_assert_str_eq(n.workstation, "WS01");
  ck_assert(n.has_version);
  ck_assert_uint_eq(n.flags & EMU_NTLM_NEGOTIATE_UNICODE, EMU_NTLM_NEGOTIATE_UNICODE);
  /* curl-style minimal message: 32 bytes, empty fields */
  w32(m + 12, EMU_NTLM_NEGOTIATE_OEM | EMU_NTLM_REQUEST_TARGET);
  memset(m + 16, 0, 16);
  ck_assert_int_eq(emu_ntlm_parse_negotiate(m, 32, &n), EMU_NTLM_OK);
  ck_assert_str_eq(n.domain, "");
  /* other type / bad signature */
  w32(m + 8, 3);
  ck_assert_int_eq(emu_ntlm_parse_negotiate(m, 32, &n), EMU_NTLM_ERR_TYPE);
  w32(m + 8, 1);
  m[7] = 'X';
  ck_assert_int_eq(emu_ntlm_parse_negotiate(m, 32, &n), EMU_NTLM_ERR_MALFORMED);
}
END_TEST

/* Every truncation of a type 1 is handled within bounds (ASan checks the
 * exact-size heap copies). All are refused but the 16-byte one, which is a
 * valid minimal NEGOTIATE (signature, type, flags). */
START_TEST(negotiate_truncated_all_lengths)
{
  uint8_t m[64];
  size_t len = sample_type1(m);
  struct emu_ntlm_negotiate n;

  for(size_t l = 0; l < len; l++) {
    uint8_t *copy = malloc(l ? l : 1);

    memcpy(copy, m, l);
    if(l == 16)
      ck_assert_int_eq(emu_ntlm_parse_negotiate(copy, l, &n), EMU_NTLM_OK);
    else
      ck_assert_int_ne(emu_ntlm_parse_negotiate(copy, l, &n), EMU_NTLM_OK);
    free(copy);
  }
}
END_TEST

/* Every single-byte corruption (0x00 / 0xff / +0x80) parses or fails
 * cleanly; an out-of-bounds offset or length is refused. */
START_TEST(negotiate_corrupt_bytes)
{
  uint8_t m[64];
  size_t len = sample_type1(m);
  static const int how[3] = {0x00, 0xff, -1};
  struct emu_ntlm_negotiate n;

  for(size_t i = 0; i < len; i++) {
    for(int k = 0; k < 3; k++) {
      uint8_t *copy = malloc(len);

      memcpy(copy, m, len);
      copy[i] = how[k] < 0 ? (uint8_t)(copy[i] ^ 0x80) : (uint8_t)how[k];
      (void)emu_ntlm_parse_negotiate(copy, len, &n);
      free(copy);
    }
  }
  w32(m + 20, 0xfffffff0u);
  ck_assert_int_eq(emu_ntlm_parse_negotiate(m, len, &n), EMU_NTLM_ERR_MALFORMED);
  sample_type1(m);
  w16(m + 24, 0xffff);
  ck_assert_int_eq(emu_ntlm_parse_negotiate(m, len, &n), EMU_NTLM_ERR_MALFORMED);
}
END_TEST

/* ---- a client written from the spec, for the round trips ---- */

struct client {
  const char *scheme;
  const char *user, *domain, *password, *workstation;
  int unicode; /* 1: ask for UNICODE, 0: OEM only (like curl) */
  int mic;     /* add MsvAvFlags 0x2 and a MIC, with KEY_EXCH */
  uint8_t type1[64];
  size_t type1_len;
};

static char *b64(const uint8_t *p, size_t n)
{
  struct exs_buf b;

  exs_buf_init(&b, 64 * 1024);
  ck_assert_int_eq(exs_base64_encode(&b, p, n), 0);
  return exs_buf_steal(&b);
}

static char *client_type1(struct client *c)
{
  char *enc, *h;
  uint8_t *m = c->type1;
  uint32_t f = EMU_NTLM_REQUEST_TARGET | EMU_NTLM_NEGOTIATE_NTLM | EMU_NTLM_NEGOTIATE_ALWAYS_SIGN |
               EMU_NTLM_NEGOTIATE_EXTENDED_SESSIONSECURITY;

  f |= c->unicode ? EMU_NTLM_NEGOTIATE_UNICODE | EMU_NTLM_NEGOTIATE_OEM : EMU_NTLM_NEGOTIATE_OEM;
  if(c->mic)
    f |= EMU_NTLM_NEGOTIATE_KEY_EXCH | EMU_NTLM_NEGOTIATE_128 | EMU_NTLM_NEGOTIATE_SIGN |
         EMU_NTLM_NEGOTIATE_VERSION;
  memset(m, 0, 40);
  memcpy(m, "NTLMSSP", 8);
  w32(m + 8, 1);
  w32(m + 12, f);
  c->type1_len = c->mic ? 40 : 32;
  if(c->mic)
    memcpy(m + 32, "\x0a\x00\x63\x45\x00\x00\x00\x0f", 8);
  enc = b64(m, c->type1_len);
  h = malloc(strlen(enc) + 32);
  sprintf(h, "%s %s", c->scheme, enc);
  free(enc);
  return h;
}

static uint8_t *unb64(const char *s, size_t *len)
{
  struct exs_buf b;

  exs_buf_init(&b, 64 * 1024);
  ck_assert_int_eq(exs_base64_decode(&b, s, strlen(s)), 0);
  *len = b.len;
  return (uint8_t *)exs_buf_steal(&b);
}

/* Given the server's "SCHEME <b64 type 2>", build "SCHEME <b64 type 3>". */
static char *client_type3(struct client *c, const char *www, uint8_t **raw3, size_t *raw3_len)
{
  const char *sp = strchr(www, ' ');
  size_t t2len, avlen, tlen, pos, ntlen;
  uint8_t *t2, temp[1024], nt[1100], key[16], hash[16], proof[16], sbk[16], m[2048];
  uint8_t rsk[16], ersk[16], mic[16];
  uint32_t flags2;
  int unicode;
  char *enc, *h;
  struct {
    size_t at;
    const uint8_t *p;
    size_t n;
  } f[6];
  uint8_t dom[256], usr[256], ws[256], lm[24];
  size_t dl, ul, wl;

  ck_assert_ptr_nonnull(sp);
  ck_assert_int_eq(strncmp(www, c->scheme, (size_t)(sp - www)), 0);
  t2 = unb64(sp + 1, &t2len);
  ck_assert_uint_ge(t2len, 56);
  ck_assert_mem_eq(t2, "NTLMSSP\0\2\0\0\0", 12);
  flags2 = r32(t2 + 20);
  unicode = (flags2 & EMU_NTLM_NEGOTIATE_UNICODE) != 0;
  ck_assert_int_eq(unicode, c->unicode);
  avlen = r16(t2 + 40);
  ck_assert_uint_le(r32(t2 + 44) + avlen, t2len);

  /* temp = header | AV pairs (MsvAvFlags added before EOL for a MIC) | 0 */
  memset(temp, 0, 28);
  temp[0] = temp[1] = 1;
  memcpy(temp + 8, "\x00\x80\x3e\xd5\xde\xb1\x9d\x01", 8); /* any time */
  memset(temp + 16, 0xcc, 8);
  tlen = 28;
  ck_assert_uint_ge(avlen, 4);
  memcpy(temp + tlen, t2 + r32(t2 + 44), avlen - 4); /* without EOL */
  tlen += avlen - 4;
  if(c->mic) {
    w16(temp + tlen, EMU_NTLM_AV_FLAGS);
    w16(temp + tlen + 2, 4);
    w32(temp + tlen + 4, 2);
    tlen += 8;
  }
  memset(temp + tlen, 0, 8); /* EOL + 4 zero bytes */
  tlen += 8;

  ck_assert_int_eq(emu_ntlm_nt_hash(c->password, hash), EMU_NTLM_OK);
  ck_assert_int_eq(emu_ntlm_ntowfv2(hash, c->user, c->domain, key), EMU_NTLM_OK);
  ck_assert_int_eq(emu_ntlm_hmac_md5(key, 16, t2 + 24, 8, temp, tlen, proof), EMU_NTLM_OK);
  memcpy(nt, proof, 16);
  memcpy(nt + 16, temp, tlen);
  ntlen = 16 + tlen;
  ck_assert_int_eq(emu_ntlm_hmac_md5(key, 16, proof, 16, NULL, 0, sbk), EMU_NTLM_OK);

  /* KEY_EXCH: RandomSessionKey encrypted with RC4(SessionBaseKey). RC4 is
   * symmetric; one keystream run does it. */
  memset(rsk, 0x5a, 16);
  {
    uint8_t s[256], t;
    unsigned i, j = 0, k;

    for(i = 0; i < 256; i++)
      s[i] = (uint8_t)i;
    for(i = 0; i < 256; i++) {
      j = (j + s[i] + sbk[i % 16]) & 0xff;
      t = s[i], s[i] = s[j], s[j] = t;
    }
    i = j = 0;
    for(k = 0; k < 16; k++) {
      i = (i + 1) & 0xff;
      j = (j + s[i]) & 0xff;
      t = s[i], s[i] = s[j], s[j] = t;
      ersk[k] = rsk[k] ^ s[(s[i] + s[j]) & 0xff];
    }
  }

  dl = put_str(dom, c->domain, unicode);
  ul = put_str(usr, c->user, unicode);
  wl = put_str(ws, c->workstation, unicode);
  memset(lm, 0, sizeof(lm));
  memset(m, 0, 88);
  memcpy(m, "NTLMSSP", 8);
  w32(m + 8, 3);
  w32(m + 60, flags2);
  memcpy(m + 64, "\x0a\x00\x63\x45\x00\x00\x00\x0f", 8);
  pos = 88;
  f[0].at = 12, f[0].p = lm, f[0].n = 24;
  f[1].at = 20, f[1].p = nt, f[1].n = ntlen;
  f[2].at = 28, f[2].p = dom, f[2].n = dl;
  f[3].at = 36, f[3].p = usr, f[3].n = ul;
  f[4].at = 44, f[4].p = ws, f[4].n = wl;
  f[5].at = 52, f[5].p = ersk, f[5].n = (flags2 & EMU_NTLM_NEGOTIATE_KEY_EXCH) ? 16 : 0;
  for(int i = 0; i < 6; i++) {
    w16(m + f[i].at, (uint16_t)f[i].n);
    w16(m + f[i].at + 2, (uint16_t)f[i].n);
    w32(m + f[i].at + 4, (uint32_t)pos);
    memcpy(m + pos, f[i].p, f[i].n);
    pos += f[i].n;
  }
  if(c->mic) {
    const uint8_t *exported = (flags2 & EMU_NTLM_NEGOTIATE_KEY_EXCH) ? rsk : sbk;
    uint8_t *all = malloc(c->type1_len + t2len + pos);

    memcpy(all, c->type1, c->type1_len);
    memcpy(all + c->type1_len, t2, t2len);
    memcpy(all + c->type1_len + t2len, m, pos);
    ck_assert_int_eq(emu_ntlm_hmac_md5(exported, 16, all, c->type1_len + t2len + pos, NULL, 0, mic),
                     EMU_NTLM_OK);
    memcpy(m + 72, mic, 16);
    free(all);
  }
  enc = b64(m, pos);
  h = malloc(strlen(enc) + 32);
  sprintf(h, "%s %s", c->scheme, enc);
  free(enc);
  if(raw3) {
    *raw3 = malloc(pos);
    memcpy(*raw3, m, pos);
    *raw3_len = pos;
  }
  free(t2);
  return h;
}

static struct emu_ntlm_conn *server(void)
{
  struct emu_ntlm_config cfg;
  struct emu_ntlm_conn *c;
  static const uint8_t chal[8] = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04};

  memset(&cfg, 0, sizeof(cfg));
  cfg.target.nb_domain = "CONTOSO";
  cfg.target.nb_computer = "EXCH01";
  cfg.target.dns_domain = "contoso.com";
  cfg.target.dns_computer = "exch01.contoso.com";
  cfg.lookup = lookup;
  c = emu_ntlm_conn_new(&cfg);
  ck_assert_ptr_nonnull(c);
  emu_ntlm_conn_set_challenge(c, chal);
  emu_ntlm_conn_set_timestamp(c, emu_ntlm_filetime(1767225600)); /* 2026-01-01 */
  return c;
}

static const struct {
  const char *name, *scheme, *user, *domain, *password;
  int unicode, mic;
  int expect; /* EMU_NTLM_OK or the failure */
} rt_cases[] = {
    {"ntlm-unicode", "NTLM", "User", "Domain", "Password", 1, 0, EMU_NTLM_OK},
    {"negotiate-raw-ntlmssp", "Negotiate", "User", "Domain", "Password", 1, 0, EMU_NTLM_OK},
    {"lowercase-scheme", "ntlm", "user", "Domain", "Password", 1, 0, EMU_NTLM_OK},
    {"mic-key-exch", "NTLM", "User", "Domain", "Password", 1, 1, EMU_NTLM_OK},
    {"oem-like-curl", "NTLM", "User", "Domain", "Password", 0, 0, EMU_NTLM_OK},
    {"nt-hash-account", "NTLM", "bob", "CONTOSO", "hunter2", 1, 1, EMU_NTLM_OK},
    {"upn-empty-domain", "NTLM", "alice@contoso.com", "", "S3cret!", 1, 0, EMU_NTLM_OK},
    {"wrong-password", "NTLM", "User", "Domain", "Passw0rd", 1, 0, EMU_NTLM_ERR_BAD_PROOF},
    {"wrong-password-mic", "Negotiate", "User", "Domain", "x", 1, 1, EMU_NTLM_ERR_BAD_PROOF},
    {"unknown-user", "NTLM", "mallory", "Domain", "Password", 1, 0, EMU_NTLM_ERR_UNKNOWN_USER},
};

/* Full handshake through emu_ntlm_conn_step against the spec client. */
START_TEST(conn_round_trip)
{
  struct client c;
  struct emu_ntlm_conn *s = server();
  struct emu_ntlm_step_out out;
  char *h1, *h3, expect_prefix[64];

  memset(&c, 0, sizeof(c));
  c.scheme = rt_cases[_i].scheme;
  c.user = rt_cases[_i].user;
  c.domain = rt_cases[_i].domain;
  c.password = rt_cases[_i].password;
  c.workstation = "WS01";
  c.unicode = rt_cases[_i].unicode;
  c.mic = rt_cases[_i].mic;

  h1 = client_type1(&c);
  ck_assert_int_eq(emu_ntlm_conn_step(s, h1, &out), EMU_NTLM_OK);
  ck_assert_int_eq(out.action, EMU_NTLM_SEND_CHALLENGE);
  ck_assert(!emu_ntlm_conn_authenticated(s));
  snprintf(expect_prefix, sizeof(expect_prefix), "%s TlRMTVNTUAACAAAA",
           strcmp(c.scheme, "ntlm") ? c.scheme : "NTLM");
  ck_assert_msg(!strncmp(out.www_authenticate, expect_prefix, strlen(expect_prefix)), "%s: %s",
                rt_cases[_i].name, out.www_authenticate);
  if(!strcmp(c.scheme, "ntlm"))
    c.scheme = "NTLM"; /* the server answers with the canonical name */

  h3 = client_type3(&c, out.www_authenticate, NULL, NULL);
  emu_ntlm_conn_step(s, h3, &out);
  ck_assert_msg(out.result == rt_cases[_i].expect, "%s: got %s", rt_cases[_i].name,
                emu_ntlm_strerror(out.result));
  if(rt_cases[_i].expect == EMU_NTLM_OK) {
    ck_assert_int_eq(out.action, EMU_NTLM_AUTHENTICATED);
    ck_assert_str_eq(out.user, c.user);
    ck_assert_str_eq(out.domain, c.domain);
    ck_assert(emu_ntlm_conn_authenticated(s));
  }
  else {
    ck_assert_int_eq(out.action, EMU_NTLM_FAILED);
    ck_assert_ptr_null(out.www_authenticate);
    ck_assert(!emu_ntlm_conn_authenticated(s));
  }
  /* a challenge answers one AUTHENTICATE only: the replay is refused */
  ck_assert_int_eq(emu_ntlm_conn_step(s, h3, &out), EMU_NTLM_ERR_STATE);
  ck_assert_int_eq(out.action, EMU_NTLM_FAILED);
  free(h1);
  free(h3);
  emu_ntlm_conn_free(s);
}
END_TEST

/* The CHALLENGE carries the injected challenge, the flags, the target name
 * and AV pairs NbDomain, NbComputer, DnsDomain, DnsComputer, Timestamp, EOL. */
START_TEST(challenge_layout)
{
  struct client c = {.scheme = "NTLM", .unicode = 1};
  struct emu_ntlm_conn *s = server();
  struct emu_ntlm_step_out out;
  char *h1 = client_type1(&c);
  uint8_t *t2, *av;
  size_t len, avlen, i = 0;
  uint32_t f;
  static const uint16_t ids[] = {2, 1, 4, 3, 7, 0};

  ck_assert_int_eq(emu_ntlm_conn_step(s, h1, &out), EMU_NTLM_OK);
  t2 = unb64(out.www_authenticate + 5, &len);
  f = r32(t2 + 20);
  /* UNICODE REQUEST_TARGET NTLM ALWAYS_SIGN TARGET_TYPE_DOMAIN ESS TARGET_INFO */
  ck_assert_uint_eq(f, 0x00898205u);
  ck_assert(f & EMU_NTLM_NEGOTIATE_TARGET_INFO);
  ck_assert(f & EMU_NTLM_TARGET_TYPE_DOMAIN);
  ck_assert(!(f & EMU_NTLM_NEGOTIATE_KEY_EXCH)); /* not asked for */
  assert_hex(t2 + 24, 8, "deadbeef01020304");
  ck_assert_uint_eq(r16(t2 + 12), 14);
  ck_assert_mem_eq(t2 + r32(t2 + 16), "C\0O\0N\0T\0O\0S\0O\0", 14);
  av = t2 + r32(t2 + 44);
  avlen = r16(t2 + 40);
  for(size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
    ck_assert_uint_le(i + 4, avlen);
    ck_assert_uint_eq(r16(av + i), ids[k]);
    if(ids[k] == 7)
      ck_assert_uint_eq(r16(av + i + 2), 8);
    i += 4 + r16(av + i + 2);
  }
  ck_assert_uint_eq(i, avlen);
  ck_assert_uint_eq(r32(t2 + 44) + avlen, len);
  free(t2);
  free(h1);
  emu_ntlm_conn_free(s);
}
END_TEST

/* Header-level failures and out-of-sequence messages. */
START_TEST(conn_step_errors)
{
  struct emu_ntlm_conn *s = server();
  struct emu_ntlm_step_out out;
  struct client c = {.scheme = "NTLM",
                     .unicode = 1,
                     .user = "User",
                     .domain = "Domain",
                     .password = "Password",
                     .workstation = "W"};
  char *h1, *h3, big[EMU_NTLM_MAX_TOKEN + 16];
  uint8_t t2[8] = {'N', 'T', 'L', 'M', 'S', 'S', 'P', 0};

  ck_assert_int_eq(emu_ntlm_conn_step(s, "Basic dXNlcjpwYXNz", &out), EMU_NTLM_ERR_SCHEME);
  ck_assert_str_eq(out.scheme, "");
  ck_assert_int_eq(emu_ntlm_conn_step(s, "NTLM", &out), EMU_NTLM_ERR_SCHEME);
  ck_assert_int_eq(emu_ntlm_conn_step(s, "NTLM   ", &out), EMU_NTLM_ERR_SCHEME);
  ck_assert_int_eq(emu_ntlm_conn_step(s, "NTLMX TlRMTVNTUAABAAAA", &out), EMU_NTLM_ERR_SCHEME);
  ck_assert_int_eq(emu_ntlm_conn_step(s, "NTLM !!!!", &out), EMU_NTLM_ERR_BASE64);
  ck_assert_str_eq(out.scheme, "NTLM");
  /* SPNEGO NegTokenInit (0x60) and NegTokenResp (0xa1) */
  ck_assert_int_eq(emu_ntlm_conn_step(s, "Negotiate YIIBhgYGKwYBBQUCoIIBejCCAXY=", &out),
                   EMU_NTLM_ERR_SPNEGO);
  ck_assert_int_eq(emu_ntlm_conn_step(s, "Negotiate oQcwBaADCgEC", &out), EMU_NTLM_ERR_SPNEGO);
  ck_assert_int_eq(out.action, EMU_NTLM_FAILED);
  memset(big, 'A', sizeof(big));
  memcpy(big, "NTLM ", 5);
  big[sizeof(big) - 1] = '\0';
  ck_assert_int_eq(emu_ntlm_conn_step(s, big, &out), EMU_NTLM_ERR_TOO_LONG);
  /* a CHALLENGE from the client */
  {
    uint8_t m[56];
    char *enc, hdr[128];

    memset(m, 0, sizeof(m));
    memcpy(m, t2, 8);
    w32(m + 8, 2);
    enc = b64(m, sizeof(m));
    snprintf(hdr, sizeof(hdr), "NTLM %s", enc);
    ck_assert_int_eq(emu_ntlm_conn_step(s, hdr, &out), EMU_NTLM_ERR_TYPE);
    free(enc);
  }
  /* type 3 before any type 1 */
  h1 = client_type1(&c);
  ck_assert_int_eq(emu_ntlm_conn_step(s, h1, &out), EMU_NTLM_OK);
  h3 = client_type3(&c, out.www_authenticate, NULL, NULL);
  emu_ntlm_conn_free(s);
  s = server();
  ck_assert_int_eq(emu_ntlm_conn_step(s, h3, &out), EMU_NTLM_ERR_STATE);
  /* a restarted handshake (type 1 again) invalidates the first challenge */
  ck_assert_int_eq(emu_ntlm_conn_step(s, h1, &out), EMU_NTLM_OK);
  ck_assert_int_eq(emu_ntlm_conn_step(s, h1, &out), EMU_NTLM_OK); /* random challenge now */
  ck_assert_int_eq(emu_ntlm_conn_step(s, h3, &out), EMU_NTLM_ERR_BAD_PROOF);
  free(h1);
  free(h3);
  emu_ntlm_conn_free(s);
  emu_ntlm_conn_free(NULL);
}
END_TEST

/* Every truncation of real type 3 messages (with and without MIC) is
 * refused within bounds, by the parser and by the conn. */
START_TEST(authenticate_truncated_all_lengths)
{
  struct client c = {.scheme = "NTLM",
                     .unicode = 1,
                     .user = "User",
                     .domain = "Domain",
                     .password = "Password",
                     .workstation = "WS01",
                     .mic = _i};
  struct emu_ntlm_conn *s = server();
  struct emu_ntlm_step_out out;
  struct emu_ntlm_authenticate a;
  char *h1 = client_type1(&c), *h3;
  uint8_t *raw;
  size_t len;

  ck_assert_int_eq(emu_ntlm_conn_step(s, h1, &out), EMU_NTLM_OK);
  h3 = client_type3(&c, out.www_authenticate, &raw, &len);
  for(size_t l = 0; l < len; l++) {
    uint8_t *copy = malloc(l ? l : 1);
    char *enc, *hdr;

    memcpy(copy, raw, l);
    ck_assert_int_ne(emu_ntlm_parse_authenticate(copy, l, &a), EMU_NTLM_OK);
    /* and through the conn, which must stay in the challenged state
     * only until the first failure */
    enc = b64(copy, l);
    hdr = malloc(strlen(enc) + 8);
    sprintf(hdr, "NTLM %s", enc);
    ck_assert_int_ne(emu_ntlm_conn_step(s, hdr, &out), EMU_NTLM_OK);
    ck_assert_int_eq(out.action, EMU_NTLM_FAILED);
    free(hdr);
    free(enc);
    free(copy);
  }
  ck_assert_int_eq(emu_ntlm_parse_authenticate(raw, len, &a), EMU_NTLM_OK);
  ck_assert_int_eq(a.has_mic, c.mic);
  free(raw);
  free(h1);
  free(h3);
  emu_ntlm_conn_free(s);
}
END_TEST

/* Every single-byte corruption of a valid type 3 with a MIC fails cleanly
 * (no crash, no out-of-bounds read) and is never accepted. */
START_TEST(authenticate_corrupt_bytes)
{
  struct client c = {.scheme = "NTLM",
                     .unicode = 1,
                     .user = "User",
                     .domain = "Domain",
                     .password = "Password",
                     .workstation = "WS01",
                     .mic = 1};
  struct emu_ntlm_conn *s = server();
  struct emu_ntlm_step_out out;
  char *h1 = client_type1(&c), *h3;
  uint8_t *raw;
  size_t len, accepted = 0;

  ck_assert_int_eq(emu_ntlm_conn_step(s, h1, &out), EMU_NTLM_OK);
  h3 = client_type3(&c, out.www_authenticate, &raw, &len);
  for(size_t i = 0; i < len; i++) {
    for(int k = 0; k < 3; k++) {
      uint8_t *copy = malloc(len);
      char *enc, *hdr;
      static const uint8_t chal[8] = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04};

      memcpy(copy, raw, len);
      copy[i] = k == 0 ? 0 : k == 1 ? 0xff : (uint8_t)(copy[i] ^ 0x80);
      if(copy[i] == raw[i]) {
        free(copy);
        continue;
      }
      /* fresh handshake with the same challenge each time */
      emu_ntlm_conn_set_challenge(s, chal);
      ck_assert_int_eq(emu_ntlm_conn_step(s, h1, &out), EMU_NTLM_OK);
      enc = b64(copy, len);
      hdr = malloc(strlen(enc) + 8);
      sprintf(hdr, "NTLM %s", enc);
      if(emu_ntlm_conn_step(s, hdr, &out) == EMU_NTLM_OK)
        accepted++;
      free(hdr);
      free(enc);
      free(copy);
    }
  }
  /* With a MIC the whole message is covered (descriptors, flags, version,
   * names): no corruption is accepted. */
  ck_assert_uint_eq(accepted, 0);
  free(raw);
  free(h1);
  free(h3);
  emu_ntlm_conn_free(s);
}
END_TEST

Suite *emu_ntlm_suite(void)
{
  Suite *s = suite_create("emu_ntlm");
  TCase *tc = tcase_create("core");

  tcase_add_loop_test(tc, md4_rfc1320_vectors, 0, sizeof(md4_cases) / sizeof(md4_cases[0]));
  tcase_add_test(tc, nt_hash_matches_spec);
  tcase_add_test(tc, spec_424_keys);
  tcase_add_test(tc, spec_424_authenticate_verifies);
  tcase_add_test(tc, spec_424_wrong_inputs_fail);
  tcase_add_test(tc, v1_and_anonymous_refused);
  tcase_add_test(tc, negotiate_parses);
  tcase_add_test(tc, negotiate_truncated_all_lengths);
  tcase_add_test(tc, negotiate_corrupt_bytes);
  tcase_add_loop_test(tc, conn_round_trip, 0, sizeof(rt_cases) / sizeof(rt_cases[0]));
  tcase_add_test(tc, challenge_layout);
  tcase_add_test(tc, conn_step_errors);
  tcase_add_loop_test(tc, authenticate_truncated_all_lengths, 0, 2);
  tcase_add_test(tc, authenticate_corrupt_bytes);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  return tu_run(emu_ntlm_suite());
}

/* ntlm.h - server side of NTLM ([MS-NLMP]) for the emulator's HTTP auth.
 *
 * Pure protocol code: it builds and parses NTLMSSP messages and checks
 * NTLMv2 responses, and never does I/O. The HTTP server feeds it the value
 * of each `Authorization:` header of one connection through an
 * emu_ntlm_conn and sends back what it says (401 + WWW-Authenticate, or
 * go ahead as the authenticated user).
 *
 * Invariants
 * - Every length and offset read from the wire is checked against the
 *   message length before use; hostile input yields EMU_NTLM_ERR_MALFORMED,
 *   never an out-of-bounds read.
 * - Only NTLMv2 is accepted. An NtChallengeResponse of 24 bytes (NTLMv1 /
 *   NTLM2 session response) is refused with EMU_NTLM_ERR_NTLMV1; anonymous
 *   logons (empty user and responses) with EMU_NTLM_ERR_ANONYMOUS.
 * - A server challenge answers exactly one AUTHENTICATE message: it is
 *   discarded after use whatever the outcome (replay protection).
 * - When the client's AV pairs announce a MIC (MsvAvFlags bit 0x2), the MIC
 *   is verified over the three messages of the handshake.
 * - Secrets (passwords, hashes, keys) are never logged and are wiped from
 *   the stack and the heap after use.
 * - SPNEGO-wrapped tokens are not supported (EMU_NTLM_ERR_SPNEGO); raw
 *   NTLMSSP tokens sent with the Negotiate scheme are, as IIS accepts them.
 *
 * Strings given to and returned by this module are UTF-8. Names on the
 * wire are UTF-16LE (NTLMSSP_NEGOTIATE_UNICODE) or, without that flag, OEM
 * bytes, which are read as ISO-8859-1. The user name is upper-cased for
 * NTOWFv2 with simple case mapping of ASCII, Latin-1, Greek and Cyrillic;
 * other scripts are left as they are.
 */
#ifndef EXSYNC_EMU_NTLM_H
#define EXSYNC_EMU_NTLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "exsync/buf.h"

/* ---- results ---- */
enum emu_ntlm_result {
  EMU_NTLM_OK = 0,
  EMU_NTLM_ERR_NOMEM,        /* out of memory or output cap reached */
  EMU_NTLM_ERR_ARG,          /* caller error (NULL pointer, name too long) */
  EMU_NTLM_ERR_MALFORMED,    /* bad signature, truncated, field out of bounds */
  EMU_NTLM_ERR_TYPE,         /* valid NTLMSSP but not the message type expected */
  EMU_NTLM_ERR_SCHEME,       /* header is not "NTLM <b64>" / "Negotiate <b64>" */
  EMU_NTLM_ERR_BASE64,       /* token is not valid base64 */
  EMU_NTLM_ERR_TOO_LONG,     /* token larger than EMU_NTLM_MAX_TOKEN */
  EMU_NTLM_ERR_SPNEGO,       /* SPNEGO/GSS-API wrapped token: unsupported */
  EMU_NTLM_ERR_STATE,        /* message out of sequence (e.g. type 3 first) */
  EMU_NTLM_ERR_NTLMV1,       /* NTLMv1 / LM response: only NTLMv2 is accepted */
  EMU_NTLM_ERR_ANONYMOUS,    /* anonymous logon refused */
  EMU_NTLM_ERR_UNKNOWN_USER, /* lookup callback does not know (user, domain) */
  EMU_NTLM_ERR_BAD_PROOF,    /* NTProofStr mismatch: wrong password */
  EMU_NTLM_ERR_MIC,          /* MIC present but wrong */
  EMU_NTLM_ERR_CRYPTO,       /* an OpenSSL primitive failed */
};

/* Static English text for a result; never NULL. */
const char *emu_ntlm_strerror(int result);

/* ---- constants ---- */
#define EMU_NTLM_NEGOTIATE_UNICODE 0x00000001u
#define EMU_NTLM_NEGOTIATE_OEM 0x00000002u
#define EMU_NTLM_REQUEST_TARGET 0x00000004u
#define EMU_NTLM_NEGOTIATE_SIGN 0x00000010u
#define EMU_NTLM_NEGOTIATE_SEAL 0x00000020u
#define EMU_NTLM_NEGOTIATE_LM_KEY 0x00000080u
#define EMU_NTLM_NEGOTIATE_NTLM 0x00000200u
#define EMU_NTLM_NEGOTIATE_ANONYMOUS 0x00000800u
#define EMU_NTLM_NEGOTIATE_OEM_DOMAIN_SUPPLIED 0x00001000u
#define EMU_NTLM_NEGOTIATE_OEM_WORKSTATION_SUPPLIED 0x00002000u
#define EMU_NTLM_NEGOTIATE_ALWAYS_SIGN 0x00008000u
#define EMU_NTLM_TARGET_TYPE_DOMAIN 0x00010000u
#define EMU_NTLM_TARGET_TYPE_SERVER 0x00020000u
#define EMU_NTLM_NEGOTIATE_EXTENDED_SESSIONSECURITY 0x00080000u
#define EMU_NTLM_NEGOTIATE_TARGET_INFO 0x00800000u
#define EMU_NTLM_NEGOTIATE_VERSION 0x02000000u
#define EMU_NTLM_NEGOTIATE_128 0x20000000u
#define EMU_NTLM_NEGOTIATE_KEY_EXCH 0x40000000u
#define EMU_NTLM_NEGOTIATE_56 0x80000000u

/* AV_PAIR ids ([MS-NLMP] 2.2.2.1). */
enum emu_ntlm_av_id {
  EMU_NTLM_AV_EOL = 0,
  EMU_NTLM_AV_NB_COMPUTER = 1,
  EMU_NTLM_AV_NB_DOMAIN = 2,
  EMU_NTLM_AV_DNS_COMPUTER = 3,
  EMU_NTLM_AV_DNS_DOMAIN = 4,
  EMU_NTLM_AV_DNS_TREE = 5,
  EMU_NTLM_AV_FLAGS = 6,
  EMU_NTLM_AV_TIMESTAMP = 7,
  EMU_NTLM_AV_SINGLE_HOST = 8,
  EMU_NTLM_AV_TARGET_NAME = 9,
  EMU_NTLM_AV_CHANNEL_BINDINGS = 10,
};

/* Longest name (user, domain, workstation, host names) handled, in UTF-8
 * bytes including the NUL; longer names are refused. */
#define EMU_NTLM_NAME_MAX 256
/* Largest base64 token accepted by emu_ntlm_conn_step. */
#define EMU_NTLM_MAX_TOKEN 16384

/* ---- NT hash and NTOWFv2 ---- */

/* NT hash = MD4(UTF-16LE(password)) into out. password is UTF-8. Uses the
 * OpenSSL legacy provider (loaded once into a private library context, the
 * process-wide default context is left alone) or, when it is missing, an
 * embedded MD4. Returns EMU_NTLM_OK, EMU_NTLM_ERR_ARG or _NOMEM. */
int emu_ntlm_nt_hash(const char *password, uint8_t out[16]);

/* ResponseKeyNT = NTOWFv2 = HMAC_MD5(nt_hash, UTF-16LE(UPPER(user) || domain))
 * into out. user and domain are UTF-8 (domain NOT upper-cased). */
int emu_ntlm_ntowfv2(const uint8_t nt_hash[16], const char *user, const char *domain,
                     uint8_t out[16]);

/* HMAC-MD5 of the concatenation a || b (b may be NULL with blen 0). */
int emu_ntlm_hmac_md5(const uint8_t *key, size_t keylen, const uint8_t *a, size_t alen,
                      const uint8_t *b, size_t blen, uint8_t out[16]);

/* The embedded MD4 (RFC 1320), exposed so the suites can check it against
 * OpenSSL's. */
void emu_ntlm_md4_embedded(const void *data, size_t len, uint8_t out[16]);

/* ---- NEGOTIATE (type 1) ---- */
struct emu_ntlm_negotiate {
  uint32_t flags;
  char domain[EMU_NTLM_NAME_MAX];      /* OEM domain if supplied, else "" */
  char workstation[EMU_NTLM_NAME_MAX]; /* OEM workstation if supplied, else "" */
  bool has_version;
  uint8_t version[8];
};

/* Parse a NEGOTIATE message of len bytes into *out (filled entirely, no
 * pointers into msg). Returns EMU_NTLM_OK, _MALFORMED or _TYPE. */
int emu_ntlm_parse_negotiate(const uint8_t *msg, size_t len, struct emu_ntlm_negotiate *out);

/* ---- CHALLENGE (type 2) ---- */

/* The flags a server answers with, given the client's NEGOTIATE flags: the
 * requested subset of UNICODE (else OEM), REQUEST_TARGET, SIGN, SEAL,
 * ALWAYS_SIGN, EXTENDED_SESSIONSECURITY, 128, 56, KEY_EXCH, VERSION, plus
 * NTLM, TARGET_INFO and TARGET_TYPE_DOMAIN which the server always sets. */
uint32_t emu_ntlm_challenge_flags(uint32_t client_flags);

struct emu_ntlm_target {
  const char *nb_domain;    /* "CONTOSO": TargetName and MsvAvNbDomainName (required) */
  const char *nb_computer;  /* "EXCH01": MsvAvNbComputerName (required) */
  const char *dns_domain;   /* "contoso.com": MsvAvDnsDomainName, NULL/"" to omit */
  const char *dns_computer; /* "exch01.contoso.com": MsvAvDnsComputerName, NULL/"" to omit */
};

/* Build a CHALLENGE message into out (appended; raw bytes, the caller
 * base64-encodes). flags as from emu_ntlm_challenge_flags; names are
 * written UTF-16LE when flags has UNICODE, else as ISO-8859-1. timestamp
 * is the MsvAvTimestamp FILETIME (100 ns since 1601-01-01 UTC); the AV
 * list is NbDomain, NbComputer, DnsDomain, DnsComputer, Timestamp, EOL.
 * Returns EMU_NTLM_OK, _ARG (missing/too long name) or _NOMEM. */
int emu_ntlm_build_challenge(uint32_t flags, const uint8_t server_challenge[8],
                             const struct emu_ntlm_target *target, uint64_t timestamp,
                             struct exs_buf *out);

/* Wall-clock seconds since the epoch -> FILETIME. */
uint64_t emu_ntlm_filetime(int64_t unix_seconds);

/* ---- AUTHENTICATE (type 3) ---- */
struct emu_ntlm_authenticate {
  uint32_t flags;
  /* Borrowed pointers into the parsed message: valid while it is. */
  const uint8_t *lm_response;
  size_t lm_response_len;
  const uint8_t *nt_response;
  size_t nt_response_len;
  const uint8_t *session_key; /* EncryptedRandomSessionKey */
  size_t session_key_len;
  char domain[EMU_NTLM_NAME_MAX];
  char user[EMU_NTLM_NAME_MAX];
  char workstation[EMU_NTLM_NAME_MAX];
  /* NTLMv2 client challenge, read from nt_response when it is a v2 one. */
  bool is_v2;
  uint64_t client_timestamp;
  uint8_t client_challenge[8];
  const uint8_t *av_pairs; /* the client's AV list inside nt_response */
  size_t av_pairs_len;
  uint32_t av_flags; /* MsvAvFlags, 0 when absent */
  /* MIC: present when av_flags has 0x2; at offset 72 of the message. */
  bool has_mic;
  uint8_t mic[16];
};

/* Parse an AUTHENTICATE message of len bytes into *out. Checks every field
 * descriptor and, for an NTLMv2 response, its client challenge header and
 * AV list. Returns EMU_NTLM_OK, _MALFORMED or _TYPE. A v1 response parses
 * fine (is_v2 false): emu_ntlm_verify refuses it. */
int emu_ntlm_parse_authenticate(const uint8_t *msg, size_t len, struct emu_ntlm_authenticate *out);

/* ---- verification ---- */

/* What a lookup callback hands back. Set password (UTF-8, borrowed until
 * the verify call returns) or nt_hash with has_nt_hash. */
struct emu_ntlm_secret {
  const char *password;
  uint8_t nt_hash[16];
  bool has_nt_hash;
};

/* Find the account (user, domain) as sent by the client, both UTF-8; the
 * domain may be "" (UPN logons). Matching is the callback's business
 * (Windows matches case-insensitively). Return 0 and fill *secret, or -1
 * when the account does not exist. */
typedef int (*emu_ntlm_lookup_fn)(void *arg, const char *user, const char *domain,
                                  struct emu_ntlm_secret *secret);

struct emu_ntlm_verify_in {
  const uint8_t *server_challenge; /* 8 bytes, the one sent in the CHALLENGE */
  emu_ntlm_lookup_fn lookup;
  void *lookup_arg;
  /* Also try this UserDom when the client sent an empty domain; may be NULL. */
  const char *default_domain;
  /* For the MIC check: the raw NEGOTIATE and CHALLENGE messages of the
   * handshake and the raw AUTHENTICATE message that auth was parsed from.
   * When a MIC is announced and these are NULL the result is _MIC. */
  const uint8_t *negotiate_msg;
  size_t negotiate_len;
  const uint8_t *challenge_msg;
  size_t challenge_len;
  const uint8_t *authenticate_msg;
  size_t authenticate_len;
};

struct emu_ntlm_verified {
  char user[EMU_NTLM_NAME_MAX];   /* as sent by the client */
  char domain[EMU_NTLM_NAME_MAX]; /* as sent by the client (may be "") */
  uint8_t session_base_key[16];
  uint8_t exported_session_key[16];
};

/* Verify an NTLMv2 AUTHENTICATE message. Returns EMU_NTLM_OK (and fills
 * *out if not NULL), _NTLMV1, _ANONYMOUS, _UNKNOWN_USER, _BAD_PROOF, _MIC,
 * _ARG or _CRYPTO. The comparison of NTProofStr and MIC is constant-time. */
int emu_ntlm_verify(const struct emu_ntlm_authenticate *auth, const struct emu_ntlm_verify_in *in,
                    struct emu_ntlm_verified *out);

/* ---- one connection's handshake ---- */
struct emu_ntlm_conn;

struct emu_ntlm_config {
  struct emu_ntlm_target target; /* strings copied by emu_ntlm_conn_new */
  emu_ntlm_lookup_fn lookup;
  void *lookup_arg; /* borrowed: must outlive the conn */
};

/* New handshake state for one TCP/TLS connection. NULL on no memory or a
 * missing/too long required name. Caller frees with emu_ntlm_conn_free. */
struct emu_ntlm_conn *emu_ntlm_conn_new(const struct emu_ntlm_config *cfg);
/* Free (wiping the keys). NULL is a no-op. */
void emu_ntlm_conn_free(struct emu_ntlm_conn *conn);

/* Tests: use this server challenge for the next CHALLENGE instead of
 * RAND_bytes (one use), and this MsvAvTimestamp instead of the clock
 * (every use; 0 goes back to the clock). */
void emu_ntlm_conn_set_challenge(struct emu_ntlm_conn *conn, const uint8_t challenge[8]);
void emu_ntlm_conn_set_timestamp(struct emu_ntlm_conn *conn, uint64_t filetime);

enum emu_ntlm_action {
  EMU_NTLM_SEND_CHALLENGE, /* answer 401 with WWW-Authenticate: out->www_authenticate */
  EMU_NTLM_AUTHENTICATED,  /* out->user / out->domain are logged on */
  EMU_NTLM_FAILED,         /* answer 401 with the bare scheme list; out->result says why */
};

struct emu_ntlm_step_out {
  enum emu_ntlm_action action;
  int result;      /* EMU_NTLM_OK unless FAILED */
  char scheme[16]; /* "NTLM" or "Negotiate", as the client used; "" if unparsable */
  /* With SEND_CHALLENGE: the full header value, e.g. "NTLM TlRMTVNTUAACAAAA...".
   * Borrowed from the conn until its next step or free. NULL otherwise. */
  const char *www_authenticate;
  char user[EMU_NTLM_NAME_MAX];
  char domain[EMU_NTLM_NAME_MAX];
};

/* Feed the value of one Authorization header ("NTLM <b64>" or
 * "Negotiate <b64>", scheme case-insensitive). A type 1 starts (or
 * restarts) the handshake; a type 3 after a challenge finishes it. A
 * failure resets the conn to the initial state. Returns out->result. */
int emu_ntlm_conn_step(struct emu_ntlm_conn *conn, const char *authorization,
                       struct emu_ntlm_step_out *out);

/* True once a handshake succeeded on this conn (until a new type 1). */
bool emu_ntlm_conn_authenticated(const struct emu_ntlm_conn *conn);

#endif

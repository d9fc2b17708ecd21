/* fuzz_ntlm.c - libFuzzer target for the emulator's NTLM parsers.
 *
 * Feeds each input to the NEGOTIATE and AUTHENTICATE parsers (and, when an
 * AUTHENTICATE parses, to the NTLMv2 verifier), and to a connection's step
 * function three ways: as the raw Authorization header value, as the
 * base64 token of a first message, and as the token of the message that
 * follows a valid NEGOTIATE (so the AUTHENTICATE/MIC path is reached).
 *
 * Build (clang only), from the repository root:
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DEXSYNC_FUZZ=ON \
 *         -DCMAKE_C_FLAGS=-Wno-unknown-warning-option \
 *         -DCMAKE_BUILD_TYPE=Debug && cmake --build build-fuzz -j2 --target fuzz_ntlm
 *   mkdir -p /tmp/ntlm-corpus && ./build-fuzz/suites/fuzz_ntlm -max_total_time=60 \
 *     /tmp/ntlm-corpus suites/fuzz/corpus_ntlm   (new units go to the first dir)
 * or by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_DEFAULT_SOURCE \
 *     -Icore/base/include -Iemulator/include suites/fuzz/fuzz_ntlm.c emulator/ntlm.c \
 *     core/base/buf.c core/base/clock.c -lcrypto -o fuzz_ntlm
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exsync/buf.h"
#include "exsync-emulator/ntlm.h"

static const uint8_t challenge[8] = {1, 2, 3, 4, 5, 6, 7, 8};

static int lookup(void *arg, const char *user, const char *domain, struct emu_ntlm_secret *s)
{
  (void)arg;
  (void)domain;
  if(!strcmp(user, "nobody"))
    return -1;
  s->password = "Password";
  return 0;
}

static struct emu_ntlm_conn *new_conn(void)
{
  struct emu_ntlm_config cfg;
  struct emu_ntlm_conn *c;

  memset(&cfg, 0, sizeof(cfg));
  cfg.target.nb_domain = "CONTOSO";
  cfg.target.nb_computer = "EXCH01";
  cfg.target.dns_domain = "contoso.com";
  cfg.target.dns_computer = "exch01.contoso.com";
  cfg.lookup = lookup;
  c = emu_ntlm_conn_new(&cfg);
  if(c) {
    emu_ntlm_conn_set_challenge(c, challenge);
    emu_ntlm_conn_set_timestamp(c, 1);
  }
  return c;
}

/* "NTLM " + base64(data), NUL-terminated; NULL when too large. */
static char *header_of(const uint8_t *data, size_t size)
{
  struct exs_buf b;

  exs_buf_init(&b, 2 * EMU_NTLM_MAX_TOKEN);
  if(exs_buf_adds(&b, "NTLM ") || exs_base64_encode(&b, data, size)) {
    exs_buf_free(&b);
    return NULL;
  }
  return exs_buf_steal(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  /* a valid minimal NEGOTIATE: UNICODE, REQUEST_TARGET, NTLM, KEY_EXCH */
  static const char type1[] = "NTLM TlRMTVNTUAABAAAABYIIQAAAAAAAAAAAAAAAAAAAAAA=";
  struct emu_ntlm_negotiate neg;
  struct emu_ntlm_authenticate auth;
  struct emu_ntlm_step_out out;
  struct emu_ntlm_conn *c;
  char *h, *raw;

  (void)emu_ntlm_parse_negotiate(data, size, &neg);
  if(emu_ntlm_parse_authenticate(data, size, &auth) == EMU_NTLM_OK) {
    struct emu_ntlm_verify_in in;

    memset(&in, 0, sizeof(in));
    in.server_challenge = challenge;
    in.lookup = lookup;
    in.default_domain = "CONTOSO";
    in.authenticate_msg = data;
    in.authenticate_len = size;
    (void)emu_ntlm_verify(&auth, &in, NULL);
  }

  /* the input as a header value */
  raw = malloc(size + 1);
  if(!raw)
    return 0;
  memcpy(raw, data, size);
  raw[size] = '\0';
  c = new_conn();
  if(c)
    (void)emu_ntlm_conn_step(c, raw, &out);
  emu_ntlm_conn_free(c);
  free(raw);

  h = header_of(data, size);
  if(!h)
    return 0;
  /* as a first message, then as the answer to a challenge */
  c = new_conn();
  if(c) {
    (void)emu_ntlm_conn_step(c, h, &out);
    emu_ntlm_conn_free(c);
  }
  c = new_conn();
  if(c) {
    if(emu_ntlm_conn_step(c, type1, &out) == EMU_NTLM_OK)
      (void)emu_ntlm_conn_step(c, h, &out);
    emu_ntlm_conn_free(c);
  }
  free(h);
  return 0;
}

/* fuzz_autodiscover_response.c - libFuzzer target for the Autodiscover
 * answer parsers (core/autodiscover.c): every input goes to the POX and the
 * SOAP GetUserSettings parser; a parsed answer must be NUL-terminated in
 * every field.
 *
 * Build (clang only), from the repository root:
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DEXSYNC_FUZZ=ON \
 *         -DCMAKE_C_FLAGS=-Wno-unknown-warning-option \
 *         -DCMAKE_BUILD_TYPE=Debug && cmake --build build-fuzz -j2 --target
 * fuzz_autodiscover_response
 *   mkdir -p /tmp/ad-corpus && ./build-fuzz/suites/fuzz_autodiscover_response \
 *     -max_total_time=60 /tmp/ad-corpus fixtures/autodiscover
 * or by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_POSIX_C_SOURCE=200809L \
 *     -D_DEFAULT_SOURCE -DEXSYNC_VERSION='"fuzz"' -Icore/include -Icore/base/include $(pkg-config
 * --cflags \
 *     libxml-2.0) suites/fuzz/fuzz_autodiscover_response.c core/autodiscover.c \
 *     core/error.c core/http.c core/base/buf.c core/base/clock.c core/base/xml.c \
 *     $(pkg-config --libs libxml-2.0 libcurl \
 *     libcrypto) -lresolv -lpthread -o fuzz_autodiscover_response
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exsync/autodiscover.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const struct exs_autodiscover_answer *a)
{
  if(memchr(a->ews_url, 0, sizeof(a->ews_url)) == NULL ||
     memchr(a->redirect, 0, sizeof(a->redirect)) == NULL ||
     memchr(a->error_code, 0, sizeof(a->error_code)) == NULL ||
     memchr(a->display_name, 0, sizeof(a->display_name)) == NULL)
    abort();
  if(a->action > EXS_AD_ACTION_ERROR)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct exs_autodiscover_answer a;
  struct exs_error err;

  exs_error_clear(&err);
  if(exs_autodiscover_parse_pox((const char *)data, size, &a, &err) == 0)
    check(&a);
  exs_error_clear(&err);
  if(exs_autodiscover_parse_soap((const char *)data, size, &a, &err) == 0)
    check(&a);
  return 0;
}

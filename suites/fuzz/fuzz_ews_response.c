/* fuzz_ews_response.c - libFuzzer target for the EWS answer parsers of
 * core/ews.c, ews_folder.c, ews_item.c, ews_util.c: the envelope and SOAP fault parser and every
 * operation's answer parser, the input being the body of an HTTP 200 answer; then the
 * envelope/fault path again with the HTTP status chosen by the last byte
 * (500, 302, 200 or 503: a fixture ending in '\n' or '>' stays 200).
 * Results are freed with their _free / _clear functions, so ASan also checks
 * ownership.
 *
 * Build (clang only), from the repository root:
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DEXSYNC_FUZZ=ON \
 *         -DCMAKE_C_FLAGS=-Wno-unknown-warning-option \
 *         -DCMAKE_BUILD_TYPE=Debug && cmake --build build-fuzz -j2 --target fuzz_ews_response
 *   mkdir -p /tmp/ews-corpus && ./build-fuzz/suites/fuzz_ews_response -max_total_time=60 \
 *     -max_len=65536 /tmp/ews-corpus fixtures/ews   (new units go to the first dir)
 * or by hand:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_POSIX_C_SOURCE=200809L \
 *     -D_DEFAULT_SOURCE -DEXSYNC_VERSION='"fuzz"' -Icore/include -Icore/base/include -Icore
 * $(pkg-config \
 *     --cflags libxml-2.0) suites/fuzz/fuzz_ews_response.c core/ews.c core/ews_folder.c \
 *     core/ews_item.c core/ews_util.c core/error.c \
 *     core/base/buf.c core/base/clock.c core/base/xml.c \
 *     $(pkg-config --libs libxml-2.0) -lpthread -o fuzz_ews_response
 * The parsers do no I/O (the client is core/ews_client.c), so no transport
 * is linked.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "exsync/ews.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse_all(const char *body, size_t len, long st)
{
  struct exs_error err;

  {
    struct exs_ews_folder f[3];
    exs_error_clear(&err);
    exs_ews_parse_get_folder(body, len, st, f, 3, &err);
    exs_ews_parse_create_folder(body, len, st, &f[0], &err);
    exs_ews_parse_update_folder(body, len, st, &f[1], &err);
  }
  {
    struct exs_ews_folder_page p;
    exs_error_clear(&err);
    exs_ews_parse_find_folder(body, len, st, &p, &err);
    exs_ews_folder_page_free(&p);
  }
  {
    struct exs_ews_folder_sync s;
    exs_error_clear(&err);
    exs_ews_parse_sync_folder_hierarchy(body, len, st, &s, &err);
    exs_ews_folder_sync_free(&s);
  }
  {
    struct exs_ews_item_page p;
    exs_error_clear(&err);
    exs_ews_parse_find_item(body, len, st, &p, &err);
    exs_ews_item_page_free(&p);
  }
  {
    struct exs_ews_item *it = calloc(3, sizeof(*it));
    size_t i;
    if(it) {
      exs_error_clear(&err);
      exs_ews_parse_get_item(body, len, st, it, 3, &err);
      for(i = 0; i < 3; i++)
        exs_ews_item_clear(&it[i]);
      free(it);
    }
  }
  {
    struct exs_ews_item_result r[2];
    exs_error_clear(&err);
    exs_ews_parse_create_item(body, len, st, r, 2, &err);
    exs_ews_parse_update_item(body, len, st, r, 1, &err);
    exs_ews_parse_move_item(body, len, st, r, 2, &err);
    exs_ews_parse_delete_item(body, len, st, r, 1, &err);
  }
  {
    struct exs_ews_item_sync s = {0};
    exs_error_clear(&err);
    exs_ews_parse_sync_folder_items(body, len, st, &s, &err);
    exs_ews_item_sync_free(&s);
  }
  {
    struct exs_ews_resolve res;
    struct exs_ews_converted_id c[2];
    exs_error_clear(&err);
    exs_ews_parse_resolve_names(body, len, st, &res, &err);
    exs_ews_parse_convert_id(body, len, st, c, 2, &err);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const long statuses[] = {500, 302, 200, 503};
  const char *body = (const char *)data;
  struct exs_ews_folder f;
  struct exs_error err;
  long st;

  parse_all(body, size, 200);
  if(size < 1)
    return 0;
  st = statuses[data[size - 1] % 4];
  if(st != 200) {
    exs_error_clear(&err);
    exs_ews_parse_get_folder(body, size, st, &f, 1, &err);
  }
  return 0;
}

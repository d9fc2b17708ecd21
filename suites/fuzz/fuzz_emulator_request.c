/* fuzz_emulator_request.c - libFuzzer target for the emulator's request
 * path: an HTTP body goes through the SOAP parse, the dispatch on the
 * operation and the operation's handler, against the contoso world, as an
 * authenticated service account (impersonation included). The world is
 * reloaded every 500 inputs so state does not pile up.
 *
 * Built with the other targets (scripts/fuzz.sh):
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DEXSYNC_FUZZ=ON
 *   cmake --build build-fuzz --target fuzz_emulator_request
 *   build-fuzz/suites/fuzz_emulator_request suites/fuzz/corpus_emulator_request
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exsync-emulator/emulator.h"
#include "exsync-emulator/emulator_test.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct emu *emu;
static unsigned runs;

static void world(void)
{
  char err[512], path[4096];
  const char *root = getenv("EXSYNC_SOURCE_DIR");

  snprintf(path, sizeof(path), "%s/fixtures/scenarios/contoso.xml",
           root && *root ? root : EXSYNC_DEFAULT_DATA_DIR "/..");
  emu = emu_new();
  if(!emu || emu_load_scenario(emu, path, err, sizeof(err))) {
    fprintf(stderr, "fuzz_emulator_request: %s\n", emu ? err : "out of memory");
    abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char err[256];

  if(!emu)
    world();
  if(++runs % 500 == 0)
    emu_reset(emu, err, sizeof(err));
  emu_test_ews_request(emu, "svc-crm", "mail.contoso.com", (const char *)data, size);
  return 0;
}

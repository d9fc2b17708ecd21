/* fuzz_orgfile.c - libFuzzer target for the org configuration file loader
 * (safe XML parse, XSD validation, attribute application, line finding).
 *
 * Build (clang), with the other targets of suites/CMakeLists.txt:
 *   add_executable(fuzz_orgfile ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_orgfile.c)
 *   target_compile_options(fuzz_orgfile PRIVATE -fsanitize=fuzzer,address,undefined)
 *   target_link_options(fuzz_orgfile PRIVATE -fsanitize=fuzzer,address,undefined)
 *   target_link_libraries(fuzz_orgfile PRIVATE exsync_core)
 * Run with fixtures/orgs as the seed corpus:
 *   build-fuzz/suites/fuzz_orgfile -max_total_time=60 /tmp/org-corpus fixtures/orgs
 * The schema is found through EXSYNC_DATA_DIR (default: the source tree).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "exsync/orgfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static char xsd[4096];
  struct exs_orgfile *f = NULL;
  struct exs_error err;

  if(!xsd[0])
    exs_orgfile_schema_path(xsd, sizeof(xsd));
  /* a password-env that resolves, so loads can get past the profile */
  setenv("EXSYNC_PROFILE_PASSWORD", "fuzz", 0);
  if(exs_orgfile_load_buffer((const char *)data, size, "fuzz.xml", xsd, 0, &f, &err) == 0)
    exs_orgfile_free(f);
  return 0;
}

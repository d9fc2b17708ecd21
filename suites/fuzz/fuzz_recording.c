/* fuzz_recording.c - libFuzzer target for the recording loader
 * (diag/recording.c): any bytes must load or fail with a message, never
 * crash, leak or read out of bounds. Not built by default:
 *
 *   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DEXSYNC_FUZZ=ON \
 *         -DCMAKE_C_FLAGS=-Wno-unknown-warning-option
 *   cmake --build build-fuzz --target fuzz_recording
 *   mkdir -p /tmp/rec-corpus && build-fuzz/suites/fuzz_recording -max_total_time=60 \
 *     /tmp/rec-corpus fixtures/recordings
 *
 * The schema check is left out (its cost would dominate); the loader's own
 * checks are what must hold without it. Loaded recordings are written back
 * and reloaded: the writer must produce what the loader accepts. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "exsync-diag/recording.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct diag_recording *r = NULL, *back = NULL;
  char err[1024];

  if(diag_recording_load_mem((const char *)data, size, "fuzz.xml", NULL, &r, err, sizeof(err)) ==
     0) {
    struct exs_buf out;
    exs_buf_init(&out, 64u * 1024u * 1024u);
    if(diag_recording_write(r, &out) == 0 &&
       diag_recording_load_mem(out.data, out.len, "rewritten.xml", NULL, &back, err, sizeof(err)) !=
           0)
      __builtin_trap(); /* the writer produced something the loader refuses */
    exs_buf_free(&out);
  }
  diag_recording_free(back);
  diag_recording_free(r);
  return 0;
}

/* recplay.h - what `exsync record` and `exsync replay` share: running an
 * exsync command in-process with its report captured, and the recorder. */
#ifndef EXSYNC_DIAG_RECPLAY_H
#define EXSYNC_DIAG_RECPLAY_H

#include <stdbool.h>
#include <stddef.h>

#include "cli.h"
#include "exsync/normalize.h"
#include "exsync-diag/recording.h"

/* Run a recordable command (args[0] is test-enable or autodiscover) in
 * this process: its function is called with a copy of base, the global
 * options among args on top (--format, --cacert, ...), its report written
 * to memory: *out is malloc'd (caller frees), *exit_code is what the
 * command returned. It runs with a trace (base's, else /dev/null), hence
 * one worker: the conversation has one order, which replay relies on.
 * args are borrowed. Returns 0 or -1 (message printed). */
int diag_run_captured(const struct diag_ctx *base, const char *const *args, size_t n_args,
                      char **out, int *exit_code);

struct diag_record_options {
  const char *out;          /* recording file to write */
  const char *name;         /* <info><name>, may be NULL */
  const char *const *rules; /* --scrub REGEX=REPLACEMENT */
  size_t n_rules;
  bool anonymize;
  bool quiet; /* do not echo the report to stdout */
};

/* Record `exsync ARGS...` (args[0] is the command name) with the globals of
 * ctx into opt->out. Returns the command's exit code (0 or 1), or 2 when
 * the recording could not be made (message printed). */
int diag_record(struct diag_ctx *ctx, const struct diag_record_options *opt,
                const char *const *args, size_t n_args);

/* Timing-free form of a report for comparison: values of "ms",
 * "elapsed_ms" (JSON), time="..." (JUnit) and "N ms)" (text step trees)
 * become 0, and runs of spaces inside a line (table padding) become two. Appends to out. */
int diag_report_mask(const char *report, struct exs_buf *out);

#endif

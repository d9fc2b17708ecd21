/* report.h - Test & Enable reports: text table, JSON, JUnit XML. */
#ifndef EXSYNC_DIAG_REPORT_H
#define EXSYNC_DIAG_REPORT_H

#include <stdio.h>

#include "exsync/testenable.h"

enum diag_format { DIAG_FORMAT_TEXT = 0, DIAG_FORMAT_JSON, DIAG_FORMAT_JUNIT };

/* Parse "text", "json", "junit"; -1 when unknown. */
int diag_format_parse(const char *s);

struct diag_summary {
  size_t mailboxes, success, failure, not_run;
  long elapsed_ms;
};

/* Count results (docs/report.md): success when at least one workload was tested
 * and all succeeded, failure when any failed, not_run when none was tested. */
void diag_summarize(const struct exs_te_result *results, size_t n, long elapsed_ms,
                    struct diag_summary *sum);

/* Write the report of n results in format to f. */
void diag_report_write(FILE *f, enum diag_format format, const struct exs_te_result *results,
                       size_t n, long elapsed_ms);

/* Exit code of a run: 0 when every tested workload succeeded, 1 otherwise. */
int diag_report_exit_code(const struct exs_te_result *results, size_t n);

#endif

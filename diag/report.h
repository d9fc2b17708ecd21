/* report.h - Test & Enable reports: text table, JSON, JUnit XML. */
#ifndef EXSYNC_DIAG_REPORT_H
#define EXSYNC_DIAG_REPORT_H

#include <stdbool.h>
#include <stdio.h>
#include <time.h>

#include "exsync/testenable.h"

enum diag_format { DIAG_FORMAT_TEXT = 0, DIAG_FORMAT_JSON, DIAG_FORMAT_JUNIT, DIAG_FORMAT_HTML };

/* Parse "text", "json", "junit", "html"; -1 when unknown. */
int diag_format_parse(const char *s);

#define DIAG_MAX_CATEGORIES 64

struct diag_summary {
  size_t mailboxes, success, failure, not_run;
  long elapsed_ms;
  /* per workload: how many mailboxes ended Success / Failure / Not Run */
  size_t wl[EXS_WL_COUNT][3];
  /* per category: mailboxes with at least one failure alert of it (a cause
   * counts once per mailbox, however many workloads it failed) */
  size_t by_category[DIAG_MAX_CATEGORIES];
};

/* Count results (docs/report.md): success when at least one workload was tested
 * and all succeeded, failure when any failed, not_run when none was tested. */
void diag_summarize(const struct exs_te_result *results, size_t n, long elapsed_ms,
                    struct diag_summary *sum);

/* Write the report of n results in format to f. */
void diag_report_write(FILE *f, enum diag_format format, const struct exs_te_result *results,
                       size_t n, long elapsed_ms);

/* Process-wide report settings from the command line: colour for Failure
 * in text (a terminal without NO_COLOR), --failures-only. */
void diag_report_configure(bool color, bool failures_only);

/* The run being reported: its start (JUnit timestamp, meta) and org id.
 * Called when a Test & Enable run starts. */
void diag_report_begin(const char *org_id);
/* The profile-level outcome of the run (the profile check), copied: the
 * JSON report's "profiles" lists those with mailboxes in the run. */
void diag_report_set_profiles(const struct exs_te_profile_result *p, size_t n);
/* That copy (NULL when none); *n receives its length. */
const struct exs_te_profile_result *diag_report_profiles(size_t *n);
/* The redacted trace of one mailbox's test (HTML report), copied. */
void diag_report_add_trace(const char *address, const char *text, size_t len);
/* Forget every trace (end of a command). */
void diag_report_clear_traces(void);
/* That trace, or NULL. */
const char *diag_report_trace_of(const char *address);

/* Which workload an alert belongs to, or -1 when it failed several
 * through a shared step (preconditions, credentials, location, connect). */
int diag_alert_workload(const struct exs_te_alert *a);
/* The workloads an alert of r speaks for, for people: "incoming", or for a
 * shared step the workloads that failed with its category ("incoming,
 * outgoing"; approval gates email only), "all workloads" when every one
 * did. Written into buf, which is returned. */
const char *diag_alert_workloads_label(const struct exs_te_result *r, const struct exs_te_alert *a,
                                       char *buf, size_t len);

/* The settings and the run, as set above (report_base.c). */
bool diag_report_color(void);
bool diag_report_failures_only(void);
time_t diag_report_started(void);
const char *diag_report_org_id(void);
/* A mailbox's outcome: EXS_STATUS_SUCCESS, _FAILURE or _NOT_RUN. */
int diag_mailbox_state(const struct exs_te_result *r);

/* Whether a mailbox is listed under --failures-only. */
bool diag_report_listed(const struct exs_te_result *r);

/* Whether a report was written since the last reset: a configuration error
 * after which none was gets diag_report_write_error. */
void diag_report_reset_emitted(void);
bool diag_report_emitted(void);
void diag_report_mark_emitted(void);

/* The report of a run that stopped on a usage or configuration error (exit
 * 2): JSON {"error": ...}, JUnit one testcase carrying an <error>, HTML a
 * page with the message; text writes nothing (stderr has it). */
void diag_report_write_error(FILE *f, enum diag_format format, const char *command,
                             const char *message);
/* After a report command returned exit_code: the error report (with the
 * last diag_fail message) when it stopped with 2 before writing one. */
void diag_report_error_if_silent(FILE *f, enum diag_format format, const char *command,
                                 int exit_code);

/* HTML renderings (report_html.c): one self-contained page. */
void diag_report_write_html(FILE *f, const struct exs_te_result *results, size_t n,
                            long elapsed_ms);
void diag_report_write_html_error(FILE *f, const char *command, const char *message);
/* exsync status as a page: the mailbox x workload grid of the store. */
struct exs_mailbox;
void diag_status_write_html(FILE *f, const struct exs_mailbox *m, size_t n);
/* The Autodiscover chain as a tree. */
void diag_ad_write_html(FILE *f, const char *address, const struct exs_autodiscover_result *r,
                        bool ok, const struct exs_error *err);

/* The outcome of exsync replay (report_replay.c). */
struct diag_replay_verdict {
  const char *file; /* the recording */
  bool same;        /* same report and exit code, every request answered */
  int exit_code, recorded_exit_code;
  size_t exchanges; /* recorded */
  size_t unmatched; /* requests without a recorded answer */
  const char *text; /* the verdict as text: problems, diff, last line */
  long elapsed_ms;
};
/* The verdict as a page, the diff's lines coloured (report_html.c). */
void diag_replay_write_html(FILE *f, const struct diag_replay_verdict *v);
/* Write it in format (text: the text as is). */
void diag_replay_write(FILE *f, enum diag_format format, const struct diag_replay_verdict *v);

/* Exit code of a run: 0 when every tested workload succeeded, 1 otherwise. */
int diag_report_exit_code(const struct exs_te_result *results, size_t n);

#endif

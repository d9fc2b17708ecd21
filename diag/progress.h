/* progress.h - a one-line progress bar on stderr, only when it is a terminal:
 * done/total, failures so far and an estimate of the time left. */
#ifndef EXSYNC_DIAG_PROGRESS_H
#define EXSYNC_DIAG_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct diag_progress {
  bool enabled; /* stderr is a terminal and --no-progress was not given */
  bool escapes; /* the terminal takes escape codes (not TERM=dumb, no NO_COLOR) */
  const char *label;
  size_t last_drawn;
  size_t failures; /* set by the caller: shown as "N failed" */
  int64_t start_ms;
};

/* Process-wide: false turns every bar off (--no-progress). */
void diag_progress_configure(bool allowed);
void diag_progress_init(struct diag_progress *p, const char *label);
/* Redraw for done of total (cheap when nothing visible changed). */
void diag_progress_update(struct diag_progress *p, size_t done, size_t total);
/* Clear the line. */
void diag_progress_done(struct diag_progress *p);
/* The line drawn for done of total after elapsed_ms (for tests). */
void diag_progress_format(char *buf, size_t len, const char *label, size_t done, size_t total,
                          size_t failures, int64_t elapsed_ms);

#endif

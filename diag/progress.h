/* progress.h - a one-line progress bar on stderr, only when it is a terminal. */
#ifndef EXSYNC_DIAG_PROGRESS_H
#define EXSYNC_DIAG_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>

struct diag_progress {
  bool enabled;     /* stderr is a terminal */
  const char *label;
  size_t last_drawn;
};

void diag_progress_init(struct diag_progress *p, const char *label);
/* Redraw for done of total (cheap when nothing visible changed). */
void diag_progress_update(struct diag_progress *p, size_t done, size_t total);
/* Clear the line. */
void diag_progress_done(struct diag_progress *p);

#endif

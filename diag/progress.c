/* progress.c - terminal progress bar. */
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exsync/clock.h"

static bool progress_allowed = true;

void diag_progress_configure(bool allowed)
{
  progress_allowed = allowed;
}

void diag_progress_init(struct diag_progress *p, const char *label)
{
  const char *term = getenv("TERM");
  const char *nc = getenv("NO_COLOR");

  memset(p, 0, sizeof(*p));
  p->enabled = progress_allowed && isatty(STDERR_FILENO) == 1;
  p->escapes = !(nc && *nc) && !(term && !strcmp(term, "dumb"));
  p->label = label;
  p->last_drawn = (size_t)-1;
  p->start_ms = exs_monotonic_ms();
}

void diag_progress_format(char *buf, size_t len, const char *label, size_t done, size_t total,
                          size_t failures, int64_t elapsed_ms)
{
  enum { WIDTH = 30 };
  char bar[WIDTH + 1], eta[32] = "";
  size_t filled = total ? done * WIDTH / total : 0, i;

  for(i = 0; i < WIDTH; i++)
    bar[i] = i < filled ? '#' : '.';
  bar[WIDTH] = '\0';
  if(done > 0 && done < total) {
    /* the mean time per mailbox so far, times the mailboxes left */
    long left = (long)(elapsed_ms * (int64_t)(total - done) / (int64_t)done / 1000);
    snprintf(eta, sizeof(eta), ", ETA %ld:%02ld", left / 60, left % 60);
  }
  snprintf(buf, len, "%s [%s] %zu/%zu, %zu failed%s", label, bar, done, total, failures, eta);
}

void diag_progress_update(struct diag_progress *p, size_t done, size_t total)
{
  char line[160];
  size_t filled;

  if(!p->enabled || total == 0)
    return;
  filled = done * 30 / total;
  if(done != total && filled == p->last_drawn && done % 16)
    return;
  p->last_drawn = filled;
  diag_progress_format(line, sizeof(line), p->label, done, total, p->failures,
                       exs_monotonic_ms() - p->start_ms);
  /* a dumb terminal gets no escape codes: pad over the previous line instead */
  fprintf(stderr, p->escapes ? "\r%s\033[K" : "\r%-79s", line);
  fflush(stderr);
}

void diag_progress_done(struct diag_progress *p)
{
  if(!p->enabled)
    return;
  if(p->escapes)
    fputs("\r\033[K", stderr);
  else
    fprintf(stderr, "\r%79s\r", "");
  fflush(stderr);
}

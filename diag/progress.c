/* progress.c - terminal progress bar. */
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

void diag_progress_init(struct diag_progress *p, const char *label)
{
  p->enabled = isatty(STDERR_FILENO) == 1;
  p->label = label;
  p->last_drawn = (size_t)-1;
}

void diag_progress_update(struct diag_progress *p, size_t done, size_t total)
{
  enum { WIDTH = 30 };
  char bar[WIDTH + 1];
  size_t filled, i;

  if(!p->enabled || total == 0)
    return;
  filled = done * WIDTH / total;
  if(done != total && filled == p->last_drawn && done % 16)
    return;
  p->last_drawn = filled;
  for(i = 0; i < WIDTH; i++)
    bar[i] = i < filled ? '#' : '.';
  bar[WIDTH] = '\0';
  fprintf(stderr, "\r%s [%s] %zu/%zu", p->label, bar, done, total);
  fflush(stderr);
}

void diag_progress_done(struct diag_progress *p)
{
  if(!p->enabled)
    return;
  fputs("\r\033[K", stderr);
  fflush(stderr);
}

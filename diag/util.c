/* util.c - what every command shares: the error line, the format check,
 * data file paths and the trace writer (a module of its own, so commands
 * and the parser do not call back into cli.c). */
#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exsync/datadir.h"

static char last_error[1024];

int diag_fail(const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(last_error, sizeof(last_error), fmt, ap);
  va_end(ap);
  fprintf(stderr, "exsync: %s\n", last_error);
  return 2;
}

const char *diag_last_error(void)
{
  return last_error;
}

int diag_formats(const struct diag_ctx *ctx, const char *cmd, unsigned mask)
{
  static const char *const names[] = {"text", "json", "junit", "html"};
  char list[64] = "";
  size_t i;

  if(mask & (1u << ctx->format))
    return 0;
  for(i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if(mask & (1u << i))
      snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s", list[0] ? ", " : "",
               names[i]);
  return diag_fail("%s: --format %s is not supported here (%s)", cmd, names[ctx->format], list);
}

const char *diag_data_path(const char *relative)
{
  static char ring[4][4096];
  static int next;

  return exs_data_path(relative, ring[next++ % 4], sizeof(ring[0]));
}

/* "12:03:04.217 " in UTC: traces of several runs line up with server logs. */
static void stamp(FILE *f)
{
  struct timespec ts;
  struct tm tm;

  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  fprintf(f, "%02d:%02d:%02d.%03ld ", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

void diag_trace_cb(void *ud, enum exs_trace_kind kind, const char *data, size_t len)
{
  struct diag_ctx *ctx = ud;
  static const char *const marks[] = {"* ", "> ", "> ", "< ", "< "};

  if(!ctx->trace)
    return;
  if(kind == EXS_TRACE_REQ_BODY || kind == EXS_TRACE_RESP_BODY) {
    stamp(ctx->trace);
    fprintf(ctx->trace, "%s%zu bytes\n", marks[kind], len);
    fwrite(data, 1, len, ctx->trace);
    if(len && data[len - 1] != '\n')
      fputc('\n', ctx->trace);
  }
  else {
    size_t i = 0;
    while(i < len) {
      size_t j = i;
      while(j < len && data[j] != '\n')
        j++;
      stamp(ctx->trace);
      fputs(marks[kind], ctx->trace);
      fwrite(data + i, 1, j - i, ctx->trace);
      fputc('\n', ctx->trace);
      i = j + 1;
    }
  }
  fflush(ctx->trace);
}

void diag_trace_mark(struct diag_ctx *ctx, const char *fmt, ...)
{
  va_list ap;

  if(!ctx->trace)
    return;
  stamp(ctx->trace);
  fputs("=== ", ctx->trace);
  va_start(ap, fmt);
  vfprintf(ctx->trace, fmt, ap);
  va_end(ap);
  fputs(" ===\n", ctx->trace);
  fflush(ctx->trace);
}

void diag_clear_last_error(void)
{
  last_error[0] = '\0';
}

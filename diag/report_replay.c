/* report_replay.c - the verdict of exsync replay in text, JSON, JUnit and
 * HTML: whether the replayed run gave the recorded report, and the diff. */
#include "report.h"
#include "json.h"

#include <string.h>
#include <unistd.h>

#include "exsync/buf.h"
#include "exsync/clock.h"

static void xml(FILE *f, const char *s)
{
  struct exs_buf b;

  exs_buf_init(&b, 1 << 22);
  if(exs_buf_add_xml(&b, s ? s : "") == 0 && b.data)
    fputs(b.data, f);
  exs_buf_free(&b);
}

static void write_json(FILE *f, const struct diag_replay_verdict *v)
{
  fputs("{\"recording\": ", f);
  diag_json_str(f, v->file);
  fprintf(f,
          ", \"result\": \"%s\", \"exit_code\": %d, \"recorded_exit_code\": %d, "
          "\"exchanges\": %zu, \"unmatched\": %zu, \"elapsed_ms\": %ld, \"details\": ",
          v->same ? "same" : "differs", v->exit_code, v->recorded_exit_code, v->exchanges,
          v->unmatched, v->elapsed_ms);
  diag_json_str(f, v->text);
  fputs("}\n", f);
}

static void write_junit(FILE *f, const struct diag_replay_verdict *v)
{
  char host[256] = "localhost", when[32];

  if(gethostname(host, sizeof(host)))
    snprintf(host, sizeof(host), "localhost");
  host[sizeof(host) - 1] = '\0';
  fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
  fprintf(f,
          "<testsuites name=\"exsync replay\" tests=\"1\" failures=\"%d\" errors=\"0\" "
          "time=\"%.3f\">\n",
          v->same ? 0 : 1, v->elapsed_ms / 1000.0);
  fprintf(f,
          "  <testsuite name=\"replay\" tests=\"1\" failures=\"%d\" errors=\"0\" skipped=\"0\" "
          "time=\"%.3f\" timestamp=\"%s\" hostname=\"",
          v->same ? 0 : 1, v->elapsed_ms / 1000.0, exs_time_iso(exs_now(), when, sizeof(when)));
  xml(f, host);
  fputs("\">\n    <properties>\n      <property name=\"exsync.version\" value=\"" EXSYNC_VERSION
        "\"/>\n      <property name=\"recording\" value=\"",
        f);
  xml(f, v->file);
  fprintf(f, "\"/>\n      <property name=\"exchanges\" value=\"%zu\"/>\n    </properties>\n",
          v->exchanges);
  fputs("    <testcase classname=\"replay\" name=\"", f);
  xml(f, v->file);
  fprintf(f, "\" time=\"%.3f\"", v->elapsed_ms / 1000.0);
  if(v->same) {
    fputs("/>\n", f);
  }
  else {
    fprintf(f,
            ">\n      <failure type=\"REPLAY\" message=\"the replayed run differs from the "
            "recording (exit %d, recorded %d)\">",
            v->exit_code, v->recorded_exit_code);
    xml(f, v->text);
    fputs("</failure>\n    </testcase>\n", f);
  }
  fputs("  </testsuite>\n</testsuites>\n", f);
}

void diag_replay_write(FILE *f, enum diag_format format, const struct diag_replay_verdict *v)
{
  switch(format) {
  case DIAG_FORMAT_JSON:
    write_json(f, v);
    break;
  case DIAG_FORMAT_JUNIT:
    write_junit(f, v);
    break;
  case DIAG_FORMAT_HTML:
    diag_replay_write_html(f, v);
    break;
  default:
    fputs(v->text ? v->text : "", f);
    break;
  }
  diag_report_mark_emitted();
}

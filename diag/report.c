/* report.c - text, JSON and JUnit renderings of Test & Enable results. */
#include "report.h"
#include "json.h"

#include <string.h>

#include "exsync/buf.h"

int diag_format_parse(const char *s)
{
  if(!strcmp(s, "text"))
    return DIAG_FORMAT_TEXT;
  if(!strcmp(s, "json"))
    return DIAG_FORMAT_JSON;
  if(!strcmp(s, "junit"))
    return DIAG_FORMAT_JUNIT;
  return -1;
}

static int mailbox_state(const struct exs_te_result *r)
{
  bool tested = false;
  int w;

  for(w = 0; w < EXS_WL_COUNT; w++) {
    if(r->status[w] == EXS_STATUS_FAILURE)
      return EXS_STATUS_FAILURE;
    if(r->status[w] == EXS_STATUS_SUCCESS)
      tested = true;
  }
  return tested ? EXS_STATUS_SUCCESS : EXS_STATUS_NOT_RUN;
}

void diag_summarize(const struct exs_te_result *results, size_t n, long elapsed_ms,
                    struct diag_summary *sum)
{
  size_t i;

  memset(sum, 0, sizeof(*sum));
  sum->mailboxes = n;
  sum->elapsed_ms = elapsed_ms;
  for(i = 0; i < n; i++) {
    switch(mailbox_state(&results[i])) {
    case EXS_STATUS_SUCCESS: sum->success++; break;
    case EXS_STATUS_FAILURE: sum->failure++; break;
    default: sum->not_run++; break;
    }
  }
}

int diag_report_exit_code(const struct exs_te_result *results, size_t n)
{
  size_t i;

  for(i = 0; i < n; i++)
    if(mailbox_state(&results[i]) == EXS_STATUS_FAILURE)
      return 1;
  return 0;
}

static void write_text(FILE *f, const struct exs_te_result *results, size_t n,
                       long elapsed_ms)
{
  struct diag_summary sum;
  size_t width = strlen("Mailbox");
  size_t i, a;

  for(i = 0; i < n; i++)
    if(strlen(results[i].address) > width)
      width = strlen(results[i].address);
  fprintf(f, "%-*s  %-21s  %-21s  %s\n", (int)width, "Mailbox", "Incoming Email Status",
          "Outgoing Email Status", "Appointments, Contacts, and Tasks Status");
  for(i = 0; i < n; i++) {
    const struct exs_te_result *r = &results[i];
    fprintf(f, "%-*s  %-21s  %-21s  %s\n", (int)width, r->address,
            exs_status_name(r->status[EXS_WL_INCOMING]),
            exs_status_name(r->status[EXS_WL_OUTGOING]), exs_status_name(r->status[EXS_WL_ACT]));
    for(a = 0; a < r->n_alerts; a++) {
      const struct exs_te_alert *al = &r->alerts[a];
      if(al->error.category == EXS_CAT_TEST_OK)
        continue;
      fprintf(f, "  %s %s: %s\n", exs_severity_name(al->severity),
              exs_category_name(al->error.category), al->error.message);
      if(al->error.hint[0])
        fprintf(f, "    fix: %s\n", al->error.hint);
    }
  }
  diag_summarize(results, n, elapsed_ms, &sum);
  fprintf(f, "\n%zu mailboxes: %zu success, %zu failure, %zu not run\n", sum.mailboxes,
          sum.success, sum.failure, sum.not_run);
}


static void write_json(FILE *f, const struct exs_te_result *results, size_t n, long elapsed_ms)
{
  struct diag_summary sum;
  size_t i, j;

  fputs("{\n  \"mailboxes\": [", f);
  for(i = 0; i < n; i++) {
    const struct exs_te_result *r = &results[i];
    fputs(i ? ",\n    {" : "\n    {", f);
    fputs("\"address\": ", f);
    diag_json_str(f, r->address);
    fprintf(f, ", \"incoming\": \"%s\", \"outgoing\": \"%s\", \"act\": \"%s\",",
            exs_status_name(r->status[EXS_WL_INCOMING]),
            exs_status_name(r->status[EXS_WL_OUTGOING]), exs_status_name(r->status[EXS_WL_ACT]));
    fprintf(f, "\n     \"enabled\": {\"incoming\": %s, \"outgoing\": %s, \"act\": %s},",
            r->enabled[EXS_WL_INCOMING] ? "true" : "false",
            r->enabled[EXS_WL_OUTGOING] ? "true" : "false",
            r->enabled[EXS_WL_ACT] ? "true" : "false");
    fputs("\n     \"alerts\": [", f);
    for(j = 0; j < r->n_alerts; j++) {
      const struct exs_error *e = &r->alerts[j].error;
      bool ok = e->category == EXS_CAT_TEST_OK;
      fputs(j ? ", {" : "{", f);
      fprintf(f, "\"severity\": \"%s\", \"category\": \"%s\", \"transient\": %s, \"message\": ",
              exs_severity_name(r->alerts[j].severity), exs_category_name(e->category),
              ok ? "null" : (e->transient ? "true" : "false"));
      diag_json_str(f, e->message);
      fputs(", \"hint\": ", f);
      diag_json_str_or_null(f, e->hint);
      fputs(", \"ews_code\": ", f);
      diag_json_str_or_null(f, e->ews_code);
      fputs(", \"http_status\": ", f);
      if(e->http_status)
        fprintf(f, "%ld", e->http_status);
      else
        fputs("null", f);
      fputs(", \"url\": ", f);
      diag_json_str_or_null(f, e->url);
      fputs("}", f);
    }
    fputs("],\n     \"steps\": [", f);
    for(j = 0; j < r->n_steps; j++) {
      static const char *const st[] = {"success", "failure", "skipped"};
      const struct exs_te_step *s = &r->steps[j];
      fputs(j ? ", {" : "{", f);
      fputs("\"name\": ", f);
      diag_json_str(f, s->name);
      fprintf(f, ", \"status\": \"%s\", \"ms\": %ld, \"detail\": ", st[s->status % 3], s->ms);
      diag_json_str(f, s->detail);
      fputs("}", f);
    }
    fputs("]}", f);
  }
  diag_summarize(results, n, elapsed_ms, &sum);
  fprintf(f,
          "\n  ],\n  \"summary\": {\"mailboxes\": %zu, \"success\": %zu, \"failure\": %zu, "
          "\"not_run\": %zu, \"elapsed_ms\": %ld}\n}\n",
          sum.mailboxes, sum.success, sum.failure, sum.not_run, sum.elapsed_ms);
}

static void xml_text(FILE *f, const char *s)
{
  struct exs_buf b;

  exs_buf_init(&b, 64 * 1024);
  if(exs_buf_add_xml(&b, s) == 0 && b.data)
    fputs(b.data, f);
  exs_buf_free(&b);
}

static void write_junit(FILE *f, const struct exs_te_result *results, size_t n,
                        long elapsed_ms)
{
  static const char *const names[EXS_WL_COUNT] = {"Incoming Email", "Outgoing Email",
                                                  "Appointments, Contacts, and Tasks"};
  size_t tests = 0, failures = 0, skipped = 0;
  size_t i;
  int w;

  for(i = 0; i < n; i++)
    for(w = 0; w < EXS_WL_COUNT; w++) {
      tests++;
      if(results[i].status[w] == EXS_STATUS_FAILURE)
        failures++;
      else if(results[i].status[w] == EXS_STATUS_NOT_RUN)
        skipped++;
    }
  fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
  fprintf(f,
          "<testsuites name=\"exsync test-enable\" tests=\"%zu\" failures=\"%zu\" "
          "skipped=\"%zu\" time=\"%.3f\">\n",
          tests, failures, skipped, elapsed_ms / 1000.0);
  fprintf(f,
          "  <testsuite name=\"test-enable\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
          "skipped=\"%zu\" time=\"%.3f\">\n",
          tests, failures, skipped, elapsed_ms / 1000.0);
  for(i = 0; i < n; i++) {
    const struct exs_te_result *r = &results[i];
    for(w = 0; w < EXS_WL_COUNT; w++) {
      fputs("    <testcase classname=\"", f);
      xml_text(f, r->address);
      fprintf(f, "\" name=\"%s\" time=\"%.3f\"", names[w], r->elapsed_ms / 1000.0);
      if(r->status[w] == EXS_STATUS_SUCCESS) {
        fputs("/>\n", f);
      }
      else if(r->status[w] == EXS_STATUS_NOT_RUN) {
        fputs(">\n      <skipped message=\"delivery method is not server-side synchronization\"/>\n"
              "    </testcase>\n", f);
      }
      else {
        const struct exs_error *e = &r->error[w];
        fprintf(f, ">\n      <failure type=\"%s\" message=\"%s: ",
                exs_category_name(e->category), exs_category_name(e->category));
        xml_text(f, e->message);
        fputs("\">", f);
        fprintf(f, "category: %s\ntransient: %s\n", exs_category_name(e->category),
                e->transient ? "yes" : "no");
        if(e->ews_code[0]) {
          fputs("ews_code: ", f);
          xml_text(f, e->ews_code);
          fputs("\n", f);
        }
        if(e->http_status)
          fprintf(f, "http_status: %ld\n", e->http_status);
        if(e->url[0]) {
          fputs("url: ", f);
          xml_text(f, e->url);
          fputs("\n", f);
        }
        fputs("hint: ", f);
        xml_text(f, e->hint);
        fputs("</failure>\n    </testcase>\n", f);
      }
    }
  }
  fputs("  </testsuite>\n</testsuites>\n", f);
}

void diag_report_write(FILE *f, enum diag_format format, const struct exs_te_result *results,
                       size_t n, long elapsed_ms)
{
  switch(format) {
  case DIAG_FORMAT_JSON: write_json(f, results, n, elapsed_ms); break;
  case DIAG_FORMAT_JUNIT: write_junit(f, results, n, elapsed_ms); break;
  default: write_text(f, results, n, elapsed_ms); break;
  }
}

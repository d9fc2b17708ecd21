/* report.c - text, JSON and JUnit renderings of Test & Enable results. */
#include "report.h"
#include "cli.h"
#include "json.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "exsync/buf.h"
#include "exsync/clock.h"

static const char *status_cell(int status, char *buf, size_t len, int width)
{
  const char *name = exs_status_name(status);

  /* red Failure on a terminal; padding outside the escape codes */
  if(diag_report_color() && status == EXS_STATUS_FAILURE)
    snprintf(buf, len, "\033[31m%s\033[0m%*s", name, width - (int)strlen(name), "");
  else
    snprintf(buf, len, "%-*s", width, name);
  return buf;
}

static void write_text(FILE *f, const struct exs_te_result *results, size_t n, long elapsed_ms)
{
  struct diag_summary sum;
  size_t width = strlen("Mailbox");
  size_t i, a, c, shown = 0;
  int w;

  for(i = 0; i < n; i++)
    if(strlen(results[i].address) > width)
      width = strlen(results[i].address);
  fprintf(f, "%-*s  %-21s  %-21s  %s\n", (int)width, "Mailbox", "Incoming Email Status",
          "Outgoing Email Status", "Appointments, Contacts, and Tasks Status");
  for(i = 0; i < n; i++) {
    const struct exs_te_result *r = &results[i];
    char c1[64], c2[64], c3[64];
    if(!diag_report_listed(r))
      continue;
    shown++;
    fprintf(f, "%-*s  %s  %s  %s\n", (int)width, r->address,
            status_cell(r->status[EXS_WL_INCOMING], c1, sizeof(c1), 21),
            status_cell(r->status[EXS_WL_OUTGOING], c2, sizeof(c2), 21),
            status_cell(r->status[EXS_WL_ACT], c3, sizeof(c3), 0));
    for(a = 0; a < r->n_alerts; a++) {
      const struct exs_te_alert *al = &r->alerts[a];
      char wls[64];
      if(al->error.category == EXS_CAT_TEST_OK)
        continue;
      fprintf(f, "  %s %s (%s): %s\n", exs_severity_name(al->severity),
              exs_category_name(al->error.category),
              diag_alert_workloads_label(r, al, wls, sizeof(wls)), al->error.message);
      if(al->error.hint[0])
        fprintf(f, "    fix: %s\n", al->error.hint);
    }
  }
  diag_summarize(results, n, elapsed_ms, &sum);
  if(diag_report_failures_only() && !shown)
    fprintf(f, "(no mailbox failed)\n");
  {
    /* profile-level alerts: the profile check failed for many mailboxes at once */
    size_t np, k;
    const struct exs_te_profile_result *pr = diag_report_profiles(&np);
    for(i = 0; i < np; i++)
      for(k = 0; k < pr[i].n_alerts; k++) {
        const struct exs_te_alert *al = &pr[i].alerts[k];
        fprintf(f, "profile %s: %s %s: %s\n", pr[i].name, exs_severity_name(al->severity),
                exs_category_name(al->error.category), al->error.message);
        if(al->error.hint[0])
          fprintf(f, "    fix: %s\n", al->error.hint);
      }
  }
  fprintf(f, "\n%zu mailboxes: %zu success, %zu failure, %zu not run\n", sum.mailboxes, sum.success,
          sum.failure, sum.not_run);
  fputs("by workload:", f);
  for(w = 0; w < EXS_WL_COUNT; w++)
    fprintf(f, "%s %s %zu success, %zu failure, %zu not run", w ? ";" : "",
            exs_workload_name((enum exs_workload)w), sum.wl[w][0], sum.wl[w][1], sum.wl[w][2]);
  fputc('\n', f);
  if(sum.failure) {
    bool first = true;
    fputs("failures by category (mailboxes):", f);
    for(c = 0; c < DIAG_MAX_CATEGORIES; c++)
      if(sum.by_category[c]) {
        fprintf(f, "%s %s %zu", first ? "" : ",", exs_category_name((enum exs_category)c),
                sum.by_category[c]);
        first = false;
      }
    fputc('\n', f);
  }
}

static void write_summary_json(FILE *f, const struct diag_summary *sum)
{
  size_t c;
  bool first = true;
  int w;

  fprintf(f,
          "  \"summary\": {\"mailboxes\": %zu, \"success\": %zu, \"failure\": %zu, "
          "\"not_run\": %zu, \"elapsed_ms\": %ld,\n    \"workloads\": {",
          sum->mailboxes, sum->success, sum->failure, sum->not_run, sum->elapsed_ms);
  for(w = 0; w < EXS_WL_COUNT; w++)
    fprintf(f, "%s\"%s\": {\"success\": %zu, \"failure\": %zu, \"not_run\": %zu}", w ? ", " : "",
            exs_workload_name((enum exs_workload)w), sum->wl[w][0], sum->wl[w][1], sum->wl[w][2]);
  fputs("},\n    \"categories\": {", f);
  for(c = 0; c < DIAG_MAX_CATEGORIES; c++)
    if(sum->by_category[c]) {
      fprintf(f, "%s\"%s\": %zu", first ? "" : ", ", exs_category_name((enum exs_category)c),
              sum->by_category[c]);
      first = false;
    }
  fputs("}}\n", f);
}

static void write_alert_json(FILE *f, const struct exs_te_alert *a, bool first)
{
  const struct exs_error *e = &a->error;
  bool ok = e->category == EXS_CAT_TEST_OK;
  int wl = diag_alert_workload(a);

  fputs(first ? "{" : ", {", f);
  fprintf(f, "\"severity\": \"%s\", \"category\": \"%s\", \"transient\": %s, \"workload\": ",
          exs_severity_name(a->severity), exs_category_name(e->category),
          ok ? "null" : (e->transient ? "true" : "false"));
  if(wl < 0)
    fputs("null", f);
  else
    fprintf(f, "\"%s\"", exs_workload_name((enum exs_workload)wl));
  fputs(", \"message\": ", f);
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

static void host_name(char *buf, size_t len);

/* "profiles" and "meta" of the JSON report (docs/report.md). */
static void write_profiles_meta_json(FILE *f)
{
  const struct exs_te_profile_result *pr;
  char host[256], when[32];
  time_t started = diag_report_started();
  size_t i, j, np;

  pr = diag_report_profiles(&np);
  fputs("  \"profiles\": [", f);
  for(i = 0; i < np; i++) {
    fputs(i ? ",\n    {\"name\": " : "\n    {\"name\": ", f);
    diag_json_str(f, pr[i].name);
    fputs(", \"alerts\": [", f);
    for(j = 0; j < pr[i].n_alerts; j++)
      write_alert_json(f, &pr[i].alerts[j], j == 0);
    fputs("]}", f);
  }
  fputs(np ? "\n  ],\n" : "],\n", f);
  host_name(host, sizeof(host));
  fputs("  \"meta\": {\"version\": ", f);
  diag_json_str(f, EXSYNC_VERSION);
  fputs(", \"started_at\": ", f);
  diag_json_str(f, exs_time_iso(started ? started : exs_now(), when, sizeof(when)));
  fputs(", \"host\": ", f);
  diag_json_str(f, host);
  fputs(", \"org_id\": ", f);
  diag_json_str_or_null(f, diag_report_org_id());
  fputs("},\n", f);
}

static void write_json(FILE *f, const struct exs_te_result *results, size_t n, long elapsed_ms)
{
  struct diag_summary sum;
  size_t i, j, shown = 0;

  fputs("{\n  \"mailboxes\": [", f);
  for(i = 0; i < n; i++) {
    const struct exs_te_result *r = &results[i];
    if(!diag_report_listed(r))
      continue;
    fputs(shown++ ? ",\n    {" : "\n    {", f);
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
    for(j = 0; j < r->n_alerts; j++)
      write_alert_json(f, &r->alerts[j], j == 0);
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
  fputs("\n  ],\n", f);
  write_profiles_meta_json(f);
  write_summary_json(f, &sum);
  fputs("}\n", f);
}

static void xml_text(FILE *f, const char *s)
{
  struct exs_buf b;

  exs_buf_init(&b, 64 * 1024);
  if(exs_buf_add_xml(&b, s) == 0 && b.data)
    fputs(b.data, f);
  exs_buf_free(&b);
}

static void host_name(char *buf, size_t len)
{
  if(gethostname(buf, len) || !buf[0])
    snprintf(buf, len, "localhost");
  buf[len - 1] = '\0';
}

/* <testsuite ...> opening with Jenkins' attributes, and its <properties>. */
static void junit_suite_open(FILE *f, const char *name, size_t tests, size_t failures,
                             size_t errors, size_t skipped, long elapsed_ms)
{
  char host[256], when[32];

  host_name(host, sizeof(host));
  fputs("  <testsuite name=\"", f);
  xml_text(f, name);
  fprintf(
      f,
      "\" tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" "
      "skipped=\"%zu\" time=\"%.3f\" timestamp=\"%s\" hostname=\"",
      tests, failures, errors, skipped, elapsed_ms / 1000.0,
      exs_time_iso(diag_report_started() ? diag_report_started() : exs_now(), when, sizeof(when)));
  xml_text(f, host);
  fputs("\">\n    <properties>\n", f);
  fprintf(f, "      <property name=\"exsync.version\" value=\"%s\"/>\n", EXSYNC_VERSION);
  if(diag_report_org_id()[0]) {
    fputs("      <property name=\"org.id\" value=\"", f);
    xml_text(f, diag_report_org_id());
    fputs("\"/>\n", f);
  }
  fprintf(f, "      <property name=\"failures-only\" value=\"%s\"/>\n",
          diag_report_failures_only() ? "yes" : "no");
  fputs("    </properties>\n", f);
}

/* A workload's own step time, plus an equal share of the steps every
 * workload depends on: a mailbox's testcases add up to its test time. */
static long workload_ms(const struct exs_te_result *r, int w)
{
  long own = 0, shared = 0;
  size_t s;
  int k, is_wl;

  for(s = 0; s < r->n_steps; s++) {
    is_wl = -1;
    for(k = 0; k < EXS_WL_COUNT; k++)
      if(!strcmp(r->steps[s].name, exs_workload_name((enum exs_workload)k)))
        is_wl = k;
    if(is_wl == w)
      own += r->steps[s].ms;
    else if(is_wl < 0)
      shared += r->steps[s].ms;
  }
  return own + shared / EXS_WL_COUNT;
}

/* One <testsuite> per mailbox, one <testcase> per workload: Jenkins shows
 * each mailbox with its three workloads, and the testcases of a suite add up
 * to the mailbox's test time (mailboxes are tested in parallel, so the
 * suites add up to more than the run). */
static void write_junit(FILE *f, const struct exs_te_result *results, size_t n, long elapsed_ms)
{
  static const char *const names[EXS_WL_COUNT] = {"Incoming Email", "Outgoing Email",
                                                  "Appointments, Contacts, and Tasks"};
  size_t tests = 0, failures = 0;
  size_t i;
  int w;

  for(i = 0; i < n; i++) {
    if(!diag_report_listed(&results[i]))
      continue;
    for(w = 0; w < EXS_WL_COUNT; w++) {
      tests++;
      failures += results[i].status[w] == EXS_STATUS_FAILURE;
    }
  }
  fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
  fprintf(f,
          "<testsuites name=\"exsync test-enable\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
          "time=\"%.3f\">\n",
          tests, failures, elapsed_ms / 1000.0);
  for(i = 0; i < n; i++) {
    const struct exs_te_result *r = &results[i];
    size_t fails = 0, skips = 0;
    long total = 0;
    if(!diag_report_listed(r))
      continue;
    for(w = 0; w < EXS_WL_COUNT; w++) {
      fails += r->status[w] == EXS_STATUS_FAILURE;
      skips += r->status[w] == EXS_STATUS_NOT_RUN;
      total += workload_ms(r, w);
    }
    junit_suite_open(f, r->address, EXS_WL_COUNT, fails, 0, skips,
                     total > r->elapsed_ms ? total : r->elapsed_ms);
    for(w = 0; w < EXS_WL_COUNT; w++) {
      fputs("    <testcase classname=\"", f);
      xml_text(f, r->address);
      fprintf(f, "\" name=\"%s\" time=\"%.3f\"", names[w], workload_ms(r, w) / 1000.0);
      if(r->status[w] == EXS_STATUS_SUCCESS) {
        fputs("/>\n", f);
      }
      else if(r->status[w] == EXS_STATUS_NOT_RUN) {
        fputs(">\n      <skipped message=\"delivery method is not server-side synchronization\"/>\n"
              "    </testcase>\n",
              f);
      }
      else {
        const struct exs_error *e = &r->error[w];
        fprintf(f, ">\n      <failure type=\"%s\" message=\"%s: ", exs_category_name(e->category),
                exs_category_name(e->category));
        xml_text(f, e->message);
        fputs("\">", f);
        fprintf(f, "category: %s\nworkload: %s\ntransient: %s\n", exs_category_name(e->category),
                exs_workload_name((enum exs_workload)w), e->transient ? "yes" : "no");
        if(e->step[0]) {
          fputs("step: ", f);
          xml_text(f, e->step);
          fputs("\n", f);
        }
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
    fputs("  </testsuite>\n", f);
  }
  fputs("</testsuites>\n", f);
}

void diag_report_write_error(FILE *f, enum diag_format format, const char *command,
                             const char *message)
{
  switch(format) {
  case DIAG_FORMAT_JSON:
    fputs("{\n  \"error\": {\"category\": \"CONFIG\", \"command\": ", f);
    diag_json_str(f, command);
    fputs(", \"message\": ", f);
    diag_json_str(f, message);
    fputs("},\n  \"mailboxes\": [],\n  \"summary\": {\"mailboxes\": 0, \"success\": 0, "
          "\"failure\": 0, \"not_run\": 0, \"elapsed_ms\": 0}\n}\n",
          f);
    break;
  case DIAG_FORMAT_JUNIT:
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", f);
    fputs("<testsuites name=\"exsync ", f);
    xml_text(f, command);
    fputs("\" tests=\"1\" failures=\"0\" errors=\"1\" time=\"0.000\">\n", f);
    junit_suite_open(f, "configuration", 1, 0, 1, 0, 0);
    fputs("    <testcase classname=\"exsync\" name=\"configuration\" time=\"0.000\">\n"
          "      <error type=\"CONFIG\" message=\"",
          f);
    xml_text(f, message);
    fputs("\">exsync ", f);
    xml_text(f, command);
    fputs(" stopped before testing anything (exit 2): ", f);
    xml_text(f, message);
    fputs("</error>\n    </testcase>\n  </testsuite>\n</testsuites>\n", f);
    break;
  case DIAG_FORMAT_HTML:
    diag_report_write_html_error(f, command, message);
    break;
  default:
    break;
  }
  diag_report_mark_emitted();
}

void diag_report_error_if_silent(FILE *f, enum diag_format format, const char *command,
                                 int exit_code)
{
  if(exit_code == 2 && format != DIAG_FORMAT_TEXT && !diag_report_emitted())
    diag_report_write_error(f, format, command,
                            diag_last_error()[0] ? diag_last_error()
                                                 : "usage or configuration error");
}

void diag_report_write(FILE *f, enum diag_format format, const struct exs_te_result *results,
                       size_t n, long elapsed_ms)
{
  switch(format) {
  case DIAG_FORMAT_JSON:
    write_json(f, results, n, elapsed_ms);
    break;
  case DIAG_FORMAT_JUNIT:
    write_junit(f, results, n, elapsed_ms);
    break;
  case DIAG_FORMAT_HTML:
    diag_report_write_html(f, results, n, elapsed_ms);
    break;
  default:
    write_text(f, results, n, elapsed_ms);
    break;
  }
  diag_report_mark_emitted();
}

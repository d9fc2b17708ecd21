/* report_base.c - what every rendering of a report shares: the settings
 * from the command line, the run's start, trace excerpts, and the counting
 * of outcomes. */
#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "exsync/clock.h"

static bool opt_color, opt_failures_only, emitted;
static time_t run_started;
static char run_org_id[64];
static struct exs_te_profile_result *run_profiles;
static size_t n_run_profiles;

struct trace_excerpt {
  char address[EXS_ADDRESS_MAX + 1];
  char *text;
};
static struct trace_excerpt *traces;
static size_t n_traces;

int diag_format_parse(const char *s)
{
  if(!strcmp(s, "text"))
    return DIAG_FORMAT_TEXT;
  if(!strcmp(s, "json"))
    return DIAG_FORMAT_JSON;
  if(!strcmp(s, "junit"))
    return DIAG_FORMAT_JUNIT;
  if(!strcmp(s, "html"))
    return DIAG_FORMAT_HTML;
  return -1;
}

void diag_report_configure(bool color, bool failures_only)
{
  opt_color = color;
  opt_failures_only = failures_only;
}

void diag_report_reset_emitted(void)
{
  emitted = false;
}

bool diag_report_emitted(void)
{
  return emitted;
}

void diag_report_mark_emitted(void)
{
  emitted = true;
}

void diag_report_begin(const char *org_id)
{
  run_started = exs_now();
  snprintf(run_org_id, sizeof(run_org_id), "%s", org_id ? org_id : "");
}

void diag_report_add_trace(const char *address, const char *text, size_t len)
{
  struct trace_excerpt *p = realloc(traces, (n_traces + 1) * sizeof(*p));
  char *copy = malloc(len + 1);

  if(!p || !copy) {
    free(copy);
    if(p)
      traces = p;
    return;
  }
  traces = p;
  memcpy(copy, text, len);
  copy[len] = '\0';
  snprintf(traces[n_traces].address, sizeof(traces[n_traces].address), "%s", address);
  traces[n_traces++].text = copy;
}

void diag_report_clear_traces(void)
{
  size_t i;

  for(i = 0; i < n_traces; i++)
    free(traces[i].text);
  free(traces);
  traces = NULL;
  n_traces = 0;
}

const char *diag_report_trace_of(const char *address)
{
  size_t i;

  for(i = n_traces; i-- > 0;)
    if(!strcmp(traces[i].address, address))
      return traces[i].text;
  return NULL;
}

int diag_alert_workload(const struct exs_te_alert *a)
{
  /* Test & Enable says which workload an alert failed: the one its step
   * names, or none (-1) for a shared step or when it failed several */
  return a->workload >= 0 && a->workload < EXS_WL_COUNT ? a->workload : -1;
}

const char *diag_alert_workloads_label(const struct exs_te_result *r, const struct exs_te_alert *a,
                                       char *buf, size_t len)
{
  int wl = diag_alert_workload(a), n = 0;
  size_t used = 0;

  if(wl >= 0) {
    snprintf(buf, len, "%s", exs_workload_name((enum exs_workload)wl));
    return buf;
  }
  buf[0] = '\0';
  for(int w = 0; w < EXS_WL_COUNT; w++) {
    if(r->status[w] != EXS_STATUS_FAILURE || r->error[w].category != a->error.category)
      continue;
    int k = snprintf(buf + used, len - used, "%s%s", n ? ", " : "",
                     exs_workload_name((enum exs_workload)w));
    if(k < 0 || (size_t)k >= len - used)
      break;
    used += (size_t)k;
    n++;
  }
  if(n == 0 || n == EXS_WL_COUNT)
    snprintf(buf, len, "all workloads");
  return buf;
}

void diag_report_set_profiles(const struct exs_te_profile_result *p, size_t n)
{
  size_t i, k = 0;

  free(run_profiles);
  run_profiles = NULL;
  n_run_profiles = 0;
  if(!p || !n || !(run_profiles = calloc(n, sizeof(*run_profiles))))
    return;
  for(i = 0; i < n; i++)
    if(p[i].mailboxes) /* the profiles of the run, not every stored one */
      run_profiles[k++] = p[i];
  n_run_profiles = k;
}

const struct exs_te_profile_result *diag_report_profiles(size_t *n)
{
  *n = n_run_profiles;
  return run_profiles;
}

int diag_mailbox_state(const struct exs_te_result *r)
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

bool diag_report_listed(const struct exs_te_result *r)
{
  return !opt_failures_only || diag_mailbox_state(r) == EXS_STATUS_FAILURE;
}

void diag_summarize(const struct exs_te_result *results, size_t n, long elapsed_ms,
                    struct diag_summary *sum)
{
  size_t i, a;
  int w;

  memset(sum, 0, sizeof(*sum));
  sum->mailboxes = n;
  sum->elapsed_ms = elapsed_ms;
  for(i = 0; i < n; i++) {
    bool seen[DIAG_MAX_CATEGORIES] = {false};
    switch(diag_mailbox_state(&results[i])) {
    case EXS_STATUS_SUCCESS:
      sum->success++;
      break;
    case EXS_STATUS_FAILURE:
      sum->failure++;
      break;
    default:
      sum->not_run++;
      break;
    }
    for(w = 0; w < EXS_WL_COUNT; w++) {
      int s = results[i].status[w];
      sum->wl[w][s == EXS_STATUS_SUCCESS ? 0 : s == EXS_STATUS_FAILURE ? 1 : 2]++;
    }
    for(a = 0; a < results[i].n_alerts; a++) {
      unsigned c = (unsigned)results[i].alerts[a].error.category;
      if(results[i].alerts[a].severity == EXS_SEV_INFORMATION || c >= DIAG_MAX_CATEGORIES ||
         seen[c])
        continue;
      seen[c] = true;
      sum->by_category[c]++;
    }
  }
}

int diag_report_exit_code(const struct exs_te_result *results, size_t n)
{
  size_t i;

  for(i = 0; i < n; i++)
    if(diag_mailbox_state(&results[i]) == EXS_STATUS_FAILURE)
      return 1;
  return 0;
}

bool diag_report_color(void)
{
  return opt_color;
}

bool diag_report_failures_only(void)
{
  return opt_failures_only;
}

time_t diag_report_started(void)
{
  return run_started;
}

const char *diag_report_org_id(void)
{
  return run_org_id;
}

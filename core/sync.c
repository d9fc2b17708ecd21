/* sync.c - one mailbox's sync cycle: session set-up (credentials, URLs,
 * transport), the workloads in order, and the outcome rules of
 * docs/test-enable.md (Errors) applied to the mailbox record. */
#include "exsync/sync.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exsync/alerts.h"
#include "exsync/clock.h"
#include "sync_workloads.h"

void exs_sync_stats_add(struct exs_sync_stats *a, const struct exs_sync_stats *b)
{
  a->mailboxes += b->mailboxes;
  a->busy += b->busy;
  a->received += b->received;
  a->duplicates += b->duplicates;
  a->untracked += b->untracked;
  a->failed += b->failed;
  a->moved += b->moved;
  a->sent += b->sent;
  a->reconciled += b->reconciled;
  a->act_changes += b->act_changes;
  a->act_conflicts += b->act_conflicts;
  a->errors += b->errors;
  a->pages += b->pages;
  a->requests += b->requests;
}

long exs_sync_postponement(const struct exs_profile *p, int no_email_count,
                           const struct exs_sync_options *opt)
{
  long min = opt && opt->min_interval_s > 0 ? opt->min_interval_s : 300;
  long step = opt && opt->empty_backoff_s > 0 ? opt->empty_backoff_s : 60;
  long cap = opt && opt->max_backoff_s > 0 ? opt->max_backoff_s : 900;
  long poll = p ? (long)p->poll_minutes * 60 : 0;
  long backoff = (long)no_email_count * step;
  long v = min;

  if(backoff > cap)
    backoff = cap;
  if(min + backoff > v)
    v = min + backoff;
  /* the profile's minimum polling interval is a floor no --interval
   * undercuts (docs/sync.md) */
  if(poll > v)
    v = poll;
  return v;
}

/* ---- session ---- */

static void session_http_options(const struct sync_session *s, const struct exs_access *a,
                                 struct exs_http_options *ho)
{
  const struct exs_profile *p = s->p;

  exs_http_options_init(ho, s->opt->transport);
  exs_access_http_options(a, s->org, p, ho);
}

/* Open an EWS handle for access a at url (on http). */
static struct exs_ews *session_ews(const struct sync_session *s, struct exs_http *http,
                                   const struct exs_access *a, const char *url)
{
  struct exs_ews_options eo;

  memset(&eo, 0, sizeof(eo));
  eo.url = url;
  eo.ctx.impersonate = a->impersonation && !a->mailbox_credentials ? s->m->address : NULL;
  eo.anchor_mailbox = s->m->address;
  eo.mailbox_credentials = a->mailbox_credentials;
  eo.running_identity = a->retrieval == EXS_RETRIEVAL_WINDOWS;
  eo.max_throttle_wait_ms = s->opt->throttle_max_wait_ms;
  return http ? exs_ews_new(http, &eo) : NULL;
}

static bool wants(const struct exs_org *org, const struct exs_mailbox *m, enum exs_workload w);

/* Connect (credentials, URLs, transport). -1 with err (CONFIG/MBX_CREDENTIALS...). */
static int sync_session_open(struct sync_session *s, struct exs_error *err)
{
  const struct exs_profile *p = s->p;
  struct exs_mailbox *m = s->m;
  struct exs_http_options ho, ho_out;
  struct exs_access in, out;
  bool same;
  int result = -1;

  exs_error_step(err, "connect");
  if(!p) {
    exs_error_set(err, EXS_CAT_CONFIG, "mailbox %s has no email server profile", m->address);
    return -1;
  }
  /* the one decision of whose credentials, where and how (model.h) */
  if(exs_access_for(p, m, EXS_WL_INCOMING, &in, err)) {
    exs_error_step(err, "connect");
    return -1;
  }
  /* outgoing's own settings matter only when outgoing is synchronized: a
   * mailbox whose outgoing failed its test still syncs incoming */
  if(wants(s->org, m, EXS_WL_OUTGOING) ? exs_access_for(p, m, EXS_WL_OUTGOING, &out, err)
                                       : (out = in, 0)) {
    exs_error_step(err, "connect");
    return -1;
  }
  if(!in.mailbox_credentials) {
    if(in.impersonation)
      s->impersonate = m->address;
    else
      s->delegate = m->address;
  }
  s->out_delegate = !out.mailbox_credentials && !out.impersonation ? m->address : NULL;
  if(p->autodiscover) {
    if(!m->ews_url[0]) {
      exs_error_set(err, EXS_CAT_AUTODISCOVER,
                    "mailbox %s has no EWS URL yet: run Test & "
                    "Enable (it runs Autodiscover)",
                    m->address);
      return -1;
    }
    snprintf(s->url, sizeof(s->url), "%s", m->ews_url);
    snprintf(s->out_url, sizeof(s->out_url), "%s", m->ews_url);
  }
  else {
    snprintf(s->url, sizeof(s->url), "%s", in.url);
    snprintf(s->out_url, sizeof(s->out_url), "%s", out.url);
  }
  session_http_options(s, &in, &ho);
  session_http_options(s, &out, &ho_out);
  if(exs_http_check_channel(&ho, s->url, err) || exs_http_check_channel(&ho_out, s->out_url, err))
    goto out;
  /* one transport when the settings are the same; one EWS handle when it
   * also acts for the mailbox the same way at the same URL */
  same = exs_http_options_same(&ho, &ho_out);
  s->http = exs_http_new(&ho);
  s->http_out = same ? s->http : exs_http_new(&ho_out);
  s->ews = session_ews(s, s->http, &in, s->url);
  s->ews_out = same && in.retrieval == out.retrieval && in.impersonation == out.impersonation &&
                       !strcmp(s->url, s->out_url)
                   ? s->ews
                   : session_ews(s, s->http_out, &out, s->out_url);
  if(!s->ews || !s->ews_out) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "out of memory");
    goto out;
  }
  result = 0;
out:
  exs_http_options_wipe(&ho);
  exs_http_options_wipe(&ho_out);
  return result;
}

static void sync_session_close(struct sync_session *s)
{
  if(s->ews_out != s->ews)
    exs_ews_free(s->ews_out);
  exs_ews_free(s->ews);
  if(s->http_out != s->http)
    exs_http_free(s->http_out);
  exs_http_free(s->http);
  s->ews = s->ews_out = NULL;
  s->http = s->http_out = NULL;
}

/* ---- outcome (docs/test-enable.md, Errors) ---- */

static bool wants(const struct exs_org *org, const struct exs_mailbox *m, enum exs_workload w)
{
  bool approval = m->is_queue ? org->approve_queues : org->approve_users;

  if(!m->active || !m->enabled[w] || !exs_mailbox_uses_ssync(m, w))
    return false;
  if(w != EXS_WL_ACT && approval && m->approval != EXS_APPROVAL_APPROVED)
    return false;
  return true;
}

static int write_alert(struct sync_session *s, const struct exs_error *e, struct exs_error *err)
{
  struct exs_alert a;

  exs_alert_from_error(&a, e, exs_now(), s->m->address, s->p ? s->p->name : NULL);
  if(!exs_alert_wanted(s->org, a.severity))
    return 0;
  return exs_store_alert_add(s->st, &a, err);
}

/* Record a failure of workload w (or of every wanted one when w < 0). */
static void fail_workload(struct sync_session *s, int w, struct exs_error *e, bool *transient,
                          bool *permanent)
{
  struct exs_mailbox *m = s->m;
  int k;

  exs_error_step(e, w < 0 ? "connect" : exs_workload_name((enum exs_workload)w));
  for(k = 0; k < EXS_WL_COUNT; k++) {
    if(w >= 0 && k != w)
      continue;
    if(w < 0 && !wants(s->org, m, (enum exs_workload)k))
      continue;
    if(e->transient) {
      *transient = true;
    }
    else {
      *permanent = true;
      m->enabled[k] = false;
      m->status[k] = EXS_STATUS_FAILURE;
    }
  }
  snprintf(m->last_error_code, sizeof(m->last_error_code), "%s", exs_category_name(e->category));
  snprintf(m->last_error, sizeof(m->last_error), "%s", e->message);
  m->last_error_count++;
  m->last_error_time = exs_now();
}

/* What a cycle's workloads left: one error per workload, plus the
 * connection's (index EXS_WL_COUNT). */
struct cycle_outcome {
  struct exs_error e[EXS_WL_COUNT + 1];
  bool failed[EXS_WL_COUNT + 1];
  bool transient, permanent;
};

static void note_failure(struct sync_session *s, struct cycle_outcome *o, int w)
{
  o->failed[w] = true;
  fail_workload(s, w == EXS_WL_COUNT ? -1 : w, &o->e[w], &o->transient, &o->permanent);
}

/* Open the session and run the wanted workloads in order, until stopped. */
static void run_workloads(struct sync_session *s, struct cycle_outcome *o)
{
  const struct exs_org *org = s->org;
  struct exs_mailbox *m = s->m;

  s->stats->mailboxes++;
  if(sync_session_open(s, &o->e[EXS_WL_COUNT]))
    note_failure(s, o, EXS_WL_COUNT);
  else {
    if(wants(org, m, EXS_WL_INCOMING) && sync_incoming(s, &o->e[EXS_WL_INCOMING]))
      note_failure(s, o, EXS_WL_INCOMING);
    if(!sync_stopping(s) && wants(org, m, EXS_WL_OUTGOING) &&
       sync_outgoing(s, &o->e[EXS_WL_OUTGOING]))
      note_failure(s, o, EXS_WL_OUTGOING);
    if(!sync_stopping(s) && wants(org, m, EXS_WL_ACT) && sync_act(s, &o->e[EXS_WL_ACT]))
      note_failure(s, o, EXS_WL_ACT);
  }
  sync_session_close(s);
}

/* The retry budget is spent: the transient failures become permanent and
 * disable their workloads (a connection failure: every wanted one). */
static void give_up_retrying(const struct exs_org *org, struct exs_mailbox *m,
                             struct cycle_outcome *o, int max_retries)
{
  for(int w = 0; w <= EXS_WL_COUNT; w++) {
    if(!o->failed[w] || !o->e[w].transient)
      continue;
    o->e[w].transient = false;
    size_t l = strlen(o->e[w].message);
    snprintf(o->e[w].message + l, sizeof(o->e[w].message) - l, " (still failing after %d retries)",
             max_retries);
    if(w < EXS_WL_COUNT) {
      m->enabled[w] = false;
      m->status[w] = EXS_STATUS_FAILURE;
    }
    else {
      for(int k = 0; k < EXS_WL_COUNT; k++)
        if(wants(org, m, (enum exs_workload)k)) {
          m->enabled[k] = false;
          m->status[k] = EXS_STATUS_FAILURE;
        }
    }
  }
}

/* Transient failures count against the retry budget
 * (docs/test-enable.md, Errors); a clean cycle resets it. */
static void update_retry_state(const struct sync_session *s, struct cycle_outcome *o, time_t now)
{
  struct exs_mailbox *m = s->m;
  int max_retries = s->opt->max_transient_retries > 0 ? s->opt->max_transient_retries : 10;
  long interval = s->opt->retry_interval_s > 0 ? s->opt->retry_interval_s : 300;

  if(o->transient && !o->permanent) {
    m->transient_failures++;
    if(m->transient_failures > max_retries) {
      give_up_retrying(s->org, m, o, max_retries);
      m->transient_failures = 0;
      m->retry_at = 0;
    }
    else
      m->retry_at = now + interval;
  }
  if(!o->transient && !o->permanent) {
    m->transient_failures = 0;
    m->retry_at = 0;
    m->last_error_count = 0;
    m->last_sync_success = exs_now();
  }
}

/* Log each failure and write its alert (in the caller's transaction).
 * 1 when something failed, 0 when nothing did, -1 on a store error. */
static int report_failures(struct sync_session *s, const struct cycle_outcome *o,
                           struct exs_error *err)
{
  int result = 0;

  for(int w = 0; w <= EXS_WL_COUNT; w++) {
    if(!o->failed[w])
      continue;
    s->stats->errors++;
    result = 1;
    sync_log(s, "%s: %s %s: %s", s->m->address,
             w < EXS_WL_COUNT ? exs_workload_name((enum exs_workload)w) : "connect",
             exs_category_name(o->e[w].category), o->e[w].message);
    if(write_alert(s, &o->e[w], err))
      return -1;
  }
  return result;
}

/* Back-off for empty cycles: the count lives with the sync states; the
 * next cycle is the retry time, or the profile's postponement. */
static int schedule_next(struct sync_session *s, bool any_failed, struct exs_error *err)
{
  struct exs_mailbox *m = s->m;
  char buf[32];
  int no_email;

  no_email = sync_meta_get(s, "@noemail", buf, sizeof(buf)) == 0 ? atoi(buf) : 0;
  no_email = s->items > 0 || any_failed ? 0 : no_email + 1;
  snprintf(buf, sizeof(buf), "%d", no_email);
  if(sync_meta_put(s, "@noemail", buf, err))
    return -1;
  if(m->retry_at)
    m->postponed_until = m->retry_at;
  else
    m->postponed_until = exs_now() + exs_sync_postponement(s->p, no_email, s->opt);
  return 0;
}

int exs_sync_mailbox(struct exs_store *st, const struct exs_org *org, const struct exs_profile *p,
                     struct exs_mailbox *m, const struct exs_sync_options *opt,
                     struct exs_sync_stats *stats, struct exs_error *err)
{
  static const struct exs_sync_options no_options;
  struct exs_sync_stats scratch;
  struct sync_session s;
  struct cycle_outcome o;
  int w, result = 0;
  time_t now = exs_now();
  bool in_tx = false;

  memset(&scratch, 0, sizeof(scratch));
  memset(&s, 0, sizeof(s));
  memset(&o, 0, sizeof(o));
  s.st = st;
  s.org = org;
  s.p = p;
  s.m = m;
  s.opt = opt ? opt : &no_options;
  s.stats = stats ? stats : &scratch;
  for(w = 0; w <= EXS_WL_COUNT; w++)
    exs_error_clear(&o.e[w]);

  m->last_sync_start = now;
  if(!wants(org, m, EXS_WL_INCOMING) && !wants(org, m, EXS_WL_OUTGOING) &&
     !wants(org, m, EXS_WL_ACT)) {
    m->postponed_until = now + exs_sync_postponement(p, 0, s.opt);
    goto save;
  }
  run_workloads(&s, &o);
  update_retry_state(&s, &o, now);

  /* the mailbox's closing writes (alerts, the empty-cycle count, the
   * runtime fields) in one transaction: one commit, one wait for the disk */
  if(exs_store_begin(st, err))
    return -1;
  in_tx = true;
  result = report_failures(&s, &o, err);
  if(result < 0)
    goto fail;
  m->items_processed = s.items;
  m->items_failed = s.failed;
  if(schedule_next(&s, result != 0, err))
    goto fail;
save:
  m->processing_host[0] = '\0';
  if(exs_store_mailbox_save_runtime(st, m, err))
    goto fail;
  if(in_tx && exs_store_commit(st, err))
    return -1;
  return result;
fail:
  if(in_tx) {
    struct exs_error ignored;
    exs_store_rollback(st, &ignored);
  }
  return -1;
}

/* testenable.c - Test & Enable for one mailbox: the steps and the
 * outcome rules of docs/test-enable.md. */
#include "exsync/testenable.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "exsync/clock.h"
#include "exsync/ews.h"
#include "testenable_steps.h"

/* The two directions a test reaches Exchange in: incoming (also ACT) with
 * the profile's incoming settings, outgoing with its outgoing settings. */
enum { DIR_IN = 0, DIR_OUT = 1 };

/* How one direction reaches Exchange during this run. */
struct te_dir {
  bool wanted;                  /* a workload of this direction is tested */
  bool failed;                  /* its settings, location or connection failed */
  struct exs_access acc;        /* from exs_access_for: the one decision */
  const char *impersonate;      /* profile credentials + impersonation */
  const char *delegate_mailbox; /* profile credentials + delegation */
  char url[EXS_URL_MAX + 1];
  struct exs_http *http;
  struct exs_ews *ews;
  bool shared; /* outgoing uses the incoming transport and EWS handle */
};

/* The folders the incoming connect step reads in ONE GetFolder for the
 * steps after it: the root (with the organization identity when ACT is
 * tested), the Inbox when incoming is, calendar, contacts and tasks when
 * ACT is (never under delegation). Each later step judges its own folder,
 * so a failure is still reported by, and attributed to, that step. */
enum { PF_ROOT, PF_INBOX, PF_CALENDAR, PF_CONTACTS, PF_TASKS, PF_COUNT };
struct te_prefetch {
  int at[PF_COUNT]; /* index into f, -1: not read */
  struct exs_ews_folder f[PF_COUNT];
};

/* One run's working state. */
struct te_run {
  const struct exs_org *org;
  const struct exs_profile *p;
  struct exs_mailbox *m;
  const struct exs_te_options *opt;
  struct exs_te_result *out;
  bool needed[EXS_WL_COUNT]; /* workload uses server-side sync */
  bool failed[EXS_WL_COUNT];
  struct te_dir dir[2];
  char address[EXS_ADDRESS_MAX + 1]; /* the address EWS calls act on */
  struct te_prefetch pf;             /* read by the incoming connect step; last (see
                                        exs_testenable_mailbox) */
};

struct exs_te_connection {
  struct exs_http *http[2];    /* incoming, outgoing (when its settings differ) */
  struct exs_autodiscover *ad; /* Autodiscover with this credential */
};

struct exs_te_connection *exs_te_connection_new(void)
{
  return calloc(1, sizeof(struct exs_te_connection));
}

void exs_te_connection_free(struct exs_te_connection *c)
{
  if(!c)
    return;
  exs_http_free(c->http[0]);
  exs_http_free(c->http[1]);
  exs_autodiscover_free(c->ad);
  free(c);
}

/* The transport for ho: the kept one in *kept when it was made for exactly
 * these settings, else a new one (kept there when kept is given). Returns
 * NULL on no memory. */
static struct exs_http *connection_take(struct exs_http **kept, const struct exs_http_options *ho)
{
  if(!kept)
    return exs_http_new(ho);
  if(*kept && exs_http_made_for(*kept, ho))
    return *kept;
  exs_http_free(*kept);
  *kept = exs_http_new(ho);
  return *kept;
}

char *exs_testenable_credential_key(const struct exs_profile *p, const struct exs_mailbox *m,
                                    char *buf, size_t len)
{
  if(p && p->retrieval == EXS_RETRIEVAL_USER)
    snprintf(buf, len, "mailbox:%s", m->address);
  else
    snprintf(buf, len, "profile:%s", p ? p->name : "");
  return buf;
}

static struct exs_te_step *step_begin(struct te_run *r, const char *name)
{
  struct exs_te_step *s;

  if(r->out->n_steps >= EXS_TE_MAX_STEPS)
    s = &r->out->steps[EXS_TE_MAX_STEPS - 1];
  else
    s = &r->out->steps[r->out->n_steps++];
  memset(s, 0, sizeof(*s));
  snprintf(s->name, sizeof(s->name), "%s", name);
  s->ms = (long)exs_monotonic_ms();
  return s;
}

static void step_end(struct exs_te_step *s, int status, const char *fmt, ...)
{
  va_list ap;

  s->status = status;
  s->ms = (long)exs_monotonic_ms() - s->ms;
  va_start(ap, fmt);
  vsnprintf(s->detail, sizeof(s->detail), fmt, ap);
  va_end(ap);
}

/* Mark every still-untouched needed workload in mask as failed with err. */
static void fail_workloads(struct te_run *r, const bool mask[EXS_WL_COUNT],
                           const struct exs_error *err)
{
  int w;

  for(w = 0; w < EXS_WL_COUNT; w++) {
    if(!r->needed[w] || !mask[w] || r->failed[w])
      continue;
    r->failed[w] = true;
    r->out->error[w] = *err;
  }
}

static void fail_all(struct te_run *r, const struct exs_error *err)
{
  static const bool all[EXS_WL_COUNT] = {true, true, true};
  fail_workloads(r, all, err);
}

static void fail_one(struct te_run *r, enum exs_workload w, const struct exs_error *err)
{
  bool mask[EXS_WL_COUNT] = {false, false, false};
  mask[w] = true;
  fail_workloads(r, mask, err);
}

/* The workloads a direction serves: incoming and ACT, or outgoing. */
static void dir_mask(int d, bool mask[EXS_WL_COUNT])
{
  mask[EXS_WL_INCOMING] = d == DIR_IN;
  mask[EXS_WL_ACT] = d == DIR_IN;
  mask[EXS_WL_OUTGOING] = d == DIR_OUT;
}

/* Fail direction d (and the outgoing direction too when it shares d's
 * transport). */
static void fail_dir(struct te_run *r, int d, const struct exs_error *e)
{
  bool mask[EXS_WL_COUNT];
  struct exs_error own = *e;
  const struct exs_error *err = e;

  if(d == DIR_OUT && r->dir[DIR_IN].wanted) {
    /* outgoing's own settings or location failed: the outgoing workload's */
    exs_error_step(&own, "outgoing");
    err = &own;
  }

  r->dir[d].failed = true;
  dir_mask(d, mask);
  if(d == DIR_IN && r->dir[DIR_OUT].shared) {
    r->dir[DIR_OUT].failed = true;
    mask[EXS_WL_OUTGOING] = true;
  }
  fail_workloads(r, mask, err);
}

static bool dir_left(const struct te_run *r, int d)
{
  bool mask[EXS_WL_COUNT];
  int w;

  if(!r->dir[d].wanted || r->dir[d].failed)
    return false;
  dir_mask(d, mask);
  for(w = 0; w < EXS_WL_COUNT; w++)
    if(mask[w] && r->needed[w] && !r->failed[w])
      return true;
  return false;
}

static bool any_left(const struct te_run *r)
{
  int w;

  for(w = 0; w < EXS_WL_COUNT; w++)
    if(r->needed[w] && !r->failed[w])
      return true;
  return false;
}

/* Step 1: everything that can be decided without the network. */
static void step_preconditions(struct te_run *r)
{
  struct exs_te_step *s = step_begin(r, "preconditions");
  struct exs_error err;
  struct exs_invalid inv;
  struct exs_profile copy;
  bool requires_approval;

  exs_error_clear(&err);
  exs_error_step(&err, "preconditions");
  if(!r->m->active) {
    exs_error_set(&err, EXS_CAT_CONFIG, "mailbox %s is inactive", r->m->address);
    goto fail;
  }
  if(!r->m->address[0] || !strchr(r->m->address, '@')) {
    exs_error_set(&err, EXS_CAT_CONFIG, "mailbox '%s' has no valid email address", r->m->name);
    goto fail;
  }
  if(!r->p) {
    exs_error_set(&err, EXS_CAT_CONFIG, "mailbox %s has no email server profile", r->m->address);
    goto fail;
  }
  copy = *r->p;
  if(exs_profile_validate(&copy, &inv)) {
    exs_profile_wipe(&copy);
    exs_error_set(&err, EXS_CAT_CONFIG, "email server profile '%s': %s %s", r->p->name, inv.field,
                  inv.rule);
    goto fail;
  }
  exs_profile_wipe(&copy);
  requires_approval = r->m->is_queue ? r->org->approve_queues : r->org->approve_users;
  if(requires_approval && r->m->approval != EXS_APPROVAL_APPROVED) {
    static const bool email[EXS_WL_COUNT] = {true, true, false};
    exs_error_set(&err, EXS_CAT_NOT_APPROVED,
                  "the email address of mailbox %s is not approved (approval: %s)", r->m->address,
                  exs_approval_name(r->m->approval));
    fail_workloads(r, email, &err);
    step_end(s, EXS_STEP_FAILED, "%s", err.message);
    return;
  }
  step_end(s, EXS_STEP_OK, "mailbox active, profile '%s' valid%s", r->p->name,
           requires_approval ? ", email address approved" : "");
  return;
fail:
  fail_all(r, &err);
  step_end(s, EXS_STEP_FAILED, "%s", err.message);
}

/* Step 2: whose credentials, impersonating whom, for each direction. */
static void step_credentials(struct te_run *r)
{
  struct exs_te_step *s = step_begin(r, "credentials");
  char detail[sizeof(s->detail)] = "";
  bool failed = false;
  int d;

  for(d = DIR_IN; d <= DIR_OUT; d++) {
    struct te_dir *t = &r->dir[d];
    struct exs_error err;
    size_t l = strlen(detail);
    if(!dir_left(r, d))
      continue;
    exs_error_clear(&err);
    if(exs_access_for(r->p, r->m, d == DIR_IN ? EXS_WL_INCOMING : EXS_WL_OUTGOING, &t->acc, &err)) {
      fail_dir(r, d, &err);
      snprintf(detail + l, sizeof(detail) - l, "%s%s", l ? "; " : "", err.message);
      failed = true;
      continue;
    }
    if(!t->acc.mailbox_credentials) {
      if(t->acc.impersonation)
        t->impersonate = r->address;
      else
        t->delegate_mailbox = r->address;
    }
    if(d == DIR_OUT && r->dir[DIR_IN].wanted && r->p->same_outgoing)
      continue; /* said once */
    snprintf(detail + l, sizeof(detail) - l, "%s%s%s", l ? "; " : "",
             d == DIR_OUT && !r->p->same_outgoing ? "outgoing: " : "",
             t->acc.mailbox_credentials                  ? "the mailbox's own credentials"
             : t->acc.retrieval == EXS_RETRIEVAL_WINDOWS ? "Windows integrated authentication"
                                                         : "the profile's credentials");
    l = strlen(detail);
    if(t->acc.user[0])
      snprintf(detail + l, sizeof(detail) - l, " (user %s)", t->acc.user);
    l = strlen(detail);
    if(!t->acc.mailbox_credentials)
      snprintf(detail + l, sizeof(detail) - l, ", %s %s",
               t->impersonate ? "impersonating" : "as a delegate of", r->m->address);
  }
  step_end(s, failed ? EXS_STEP_FAILED : EXS_STEP_OK, "%s", detail);
}

static void http_options(const struct te_run *r, int d, struct exs_http_options *ho)
{
  const struct exs_access *a = &r->dir[d].acc;

  exs_http_options_init(ho, r->opt->transport);
  exs_access_http_options(a, r->org, r->p, ho);
}

/* Step 3: where is EWS, for each direction. */
static void step_location(struct te_run *r)
{
  struct exs_te_step *s = step_begin(r, "location");
  struct exs_error err;
  struct exs_http_options ho;
  char found[sizeof(s->detail)] = "";
  char detail[sizeof(s->detail)] = "";
  int first = dir_left(r, DIR_IN) ? DIR_IN : DIR_OUT;
  int d, rc;

  exs_error_clear(&err);
  exs_error_step(&err, "location");
  if(r->p->autodiscover) {
    /* one Autodiscover for the mailbox; both directions use its answer */
    struct exs_scp_options scp;
    struct te_ad_run run;
    http_options(r, first, &ho);
    memset(&scp, 0, sizeof(scp));
    memset(&run, 0, sizeof(run));
    scp.uri = r->org->ldap;
    scp.site = r->org->ldap_site[0] ? r->org->ldap_site : NULL;
    /* a password goes to the directory only over TLS; else anonymous */
    if(!strncasecmp(r->org->ldap, "ldaps://", 8) && ho.credentials && ho.user[0]) {
      scp.user = ho.user;
      scp.password = ho.password;
    }
    run.srv = r->opt->srv;
    run.srv_ctx = r->opt->srv_ctx;
    run.scp = r->org->ldap[0] ? &scp : NULL;
    run.cache = r->opt->ad_cache;
    run.kept = r->opt->reuse ? &r->opt->reuse->ad : NULL;
    rc = te_autodiscover(r->m->address, &ho, &run, r->dir[first].url, sizeof(r->dir[first].url),
                         r->address, sizeof(r->address), found, sizeof(found), &err);
    exs_http_options_wipe(&ho);
    if(rc) {
      fail_all(r, &err);
      step_end(s, EXS_STEP_FAILED, "%s", err.message);
      return;
    }
    snprintf(r->m->ews_url, sizeof(r->m->ews_url), "%s", r->dir[first].url);
    r->m->autodiscovered_on = exs_now();
    snprintf(r->dir[DIR_IN].url, sizeof(r->dir[DIR_IN].url), "%s", r->m->ews_url);
    snprintf(r->dir[DIR_OUT].url, sizeof(r->dir[DIR_OUT].url), "%s", r->m->ews_url);
  }
  for(d = DIR_IN; d <= DIR_OUT; d++) {
    struct te_dir *t = &r->dir[d];
    if(!dir_left(r, d))
      continue;
    if(!r->p->autodiscover)
      snprintf(t->url, sizeof(t->url), "%s", t->acc.url);
    http_options(r, d, &ho);
    /* the plain-HTTP rules hold for a discovered URL as for a configured one */
    rc = exs_http_check_channel(&ho, t->url, &err);
    exs_http_options_wipe(&ho);
    if(rc) {
      exs_error_step(&err, "location");
      fail_dir(r, d, &err);
      snprintf(detail, sizeof(detail), "%s", err.message);
      step_end(s, EXS_STEP_FAILED, "%s", detail);
      continue;
    }
  }
  if(s->status == EXS_STEP_FAILED)
    return;
  if(r->p->autodiscover)
    snprintf(detail, sizeof(detail), "Autodiscover: %s%s%s", r->m->ews_url, found[0] ? "; " : "",
             found);
  else if(dir_left(r, DIR_IN) && dir_left(r, DIR_OUT) &&
          strcmp(r->dir[DIR_IN].url, r->dir[DIR_OUT].url))
    snprintf(detail, sizeof(detail), "EWS URL %s, outgoing %s (fixed in the profile)",
             r->dir[DIR_IN].url, r->dir[DIR_OUT].url);
  else
    snprintf(detail, sizeof(detail), "EWS URL %s (fixed in the profile)", r->dir[first].url);
  step_end(s, EXS_STEP_OK, "%s", detail);
}

/* Whether outgoing can use the incoming transport and EWS handle: the same
 * location, the same transport settings and the same way of acting for the
 * mailbox. */
static bool same_access(const struct te_run *r)
{
  const struct te_dir *i = &r->dir[DIR_IN], *o = &r->dir[DIR_OUT];
  struct exs_http_options hin, hout;
  bool same;

  http_options(r, DIR_IN, &hin);
  http_options(r, DIR_OUT, &hout);
  same = i->wanted && !strcmp(i->url, o->url) && i->acc.retrieval == o->acc.retrieval &&
         i->acc.impersonation == o->acc.impersonation && exs_http_options_same(&hin, &hout);
  exs_http_options_wipe(&hin);
  exs_http_options_wipe(&hout);
  return same;
}

/* The one GetFolder of the connect step of direction d: the root, and for
 * incoming also the folders the incoming and ACT steps judge (see struct
 * te_prefetch), with the identity's extended properties when ACT is read.
 * Fills r->pf; returns -1 with err when the request as a whole failed. */
static int read_folders(struct te_run *r, int d, struct te_prefetch *pf, struct exs_error *err)
{
  static const char *const names[PF_COUNT] = {"msgfolderroot", "inbox", "calendar", "contacts",
                                              "tasks"};
  const struct te_dir *t = &r->dir[d];
  struct exs_ews_folder_ref refs[PF_COUNT];
  struct exs_ews_extprop props[2];
  bool want[PF_COUNT] = {true, false, false, false, false};
  bool act = d == DIR_IN && r->needed[EXS_WL_ACT] && !r->failed[EXS_WL_ACT] &&
             !t->delegate_mailbox; /* delegation: ACT_DELEGATION, nothing read for ACT */
  size_t n = 0;
  int k;

  want[PF_INBOX] = d == DIR_IN && r->needed[EXS_WL_INCOMING] && !r->failed[EXS_WL_INCOMING];
  want[PF_CALENDAR] = want[PF_CONTACTS] = want[PF_TASKS] = act;
  for(k = 0; k < PF_COUNT; k++) {
    pf->at[k] = -1;
    if(!want[k])
      continue;
    refs[n].distinguished = names[k];
    refs[n].id = NULL;
    refs[n].mailbox = t->delegate_mailbox;
    pf->at[k] = (int)n++;
  }
  if(!act)
    return exs_ews_get_folder(t->ews, refs, n, pf->f, err);
  props[0] = exs_ews_prop_org_id;
  props[1] = exs_ews_prop_last_sync;
  return exs_ews_get_folder_ext(t->ews, refs, n, props, 2, pf->f, err);
}

/* Steps 4 and 5 for direction d: transport, TLS and authentication, proved
 * by opening the mailbox's root folder (at the outgoing location with the
 * outgoing settings for outgoing). */
static void step_connect(struct te_run *r, int d)
{
  struct te_dir *t = &r->dir[d];
  struct exs_te_step *s =
      step_begin(r, d == DIR_IN || !r->dir[DIR_IN].wanted ? "connect" : "connect-outgoing");
  struct exs_http_options ho;
  struct exs_ews_options eo;
  struct exs_error err;
  struct te_prefetch *pf = NULL;

  exs_error_clear(&err);
  exs_error_step(&err, "connect");
  if(r->opt->shared_failure[d]) {
    /* the profile check already failed this location or credential: no
     * request, so a refused password is not presented again */
    err = *r->opt->shared_failure[d];
    goto fail;
  }
  http_options(r, d, &ho);
  t->http = connection_take(r->opt->reuse ? &r->opt->reuse->http[d] : NULL, &ho);
  exs_http_options_wipe(&ho);
  memset(&eo, 0, sizeof(eo));
  eo.url = t->url;
  eo.ctx.impersonate = t->impersonate;
  eo.anchor_mailbox = r->address;
  eo.mailbox_credentials = t->acc.mailbox_credentials;
  eo.running_identity = t->acc.retrieval == EXS_RETRIEVAL_WINDOWS;
  eo.max_throttle_wait_ms = r->opt->throttle_max_wait_ms;
  t->ews = t->http ? exs_ews_new(t->http, &eo) : NULL;
  if(!t->ews) {
    exs_error_set(&err, EXS_CAT_PROTOCOL, "out of memory");
    goto fail;
  }
  /* outgoing's own connection reads its root alone, into its own space */
  pf = d == DIR_IN ? &r->pf : calloc(1, sizeof(*pf));
  if(!pf) {
    exs_error_set(&err, EXS_CAT_PROTOCOL, "out of memory");
    goto fail;
  }
  if(read_folders(r, d, pf, &err))
    goto fail;
  {
    const struct exs_ews_folder *root = &pf->f[pf->at[PF_ROOT]];
    if(!root->ok) {
      /* the root is not readable: as for any folder, say why */
      snprintf(err.ews_code, sizeof(err.ews_code), "%s", root->response_code);
      exs_error_set(&err, exs_category_from_ews_code(root->response_code),
                    "cannot open the mailbox %s: %s", r->m->address,
                    root->message[0] ? root->message : root->response_code);
      err.http_status = 200;
      snprintf(err.url, sizeof(err.url), "%s", t->url);
      goto fail;
    }
  }
  {
    const char *scheme = exs_http_auth_scheme(t->http);
    step_end(s, EXS_STEP_OK, "connected and authenticated to %s as %s%s%s%s%s", t->url,
             t->acc.user[0] ? t->acc.user : "the running identity",
             t->impersonate ? ", impersonating " : "", t->impersonate ? t->impersonate : "",
             scheme ? " with " : "", scheme ? scheme : "");
  }
  goto out;
fail:
  exs_error_step(&err, "connect");
  fail_dir(r, d, &err);
  step_end(s, EXS_STEP_FAILED, "%s", err.message);
out:
  if(pf != &r->pf)
    free(pf);
}

/* Step 6: read the Inbox. */
static void step_incoming(struct te_run *r)
{
  struct exs_te_step *s = step_begin(r, "incoming");
  struct exs_error err;
  long items = 0;

  exs_error_clear(&err);
  if(r->pf.at[PF_INBOX] < 0)
    exs_error_set(&err, EXS_CAT_PROTOCOL, "the Inbox was not read by the connect step");
  if(r->pf.at[PF_INBOX] < 0 ||
     te_read_inbox(r->dir[DIR_IN].ews, r->dir[DIR_IN].delegate_mailbox,
                   &r->pf.f[r->pf.at[PF_INBOX]], r->dir[DIR_IN].url, &items, &err)) {
    exs_error_step(&err, "incoming");
    fail_one(r, EXS_WL_INCOMING, &err);
    step_end(s, EXS_STEP_FAILED, "%s", err.message);
    return;
  }
  step_end(s, EXS_STEP_OK, "Inbox readable (%ld items)", items);
}

/* Step 7: send to self, see it arrive, clean up. */
static void step_outgoing(struct te_run *r)
{
  struct exs_te_step *s = step_begin(r, "outgoing");
  struct exs_error err;
  long ms = r->opt->delivery_timeout_ms > 0 ? r->opt->delivery_timeout_ms : 30000;

  exs_error_clear(&err);
  struct te_dir *t = &r->dir[DIR_OUT];

  if(te_send_to_self(t->ews, r->address, t->delegate_mailbox, t->url, ms, &err)) {
    exs_error_step(&err, "outgoing");
    fail_one(r, EXS_WL_OUTGOING, &err);
    step_end(s, EXS_STEP_FAILED, "%s", err.message);
    return;
  }
  step_end(s, EXS_STEP_OK, "test message sent to %s%s%s, delivered and removed", r->address,
           t->shared ? "" : " through ", t->shared ? "" : t->url);
}

/* Step 8: calendar, contacts and tasks, and the organization identity. */
static void step_act(struct te_run *r)
{
  struct exs_te_step *s = step_begin(r, "act");
  struct exs_error err;
  char detail[256] = "";

  exs_error_clear(&err);
  exs_error_step(&err, "act");
  if(r->dir[DIR_IN].delegate_mailbox) {
    /* decided before any ACT request: nothing is read or written */
    exs_error_set(&err, EXS_CAT_ACT_DELEGATION,
                  "appointments, contacts and tasks cannot be synchronized by delegation "
                  "(profile '%s' has use impersonation = no)",
                  r->p->name);
    goto fail;
  }
  if(r->pf.at[PF_CALENDAR] < 0) {
    exs_error_set(&err, EXS_CAT_PROTOCOL, "the ACT folders were not read by the connect step");
    goto fail;
  }
  /* calendar, contacts and tasks were read in this order, one after another */
  if(te_check_act(r->dir[DIR_IN].ews, &r->pf.f[r->pf.at[PF_ROOT]], &r->pf.f[r->pf.at[PF_CALENDAR]],
                  r->org->id, r->m->sync_org_only || r->opt->this_org_only, r->dir[DIR_IN].url,
                  detail, sizeof(detail), &err))
    goto fail;
  step_end(s, EXS_STEP_OK, "%s", detail);
  return;
fail:
  exs_error_step(&err, "act");
  fail_one(r, EXS_WL_ACT, &err);
  step_end(s, EXS_STEP_FAILED, "%s", err.message);
}

/* Add an alert; its workload is the one its step names (incoming,
 * outgoing, act), none (-1) for a shared step or when it failed several. */
static void add_alert(struct exs_te_result *out, int severity, const struct exs_error *err)
{
  size_t i;
  int w = -1, k;

  for(k = 0; k < EXS_WL_COUNT; k++)
    if(!strcmp(err->step, exs_workload_name((enum exs_workload)k)))
      w = k;

  for(i = 0; i < out->n_alerts; i++)
    if(out->alerts[i].error.category == err->category &&
       !strcmp(out->alerts[i].error.message, err->message)) {
      /* one shared failure is one alert, of no single workload */
      if(out->alerts[i].workload != w)
        out->alerts[i].workload = -1;
      return;
    }
  if(out->n_alerts >= EXS_TE_MAX_ALERTS)
    return;
  out->alerts[out->n_alerts].severity = severity;
  out->alerts[out->n_alerts].error = *err;
  out->alerts[out->n_alerts].workload = w;
  out->n_alerts++;
}

/* A transient failure counts against the 10 x 5 minutes budget: a retry
 * is scheduled, or, the budget spent, the failures become permanent
 * (docs/test-enable.md, Errors). */
static void count_transient(struct te_run *r, time_t now)
{
  struct exs_mailbox *m = r->m;
  struct exs_te_result *out = r->out;
  /* the schedule given to this test, else the one of the test that
   * scheduled this retry (kept on the mailbox), else the product's */
  int max_retries = r->opt->max_transient_retries > 0 ? r->opt->max_transient_retries
                    : m->retry_max > 0                ? m->retry_max
                                                      : 10;
  long interval = r->opt->retry_interval_s > 0 ? r->opt->retry_interval_s
                  : m->retry_interval_s > 0    ? m->retry_interval_s
                                               : 300;
  int w;

  m->transient_failures++;
  if(m->transient_failures <= max_retries) {
    m->retry_at = now + interval;
    m->retry_interval_s = (int)interval;
    m->retry_max = max_retries;
    out->retry_scheduled = true;
    return;
  }
  for(w = 0; w < EXS_WL_COUNT; w++) {
    if(r->failed[w] && out->error[w].transient) {
      size_t l = strlen(out->error[w].message);
      out->error[w].transient = false;
      snprintf(out->error[w].message + l, sizeof(out->error[w].message) - l,
               " (still failing after %d retries)", max_retries);
    }
  }
  m->retry_at = 0;
}

/* Every tested workload succeeded: the information alert, and the record
 * of the last failure closed (docs/test-enable.md, Errors). */
static void record_success(struct te_run *r)
{
  struct exs_mailbox *m = r->m;
  struct exs_error ok;

  exs_error_clear(&ok);
  ok.category = EXS_CAT_TEST_OK;
  snprintf(ok.message, sizeof(ok.message),
           "Mailbox %s was tested and enabled for every workload that uses server-side "
           "synchronization",
           m->address);
  snprintf(ok.step, sizeof(ok.step), "done");
  add_alert(r->out, EXS_SEV_INFORMATION, &ok);
  m->transient_failures = 0;
  m->retry_at = 0;
  m->retry_interval_s = 0;
  m->retry_max = 0;
  m->last_error_count = 0;
  m->last_error_code[0] = '\0';
  m->last_error[0] = '\0';
  m->last_error_time = 0;
}

/* Apply docs/test-enable.md, Errors to the mailbox record and build the alerts. */
static int apply_outcome(struct te_run *r)
{
  struct exs_mailbox *m = r->m;
  struct exs_te_result *out = r->out;
  bool tested = false, any_failed = false, transient = false;
  time_t now = exs_now();
  int w;

  for(w = 0; w < EXS_WL_COUNT; w++) {
    if(!r->needed[w])
      continue;
    tested = true;
    if(r->failed[w]) {
      any_failed = true;
      if(out->error[w].transient)
        transient = true;
    }
  }
  if(transient)
    count_transient(r, now);
  for(w = 0; w < EXS_WL_COUNT; w++) {
    if(!r->needed[w]) {
      m->status[w] = EXS_STATUS_NOT_RUN;
      continue;
    }
    if(!r->failed[w]) {
      m->status[w] = EXS_STATUS_SUCCESS;
      m->enabled[w] = true;
      continue;
    }
    m->status[w] = EXS_STATUS_FAILURE;
    if(!out->error[w].transient)
      m->enabled[w] = false; /* permanent: disable at once */
    add_alert(out, out->error[w].transient ? EXS_SEV_WARNING : EXS_SEV_ERROR, &out->error[w]);
  }
  if(tested && !any_failed)
    record_success(r);
  if(tested) {
    m->test_completed_on = now;
    m->retry_count++;
  }
  if(any_failed && out->n_alerts) {
    const struct exs_error *e = &out->alerts[0].error;
    snprintf(m->last_error_code, sizeof(m->last_error_code), "%s", exs_category_name(e->category));
    snprintf(m->last_error, sizeof(m->last_error), "%s", e->message);
    m->last_error_count++;
    m->last_error_time = now;
  }
  for(w = 0; w < EXS_WL_COUNT; w++) {
    out->status[w] = m->status[w];
    out->enabled[w] = m->enabled[w];
  }
  return any_failed ? 1 : 0;
}

bool exs_testenable_shared_category(enum exs_category c)
{
  switch(c) {
  case EXS_CAT_DNS:
  case EXS_CAT_CONNECT:
  case EXS_CAT_TLS_TRUST:
  case EXS_CAT_TLS_NAME:
  case EXS_CAT_TLS_EXPIRED:
  case EXS_CAT_CREDENTIALS:
    return true;
  default:
    return false;
  }
}

int exs_testenable_check_access(const struct exs_org *org, const struct exs_profile *p,
                                const struct exs_mailbox *m, enum exs_workload w,
                                const struct exs_te_options *opt, struct exs_error *err)
{
  static const struct exs_te_options no_options;
  struct te_run r;
  struct exs_te_result scratch;
  struct exs_http_options ho;
  struct exs_ews_options eo;
  struct exs_ews_folder_ref ref = {"msgfolderroot", NULL, NULL};
  struct exs_ews_folder folder;
  struct exs_http *http;
  struct exs_ews *ews;
  int d = w == EXS_WL_OUTGOING ? DIR_OUT : DIR_IN;
  int result = 0;

  memset(&r, 0, sizeof(r));
  r.org = org;
  r.p = p;
  r.m = (struct exs_mailbox *)m; /* http_options reads it only */
  r.opt = opt ? opt : &no_options;
  r.out = &scratch;
  exs_error_clear(err);
  if(p->autodiscover || exs_access_for(p, m, w, &r.dir[d].acc, err) ||
     r.dir[d].acc.mailbox_credentials) {
    exs_error_clear(err); /* nothing shared to check: each mailbox finds out alone */
    return 0;
  }
  http_options(&r, d, &ho);
  if(exs_http_check_channel(&ho, r.dir[d].acc.url, err)) {
    exs_http_options_wipe(&ho);
    exs_error_clear(err); /* refused without a byte sent: the mailbox test says so */
    return 0;
  }
  http = connection_take(r.opt->reuse ? &r.opt->reuse->http[d] : NULL, &ho);
  exs_http_options_wipe(&ho);
  memset(&eo, 0, sizeof(eo));
  eo.url = r.dir[d].acc.url;
  eo.ctx.impersonate = r.dir[d].acc.impersonation ? m->address : NULL;
  eo.anchor_mailbox = m->address;
  eo.running_identity = r.dir[d].acc.retrieval == EXS_RETRIEVAL_WINDOWS;
  eo.max_throttle_wait_ms = r.opt->throttle_max_wait_ms;
  ews = http ? exs_ews_new(http, &eo) : NULL;
  if(!ews) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "out of memory");
    result = 1;
    goto out;
  }
  ref.mailbox = r.dir[d].acc.impersonation ? NULL : m->address;
  /* one authenticated request; only the location and the credential are
   * judged here, whatever the answer says about the mailbox */
  if(exs_ews_get_folder(ews, &ref, 1, &folder, err) &&
     exs_testenable_shared_category(err->category)) {
    exs_error_step(err, "connect");
    result = 1;
  }
  else {
    exs_error_clear(err);
  }
out:
  exs_ews_free(ews);
  if(!r.opt->reuse)
    exs_http_free(http);
  return result;
}

int exs_testenable_mailbox(const struct exs_org *org, const struct exs_profile *p,
                           struct exs_mailbox *m, const struct exs_te_options *opt,
                           struct exs_te_result *out)
{
  static const struct exs_te_options no_options;
  struct te_run r;
  int64_t start = exs_monotonic_ms();
  int w;
  int result;

  memset(out, 0, sizeof(*out));
  /* the prefetched folders are filled by their GetFolder: not zeroed here */
  memset(&r, 0, offsetof(struct te_run, pf));
  for(w = 0; w < PF_COUNT; w++)
    r.pf.at[w] = -1;
  snprintf(out->address, sizeof(out->address), "%s", m->address);
  snprintf(r.address, sizeof(r.address), "%s", m->address);
  r.org = org;
  r.p = p;
  r.m = m;
  r.opt = opt ? opt : &no_options;
  r.out = out;
  for(w = 0; w < EXS_WL_COUNT; w++)
    r.needed[w] = exs_mailbox_uses_ssync(m, (enum exs_workload)w);
  r.dir[DIR_IN].wanted = r.needed[EXS_WL_INCOMING] || r.needed[EXS_WL_ACT];
  r.dir[DIR_OUT].wanted = r.needed[EXS_WL_OUTGOING];

  if(any_left(&r))
    step_preconditions(&r);
  if(any_left(&r))
    step_credentials(&r);
  if(any_left(&r))
    step_location(&r);
  /* one connection proves both directions when they reach Exchange alike */
  r.dir[DIR_OUT].shared = dir_left(&r, DIR_IN) && dir_left(&r, DIR_OUT) && same_access(&r);
  if(dir_left(&r, DIR_IN))
    step_connect(&r, DIR_IN);
  if(r.dir[DIR_OUT].shared)
    r.dir[DIR_OUT].ews = r.dir[DIR_IN].ews;
  else if(dir_left(&r, DIR_OUT))
    step_connect(&r, DIR_OUT);
  if(r.needed[EXS_WL_INCOMING] && !r.failed[EXS_WL_INCOMING])
    step_incoming(&r);
  if(r.needed[EXS_WL_OUTGOING] && !r.failed[EXS_WL_OUTGOING])
    step_outgoing(&r);
  if(r.needed[EXS_WL_ACT] && !r.failed[EXS_WL_ACT])
    step_act(&r);

  result = apply_outcome(&r);
  for(w = DIR_IN; w <= DIR_OUT; w++) {
    if(!r.dir[w].shared)
      exs_ews_free(r.dir[w].ews);
    if(!r.opt->reuse)
      exs_http_free(r.dir[w].http); /* a kept transport stays open for the next test */
  }
  out->elapsed_ms = (long)(exs_monotonic_ms() - start);
  return result;
}

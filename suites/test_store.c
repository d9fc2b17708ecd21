/* test_store.c - the store: round trips, transactions, migrations, crash
 * consistency, secrets at rest. The cases run twice, on an SQLite file
 * (tcase "sqlite") and on a fresh database of a throwaway PostgreSQL
 * cluster (tcase "postgresql", suites/pgtest.h); the few about SQLite's
 * file or PostgreSQL's connection string run on theirs only. Without a
 * PostgreSQL server the postgresql cases fail and say why: they are never
 * skipped. */
#define _GNU_SOURCE /* memmem */
#include <fcntl.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exsync/clock.h"
#include "exsync/secret.h"
#include "exsync/store.h"
#include "pgtest.h"
#include "testutil.h"

/* dbpath: the SQLite file, or the PostgreSQL database's URI when pg */
static char dir[256], dbpath[600], keypath[300];
static bool pg;
static struct pgtest *cluster; /* started once for the postgresql cases */
static char cluster_err[1024];

static void setup_sqlite(void)
{
  pg = false;
  snprintf(dir, sizeof(dir), "/tmp/exsync-store-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(dbpath, sizeof(dbpath), "%s/exsync.db", dir);
  snprintf(keypath, sizeof(keypath), "%s/key", dir);
}

static void cluster_start(void)
{
  cluster = pgtest_start(NULL, cluster_err, sizeof(cluster_err));
}

static void cluster_stop(void)
{
  pgtest_stop(cluster);
  cluster = NULL;
}

/* SQL on the test database as its superuser (admin: on the cluster's
 * "postgres" database); fails the test on an error. */
static PGresult *pg_sql(bool admin, const char *sql, bool ok)
{
  char conninfo[600];
  PGconn *c;
  PGresult *r;

  if(admin)
    snprintf(conninfo, sizeof(conninfo), "host=%s port=%d user=exsync dbname=postgres",
             pgtest_dir(cluster), pgtest_port(cluster));
  c = PQconnectdb(admin ? conninfo : dbpath);
  ck_assert_msg(PQstatus(c) == CONNECTION_OK, "%s", PQerrorMessage(c));
  r = PQexec(c, sql);
  if(ok)
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
                  "%s: %s", sql, PQerrorMessage(c));
  PQfinish(c);
  return r;
}

/* A fresh database for each case (named after the process: each case runs
 * in a child of its own), reached through the cluster's unix socket. */
static void setup_pg(void)
{
  char sql[64];

  ck_assert_msg(cluster != NULL,
                "no PostgreSQL test cluster (install postgresql: scripts/deps.sh --test): %s",
                cluster_err);
  pg = true;
  snprintf(dir, sizeof(dir), "/tmp/exsync-store-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(keypath, sizeof(keypath), "%s/key", dir);
  snprintf(sql, sizeof(sql), "CREATE DATABASE s%ld", (long)getpid());
  PQclear(pg_sql(true, sql, true));
  snprintf(dbpath, sizeof(dbpath), "postgresql://exsync@/s%ld?host=%s&port=%d", (long)getpid(),
           pgtest_dir(cluster), pgtest_port(cluster));
}

static void teardown(void)
{
  char cmd[300];

  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

static struct exs_store *open_store(void)
{
  struct exs_error e;
  struct exs_store *st;

  exs_error_clear(&e);
  st = exs_store_open(dbpath, keypath, &e);
  ck_assert_msg(st != NULL, "%s", e.message);
  return st;
}

static void full_profile(struct exs_profile *p, const char *name)
{
  memset(p, 0, sizeof(*p));
  exs_profile_defaults(p);
  snprintf(p->name, sizeof(p->name), "%s", name);
  strcpy(p->description, "Contoso on-premises Exchange 2016");
  p->autodiscover = true;
  strcpy(p->incoming_url, "https://mail.contoso.com/EWS/Exchange.asmx");
  strcpy(p->outgoing_url, "https://out.contoso.com/EWS/Exchange.asmx");
  p->same_outgoing = false;
  p->retrieval = EXS_RETRIEVAL_PROFILE;
  p->impersonation = true;
  strcpy(p->user, "CONTOSO\\svc-crm");
  strcpy(p->password, "Canary-Profile-Pw-5150");
  p->protocol = EXS_AUTH_NTLM;
  p->process_from = 1767225600;
  p->poll_minutes = 7;
  p->max_connections = 42;
  p->move_undeliverable = true;
  p->timeout_enabled = false;
  p->timeout_ms = 12345;
  strcpy(p->owner, "admin@contoso.com");
}

static void full_mailbox(struct exs_mailbox *m, const char *address, const char *profile)
{
  memset(m, 0, sizeof(*m));
  exs_mailbox_defaults(m);
  snprintf(m->address, sizeof(m->address), "%s", address);
  strcpy(m->name, "Alice Example");
  m->is_queue = true;
  m->active = false;
  snprintf(m->profile, sizeof(m->profile), "%s", profile);
  m->incoming = EXS_IN_FORWARD;
  m->outgoing = EXS_OUT_OUTLOOK;
  m->act = EXS_ACT_NONE;
  m->approval = EXS_APPROVAL_REJECTED;
  m->allow_credentials = true;
  strcpy(m->user, "alice");
  strcpy(m->password, "Canary-Mailbox-Pw-8086");
  m->sync_org_only = true;
  m->track = EXS_TRACK_ALL;
  m->process_from = 1767225601;
  m->status[EXS_WL_INCOMING] = EXS_STATUS_SUCCESS;
  m->status[EXS_WL_OUTGOING] = EXS_STATUS_FAILURE;
  m->status[EXS_WL_ACT] = EXS_STATUS_NOT_RUN;
  m->enabled[EXS_WL_INCOMING] = true;
  m->enabled[EXS_WL_OUTGOING] = false;
  m->enabled[EXS_WL_ACT] = true;
  strcpy(m->ews_url, "https://mail.contoso.com/EWS/Exchange.asmx");
  m->autodiscovered_on = 1767225602;
  m->test_completed_on = 1767225603;
  m->retry_count = 3;
  m->transient_failures = 2;
  m->retry_at = 1767225604;
  strcpy(m->last_error_code, "THROTTLED");
  strcpy(m->last_error, "ErrorServerBusy after 3 retries");
  m->last_error_count = 4;
  m->last_error_time = 1767225605;
  m->postponed_until = 1767225606;
  m->last_sync_start = 1767225607;
  m->last_sync_success = 1767225608;
  m->items_processed = 17;
  m->items_failed = 1;
  strcpy(m->processing_host, "worker-1");
}

START_TEST(org_defaults_then_round_trip)
{
  struct exs_store *st = open_store();
  struct exs_error e;
  struct exs_org o, d, got;

  ck_assert_int_eq(exs_store_org_get(st, &got, &e), 0);
  exs_org_defaults(&d);
  ck_assert_mem_eq(&got, &d, sizeof(d));

  memset(&o, 0, sizeof(o));
  strcpy(o.id, "6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10");
  strcpy(o.default_profile, "Exchange");
  o.default_incoming = EXS_IN_FORWARD;
  o.default_outgoing = EXS_OUT_NONE;
  o.default_act = EXS_ACT_OUTLOOK;
  o.approve_users = false;
  o.approve_queues = true;
  o.alerts_errors = false;
  o.alerts_warnings = true;
  o.alerts_information = false;
  o.notify_owners = true;
  o.ignore_internal = true;
  strcpy(o.tracking_prefix, "TRK:");
  o.allow_credentials_non_secure = true;
  o.allow_basic_non_secure = true;
  o.allow_non_ssl = true;
  ck_assert_int_eq(exs_store_org_put(st, &o, &e), 0);
  ck_assert_int_eq(exs_store_org_get(st, &got, &e), 0);
  ck_assert_mem_eq(&got, &o, sizeof(o));
  o.allow_non_ssl = false;
  ck_assert_int_eq(exs_store_org_put(st, &o, &e), 0);
  exs_store_close(st);
  st = open_store();
  ck_assert_int_eq(exs_store_org_get(st, &got, &e), 0);
  ck_assert_mem_eq(&got, &o, sizeof(o));
  exs_store_close(st);
}
END_TEST

START_TEST(profile_round_trip_every_field)
{
  struct exs_store *st = open_store();
  struct exs_error e;
  struct exs_profile p, got;

  full_profile(&p, "Exchange");
  ck_assert_int_eq(exs_store_profile_put(st, &p, &e), 0);
  ck_assert_int_gt(p.id, 0);
  memset(&got, 0x5a, sizeof(got));
  ck_assert_int_eq(exs_store_profile_get(st, "Exchange", &got, &e), 0);
  ck_assert_str_eq(got.password, "Canary-Profile-Pw-5150");
  ck_assert_str_eq(got.user, "CONTOSO\\svc-crm");
  ck_assert_int_eq(got.max_connections, 42);
  ck_assert_mem_eq(&got, &p, sizeof(p));

  /* update by name keeps the id; empty password stores none */
  p.max_connections = 300;
  p.password[0] = 0;
  {
    int64_t id = p.id;
    ck_assert_int_eq(exs_store_profile_put(st, &p, &e), 0);
    ck_assert_int_eq(p.id, id);
  }
  ck_assert_int_eq(exs_store_profile_get(st, "Exchange", &got, &e), 0);
  ck_assert_int_eq(got.max_connections, 300);
  ck_assert_str_eq(got.password, "");
  ck_assert_int_eq(exs_store_profile_get(st, "Nope", &got, &e), EXS_STORE_NOT_FOUND);
  ck_assert_ptr_nonnull(strstr(e.message, "Nope"));
  exs_profile_wipe(&got);
  exs_store_close(st);
}
END_TEST

START_TEST(mailbox_round_trip_every_field)
{
  struct exs_store *st = open_store();
  struct exs_error e;
  struct exs_profile p;
  struct exs_mailbox m, got;

  full_profile(&p, "Exchange");
  ck_assert_int_eq(exs_store_profile_put(st, &p, &e), 0);
  full_mailbox(&m, "alice@contoso.com", "Exchange");
  ck_assert_int_eq(exs_store_mailbox_put(st, &m, &e), 0);
  ck_assert_int_gt(m.id, 0);
  memset(&got, 0x5a, sizeof(got));
  ck_assert_int_eq(exs_store_mailbox_get(st, "alice@contoso.com", &got, &e), 0);
  ck_assert_str_eq(got.password, "Canary-Mailbox-Pw-8086");
  ck_assert_str_eq(got.processing_host, "worker-1");
  ck_assert_int_eq(got.status[EXS_WL_OUTGOING], EXS_STATUS_FAILURE);
  ck_assert_mem_eq(&got, &m, sizeof(m));

  /* addresses compare case-insensitively; an update keeps the row */
  ck_assert_int_eq(exs_store_mailbox_get(st, "ALICE@Contoso.COM", &got, &e), 0);
  ck_assert_int_eq(got.id, m.id);
  strcpy(m.address, "Alice@Contoso.com");
  m.items_processed = 99;
  ck_assert_int_eq(exs_store_mailbox_put(st, &m, &e), 0);
  ck_assert_int_eq(m.id, got.id);
  ck_assert_int_eq(exs_store_mailbox_get(st, "alice@contoso.com", &got, &e), 0);
  ck_assert_int_eq(got.items_processed, 99);

  /* an unknown profile is refused with its name */
  full_mailbox(&m, "bob@contoso.com", "Missing");
  ck_assert_int_eq(exs_store_mailbox_put(st, &m, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.message, "Missing"));
  ck_assert_int_eq(exs_store_mailbox_get(st, "bob@contoso.com", &got, &e), EXS_STORE_NOT_FOUND);
  exs_mailbox_wipe(&got);
  exs_store_close(st);
}
END_TEST

START_TEST(list_and_delete)
{
  struct exs_store *st = open_store();
  struct exs_error e;
  struct exs_profile p, *profiles;
  struct exs_mailbox m, *list;
  size_t n, i;
  char addr[64];

  full_profile(&p, "B-profile");
  ck_assert_int_eq(exs_store_profile_put(st, &p, &e), 0);
  full_profile(&p, "A-profile");
  ck_assert_int_eq(exs_store_profile_put(st, &p, &e), 0);
  ck_assert_int_eq(exs_store_begin(st, &e), 0);
  for(i = 0; i < 2000; i++) {
    snprintf(addr, sizeof(addr), "user%04zu@contoso.com", 1999 - i);
    full_mailbox(&m, addr, i % 2 ? "A-profile" : "B-profile");
    if(i % 3 == 0)
      m.password[0] = 0;
    ck_assert_int_eq(exs_store_mailbox_put(st, &m, &e), 0);
  }
  ck_assert_int_eq(exs_store_commit(st, &e), 0);

  ck_assert_int_eq(exs_store_profile_list(st, &profiles, &n, &e), 0);
  ck_assert_uint_eq(n, 2);
  ck_assert_str_eq(profiles[0].name, "A-profile");
  ck_assert_str_eq(profiles[0].password, ""); /* not decrypted in lists */
  free(profiles);

  ck_assert_int_eq(exs_store_mailbox_list(st, NULL, 0, &list, &n, &e), 0);
  ck_assert_uint_eq(n, 2000);
  ck_assert_str_eq(list[0].address, "user0000@contoso.com");
  ck_assert_str_eq(list[1999].address, "user1999@contoso.com");
  ck_assert_str_eq(list[5].password, "");
  free(list);

  ck_assert_int_eq(exs_store_mailbox_list(st, "A-profile", EXS_STORE_WITH_SECRETS, &list, &n, &e),
                   0);
  ck_assert_uint_eq(n, 1000);
  for(i = 0; i < n; i++) {
    ck_assert_str_eq(list[i].profile, "A-profile");
    exs_mailbox_wipe(&list[i]);
  }
  free(list);

  /* deleting a profile leaves its mailboxes without one */
  ck_assert_int_eq(exs_store_profile_delete(st, "A-profile", &e), 0);
  ck_assert_int_eq(exs_store_profile_delete(st, "A-profile", &e), EXS_STORE_NOT_FOUND);
  ck_assert_int_eq(exs_store_mailbox_list(st, "A-profile", 0, &list, &n, &e), 0);
  ck_assert_uint_eq(n, 0);
  free(list);
  ck_assert_int_eq(exs_store_mailbox_get(st, "user0000@contoso.com", &m, &e), 0);
  ck_assert_str_eq(m.profile, "");

  ck_assert_int_eq(exs_store_mailbox_delete(st, "user0000@contoso.com", &e), 0);
  ck_assert_int_eq(exs_store_mailbox_delete(st, "user0000@contoso.com", &e), EXS_STORE_NOT_FOUND);
  ck_assert_int_eq(exs_store_check(st, &e), 0);
  exs_store_close(st);
}
END_TEST

static void make_alert(struct exs_alert *a, const char *mailbox, enum exs_severity sev,
                       enum exs_category cat)
{
  memset(a, 0, sizeof(*a));
  a->time = 1767225700;
  if(mailbox)
    strcpy(a->mailbox, mailbox);
  a->severity = sev;
  a->category = cat;
  a->transient = sev == EXS_SEV_WARNING;
  strcpy(a->message, "something happened");
}

START_TEST(alerts_round_trip)
{
  struct exs_store *st = open_store();
  struct exs_error e;
  struct exs_alert a, b, *list;
  size_t n;

  memset(&a, 0, sizeof(a));
  a.time = 1767225700;
  strcpy(a.mailbox, "alice@contoso.com");
  strcpy(a.profile, "Exchange");
  a.severity = EXS_SEV_WARNING;
  a.category = EXS_CAT_THROTTLED;
  a.transient = true;
  strcpy(a.message, "Exchange is busy");
  strcpy(a.hint, "lower max-connections");
  strcpy(a.ews_code, "ErrorServerBusy");
  a.http_status = 503;
  strcpy(a.url, "https://mail.contoso.com/EWS/Exchange.asmx");
  ck_assert_int_eq(exs_store_alert_add(st, &a, &e), 0);
  ck_assert_int_gt(a.id, 0);
  make_alert(&b, NULL, EXS_SEV_INFORMATION, EXS_CAT_TEST_OK);
  ck_assert_int_eq(exs_store_alert_add(st, &b, &e), 0);
  make_alert(&b, "bob@contoso.com", EXS_SEV_ERROR, EXS_CAT_CREDENTIALS);
  ck_assert_int_eq(exs_store_alert_add(st, &b, &e), 0);

  ck_assert_int_eq(exs_store_alert_list(st, NULL, 0, &list, &n, &e), 0);
  ck_assert_uint_eq(n, 3);
  ck_assert_mem_eq(&list[0], &a, sizeof(a));
  ck_assert_str_eq(list[1].mailbox, "");
  ck_assert_int_eq(list[1].http_status, 0);
  ck_assert_int_eq(list[1].category, EXS_CAT_TEST_OK);
  ck_assert_int_eq(list[1].severity, EXS_SEV_INFORMATION);
  free(list);
  ck_assert_int_eq(exs_store_alert_list(st, "ALICE@contoso.com", 0, &list, &n, &e), 0);
  ck_assert_uint_eq(n, 1);
  ck_assert_str_eq(list[0].ews_code, "ErrorServerBusy");
  free(list);
  ck_assert_int_eq(exs_store_alert_list(st, NULL, 2, &list, &n, &e), 0);
  ck_assert_uint_eq(n, 2); /* the two newest, oldest first */
  ck_assert_int_eq(list[1].category, EXS_CAT_CREDENTIALS);
  free(list);
  exs_store_close(st);
}
END_TEST

START_TEST(jobs_lifecycle)
{
  struct exs_store *st = open_store();
  struct exs_error e;
  struct exs_job j, *list;
  int64_t id, id2;
  size_t n;

  ck_assert_int_eq(exs_store_job_create(st, "test-enable", "Exchange", 10, &id, &e), 0);
  ck_assert_int_eq(exs_store_job_get(st, id, &j, &e), 0);
  ck_assert_int_eq(j.state, EXS_JOB_QUEUED);
  ck_assert_int_eq(j.total, 10);
  ck_assert_int_eq(j.started, 0);
  ck_assert_int_gt(j.created, 0);
  ck_assert_int_eq(exs_store_job_progress(st, id, 4, &e), 0);
  ck_assert_int_eq(exs_store_job_get(st, id, &j, &e), 0);
  ck_assert_int_eq(j.state, EXS_JOB_RUNNING);
  ck_assert_int_eq(j.done, 4);
  ck_assert_int_gt(j.started, 0);
  ck_assert_int_eq(exs_store_job_finish(st, id, true, "10 mailboxes: 9 success, 1 failure", &e), 0);
  ck_assert_int_eq(exs_store_job_get(st, id, &j, &e), 0);
  ck_assert_int_eq(j.state, EXS_JOB_DONE);
  ck_assert_str_eq(j.summary, "10 mailboxes: 9 success, 1 failure");
  ck_assert_int_gt(j.finished, 0);
  ck_assert_str_eq(j.kind, "test-enable");
  ck_assert_str_eq(j.profile, "Exchange");

  ck_assert_int_eq(exs_store_job_create(st, "import", NULL, 0, &id2, &e), 0);
  ck_assert_int_eq(exs_store_job_finish(st, id2, false, "bad file", &e), 0);
  ck_assert_int_eq(exs_store_job_list(st, &list, &n, &e), 0);
  ck_assert_uint_eq(n, 2);
  ck_assert_int_eq(list[1].state, EXS_JOB_FAILED);
  ck_assert_str_eq(list[1].profile, "");
  free(list);
  ck_assert_int_eq(exs_store_job_get(st, 999, &j, &e), EXS_STORE_NOT_FOUND);
  ck_assert_int_eq(exs_store_job_progress(st, 999, 1, &e), EXS_STORE_NOT_FOUND);
  ck_assert_str_eq(exs_job_state_name(EXS_JOB_RUNNING), "running");
  ck_assert_int_eq(exs_job_state_parse("failed"), EXS_JOB_FAILED);
  exs_store_close(st);
}
END_TEST

START_TEST(activities_once_and_sync_states)
{
  struct exs_store *st = open_store();
  struct exs_error e;
  struct exs_mailbox m;
  struct exs_activity a, got, *list;
  char *state;
  size_t n, i;

  full_mailbox(&m, "alice@contoso.com", "");
  ck_assert_int_eq(exs_store_mailbox_put(st, &m, &e), 0);
  full_mailbox(&m, "bob@contoso.com", "");
  ck_assert_int_eq(exs_store_mailbox_put(st, &m, &e), 0);

  memset(&a, 0, sizeof(a));
  strcpy(a.mailbox, "alice@contoso.com");
  a.direction = EXS_DIR_INCOMING;
  strcpy(a.state, EXS_ACTIVITY_RECEIVED);
  strcpy(a.exchange_item_id, "AAMkAD-1");
  strcpy(a.internet_message_id, "<1@contoso.com>");
  a.subject = strdup("Hello CRM:0001001");
  a.sender = strdup("carol@fabrikam.com");
  a.recipients = strdup("alice@contoso.com");
  a.body = strdup("body text");
  a.received = 1767225800;
  ck_assert_int_eq(exs_store_activity_add(st, &a, &e), 0);
  ck_assert_int_gt(a.id, 0);
  {
    int64_t first = a.id;
    /* same item id: duplicate, reports the first row */
    a.id = 0;
    strcpy(a.internet_message_id, "<other@contoso.com>");
    ck_assert_int_eq(exs_store_activity_add(st, &a, &e), EXS_STORE_DUPLICATE);
    ck_assert_int_eq(a.id, first);
    /* same message id, other item id: duplicate too */
    strcpy(a.exchange_item_id, "AAMkAD-2");
    strcpy(a.internet_message_id, "<1@contoso.com>");
    ck_assert_int_eq(exs_store_activity_add(st, &a, &e), EXS_STORE_DUPLICATE);
    /* the same ids in another mailbox are a different activity */
    strcpy(a.mailbox, "bob@contoso.com");
    strcpy(a.exchange_item_id, "AAMkAD-1");
    ck_assert_int_eq(exs_store_activity_add(st, &a, &e), 0);
    ck_assert_int_ne(a.id, first);
    /* unknown mailbox */
    strcpy(a.mailbox, "nobody@contoso.com");
    ck_assert_int_eq(exs_store_activity_add(st, &a, &e), -1);

    ck_assert_int_eq(exs_store_activity_get(st, first, &got, &e), 0);
    ck_assert_str_eq(got.subject, "Hello CRM:0001001");
    ck_assert_str_eq(got.body, "body text");
    ck_assert_str_eq(got.exchange_item_id, "AAMkAD-1");
    ck_assert_int_eq(got.received, 1767225800);
    exs_activity_clear(&got);
    ck_assert_int_eq(exs_store_activity_set_state(st, first, EXS_ACTIVITY_SENT, NULL, &e), 0);
    ck_assert_int_eq(exs_store_activity_get(st, first, &got, &e), 0);
    ck_assert_str_eq(got.state, "sent");
    ck_assert_int_gt(got.sent, 0);
    exs_activity_clear(&got);
  }
  exs_activity_clear(&a);
  ck_assert_int_eq(exs_store_activity_list(st, "alice@contoso.com", NULL, &list, &n, &e), 0);
  ck_assert_uint_eq(n, 1);
  for(i = 0; i < n; i++)
    exs_activity_clear(&list[i]);
  free(list);
  ck_assert_int_eq(exs_store_activity_list(st, NULL, "received", &list, &n, &e), 0);
  ck_assert_uint_eq(n, 1);
  ck_assert_str_eq(list[0].mailbox, "bob@contoso.com");
  exs_activity_clear(&list[0]);
  free(list);

  ck_assert_int_eq(exs_store_syncstate_get(st, "alice@contoso.com", "inbox", &state, &e),
                   EXS_STORE_NOT_FOUND);
  ck_assert_int_eq(exs_store_syncstate_put(st, "alice@contoso.com", "inbox", "H4sI-1", &e), 0);
  ck_assert_int_eq(exs_store_syncstate_put(st, "alice@contoso.com", "inbox", "H4sI-2", &e), 0);
  ck_assert_int_eq(exs_store_syncstate_get(st, "alice@contoso.com", "inbox", &state, &e), 0);
  ck_assert_str_eq(state, "H4sI-2");
  free(state);
  ck_assert_int_eq(exs_store_syncstate_put(st, "nobody@contoso.com", "inbox", "x", &e), -1);

  /* deleting a mailbox takes its activities and sync states along */
  ck_assert_int_eq(exs_store_mailbox_delete(st, "alice@contoso.com", &e), 0);
  ck_assert_int_eq(exs_store_activity_list(st, "alice@contoso.com", NULL, &list, &n, &e), 0);
  ck_assert_uint_eq(n, 0);
  free(list);
  ck_assert_int_eq(exs_store_syncstate_get(st, "alice@contoso.com", "inbox", &state, &e),
                   EXS_STORE_NOT_FOUND);
  ck_assert_int_eq(exs_store_check(st, &e), 0);
  exs_store_close(st);
}
END_TEST

START_TEST(save_test_result_is_one_transaction)
{
  struct exs_store *st = open_store();
  struct exs_error e;
  struct exs_mailbox m, r, got;
  struct exs_alert al[3], *list;
  size_t n;

  exs_mailbox_defaults(&m);
  strcpy(m.address, "carol@contoso.com");
  strcpy(m.name, "Carol");
  strcpy(m.password, "Canary-Carol");
  ck_assert_int_eq(exs_store_mailbox_put(st, &m, &e), 0);

  r = m;
  r.name[0] = 0; /* not a result field: must not be written */
  r.status[EXS_WL_INCOMING] = EXS_STATUS_SUCCESS;
  r.status[EXS_WL_OUTGOING] = EXS_STATUS_FAILURE;
  r.enabled[EXS_WL_INCOMING] = true;
  r.test_completed_on = 1767225900;
  r.retry_count = 1;
  strcpy(r.last_error_code, "CREDENTIALS");
  strcpy(r.last_error, "401");
  r.last_error_count = 1;
  make_alert(&al[0], "carol@contoso.com", EXS_SEV_ERROR, EXS_CAT_CREDENTIALS);
  make_alert(&al[1], "carol@contoso.com", EXS_SEV_INFORMATION, EXS_CAT_TEST_OK);
  ck_assert_int_eq(exs_store_save_test_result(st, &r, al, 2, &e), 0);
  ck_assert_int_eq(exs_store_mailbox_get(st, "carol@contoso.com", &got, &e), 0);
  ck_assert_str_eq(got.name, "Carol");
  ck_assert_str_eq(got.password, "Canary-Carol");
  ck_assert_int_eq(got.status[EXS_WL_INCOMING], EXS_STATUS_SUCCESS);
  ck_assert_int_eq(got.status[EXS_WL_OUTGOING], EXS_STATUS_FAILURE);
  ck_assert(got.enabled[EXS_WL_INCOMING]);
  ck_assert_int_eq(got.retry_count, 1);
  ck_assert_str_eq(got.last_error_code, "CREDENTIALS");
  ck_assert_int_eq(exs_store_alert_list(st, "carol@contoso.com", 0, &list, &n, &e), 0);
  ck_assert_uint_eq(n, 2);
  free(list);

  /* the third alert is refused (bad severity) after the mailbox row and two
   * alerts were written: nothing of it stays */
  r.retry_count = 2;
  r.status[EXS_WL_ACT] = EXS_STATUS_FAILURE;
  al[2] = al[0];
  al[2].severity = (enum exs_severity)7;
  ck_assert_int_eq(exs_store_save_test_result(st, &r, al, 3, &e), -1);
  ck_assert_int_eq(exs_store_mailbox_get(st, "carol@contoso.com", &got, &e), 0);
  ck_assert_int_eq(got.retry_count, 1);
  ck_assert_int_eq(got.status[EXS_WL_ACT], EXS_STATUS_NOT_RUN);
  ck_assert_int_eq(exs_store_alert_list(st, NULL, 0, &list, &n, &e), 0);
  ck_assert_uint_eq(n, 2);
  free(list);

  /* unknown mailbox: NOT_FOUND and no alert written */
  strcpy(r.address, "nobody@contoso.com");
  ck_assert_int_eq(exs_store_save_test_result(st, &r, al, 1, &e), EXS_STORE_NOT_FOUND);
  ck_assert_int_eq(exs_store_alert_list(st, NULL, 0, &list, &n, &e), 0);
  ck_assert_uint_eq(n, 2);
  free(list);

  /* inside a caller's transaction it joins it, and rolls back with it */
  ck_assert_int_eq(exs_store_begin(st, &e), 0);
  ck_assert_int_eq(exs_store_begin(st, &e), -1); /* no nesting */
  strcpy(r.address, "carol@contoso.com");
  ck_assert_int_eq(exs_store_save_test_result(st, &r, al, 2, &e), 0);
  ck_assert_int_eq(exs_store_rollback(st, &e), 0);
  ck_assert_int_eq(exs_store_mailbox_get(st, "carol@contoso.com", &got, &e), 0);
  ck_assert_int_eq(got.retry_count, 1);
  exs_mailbox_wipe(&got);
  exs_store_close(st);
}
END_TEST

START_TEST(batch_failing_midway_leaves_nothing)
{
  struct exs_store *st = open_store();
  struct exs_error e;
  struct exs_profile p;
  struct exs_mailbox m, *list;
  size_t n;

  ck_assert_int_eq(exs_store_begin(st, &e), 0);
  full_profile(&p, "Exchange");
  ck_assert_int_eq(exs_store_profile_put(st, &p, &e), 0);
  full_mailbox(&m, "alice@contoso.com", "Exchange");
  ck_assert_int_eq(exs_store_mailbox_put(st, &m, &e), 0);
  full_mailbox(&m, "bob@contoso.com", "NoSuchProfile");
  ck_assert_int_eq(exs_store_mailbox_put(st, &m, &e), -1);
  ck_assert_int_eq(exs_store_rollback(st, &e), 0);
  ck_assert_int_eq(exs_store_profile_get(st, "Exchange", &p, &e), EXS_STORE_NOT_FOUND);
  ck_assert_int_eq(exs_store_mailbox_list(st, NULL, 0, &list, &n, &e), 0);
  ck_assert_uint_eq(n, 0);
  free(list);

  /* closing with an open transaction rolls it back */
  ck_assert_int_eq(exs_store_begin(st, &e), 0);
  full_profile(&p, "Exchange");
  ck_assert_int_eq(exs_store_profile_put(st, &p, &e), 0);
  exs_store_close(st);
  st = open_store();
  ck_assert_int_eq(exs_store_profile_get(st, "Exchange", &p, &e), EXS_STORE_NOT_FOUND);
  exs_store_close(st);
}
END_TEST

START_TEST(import_keeps_results_and_passwords)
{
  struct exs_store *st = open_store();
  struct exs_error e;
  struct exs_org o;
  struct exs_profile p[2], got;
  struct exs_mailbox m[2], gm;

  exs_org_defaults(&o);
  strcpy(o.id, "org-1");
  full_profile(&p[0], "Exchange");
  full_mailbox(&m[0], "alice@contoso.com", "Exchange");
  ck_assert_int_eq(exs_store_import(st, &o, p, 1, m, 1, &e), 0);

  /* Test & Enable ran in between */
  ck_assert_int_eq(exs_store_mailbox_get(st, "alice@contoso.com", &gm, &e), 0);
  gm.retry_count = 9;
  gm.enabled[EXS_WL_ACT] = true;
  ck_assert_int_eq(exs_store_save_test_result(st, &gm, NULL, 0, &e), 0);

  /* re-import without passwords, with a changed configuration */
  full_profile(&p[0], "Exchange");
  p[0].password[0] = 0;
  p[0].max_connections = 5;
  full_mailbox(&m[0], "alice@contoso.com", "Exchange");
  m[0].password[0] = 0;               /* not given: the stored one stays */
  strcpy(m[0].name, "Alice Renamed"); /* a change that re-opens no verdict */
  m[0].approval = EXS_APPROVAL_APPROVED;
  full_mailbox(&m[1], "new@contoso.com", "Exchange");
  ck_assert_int_eq(exs_store_import(st, NULL, p, 1, m, 2, &e), 0);
  ck_assert_int_eq(exs_store_profile_get(st, "Exchange", &got, &e), 0);
  ck_assert_int_eq(got.max_connections, 5);
  ck_assert_str_eq(got.password, "Canary-Profile-Pw-5150");
  ck_assert_int_eq(exs_store_mailbox_get(st, "alice@contoso.com", &gm, &e), 0);
  ck_assert_int_eq(gm.approval, EXS_APPROVAL_APPROVED);
  ck_assert_int_eq(gm.retry_count, 9);
  ck_assert(gm.enabled[EXS_WL_ACT]);
  ck_assert_str_eq(gm.password, "Canary-Mailbox-Pw-8086");
  ck_assert_str_eq(gm.processing_host, "worker-1");

  /* a changed delivery method re-opens that workload's verdict (docs/test-enable.md, Alerts, retry
   * and disable) */
  m[0].act = EXS_ACT_SSYNC;
  ck_assert_int_eq(exs_store_import(st, NULL, p, 1, m, 1, &e), 0);
  ck_assert_int_eq(exs_store_mailbox_get(st, "alice@contoso.com", &gm, &e), 0);
  ck_assert(!gm.enabled[EXS_WL_ACT]);
  ck_assert_int_eq(gm.status[EXS_WL_ACT], EXS_STATUS_NOT_RUN);
  ck_assert_int_eq(gm.retry_count, 9);
  /* so does a profile's new protocol, for every mailbox of the profile */
  gm.enabled[EXS_WL_INCOMING] = true;
  gm.status[EXS_WL_INCOMING] = EXS_STATUS_SUCCESS;
  ck_assert_int_eq(exs_store_save_test_result(st, &gm, NULL, 0, &e), 0);
  p[0].protocol = EXS_AUTH_BASIC;
  ck_assert_int_eq(exs_store_import(st, NULL, p, 1, NULL, 0, &e), 0);
  ck_assert_int_eq(exs_store_mailbox_get(st, "alice@contoso.com", &gm, &e), 0);
  ck_assert(!gm.enabled[EXS_WL_INCOMING]);
  ck_assert_int_eq(gm.status[EXS_WL_INCOMING], EXS_STATUS_NOT_RUN);

  /* one bad mailbox: nothing of the import stays */
  full_profile(&p[1], "Second");
  full_mailbox(&m[0], "third@contoso.com", "Second");
  full_mailbox(&m[1], "fourth@contoso.com", "Missing");
  ck_assert_int_eq(exs_store_import(st, NULL, &p[1], 1, m, 2, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.message, "Missing"));
  ck_assert_int_eq(exs_store_profile_get(st, "Second", &got, &e), EXS_STORE_NOT_FOUND);
  ck_assert_int_eq(exs_store_mailbox_get(st, "third@contoso.com", &gm, &e), EXS_STORE_NOT_FOUND);
  ck_assert_int_eq(exs_store_org_get(st, &o, &e), 0);
  ck_assert_str_eq(o.id, "org-1");
  exs_profile_wipe(&got);
  exs_mailbox_wipe(&gm);
  exs_store_close(st);
}
END_TEST

static int count_rows(const char *table)
{
  sqlite3 *db;
  sqlite3_stmt *s;
  char sql[128];
  int n = -1;

  snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
  if(pg) {
    PGresult *r = pg_sql(false, sql, true);
    n = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
  }
  ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
  ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
  if(sqlite3_step(s) == SQLITE_ROW)
    n = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return n;
}

/* SQL around the store, as someone who can write the database would. */
static void raw_exec(const char *sql)
{
  sqlite3 *db;
  char *msg = NULL;

  if(pg) {
    PQclear(pg_sql(false, sql, true));
    return;
  }
  ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
  ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s", msg ? msg : "");
  sqlite3_close(db);
}

/* Whether sql is refused by the database. */
static bool raw_refused(const char *sql)
{
  sqlite3 *db;
  bool refused;

  if(pg) {
    PGresult *r = pg_sql(false, sql, false);
    refused = PQresultStatus(r) != PGRES_COMMAND_OK;
    PQclear(r);
    return refused;
  }
  ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
  refused = sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK;
  sqlite3_close(db);
  return refused;
}

START_TEST(migrates_an_older_file)
{
  struct exs_error e;
  struct exs_store *st;
  struct exs_mailbox m;
  struct exs_activity a;

  st = exs_store_open_version(dbpath, keypath, 1, &e);
  ck_assert_msg(st != NULL, "%s", e.message);
  ck_assert_int_eq(exs_store_schema_version(st), 1);
  exs_store_close(st);
  /* a version-1 database with data written by a version-1 program */
  raw_exec("INSERT INTO profiles(name, incoming_url) VALUES('Exchange', 'https://m/EWS');"
           "INSERT INTO mailboxes(address, name, profile, approval, status_incoming, "
           "enabled_incoming, retry_count) VALUES('alice@contoso.com', 'Alice', 'Exchange', 1, "
           "1, 1, 5);");
  ck_assert_int_eq(count_rows("schema_migrations"), 1);

  st = open_store();
  ck_assert_int_eq(exs_store_schema_version(st), EXS_STORE_SCHEMA_VERSION);
  ck_assert_int_eq(exs_store_mailbox_get(st, "alice@contoso.com", &m, &e), 0);
  ck_assert_str_eq(m.name, "Alice");
  ck_assert_str_eq(m.profile, "Exchange");
  ck_assert_int_eq(m.approval, EXS_APPROVAL_APPROVED);
  ck_assert_int_eq(m.status[EXS_WL_INCOMING], EXS_STATUS_SUCCESS);
  ck_assert(m.enabled[EXS_WL_INCOMING]);
  ck_assert_int_eq(m.retry_count, 5);
  ck_assert_int_eq(m.items_processed, 0); /* a column added by version 2 */
  ck_assert_str_eq(m.processing_host, "");
  memset(&a, 0, sizeof(a));
  strcpy(a.mailbox, "alice@contoso.com");
  strcpy(a.state, "received");
  strcpy(a.exchange_item_id, "X");
  ck_assert_int_eq(exs_store_activity_add(st, &a, &e), 0);
  ck_assert_int_eq(exs_store_check(st, &e), 0);
  exs_store_close(st);
  ck_assert_int_eq(count_rows("schema_migrations"), EXS_STORE_SCHEMA_VERSION);

  /* reopening applies nothing twice */
  st = open_store();
  exs_store_close(st);
  ck_assert_int_eq(count_rows("schema_migrations"), EXS_STORE_SCHEMA_VERSION);
}
END_TEST

static char *raw_text(const char *sql)
{
  sqlite3 *db;
  sqlite3_stmt *s;
  char *v = NULL;

  if(pg) {
    PGresult *r = pg_sql(false, sql, true);
    if(PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
      v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    ck_assert_ptr_nonnull(v);
    return v;
  }
  ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
  ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
  if(sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
    v = strdup((const char *)sqlite3_column_text(s, 0));
  sqlite3_finalize(s);
  sqlite3_close(db);
  ck_assert_ptr_nonnull(v);
  return v;
}

/* Issue 12: a sealed password is bound to its row and column (AES-GCM
 * additional data), so one copied into another row or column no longer
 * opens; the migration re-seals the values an older store holds. */
START_TEST(sealed_values_bound_to_their_row)
{
  struct exs_error e;
  struct exs_store *st;
  struct exs_profile p;
  struct exs_mailbox m;
  char *before, *after;

  st = exs_store_open_version(dbpath, keypath, 5, &e);
  ck_assert_msg(st != NULL, "%s", e.message);
  full_profile(&p, "Exchange");
  strcpy(p.password, "Canary-In-Pw-1");
  p.same_outgoing = false;
  strcpy(p.out_password, "Canary-Out-Pw-2");
  ck_assert_msg(exs_store_profile_put(st, &p, &e) == 0, "%s", e.message);
  full_mailbox(&m, "alice@contoso.com", "Exchange");
  strcpy(m.password, "Canary-Alice-Pw-3");
  ck_assert_msg(exs_store_mailbox_put(st, &m, &e) == 0, "%s", e.message);
  full_mailbox(&m, "bob@contoso.com", "Exchange");
  strcpy(m.password, "Canary-Bob-Pw-4");
  ck_assert_int_eq(exs_store_mailbox_put(st, &m, &e), 0);
  exs_store_close(st);
  before = raw_text("SELECT password_enc FROM mailboxes WHERE address = 'alice@contoso.com'");

  /* the migration re-seals: new blobs, same passwords */
  st = open_store();
  ck_assert_int_eq(exs_store_schema_version(st), EXS_STORE_SCHEMA_VERSION);
  after = raw_text("SELECT password_enc FROM mailboxes WHERE address = 'alice@contoso.com'");
  ck_assert_str_ne(before, after);
  free(before);
  free(after);
  ck_assert_int_eq(exs_store_mailbox_get(st, "alice@contoso.com", &m, &e), 0);
  ck_assert_str_eq(m.password, "Canary-Alice-Pw-3");
  ck_assert_int_eq(exs_store_mailbox_get(st, "bob@contoso.com", &m, &e), 0);
  ck_assert_str_eq(m.password, "Canary-Bob-Pw-4");
  ck_assert_msg(exs_store_profile_get(st, "Exchange", &p, &e) == 0, "%s", e.message);
  ck_assert_str_eq(p.password, "Canary-In-Pw-1");
  ck_assert_str_eq(p.out_password, "Canary-Out-Pw-2");
  /* an address written in another case keeps its password */
  full_mailbox(&m, "BOB@Contoso.com", "Exchange");
  strcpy(m.password, "Canary-Bob-Pw-5");
  ck_assert_int_eq(exs_store_mailbox_put(st, &m, &e), 0);
  ck_assert_int_eq(exs_store_mailbox_get(st, "bob@contoso.com", &m, &e), 0);
  ck_assert_str_eq(m.password, "Canary-Bob-Pw-5");
  exs_store_close(st);

  /* someone who can write the store swaps values: they no longer open */
  raw_exec("UPDATE mailboxes SET password_enc = (SELECT password_enc FROM mailboxes WHERE "
           "address = 'BOB@Contoso.com') WHERE address = 'alice@contoso.com';"
           "UPDATE profiles SET out_password_enc = password_enc;");
  st = open_store();
  exs_error_clear(&e);
  ck_assert_int_eq(exs_store_mailbox_get(st, "alice@contoso.com", &m, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.message, "alice@contoso.com"));
  ck_assert_ptr_null(strstr(e.message, "Canary"));
  ck_assert_str_eq(m.password, "");
  exs_error_clear(&e);
  ck_assert_int_eq(exs_store_profile_get(st, "Exchange", &p, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.message, "Exchange"));
  ck_assert_int_eq(exs_store_mailbox_get(st, "bob@contoso.com", &m, &e), 0);
  ck_assert_str_eq(m.password, "Canary-Bob-Pw-5");
  exs_store_close(st);
}
END_TEST

/* The migration needs the store's own key: with another one it stops with
 * a clear error and changes nothing. */
START_TEST(reseal_with_wrong_key_refused)
{
  struct exs_error e;
  struct exs_store *st;
  struct exs_mailbox m;
  char other[320], *before, *after;

  st = exs_store_open_version(dbpath, keypath, 5, &e);
  ck_assert_msg(st != NULL, "%s", e.message);
  full_mailbox(&m, "alice@contoso.com", "");
  ck_assert_int_eq(exs_store_mailbox_put(st, &m, &e), 0);
  exs_store_close(st);
  before = raw_text("SELECT password_enc FROM mailboxes");
  snprintf(other, sizeof(other), "%s/other-key", dir);
  exs_secret_free(exs_secret_open(other, &e));
  exs_error_clear(&e);
  ck_assert_ptr_null(exs_store_open(dbpath, other, &e));
  ck_assert_ptr_nonnull(strstr(e.message, "alice@contoso.com"));
  ck_assert_ptr_nonnull(strstr(e.message, "key file"));
  ck_assert_ptr_null(strstr(e.message, "Canary"));
  after = raw_text("SELECT password_enc FROM mailboxes");
  ck_assert_str_eq(before, after);
  free(before);
  free(after);
  ck_assert_int_eq(count_rows("schema_migrations"), 5);
  st = open_store();
  ck_assert_int_eq(exs_store_mailbox_get(st, "alice@contoso.com", &m, &e), 0);
  ck_assert_str_eq(m.password, "Canary-Mailbox-Pw-8086");
  exs_store_close(st);
}
END_TEST

/* The one statement path (issue 16): a callback may call the store again,
 * the same query included, and no call leaves a read transaction open
 * (another connection can checkpoint the whole WAL right after). */
struct nested {
  struct exs_store *st;
  int seen, inner;
};

static int nested_cb(void *ctx, const struct exs_mailbox *m)
{
  struct nested *n = ctx;
  struct exs_mailbox *all = NULL, one;
  struct exs_error e;
  size_t k = 0;

  ck_assert_int_eq(exs_store_mailbox_list(n->st, NULL, 0, &all, &k, &e), 0);
  n->inner += (int)k;
  free(all);
  ck_assert_int_eq(exs_store_mailbox_get(n->st, m->address, &one, &e), 0);
  ck_assert_str_eq(one.address, m->address);
  exs_mailbox_wipe(&one);
  n->seen++;
  return 0;
}

START_TEST(nested_calls_and_no_lingering_reads)
{
  struct exs_store *st = open_store();
  struct nested n = {st, 0, 0};
  struct exs_mailbox m, *all = NULL;
  struct exs_profile p;
  struct exs_error e;
  sqlite3 *db;
  sqlite3_stmt *s;
  size_t k = 0;
  int i;

  full_profile(&p, "Exchange");
  ck_assert_int_eq(exs_store_profile_put(st, &p, &e), 0);
  for(i = 0; i < 3; i++) {
    char a[64];
    snprintf(a, sizeof(a), "user%d@contoso.com", i);
    full_mailbox(&m, a, "Exchange");
    ck_assert_int_eq(exs_store_mailbox_put(st, &m, &e), 0);
  }
  ck_assert_int_eq(exs_store_mailbox_each(st, NULL, EXS_STORE_WITH_SECRETS, nested_cb, &n, &e), 0);
  ck_assert_int_eq(n.seen, 3);
  ck_assert_int_eq(n.inner, 9);
  ck_assert_int_eq(exs_store_mailbox_list(st, "Exchange", 0, &all, &k, &e), 0);
  ck_assert_uint_eq(k, 3);
  free(all);
  ck_assert_int_eq(exs_store_profile_get(st, "Exchange", &p, &e), 0);

  if(pg) { /* no session of the database is left inside a transaction */
    PGresult *r = pg_sql(false,
                         "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                         "current_database() AND state LIKE 'idle in transaction%'",
                         true);
    ck_assert_msg(atoi(PQgetvalue(r, 0, 0)) == 0, "a store call left a transaction open");
    PQclear(r);
    exs_store_close(st);
    return;
  }
  ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
  ck_assert_int_eq(sqlite3_exec(db,
                                "INSERT INTO jobs(kind, state, created) VALUES('x', "
                                "'queued', 0)",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &s, NULL),
                   SQLITE_OK);
  ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
  ck_assert_msg(sqlite3_column_int(s, 0) == 0, "a reader of the store still holds the WAL");
  sqlite3_finalize(s);
  sqlite3_close(db);
  exs_store_close(st);
}
END_TEST

START_TEST(newer_schema_refused)
{
  struct exs_error e;
  struct exs_store *st = open_store();

  exs_store_close(st);
  raw_exec(pg ? "INSERT INTO schema_migrations(version, applied_at) VALUES(99, 0)"
              : "PRAGMA user_version = 99");
  exs_error_clear(&e);
  ck_assert_ptr_null(exs_store_open(dbpath, keypath, &e));
  ck_assert_ptr_nonnull(strstr(e.message, "newer"));
  ck_assert_int_eq(e.category, EXS_CAT_CONFIG);
}
END_TEST

START_TEST(not_a_database_refused)
{
  struct exs_error e;
  FILE *f = fopen(dbpath, "w");

  fputs("this is not an SQLite database, just some text that is long enough to matter..........."
        "................................................................................",
        f);
  fclose(f);
  exs_error_clear(&e);
  ck_assert_ptr_null(exs_store_open(dbpath, keypath, &e));
  ck_assert_ptr_nonnull(strstr(e.message, dbpath));
}
END_TEST

/* A writer killed with SIGKILL at an arbitrary point inside a run of
 * multi-row transactions leaves a consistent database: every batch is there
 * completely or not at all. */
#define BATCH 50

static void writer(int fd, bool commit_forever)
{
  struct exs_error e;
  struct exs_store *st = exs_store_open(dbpath, keypath, &e);
  struct exs_alert a;
  struct exs_mailbox m;
  int b, i;
  char c = 'x';

  if(!st)
    _exit(2);
  for(b = 0;; b++) {
    if(exs_store_begin(st, &e))
      _exit(3);
    for(i = 0; i < BATCH; i++) {
      memset(&a, 0, sizeof(a));
      a.time = 1767225600;
      snprintf(a.mailbox, sizeof(a.mailbox), "batch%d@contoso.com", b);
      a.severity = EXS_SEV_WARNING;
      a.category = EXS_CAT_SERVER;
      snprintf(a.message, sizeof(a.message), "row %d of batch %d", i, b);
      if(exs_store_alert_add(st, &a, &e))
        _exit(4);
      if(i == BATCH / 2) {
        exs_mailbox_defaults(&m);
        snprintf(m.address, sizeof(m.address), "batch%d@contoso.com", b);
        strcpy(m.password, "Canary-Kill");
        if(exs_store_mailbox_put(st, &m, &e))
          _exit(5);
        if(!commit_forever && write(fd, &c, 1) != 1) /* mid-transaction: tell the parent */
          _exit(6);
      }
    }
    if(!commit_forever) {
      pause(); /* wait to be killed with the transaction open */
      _exit(7);
    }
    if(exs_store_commit(st, &e))
      _exit(8);
    if(write(fd, &c, 1) != 1)
      _exit(6);
  }
}

static void kill_writer(bool commit_forever, int commits_before_kill)
{
  struct exs_error e;
  struct exs_store *st;
  struct exs_alert *list;
  struct exs_mailbox *mbx;
  size_t n, nm;
  int fds[2], status, k;
  pid_t pid;
  char c;

  ck_assert_int_eq(pipe(fds), 0);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if(pid == 0) {
    close(fds[0]);
    writer(fds[1], commit_forever);
  }
  close(fds[1]);
  for(k = 0; k < commits_before_kill; k++)
    ck_assert_int_eq(read(fds[0], &c, 1), 1);
  ck_assert_int_eq(kill(pid, SIGKILL), 0);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  close(fds[0]);

  st = open_store();
  ck_assert_msg(exs_store_check(st, &e) == 0, "%s", e.message);
  ck_assert_int_eq(exs_store_alert_list(st, NULL, 0, &list, &n, &e), 0);
  ck_assert_int_eq(exs_store_mailbox_list(st, NULL, 0, &mbx, &nm, &e), 0);
  ck_assert_msg(n % BATCH == 0, "%zu alerts: a batch was torn", n);
  ck_assert_uint_eq(n / BATCH, nm);
  if(!commit_forever)
    ck_assert_uint_eq(n, 0);
  else
    ck_assert_uint_ge(nm, (size_t)commits_before_kill);
  free(list);
  free(mbx);
  exs_store_close(st);
}

START_TEST(sigkill_mid_transaction_leaves_none)
{
  kill_writer(false, 1);
}
END_TEST

START_TEST(sigkill_during_commits_leaves_whole_batches)
{
  kill_writer(true, 3 + _i * 7);
}
END_TEST

static bool file_contains(const char *path, const char *needle)
{
  FILE *f = fopen(path, "rb");
  char *data;
  size_t n;
  long len;
  bool found;

  if(!f)
    return false;
  fseek(f, 0, SEEK_END);
  len = ftell(f);
  fseek(f, 0, SEEK_SET);
  data = malloc((size_t)len + 1);
  n = fread(data, 1, (size_t)len, f);
  fclose(f);
  found = memmem(data, n, needle, strlen(needle)) != NULL;
  free(data);
  return found;
}

/* The column holds a sealed value, and a plaintext written around the
 * store is refused by the schema (both databases). */
START_TEST(password_sealed_in_the_column)
{
  struct exs_store *st = open_store();
  struct exs_error e;
  struct exs_profile p;
  char *v;

  full_profile(&p, "Exchange");
  strcpy(p.password, "Canary-Plain-9431");
  ck_assert_int_eq(exs_store_profile_put(st, &p, &e), 0);
  exs_store_close(st);
  v = raw_text("SELECT password_enc FROM profiles");
  ck_assert_int_eq(strncmp(v, "v1:", 3), 0);
  ck_assert_ptr_null(strstr(v, "Canary"));
  free(v);
  ck_assert(raw_refused("UPDATE profiles SET password_enc = 'plain'"));
}
END_TEST

START_TEST(password_never_in_plaintext_on_disk)
{
  struct exs_store *st = open_store();
  struct exs_error e;
  struct exs_profile p;
  struct exs_mailbox m;
  char wal[320];
  struct stat sb;

  full_profile(&p, "Exchange");
  strcpy(p.password, "Canary-Plain-9431");
  ck_assert_int_eq(exs_store_profile_put(st, &p, &e), 0);
  full_mailbox(&m, "alice@contoso.com", "Exchange");
  strcpy(m.password, "Canary-Plain-9431");
  ck_assert_int_eq(exs_store_mailbox_put(st, &m, &e), 0);
  /* while open, the WAL holds the pages */
  snprintf(wal, sizeof(wal), "%s-wal", dbpath);
  ck_assert(!file_contains(wal, "Canary-Plain"));
  ck_assert(!file_contains(dbpath, "Canary-Plain"));
  exs_store_close(st);
  ck_assert(!file_contains(dbpath, "Canary-Plain"));
  ck_assert(!file_contains(wal, "Canary-Plain"));
  ck_assert(file_contains(dbpath, "alice@contoso.com")); /* the search itself works */
  ck_assert_int_eq(stat(dbpath, &sb), 0);
  ck_assert_int_eq(sb.st_mode & 077, 0);
}
END_TEST

START_TEST(wrong_key_file_is_a_clear_error)
{
  struct exs_store *st = open_store();
  struct exs_error e;
  struct exs_mailbox m;
  char other[320];

  full_mailbox(&m, "alice@contoso.com", "");
  ck_assert_int_eq(exs_store_mailbox_put(st, &m, &e), 0);
  exs_store_close(st);
  snprintf(other, sizeof(other), "%s/other-key", dir);
  /* a missing key file is not created for a store with sealed passwords */
  exs_error_clear(&e);
  ck_assert_ptr_null(exs_store_open(dbpath, other, &e));
  ck_assert_ptr_nonnull(strstr(e.message, other));
  ck_assert_ptr_nonnull(strstr(e.message, "missing"));
  ck_assert_int_eq(e.category, EXS_CAT_CONFIG);
  ck_assert_int_ne(access(other, F_OK), 0);
  /* another existing key: opens, but the passwords do not */
  exs_secret_free(exs_secret_open(other, &e));
  st = exs_store_open(dbpath, other, &e);
  ck_assert_ptr_nonnull(st);
  exs_error_clear(&e);
  ck_assert_int_eq(exs_store_mailbox_get(st, "alice@contoso.com", &m, &e), -1);
  ck_assert_ptr_nonnull(strstr(e.message, "wrong key"));
  ck_assert_ptr_nonnull(strstr(e.message, "alice@contoso.com"));
  ck_assert_ptr_null(strstr(e.message, "Canary"));
  ck_assert_str_eq(m.password, "");
  exs_store_close(st);
  exs_store_close(NULL);
}
END_TEST

/* The root of issue 12's corruption: a second handle opened and closed in
 * the same process must leave the first handle's lock on the database file
 * in place (closing any descriptor of a file drops all of a process's POSIX
 * locks on it), or another process may checkpoint the WAL under it. A child
 * process looks for the lock with F_GETLK. */
static int lock_seen_by_child(void)
{
  pid_t pid = fork();
  int status = 0;

  ck_assert_int_ge(pid, 0);
  if(pid == 0) {
    struct flock fl;
    int fd = open(dbpath, O_RDONLY);
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET; /* the whole file */
    if(fd < 0 || fcntl(fd, F_GETLK, &fl))
      _exit(2);
    _exit(fl.l_type == F_UNLCK ? 0 : 1);
  }
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status));
  return WEXITSTATUS(status);
}

START_TEST(another_handle_keeps_the_locks)
{
  struct exs_store *a = open_store(), *b;
  struct exs_error e;

  ck_assert_int_eq(exs_store_org_get(a, &(struct exs_org){0}, &e), 0);
  ck_assert_int_eq(lock_seen_by_child(), 1);
  for(int i = 0; i < 3; i++) {
    b = open_store();
    exs_store_close(b);
    ck_assert_msg(lock_seen_by_child() == 1, "handle %d dropped the first handle's lock", i);
  }
  exs_store_close(a);
}
END_TEST

/* The store file is private: created 0600 whatever the umask, an existing
 * looser one (and its WAL) tightened, a symbolic link refused. */
START_TEST(store_file_private_and_no_symlink)
{
  struct exs_store *st;
  struct exs_error e;
  struct stat sb;
  char wal[320], link_path[320];
  mode_t old = umask(0);

  st = open_store();
  umask(old);
  ck_assert_int_eq(stat(dbpath, &sb), 0);
  ck_assert_int_eq(sb.st_mode & 0777, 0600);
  exs_store_close(st);

  ck_assert_int_eq(chmod(dbpath, 0644), 0);
  snprintf(wal, sizeof(wal), "%s-wal", dbpath);
  ck_assert_int_eq(close(open(wal, O_WRONLY | O_CREAT, 0666)), 0);
  ck_assert_int_eq(chmod(wal, 0666), 0);
  st = open_store();
  ck_assert_int_eq(stat(dbpath, &sb), 0);
  ck_assert_int_eq(sb.st_mode & 0777, 0600);
  ck_assert_int_eq(stat(wal, &sb), 0);
  ck_assert_int_eq(sb.st_mode & 077, 0);
  exs_store_close(st);

  snprintf(link_path, sizeof(link_path), "%s/link.db", dir);
  ck_assert_int_eq(symlink(dbpath, link_path), 0);
  exs_error_clear(&e);
  ck_assert_ptr_null(exs_store_open(link_path, keypath, &e));
  ck_assert_msg(strstr(e.message, "symbolic link") != NULL, "%s", e.message);
  ck_assert_ptr_nonnull(strstr(e.message, link_path));
  /* a dangling one is not followed to create a file elsewhere */
  snprintf(wal, sizeof(wal), "%s/elsewhere.db", dir);
  ck_assert_int_eq(unlink(link_path), 0);
  ck_assert_int_eq(symlink(wal, link_path), 0);
  ck_assert_ptr_null(exs_store_open(link_path, keypath, &e));
  ck_assert_int_ne(access(wal, F_OK), 0);
}
END_TEST

/* PostgreSQL: a password in the connection string is refused, without
 * repeating it; libpq's own means are the way (the cluster's TCP URI
 * works through its PGPASSFILE). */
START_TEST(pg_password_in_the_uri_refused)
{
  static const char *const refused[] = {
      "postgresql://exsync:Canary-Uri-Pw@127.0.0.1:5432/x",
      "postgres://exsync:Canary-Uri-Pw@localhost/x?sslmode=require",
      "host=/tmp dbname=x password=Canary-Uri-Pw",
      "postgresql://exsync@localhost/x?password=Canary-Uri-Pw",
  };
  struct exs_error e;

  for(size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
    exs_error_clear(&e);
    ck_assert_ptr_null(exs_store_open(refused[i], keypath, &e));
    ck_assert_msg(strstr(e.message, "password") && strstr(e.message, "PGPASSFILE"), "%s",
                  e.message);
    ck_assert_msg(!strstr(e.message, "Canary"), "%s", e.message);
    ck_assert_int_eq(e.category, EXS_CAT_CONFIG);
  }
}
END_TEST

/* Errors name the database and what failed; TLS settings reach libpq (this
 * cluster has no TLS, so sslmode=require cannot connect). */
START_TEST(pg_connect_errors_name_the_database)
{
  struct exs_error e;
  char uri[700];

  snprintf(uri, sizeof(uri), "postgresql://exsync@/nosuchdb?host=%s&port=%d", pgtest_dir(cluster),
           pgtest_port(cluster));
  exs_error_clear(&e);
  ck_assert_ptr_null(exs_store_open(uri, keypath, &e));
  ck_assert_msg(strstr(e.message, uri) && strstr(e.message, "cannot connect") &&
                    strstr(e.message, "nosuchdb"),
                "%s", e.message);
  snprintf(uri, sizeof(uri), "postgresql://exsync@127.0.0.1:%d/postgres?sslmode=require",
           pgtest_port(cluster));
  exs_error_clear(&e);
  ck_assert_ptr_null(exs_store_open(uri, keypath, &e));
  ck_assert_msg(strstr(e.message, "SSL"), "%s", e.message);
}
END_TEST

/* Several processes opening one new database at once: the migrations run
 * once, under the writer lock, and every process gets a working store. The
 * children start together (they wait on a pipe), so they race for real. */
START_TEST(pg_concurrent_first_open_migrates_once)
{
  enum { N = 4 };
  pid_t pids[N];
  int go[2], status, i;

  ck_assert_int_eq(pipe(go), 0);
  for(i = 0; i < N; i++) {
    pids[i] = fork();
    ck_assert_int_ge(pids[i], 0);
    if(pids[i] == 0) {
      struct exs_error e;
      struct exs_store *st;
      struct exs_mailbox m;
      char c;
      close(go[1]);
      if(read(go[0], &c, 1) != 0)
        _exit(9);
      st = exs_store_open(dbpath, keypath, &e);
      if(!st) {
        fprintf(stderr, "child %d: %s\n", i, e.message);
        _exit(2);
      }
      exs_mailbox_defaults(&m);
      snprintf(m.address, sizeof(m.address), "user%d@contoso.com", i);
      if(exs_store_mailbox_put(st, &m, &e))
        _exit(3);
      exs_store_close(st);
      _exit(0);
    }
  }
  close(go[0]);
  close(go[1]); /* all of them go */
  for(i = 0; i < N; i++) {
    ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status %d", i, status);
  }
  ck_assert_int_eq(count_rows("schema_migrations"), EXS_STORE_SCHEMA_VERSION);
  ck_assert_int_eq(count_rows("mailboxes"), N);
}
END_TEST

/* The sessions of the test database, once the server has ended them. */
static void terminate_sessions(void)
{
  char sql[300];
  time_t deadline = exs_now() + 30;
  PGresult *r;
  int left = -1;

  snprintf(sql, sizeof(sql),
           "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 's%ld'",
           (long)getpid());
  PQclear(pg_sql(true, sql, true));
  snprintf(sql, sizeof(sql), "SELECT count(*) FROM pg_stat_activity WHERE datname = 's%ld'",
           (long)getpid());
  while(left != 0 && exs_now() < deadline) { /* poll: the backend exits on its own time */
    r = pg_sql(true, sql, true);
    left = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    if(left)
      usleep(20 * 1000);
  }
  ck_assert_msg(left == 0, "the test database's sessions did not end");
}

/* A session the server ended (restart, failover, idle timeout) is opened
 * again by the next call; one that ended inside a transaction is not until
 * the caller rolls back, and what the transaction wrote is gone. */
START_TEST(pg_reconnects_after_the_session_died)
{
  struct exs_store *st = open_store();
  struct exs_mailbox m;
  struct exs_error e;
  int rc;

  full_mailbox(&m, "alice@contoso.com", "");
  ck_assert_int_eq(exs_store_mailbox_put(st, &m, &e), 0);
  terminate_sessions();
  exs_error_clear(&e);
  rc = exs_store_mailbox_get(st, "alice@contoso.com", &m, &e); /* may meet the dead session */
  if(rc)
    ck_assert_msg(rc == -1 && strstr(e.message, dbpath), "%d %s", rc, e.message);
  ck_assert_msg(exs_store_mailbox_get(st, "alice@contoso.com", &m, &e) == 0, "%s", e.message);
  ck_assert_str_eq(m.password, "Canary-Mailbox-Pw-8086");

  ck_assert_int_eq(exs_store_begin(st, &e), 0);
  full_mailbox(&m, "bob@contoso.com", "");
  ck_assert_int_eq(exs_store_mailbox_put(st, &m, &e), 0);
  terminate_sessions();
  full_mailbox(&m, "carol@contoso.com", "");
  ck_assert_int_eq(exs_store_mailbox_put(st, &m, &e), -1);
  exs_error_clear(&e);
  ck_assert_int_eq(exs_store_mailbox_get(st, "alice@contoso.com", &m, &e), -1);
  ck_assert_msg(strstr(e.message, "inside a transaction"), "%s", e.message);
  ck_assert_int_eq(exs_store_commit(st, &e), -1);
  ck_assert_int_eq(exs_store_rollback(st, &e), 0);
  ck_assert_msg(exs_store_mailbox_get(st, "alice@contoso.com", &m, &e) == 0, "%s", e.message);
  ck_assert_int_eq(exs_store_mailbox_get(st, "bob@contoso.com", &m, &e), EXS_STORE_NOT_FOUND);
  ck_assert_int_eq(exs_store_mailbox_get(st, "carol@contoso.com", &m, &e), EXS_STORE_NOT_FOUND);
  exs_mailbox_wipe(&m);
  exs_store_close(st);
}
END_TEST

/* A self-signed certificate for 127.0.0.1 (and its key) in the files
 * named; owned by the cluster's user. */
static void make_cert(const char *key, const char *cert)
{
  struct passwd *pw = getuid() == 0 ? getpwnam("postgres") : NULL;
  char cmd[1400];

  snprintf(cmd, sizeof(cmd),
           "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
           "-keyout '%s' -out '%s' -days 2 -subj /CN=127.0.0.1 "
           "-addext subjectAltName=IP:127.0.0.1 2>/dev/null",
           key, cert);
  ck_assert_msg(system(cmd) == 0, "openssl could not make a test certificate");
  ck_assert_int_eq(chmod(key, 0600), 0);
  if(pw) {
    ck_assert_int_eq(chown(key, pw->pw_uid, pw->pw_gid), 0);
    ck_assert_int_eq(chown(cert, pw->pw_uid, pw->pw_gid), 0);
  }
}

/* TLS to the database when the URI asks (sslmode=verify-full with the CA):
 * the server gets a certificate, the store's connection is encrypted (the
 * server says so), and another CA is refused. Runs last: the cluster keeps
 * TLS on. */
START_TEST(pg_tls_when_the_uri_asks)
{
  char key[400], cert[400], other_key[400], other[400], sql[900], uri[1200];
  struct exs_store *st;
  struct exs_mailbox m;
  struct exs_error e;
  PGresult *r;
  PGconn *c = NULL;
  time_t deadline;

  snprintf(key, sizeof(key), "%s/server.key", pgtest_dir(cluster));
  snprintf(cert, sizeof(cert), "%s/server.crt", pgtest_dir(cluster));
  snprintf(other_key, sizeof(other_key), "%s/other.key", dir);
  snprintf(other, sizeof(other), "%s/other.crt", dir);
  make_cert(key, cert);
  make_cert(other_key, other);
  snprintf(sql, sizeof(sql), "ALTER SYSTEM SET ssl_cert_file = '%s'", cert);
  PQclear(pg_sql(true, sql, true));
  snprintf(sql, sizeof(sql), "ALTER SYSTEM SET ssl_key_file = '%s'", key);
  PQclear(pg_sql(true, sql, true));
  PQclear(pg_sql(true, "ALTER SYSTEM SET ssl = on", true));
  PQclear(pg_sql(true, "SELECT pg_reload_conf()", true));

  snprintf(uri, sizeof(uri),
           "postgresql://exsync@127.0.0.1:%d/s%ld?sslmode=verify-full&sslrootcert=%s",
           pgtest_port(cluster), (long)getpid(), cert);
  /* the reload is asynchronous: poll until the server speaks TLS */
  for(deadline = exs_now() + 30; exs_now() < deadline;) {
    c = PQconnectdb(uri);
    if(PQstatus(c) == CONNECTION_OK)
      break;
    PQfinish(c);
    c = NULL;
    usleep(50 * 1000);
  }
  ck_assert_msg(c != NULL, "the test cluster never spoke TLS");
  PQfinish(c);

  exs_error_clear(&e);
  st = exs_store_open(uri, keypath, &e);
  ck_assert_msg(st != NULL, "%s", e.message);
  full_mailbox(&m, "alice@contoso.com", "");
  ck_assert_int_eq(exs_store_mailbox_put(st, &m, &e), 0);
  snprintf(sql, sizeof(sql),
           "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING(pid) "
           "WHERE a.datname = 's%ld' AND s.ssl",
           (long)getpid());
  r = pg_sql(true, sql, true);
  ck_assert_msg(atoi(PQgetvalue(r, 0, 0)) >= 1, "the store's connection is not encrypted");
  PQclear(r);
  exs_store_close(st);

  snprintf(uri, sizeof(uri),
           "postgresql://exsync@127.0.0.1:%d/s%ld?sslmode=verify-full&sslrootcert=%s",
           pgtest_port(cluster), (long)getpid(), other);
  exs_error_clear(&e);
  ck_assert_ptr_null(exs_store_open(uri, keypath, &e));
  ck_assert_msg(strstr(e.message, "cannot connect") && strstr(e.message, "certificate"), "%s",
                e.message);
}
END_TEST

/* The cases that run on both databases. */
static void add_common(TCase *tc)
{
  tcase_add_test(tc, org_defaults_then_round_trip);
  tcase_add_test(tc, profile_round_trip_every_field);
  tcase_add_test(tc, mailbox_round_trip_every_field);
  tcase_add_test(tc, list_and_delete);
  tcase_add_test(tc, alerts_round_trip);
  tcase_add_test(tc, jobs_lifecycle);
  tcase_add_test(tc, activities_once_and_sync_states);
  tcase_add_test(tc, save_test_result_is_one_transaction);
  tcase_add_test(tc, batch_failing_midway_leaves_nothing);
  tcase_add_test(tc, import_keeps_results_and_passwords);
  tcase_add_test(tc, migrates_an_older_file);
  tcase_add_test(tc, sealed_values_bound_to_their_row);
  tcase_add_test(tc, reseal_with_wrong_key_refused);
  tcase_add_test(tc, nested_calls_and_no_lingering_reads);
  tcase_add_test(tc, newer_schema_refused);
  tcase_add_test(tc, sigkill_mid_transaction_leaves_none);
  tcase_add_loop_test(tc, sigkill_during_commits_leaves_whole_batches, 0, 4);
  tcase_add_test(tc, password_sealed_in_the_column);
  tcase_add_test(tc, wrong_key_file_is_a_clear_error);
}

static Suite *store_suite(void)
{
  Suite *s = suite_create("store");
  TCase *tc = tcase_create("sqlite"), *tp = tcase_create("postgresql");

  tcase_add_checked_fixture(tc, setup_sqlite, teardown);
  add_common(tc);
  tcase_add_test(tc, not_a_database_refused);
  tcase_add_test(tc, password_never_in_plaintext_on_disk);
  tcase_add_test(tc, another_handle_keeps_the_locks);
  tcase_add_test(tc, store_file_private_and_no_symlink);
  suite_add_tcase(s, tc);

  tcase_add_unchecked_fixture(tp, cluster_start, cluster_stop);
  tcase_add_checked_fixture(tp, setup_pg, teardown);
  tcase_set_timeout(tp, 60);
  add_common(tp);
  tcase_add_test(tp, pg_password_in_the_uri_refused);
  tcase_add_test(tp, pg_connect_errors_name_the_database);
  tcase_add_test(tp, pg_concurrent_first_open_migrates_once);
  tcase_add_test(tp, pg_reconnects_after_the_session_died);
  tcase_add_test(tp, pg_tls_when_the_uri_asks); /* last: leaves TLS on */
  suite_add_tcase(s, tp);
  return s;
}

int main(void)
{
  return tu_run(store_suite());
}

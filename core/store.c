/* store.c - the store over db.h (SQLite or PostgreSQL): open, migrations,
 * the statement path, transactions, secrets; org, profiles, mailboxes and
 * import. The other entities are in store_results.c, store_sync.c and
 * store_act.c (store_sqlite.h says what they share).
 *
 * Layout: the schema is a list of migrations (one SQL script each, applied in
 * one transaction at open, recorded in schema_migrations (and SQLite's PRAGMA
 * user_version); one text for both databases, ddl_for() says what differs). Entities with many
 * columns (profiles, mailboxes, org) are described by their field descriptors (fields.h: column
 * name, C type, offset in the struct, shared with the org file and the JSON output) that generate
 * the SQL and drive binding and reading, so a new field is one line.
 * Every statement of the entity calls, generated, static or written in
 * place, goes through one path (sq_stmt() / sq_done(), db.h): prepared once
 * per handle, cached by its SQL text, reset after every use, so no read
 * transaction stays open between calls.
 */
#include "exsync/store.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "exsync/buf.h"
#include "exsync/clock.h"
#include "exsync/faultpoint.h"
#include "exsync/secret.h"
#include "store_sqlite.h"

/* ---- schema ------------------------------------------------------------- */

static const char *const migrations[EXS_STORE_SCHEMA_VERSION] = {
    /* 1: org, profiles, mailboxes (configuration and Test & Enable), alerts */
    "CREATE TABLE schema_migrations(version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL);"
    "CREATE TABLE org("
    " id INTEGER PRIMARY KEY CHECK(id = 1), org_id TEXT, default_profile TEXT,"
    " default_incoming INTEGER NOT NULL DEFAULT 2 CHECK(default_incoming BETWEEN 0 AND 3),"
    " default_outgoing INTEGER NOT NULL DEFAULT 2 CHECK(default_outgoing BETWEEN 0 AND 2),"
    " default_act INTEGER NOT NULL DEFAULT 1 CHECK(default_act BETWEEN 0 AND 2),"
    " approve_users INTEGER NOT NULL DEFAULT 1, approve_queues INTEGER NOT NULL DEFAULT 1,"
    " alerts_errors INTEGER NOT NULL DEFAULT 1, alerts_warnings INTEGER NOT NULL DEFAULT 0,"
    " alerts_information INTEGER NOT NULL DEFAULT 1, notify_owners INTEGER NOT NULL DEFAULT 0,"
    " ignore_internal INTEGER NOT NULL DEFAULT 0, tracking_prefix TEXT,"
    " allow_credentials_non_secure INTEGER NOT NULL DEFAULT 0,"
    " allow_basic_non_secure INTEGER NOT NULL DEFAULT 0,"
    " allow_non_ssl INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE profiles("
    " id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT,"
    " autodiscover INTEGER NOT NULL DEFAULT 0, incoming_url TEXT, outgoing_url TEXT,"
    " same_outgoing INTEGER NOT NULL DEFAULT 1,"
    " retrieval INTEGER NOT NULL DEFAULT 1 CHECK(retrieval IN (0, 1, 3)),"
    " impersonation INTEGER NOT NULL DEFAULT 0, user_name TEXT,"
    " password_enc TEXT CHECK(password_enc IS NULL OR password_enc LIKE 'v1:%'),"
    " protocol INTEGER NOT NULL DEFAULT 0 CHECK(protocol BETWEEN 0 AND 3),"
    " process_from INTEGER,"
    " poll_minutes INTEGER NOT NULL DEFAULT 0 CHECK(poll_minutes BETWEEN 0 AND 1440),"
    " max_connections INTEGER NOT NULL DEFAULT 10 CHECK(max_connections BETWEEN 1 AND 300),"
    " move_undeliverable INTEGER NOT NULL DEFAULT 0, timeout_enabled INTEGER NOT NULL DEFAULT 1,"
    " timeout_ms INTEGER NOT NULL DEFAULT 100000 CHECK(timeout_ms BETWEEN 0 AND 100000),"
    " owner TEXT);"
    "CREATE TABLE mailboxes("
    " id INTEGER PRIMARY KEY, address TEXT NOT NULL UNIQUE COLLATE NOCASE, name TEXT,"
    " is_queue INTEGER NOT NULL DEFAULT 0, active INTEGER NOT NULL DEFAULT 1,"
    " profile TEXT REFERENCES profiles(name) ON UPDATE CASCADE ON DELETE SET NULL,"
    " incoming INTEGER NOT NULL DEFAULT 2 CHECK(incoming BETWEEN 0 AND 3),"
    " outgoing INTEGER NOT NULL DEFAULT 2 CHECK(outgoing BETWEEN 0 AND 2),"
    " act INTEGER NOT NULL DEFAULT 1 CHECK(act BETWEEN 0 AND 2),"
    " approval INTEGER NOT NULL DEFAULT 0 CHECK(approval BETWEEN 0 AND 3),"
    " allow_credentials INTEGER NOT NULL DEFAULT 0, user_name TEXT,"
    " password_enc TEXT CHECK(password_enc IS NULL OR password_enc LIKE 'v1:%'),"
    " sync_org_only INTEGER NOT NULL DEFAULT 0, track INTEGER NOT NULL DEFAULT 0,"
    " process_from INTEGER,"
    " status_incoming INTEGER NOT NULL DEFAULT 0 CHECK(status_incoming BETWEEN 0 AND 2),"
    " status_outgoing INTEGER NOT NULL DEFAULT 0 CHECK(status_outgoing BETWEEN 0 AND 2),"
    " status_act INTEGER NOT NULL DEFAULT 0 CHECK(status_act BETWEEN 0 AND 2),"
    " enabled_incoming INTEGER NOT NULL DEFAULT 0, enabled_outgoing INTEGER NOT NULL DEFAULT 0,"
    " enabled_act INTEGER NOT NULL DEFAULT 0, ews_url TEXT, autodiscovered_on INTEGER,"
    " test_completed_on INTEGER, retry_count INTEGER NOT NULL DEFAULT 0,"
    " transient_failures INTEGER NOT NULL DEFAULT 0, retry_at INTEGER, last_error_code TEXT,"
    " last_error TEXT, last_error_count INTEGER NOT NULL DEFAULT 0, last_error_time INTEGER);"
    "CREATE INDEX mailboxes_profile ON mailboxes(profile);"
    "CREATE TABLE alerts("
    " id INTEGER PRIMARY KEY, time INTEGER NOT NULL, mailbox TEXT COLLATE NOCASE, profile TEXT,"
    " severity TEXT NOT NULL CHECK(severity IN ('error', 'warning', 'information')),"
    " category TEXT NOT NULL, transient INTEGER NOT NULL DEFAULT 0, message TEXT NOT NULL,"
    " hint TEXT, ews_code TEXT, http_status INTEGER, url TEXT);"
    "CREATE INDEX alerts_mailbox ON alerts(mailbox, id);",

    /* 2: sync runtime fields of mailboxes, jobs, activities, sync states */
    "ALTER TABLE mailboxes ADD COLUMN postponed_until INTEGER;"
    "ALTER TABLE mailboxes ADD COLUMN last_sync_start INTEGER;"
    "ALTER TABLE mailboxes ADD COLUMN last_sync_success INTEGER;"
    "ALTER TABLE mailboxes ADD COLUMN items_processed INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE mailboxes ADD COLUMN items_failed INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE mailboxes ADD COLUMN processing_host TEXT;"
    "CREATE TABLE jobs("
    " id INTEGER PRIMARY KEY, kind TEXT NOT NULL, profile TEXT,"
    " state TEXT NOT NULL CHECK(state IN ('queued', 'running', 'done', 'failed')),"
    " total INTEGER NOT NULL DEFAULT 0, done INTEGER NOT NULL DEFAULT 0,"
    " created INTEGER NOT NULL, started INTEGER, finished INTEGER, summary TEXT);"
    "CREATE TABLE activities("
    " id INTEGER PRIMARY KEY,"
    " mailbox TEXT NOT NULL COLLATE NOCASE"
    "  REFERENCES mailboxes(address) ON UPDATE CASCADE ON DELETE CASCADE,"
    " direction TEXT NOT NULL CHECK(direction IN ('incoming', 'outgoing')),"
    " state TEXT NOT NULL, exchange_item_id TEXT, internet_message_id TEXT,"
    " subject TEXT, sender TEXT, recipients TEXT, body TEXT,"
    " created INTEGER NOT NULL, received INTEGER, sent INTEGER, modified INTEGER,"
    " UNIQUE(mailbox, exchange_item_id), UNIQUE(mailbox, internet_message_id));"
    "CREATE INDEX activities_state ON activities(mailbox, state, id);"
    "CREATE TABLE sync_states("
    " mailbox TEXT NOT NULL COLLATE NOCASE"
    "  REFERENCES mailboxes(address) ON UPDATE CASCADE ON DELETE CASCADE,"
    " folder TEXT NOT NULL, state TEXT NOT NULL, updated INTEGER NOT NULL,"
    " PRIMARY KEY(mailbox, folder));",

    /* 3 (sync branch): outgoing attempts and reasons, tracking tokens, ACT items */
    "ALTER TABLE activities ADD COLUMN tracking_token TEXT;"
    "ALTER TABLE activities ADD COLUMN reason TEXT;"
    "ALTER TABLE activities ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;"
    "CREATE INDEX activities_pending ON activities(state, mailbox, id);"
    "CREATE TABLE act_items("
    " id INTEGER PRIMARY KEY,"
    " mailbox TEXT NOT NULL COLLATE NOCASE"
    "  REFERENCES mailboxes(address) ON UPDATE CASCADE ON DELETE CASCADE,"
    " kind TEXT NOT NULL CHECK(kind IN ('appointment', 'contact', 'task')),"
    " exchange_id TEXT, change_key TEXT, subject TEXT, body TEXT, start TEXT, \"end\" TEXT,"
    " location TEXT, status TEXT, given_name TEXT, surname TEXT, company TEXT, email TEXT,"
    " crm_modified INTEGER NOT NULL DEFAULT 0, exchange_modified INTEGER NOT NULL DEFAULT 0,"
    " synced_at INTEGER NOT NULL DEFAULT 0, dirty INTEGER NOT NULL DEFAULT 0,"
    " deleted INTEGER NOT NULL DEFAULT 0, conflict TEXT,"
    " UNIQUE(mailbox, exchange_id));"
    "CREATE INDEX act_items_dirty ON act_items(mailbox, dirty);",

    /* 4 (verdicts branch): the profile's own outgoing settings, copied from
     * the incoming ones for existing profiles (same settings for outgoing) */
    "ALTER TABLE profiles ADD COLUMN out_retrieval INTEGER NOT NULL DEFAULT 1"
    " CHECK(out_retrieval IN (0, 1, 3));"
    "ALTER TABLE profiles ADD COLUMN out_impersonation INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE profiles ADD COLUMN out_user_name TEXT;"
    "ALTER TABLE profiles ADD COLUMN out_password_enc TEXT"
    " CHECK(out_password_enc IS NULL OR out_password_enc LIKE 'v1:%');"
    "ALTER TABLE profiles ADD COLUMN out_protocol INTEGER NOT NULL DEFAULT 0"
    " CHECK(out_protocol BETWEEN 0 AND 3);"
    "UPDATE profiles SET out_retrieval = retrieval, out_impersonation = impersonation,"
    " out_user_name = user_name, out_password_enc = password_enc, out_protocol = protocol;",

    /* 5 (verdicts branch): the retry schedule of the test that set retry_at,
     * so the sync service retries on it (0: the product's 5 minutes, 10 tries) */
    "ALTER TABLE mailboxes ADD COLUMN retry_interval_s INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE mailboxes ADD COLUMN retry_max INTEGER NOT NULL DEFAULT 0;",

    /* 6 (issue 12): every sealed password bound to its row and column (the
     * AES-GCM additional data names them, secret.h); no SQL: reseal_all()
     * re-seals the values in the same transaction. */
    "",

    /* 7 (issue 17): the directory for Autodiscover's SCP lookup */
    "ALTER TABLE org ADD COLUMN ldap TEXT;"
    "ALTER TABLE org ADD COLUMN ldap_site TEXT;",

    /* 8 (issue 16): many workers on one database: who works (heartbeats,
     * ms), which mailbox each one holds (a lease with an expiry) and which
     * of a credential's connection slots (store_workers.c). A row whose
     * expires has passed is free. */
    "CREATE TABLE workers("
    " id TEXT PRIMARY KEY, host TEXT NOT NULL, pid INTEGER NOT NULL,"
    " started INTEGER NOT NULL, heartbeat INTEGER NOT NULL);"
    "CREATE TABLE leases("
    " mailbox TEXT COLLATE NOCASE PRIMARY KEY, worker TEXT NOT NULL, expires INTEGER NOT NULL);"
    "CREATE INDEX leases_worker ON leases(worker);"
    "CREATE TABLE slots("
    " credential TEXT NOT NULL, slot INTEGER NOT NULL, worker TEXT NOT NULL,"
    " expires INTEGER NOT NULL, PRIMARY KEY(credential, slot));"
    "CREATE INDEX slots_worker ON slots(worker);",
};

/* From this schema version on, sealed values are bound to their place. */
#define BOUND_SECRETS_VERSION 6

/* Every sealed column, the key column its values are bound to, and the
 * schema version that added it. */
static const struct sealed_col {
  const char *table, *key, *col;
  int since;
} sealed_cols[] = {
    {"profiles", "name", "password_enc", 1},
    {"profiles", "name", "out_password_enc", 4},
    {"mailboxes", "address", "password_enc", 1},
};

/* ---- statements ---------------------------------------------------------- */

static const char *static_sql[S_COUNT] = {
    [S_PROFILE_DELETE] = "DELETE FROM profiles WHERE name = ?",
    [S_MAILBOX_DELETE] = "DELETE FROM mailboxes WHERE address = ?",
    [S_ALERT_ADD] = "INSERT INTO alerts(time, mailbox, profile, severity, category, transient, "
                    "message, hint, ews_code, http_status, url) VALUES(?,?,?,?,?,?,?,?,?,?,?) "
                    "RETURNING id",
    [S_JOB_CREATE] = "INSERT INTO jobs(kind, profile, state, total, done, created) "
                     "VALUES(?, ?, 'queued', ?, 0, ?) RETURNING id",
    [S_JOB_PROGRESS] =
        "UPDATE jobs SET done = ?, state = 'running', started = COALESCE(started, ?) "
        "WHERE id = ?",
    [S_JOB_FINISH] = "UPDATE jobs SET state = ?, summary = ?, finished = ?, "
                     "started = COALESCE(started, ?) WHERE id = ?",
    [S_JOB_GET] =
        "SELECT id, kind, profile, state, total, done, created, started, finished, summary "
        "FROM jobs WHERE id = ?",
    [S_ACTIVITY_FIND] = "SELECT id FROM activities WHERE mailbox = ?1 AND "
                        "(exchange_item_id = ?2 OR internet_message_id = ?3) ORDER BY id LIMIT 1",
    [S_ACTIVITY_STATE] = "UPDATE activities SET state = ?1, "
                         "exchange_item_id = COALESCE(?2, exchange_item_id), modified = ?3, "
                         "sent = CASE WHEN ?1 = 'sent' THEN ?3 ELSE sent END WHERE id = ?4",
    [S_SYNC_GET] = "SELECT state FROM sync_states WHERE mailbox = ? AND folder = ?",
    [S_SYNC_PUT] = "INSERT INTO sync_states(mailbox, folder, state, updated) VALUES(?,?,?,?) "
                   "ON CONFLICT(mailbox, folder) DO UPDATE SET state = excluded.state, "
                   "updated = excluded.updated",
};

int sq_fail(struct exs_store *st, struct exs_error *err, const char *what)
{
  exs_error_set(err, EXS_CAT_CONFIG, "store %s: %s: %s", SQ(st)->path, what, db_errmsg(SQ(st)->db));
  return -1;
}

int sq_exec(struct exs_store *st, const char *sql, struct exs_error *err)
{
  if(db_exec(SQ(st)->db, sql))
    return sq_fail(st, err, "statement failed");
  return 0;
}

/* The one prepared-statement path. Every statement of the entity calls
 * comes from sq_stmt() and goes back with sq_done(): prepared once per
 * handle and kept in the connection's cache by its SQL text (db.h); reset
 * with no bindings when given back, so no read transaction outlives a
 * call. A statement still in use further up the stack (a callback calling
 * the store) is not handed out twice: the nested caller gets a fresh one. */
struct db_stmt *sq_stmt(struct exs_store *st, const char *sql, struct exs_error *err)
{
  struct db_stmt *s = db_stmt(SQ(st)->db, sql);

  if(!s)
    sq_fail(st, err, "cannot prepare a statement");
  return s;
}

/* Give a statement from sq_stmt() back (NULL is a no-op). */
void sq_done(struct exs_store *st, struct db_stmt *s)
{
  (void)st;
  db_done(s);
}

/* The statement of a generated or static SQL text by id. */
struct db_stmt *sq_prep(struct exs_store *st, enum stmt_id id, struct exs_error *err)
{
  return sq_stmt(st, SQ(st)->sql[id] ? SQ(st)->sql[id] : static_sql[id], err);
}

struct db_stmt *sq_prep_lazy(struct exs_store *st, enum stmt_id id, char *(*make)(enum stmt_id id),
                             struct exs_error *err)
{
  if(!SQ(st)->sql[id] && !(SQ(st)->sql[id] = make(id))) {
    exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
    return NULL;
  }
  return sq_prep(st, id, err);
}

/* Bind text, NULL when empty. */
void sq_bind_text(struct db_stmt *s, int i, const char *v)
{
  db_bind_text(s, i, v && *v ? v : NULL);
}

void sq_bind_time(struct db_stmt *s, int i, time_t t)
{
  if(t)
    db_bind_int64(s, i, (int64_t)t);
  else
    db_bind_null(s, i);
}

void sq_col_text(struct db_stmt *s, int i, char *buf, size_t len)
{
  const char *v = db_col_text(s, i);

  snprintf(buf, len, "%s", v ? v : "");
}

char *sq_col_dup(struct db_stmt *s, int i)
{
  const char *v = db_col_text(s, i);

  return v ? strdup(v) : NULL;
}

/* A column bound and read as a value: the row id and the sealed columns
 * have paths of their own. */
static bool plain_col(const struct exs_field *f)
{
  return f->type != EXS_FT_ROWID && !(f->flags & EXS_FIELD_SECRET);
}

/* Bind the plain columns of obj with the given flags mask (0: all) from
 * index first; returns the next index. */
int sq_bind_fields(struct db_stmt *s, const struct exs_field *f, size_t n, const void *obj,
                   unsigned mask, int first)
{
  const char *base = obj;
  size_t i;

  for(i = 0; i < n; i++) {
    const void *p = base + f[i].off;
    if(!plain_col(&f[i]) || (mask && !(f[i].flags & mask)))
      continue;
    switch(f[i].type) {
    case EXS_FT_TEXT: {
      char tmp[EXS_URL_MAX + 1];
      size_t len = strnlen(p, f[i].size);
      if(len >= sizeof(tmp))
        len = sizeof(tmp) - 1;
      memcpy(tmp, p, len); /* a full buffer may lack its terminator */
      tmp[len] = 0;
      sq_bind_text(s, first, tmp);
      break;
    }
    case EXS_FT_STR:
      sq_bind_text(s, first, *(char *const *)p);
      break;
    case EXS_FT_INT:
    case EXS_FT_ENUM:
      db_bind_int64(s, first, *(const int *)p);
      break;
    case EXS_FT_BOOL:
      db_bind_int64(s, first, *(const bool *)p ? 1 : 0);
      break;
    case EXS_FT_TIME:
      sq_bind_time(s, first, *(const time_t *)p);
      break;
    case EXS_FT_SECS:
      db_bind_int64(s, first, (int64_t) * (const time_t *)p);
      break;
    case EXS_FT_NAMED: {
      int v = *(const int *)p;
      db_bind_text(s, first, v >= 0 && (size_t)v < f[i].n_names ? f[i].names[v] : NULL);
      break;
    }
    case EXS_FT_ROWID:
      break;
    }
    first++;
  }
  return first;
}

static int enum_parse(const struct exs_field *f, const char *v)
{
  for(size_t k = 0; v && k < f->n_names; k++)
    if(!strcmp(v, f->names[k]))
      return (int)k;
  return -1;
}

int sq_read_fields(struct db_stmt *s, const struct exs_field *f, size_t n, void *obj, int first)
{
  char *base = obj;
  size_t i;

  for(i = 0; i < n; i++) {
    void *p = base + f[i].off;
    if(!plain_col(&f[i]))
      continue;
    switch(f[i].type) {
    case EXS_FT_TEXT:
      sq_col_text(s, first, p, f[i].size);
      break;
    case EXS_FT_STR:
      *(char **)p = sq_col_dup(s, first);
      if(!*(char **)p && !db_col_null(s, first))
        return -1;
      break;
    case EXS_FT_INT:
    case EXS_FT_ENUM:
      *(int *)p = (int)db_col_int64(s, first);
      break;
    case EXS_FT_BOOL:
      *(bool *)p = db_col_int64(s, first) != 0;
      break;
    case EXS_FT_TIME:
    case EXS_FT_SECS:
      *(time_t *)p = (time_t)db_col_int64(s, first);
      break;
    case EXS_FT_NAMED:
      *(int *)p = enum_parse(&f[i], db_col_text(s, first));
      break;
    case EXS_FT_ROWID:
      break;
    }
    first++;
  }
  return first;
}

/* Append fmt (the column name given twice) for the plain or the sealed
 * columns of f, comma-separated after *k earlier ones; *k counts them. */
static void add_cols(struct exs_buf *b, const struct exs_field *f, size_t n, const char *fmt,
                     bool sealed, size_t *k)
{
  size_t i;

  for(i = 0; i < n; i++) {
    if(sealed ? !(f[i].flags & EXS_FIELD_SECRET) : !plain_col(&f[i]))
      continue;
    if((*k)++)
      exs_buf_adds(b, ", ");
    exs_buf_addf(b, fmt, f[i].col, f[i].col);
  }
}

/* ---- entities: a table described once ----------------------------------- *
 *
 * Profiles and mailboxes are written and read by one path: their field
 * descriptor (fields.h: the columns, the key, the row id, the sealed
 * columns and where their plaintext lives in the struct) and their
 * statements. */

struct entity {
  const struct exs_desc *d;
  const char *pw_fmt; /* appended to a password error, with the key */
  enum stmt_id put, get;
};

static const struct entity profile_entity = {
    .d = &exs_profile_desc,
    .pw_fmt = " (password of profile '%s')",
    .put = S_PROFILE_PUT,
    .get = S_PROFILE_GET,
};
static const struct entity mailbox_entity = {
    .d = &exs_mailbox_desc,
    .pw_fmt = " (password of mailbox %s)",
    .put = S_MAILBOX_PUT,
    .get = S_MAILBOX_GET,
};

/* Where the struct keeps its row id. */
static size_t rowid_off(const struct exs_desc *d)
{
  size_t i;

  for(i = 0; i < d->n && d->fields[i].type != EXS_FT_ROWID; i++)
    ;
  return i < d->n ? d->fields[i].off : 0;
}

/* "INSERT INTO t(cols, sealed) VALUES(?...) ON CONFLICT(key) DO UPDATE SET ... RETURNING id" */
static char *upsert_sql(const struct entity *e)
{
  const struct exs_desc *d = e->d;
  struct exs_buf b;
  size_t i, k = 0;

  exs_buf_init(&b, 16384);
  exs_buf_addf(&b, "INSERT INTO %s(", d->table);
  add_cols(&b, d->fields, d->n, "%s", false, &k);
  add_cols(&b, d->fields, d->n, "%s", true, &k);
  exs_buf_adds(&b, ") VALUES(");
  for(i = 0; i < k; i++)
    exs_buf_adds(&b, i ? ", ?" : "?");
  exs_buf_addf(&b, ") ON CONFLICT(%s) DO UPDATE SET ", exs_desc_key(d)->col);
  k = 0;
  add_cols(&b, d->fields, d->n, "%s = excluded.%s", false, &k);
  add_cols(&b, d->fields, d->n, "%s = excluded.%s", true, &k);
  exs_buf_adds(&b, " RETURNING id");
  return exs_buf_steal(&b);
}

char *sq_insert_sql(const char *table, const struct exs_field *f, size_t n, const char *tail)
{
  struct exs_buf b;
  size_t i, k = 0;

  exs_buf_init(&b, 4096);
  exs_buf_addf(&b, "INSERT INTO %s(", table);
  add_cols(&b, f, n, "%s", false, &k);
  exs_buf_adds(&b, ") VALUES(");
  for(i = 0; i < k; i++)
    exs_buf_adds(&b, i ? ", ?" : "?");
  exs_buf_addf(&b, ") %s", tail);
  return exs_buf_steal(&b);
}

char *sq_select_sql(const char *table, const struct exs_field *f, size_t n, const char *tail)
{
  struct exs_buf b;
  size_t k = 1;

  exs_buf_init(&b, 4096);
  exs_buf_adds(&b, "SELECT id");
  add_cols(&b, f, n, "%s", false, &k);
  exs_buf_addf(&b, " FROM %s %s", table, tail);
  return exs_buf_steal(&b);
}

char *sq_update_sql(const char *table, const struct exs_field *f, size_t n, const char *tail)
{
  struct exs_buf b;
  size_t k = 0;

  exs_buf_init(&b, 4096);
  exs_buf_addf(&b, "UPDATE %s SET ", table);
  add_cols(&b, f, n, "%s = ?", false, &k);
  exs_buf_addf(&b, " %s", tail);
  return exs_buf_steal(&b);
}

/* "SELECT id, cols, sealed FROM t WHERE/ORDER ..." */
static char *select_sql(const struct entity *e, const char *where)
{
  struct exs_buf b;
  size_t k = 1;

  exs_buf_init(&b, 16384);
  exs_buf_adds(&b, "SELECT id");
  add_cols(&b, e->d->fields, e->d->n, "%s", false, &k);
  add_cols(&b, e->d->fields, e->d->n, "%s", true, &k);
  exs_buf_addf(&b, " FROM %s %s", e->d->table, where);
  return exs_buf_steal(&b);
}

static int generate_sql(struct exs_store *st)
{
  const struct exs_desc *org = &exs_org_desc, *mbx = &exs_mailbox_desc;
  struct exs_buf b;
  size_t i, k = 1;
  int w;

  exs_buf_init(&b, 16384);
  exs_buf_adds(&b, "INSERT INTO org(id");
  add_cols(&b, org->fields, org->n, "%s", false, &k);
  exs_buf_adds(&b, ") VALUES(1");
  for(i = 1; i < k; i++)
    exs_buf_adds(&b, ", ?");
  exs_buf_adds(&b, ") ON CONFLICT(id) DO UPDATE SET ");
  k = 0;
  add_cols(&b, org->fields, org->n, "%s = excluded.%s", false, &k);
  SQ(st)->sql[S_ORG_PUT] = exs_buf_steal(&b);

  exs_buf_adds(&b, "SELECT ");
  k = 0;
  add_cols(&b, org->fields, org->n, "%s", false, &k);
  exs_buf_adds(&b, " FROM org WHERE id = 1");
  SQ(st)->sql[S_ORG_GET] = exs_buf_steal(&b);

  SQ(st)->sql[S_PROFILE_PUT] = upsert_sql(&profile_entity);
  SQ(st)->sql[S_PROFILE_GET] = select_sql(&profile_entity, "WHERE name = ?");
  SQ(st)->sql[S_MAILBOX_PUT] = upsert_sql(&mailbox_entity);
  SQ(st)->sql[S_MAILBOX_GET] = select_sql(&mailbox_entity, "WHERE address = ?");

  /* what Test & Enable writes, what the sync engine writes */
  for(w = 0; w < 2; w++) {
    unsigned flag = w ? EXS_FIELD_RUNTIME : EXS_FIELD_RESULT;
    exs_buf_adds(&b, "UPDATE mailboxes SET ");
    k = 0;
    for(i = 0; i < mbx->n; i++)
      if(plain_col(&mbx->fields[i]) && (mbx->fields[i].flags & flag))
        exs_buf_addf(&b, "%s%s = ?", k++ ? ", " : "", mbx->fields[i].col);
    exs_buf_adds(&b, " WHERE address = ?");
    SQ(st)->sql[w ? S_MAILBOX_RUNTIME : S_MAILBOX_RESULT] = exs_buf_steal(&b);
  }

  for(i = 0; i < S_LAZY; i++)
    if(!SQ(st)->sql[i] && !static_sql[i])
      return -1;
  return 0;
}

/* ---- transactions -------------------------------------------------------- */

/* Start a unit of work: a writing transaction when none is open (one
 * writer at a time, db_begin), else a savepoint inside the caller's. */
int sq_tx_begin(struct exs_store *st, bool *own, struct exs_error *err)
{
  *own = !db_in_tx(SQ(st)->db);
  if(*own)
    return db_begin(SQ(st)->db) ? sq_fail(st, err, "cannot begin a transaction") : 0;
  return sq_exec(st, "SAVEPOINT exs_unit", err);
}

int sq_tx_end(struct exs_store *st, bool own, int ok, struct exs_error *err)
{
  if(ok == 0) {
    if(sq_exec(st, own ? "COMMIT" : "RELEASE exs_unit", err) == 0)
      return 0;
  }
  if(own) {
    if(db_in_tx(SQ(st)->db))
      (void)db_exec(SQ(st)->db, "ROLLBACK");
  }
  else
    (void)db_exec(SQ(st)->db, "ROLLBACK TO exs_unit; RELEASE exs_unit");
  return -1;
}

int sq_begin(struct exs_store *st, struct exs_error *err)
{
  if(db_in_tx(SQ(st)->db)) {
    exs_error_set(err, EXS_CAT_CONFIG, "store %s: a transaction is already open", SQ(st)->path);
    return -1;
  }
  if(db_begin(SQ(st)->db))
    return sq_fail(st, err, "cannot begin a transaction");
  SQ(st)->in_explicit = true;
  return 0;
}

int sq_commit(struct exs_store *st, struct exs_error *err)
{
  SQ(st)->in_explicit = false;
  if(!db_in_tx(SQ(st)->db)) {
    exs_error_set(err, EXS_CAT_CONFIG, "store %s: no transaction to commit", SQ(st)->path);
    return -1;
  }
  if(sq_exec(st, "COMMIT", err)) {
    if(db_in_tx(SQ(st)->db))
      (void)db_exec(SQ(st)->db, "ROLLBACK");
    return -1;
  }
  return 0;
}

int sq_rollback(struct exs_store *st, struct exs_error *err)
{
  SQ(st)->in_explicit = false;
  if(!db_in_tx(SQ(st)->db))
    return 0;
  return sq_exec(st, "ROLLBACK", err);
}

/* ---- open / close / migrate ---------------------------------------------- */

/* The schema version: SQLite's user_version; in PostgreSQL the highest
 * migration recorded (0 for an empty database). -1 on error. */
static int user_version(struct exs_store *st)
{
  const char *sql = db_dialect(SQ(st)->db) == DB_SQLITE
                        ? "PRAGMA user_version"
                        : "SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN 0 "
                          "ELSE 1 END";
  struct db_stmt *s = db_stmt(SQ(st)->db, sql);
  int v = -1;

  if(s && db_step(s) == DB_ROW)
    v = (int)db_col_int64(s, 0);
  db_done(s);
  if(v != 1 || db_dialect(SQ(st)->db) == DB_SQLITE)
    return v;
  s = db_stmt(SQ(st)->db, "SELECT COALESCE(max(version), 0) FROM schema_migrations");
  v = s && db_step(s) == DB_ROW ? (int)db_col_int64(s, 0) : -1;
  db_done(s);
  return v;
}

int sq_schema_version(struct exs_store *st)
{
  return user_version(st);
}

/* What differs between the two databases' DDL, in one place: the
 * migrations are written for SQLite and PostgreSQL gets them with these
 * words replaced (whole words, the longest first); a COLLATE NOCASE column
 * becomes citext (case-insensitive comparisons, case kept), and an id
 * INTEGER PRIMARY KEY (SQLite's rowid) an identity column. */
static const struct {
  const char *sqlite, *pg;
} ddl_words[] = {
    {"INTEGER PRIMARY KEY", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"},
    {"INTEGER", "BIGINT"},
    {"TEXT NOT NULL UNIQUE COLLATE NOCASE", "CITEXT NOT NULL UNIQUE"},
    {"TEXT NOT NULL COLLATE NOCASE", "CITEXT NOT NULL"},
    {"TEXT COLLATE NOCASE", "CITEXT"},
};
/* Run before the first migration in PostgreSQL (citext is a trusted
 * extension: the database's owner may create it). */
#define PG_PREAMBLE "CREATE EXTENSION IF NOT EXISTS citext;"

/* The text of migration v for this database (malloc'd; NULL: out of memory). */
static char *ddl_for(struct exs_store *st, int v)
{
  const char *p = migrations[v - 1];
  struct exs_buf b;
  size_t k;

  exs_buf_init(&b, 4096);
  if(db_dialect(SQ(st)->db) == DB_SQLITE) {
    exs_buf_adds(&b, p);
    return exs_buf_steal(&b);
  }
  if(v == 1)
    exs_buf_adds(&b, PG_PREAMBLE);
  while(*p) {
    for(k = 0; k < sizeof(ddl_words) / sizeof(ddl_words[0]); k++) {
      size_t n = strlen(ddl_words[k].sqlite);
      if(!strncmp(p, ddl_words[k].sqlite, n) && !isalnum((unsigned char)p[n]) && p[n] != '_')
        break;
    }
    if(k < sizeof(ddl_words) / sizeof(ddl_words[0]) &&
       (p == migrations[v - 1] || (!isalnum((unsigned char)p[-1]) && p[-1] != '_'))) {
      exs_buf_adds(&b, ddl_words[k].pg);
      p += strlen(ddl_words[k].sqlite);
    }
    else
      exs_buf_add(&b, p++, 1);
  }
  return exs_buf_steal(&b);
}

static const char *seal_context(struct exs_store *st, const char *table, const char *col,
                                const char *key, char *buf, size_t len);
static int migrate_locked(struct exs_store *st, int target, struct exs_error *err);

/* One sealed value to re-seal (migration BOUND_SECRETS_VERSION). */
struct reseal_row {
  int64_t id;
  char key[EXS_ADDRESS_MAX + 1];
  char *blob;
};

/* Re-seal every value of one sealed column, unbound -> bound to its row. */
static int reseal_col(struct exs_store *st, const struct sealed_col *c, struct exs_error *err)
{
  struct reseal_row *rows = NULL;
  size_t n = 0, cap = 0, i;
  struct db_stmt *s = NULL;
  char sql[256], ctx[EXS_ADDRESS_MAX + 64], plain[EXS_SECRET_MAX_PLAIN + 1];
  char *blob = NULL;
  int rc, result = -1;

  /* read all first: no table is changed while a statement reads it */
  snprintf(sql, sizeof(sql), "SELECT id, %s, %s FROM %s WHERE %s IS NOT NULL", c->key, c->col,
           c->table, c->col);
  if(!(s = db_stmt(SQ(st)->db, sql))) {
    sq_fail(st, err, "cannot read the sealed passwords");
    goto out;
  }
  while((rc = db_step(s)) == DB_ROW) {
    if(n == cap) {
      struct reseal_row *more = realloc(rows, (cap = cap ? 2 * cap : 16) * sizeof(*rows));
      if(!more) {
        exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
        goto out;
      }
      rows = more;
    }
    rows[n].id = db_col_int64(s, 0);
    sq_col_text(s, 1, rows[n].key, sizeof(rows[n].key));
    rows[n].blob = sq_col_dup(s, 2);
    if(!rows[n++].blob) {
      exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
      goto out;
    }
  }
  if(rc != DB_DONE) {
    sq_fail(st, err, "cannot read the sealed passwords");
    goto out;
  }
  db_done(s);
  s = NULL;
  snprintf(sql, sizeof(sql), "UPDATE %s SET %s = ? WHERE id = ?", c->table, c->col);
  for(i = 0; i < n; i++) {
    if(exs_secret_decrypt(SQ(st)->secret, rows[i].blob, plain, sizeof(plain), err) ||
       exs_secret_encrypt_for(SQ(st)->secret, plain,
                              seal_context(st, c->table, c->col, rows[i].key, ctx, sizeof(ctx)),
                              &blob, err)) {
      if(err)
        snprintf(err->message + strlen(err->message), sizeof(err->message) - strlen(err->message),
                 " (store %s, migration %d: %s.%s of '%s'; is this the store's key file?)",
                 SQ(st)->path, BOUND_SECRETS_VERSION, c->table, c->col, rows[i].key);
      goto out;
    }
    if(!(s = db_stmt(SQ(st)->db, sql))) {
      sq_fail(st, err, "cannot re-seal the passwords");
      goto out;
    }
    db_bind_text(s, 1, blob);
    free(blob);
    blob = NULL;
    db_bind_int64(s, 2, rows[i].id);
    rc = db_step(s);
    db_done(s);
    s = NULL;
    if(rc != DB_DONE) {
      sq_fail(st, err, "cannot re-seal the passwords");
      goto out;
    }
  }
  result = 0;
out:
  OPENSSL_cleanse(plain, sizeof(plain));
  db_done(s);
  for(i = 0; i < n; i++)
    free(rows[i].blob);
  free(rows);
  return result;
}

/* Migration BOUND_SECRETS_VERSION: every sealed value bound to its row. */
static int reseal_all(struct exs_store *st, struct exs_error *err)
{
  size_t i;
  int result = 0;

  SQ(st)->bound = true;
  for(i = 0; i < sizeof(sealed_cols) / sizeof(sealed_cols[0]) && result == 0; i++)
    result = reseal_col(st, &sealed_cols[i], err);
  SQ(st)->bound = false; /* the caller sets it from the version reached */
  return result;
}

/* PostgreSQL: processes that open one new database at once migrate it one
 * after the other. The writer lock of the migration's transaction would
 * serialize them too, but a session that waited for it inside its
 * transaction may still see the catalog as it was when that transaction
 * began (to_regclass: no table yet) and migrate again. So a session-level
 * advisory lock is taken first, and the transaction starts once it is
 * held. (SQLite: BEGIN IMMEDIATE is enough.) Released by the session's end
 * too. The key is "exsmigr" in ASCII. */
static int migration_lock(struct exs_store *st, bool take, struct exs_error *err)
{
  if(db_dialect(SQ(st)->db) != DB_PG)
    return 0;
  if(take)
    return sq_exec(st, "SELECT pg_advisory_lock(28561409799972722)", err);
  return sq_exec(st, "SELECT pg_advisory_unlock(28561409799972722)", err);
}

/* Apply the pending migrations in one writing transaction: it takes the
 * writer lock first (db_begin; PostgreSQL: migration_lock too), so each
 * process reads the version only once nobody else can migrate. */
static int migrate(struct exs_store *st, int target, struct exs_error *err)
{
  int rc = -1;

  if(migration_lock(st, true, err))
    return -1;
  rc = migrate_locked(st, target, err);
  if(migration_lock(st, false, rc ? NULL : err))
    rc = -1;
  return rc;
}

static int migrate_locked(struct exs_store *st, int target, struct exs_error *err)
{
  int cur, v, result = -1;
  char sql[128];

  if(db_begin(SQ(st)->db))
    return sq_fail(st, err, "cannot begin the migration");
  cur = user_version(st);
  if(cur < 0) {
    sq_fail(st, err, "cannot read the schema version");
    goto out;
  }
  if(cur > EXS_STORE_SCHEMA_VERSION) {
    exs_error_set(err, EXS_CAT_CONFIG,
                  "store %s: schema version %d is newer than this exsync knows (%d): upgrade "
                  "exsync",
                  SQ(st)->path, cur, EXS_STORE_SCHEMA_VERSION);
    goto out;
  }
  for(v = cur + 1; v <= target; v++) {
    char *ddl = ddl_for(st, v);
    int rc;
    if(!ddl) {
      exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
      goto out;
    }
    rc = *ddl ? sq_exec(st, ddl, err) : 0;
    free(ddl);
    if(rc)
      goto out;
    if(v == BOUND_SECRETS_VERSION && reseal_all(st, err))
      goto out;
    snprintf(sql, sizeof(sql),
             "INSERT INTO schema_migrations(version, applied_at) VALUES(%d, %lld)", v,
             (long long)exs_now());
    if(sq_exec(st, sql, err))
      goto out;
  }
  if(target > cur && db_dialect(SQ(st)->db) == DB_SQLITE) {
    snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", target);
    if(sq_exec(st, sql, err))
      goto out;
  }
  result = 0;
out:
  return sq_tx_end(st, true, result, err);
}

/* Whether the database holds sealed passwords: 1 yes, 0 no, -1 error. */
static int holds_secrets(struct exs_store *st, struct exs_error *err)
{
  struct db_stmt *s = NULL;
  struct exs_buf sql;
  int version = user_version(st), rc;
  size_t i;

  if(version < 0)
    return sq_fail(st, err, "cannot read the schema version");
  if(version < 1)
    return 0; /* a new database */
  exs_buf_init(&sql, 4096);
  for(i = 0; i < sizeof(sealed_cols) / sizeof(sealed_cols[0]); i++)
    if(sealed_cols[i].since <= version)
      exs_buf_addf(&sql, "%sSELECT 1 FROM %s WHERE %s IS NOT NULL", sql.len ? " UNION ALL " : "",
                   sealed_cols[i].table, sealed_cols[i].col);
  exs_buf_adds(&sql, " LIMIT 1");
  if(!sql.data) {
    exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
    return -1;
  }
  s = db_stmt(SQ(st)->db, sql.data);
  exs_buf_free(&sql);
  if(!s)
    return sq_fail(st, err, "cannot look for sealed passwords");
  rc = db_step(s);
  db_done(s);
  if(rc < 0)
    return sq_fail(st, err, "cannot look for sealed passwords");
  return rc == DB_ROW;
}

/* Open the key file; create it only for a store without sealed passwords: a
 * new key cannot open them, and new passwords would be sealed under a second
 * key. */
static int open_key(struct exs_store *st, const char *key_file, struct exs_error *err)
{
  struct stat sb;
  int sealed = 0;

  if(key_file && *key_file && lstat(key_file, &sb) && errno == ENOENT) {
    sealed = holds_secrets(st, err);
    if(sealed < 0)
      return -1;
    if(sealed) {
      exs_error_set(err, EXS_CAT_CONFIG,
                    "key file %s is missing, and store %s holds passwords sealed under it: "
                    "restore that key file (or name it with --key-file); a new key could not "
                    "open them, so none is created",
                    key_file, SQ(st)->path);
      return -1;
    }
  }
  SQ(st)->secret = exs_secret_load(key_file, !sealed, err);
  return SQ(st)->secret ? 0 : -1;
}

struct exs_store *sq_open(struct db *db, const char *name, const char *key_file, int version,
                          struct exs_error *err)
{
  struct exs_store *st = NULL;

  if(version < 1 || version > EXS_STORE_SCHEMA_VERSION) {
    exs_error_set(err, EXS_CAT_CONFIG, "store: no schema version %d", version);
    db_close(db);
    return NULL;
  }
  st = calloc(1, sizeof(struct sq_store));
  if(!st) {
    exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
    db_close(db);
    return NULL;
  }
  SQ(st)->db = db;
  snprintf(SQ(st)->path, sizeof(SQ(st)->path), "%s", name);
  if(open_key(st, key_file, err))
    goto fail;
  if(migrate(st, version, err))
    goto fail;
  SQ(st)->bound = version >= BOUND_SECRETS_VERSION;
  if(generate_sql(st)) {
    exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
    goto fail;
  }
  db_count_commits(db);
  return st;
fail:
  sq_close(st);
  return NULL;
}

void sq_close(struct exs_store *st)
{
  int i;

  if(!st)
    return;
  for(i = 0; i < S_COUNT; i++)
    free(SQ(st)->sql[i]);
  db_close(SQ(st)->db);
  exs_secret_free(SQ(st)->secret);
  free(st);
}

/* SQLite: PRAGMA integrity_check and foreign_key_check. PostgreSQL checks
 * its constraints on every write and has no such pass: nothing to do. */
int sq_check(struct exs_store *st, struct exs_error *err)
{
  struct db_stmt *s = NULL;
  const char *v;
  int result = -1, rc;

  if(db_dialect(SQ(st)->db) != DB_SQLITE)
    return 0;
  if(!(s = db_stmt(SQ(st)->db, "PRAGMA integrity_check"))) {
    sq_fail(st, err, "integrity check");
    goto out;
  }
  rc = db_step(s);
  v = rc == DB_ROW ? db_col_text(s, 0) : NULL;
  if(!v || strcmp(v, "ok")) {
    exs_error_set(err, EXS_CAT_CONFIG, "store %s: integrity check failed: %s", SQ(st)->path,
                  rc == DB_ROW ? (v ? v : "") : db_errmsg(SQ(st)->db));
    goto out;
  }
  db_done(s);
  if(!(s = db_stmt(SQ(st)->db, "PRAGMA foreign_key_check"))) {
    sq_fail(st, err, "foreign key check");
    goto out;
  }
  rc = db_step(s);
  if(rc == DB_ROW) {
    v = db_col_text(s, 0);
    exs_error_set(err, EXS_CAT_CONFIG, "store %s: foreign key check failed in table %s",
                  SQ(st)->path, v ? v : "?");
    goto out;
  }
  if(rc != DB_DONE) {
    sq_fail(st, err, "foreign key check");
    goto out;
  }
  result = 0;
out:
  db_done(s);
  return result;
}

/* ---- secrets ------------------------------------------------------------- */

/* The context a sealed value is bound to: "table:column:key" (addresses
 * lower-cased: they are compared case-insensitively and may be rewritten
 * in another case). NULL for a store older than BOUND_SECRETS_VERSION. */
static const char *seal_context(struct exs_store *st, const char *table, const char *col,
                                const char *key, char *buf, size_t len)
{
  bool lower = !strcmp(table, "mailboxes");
  size_t n;

  if(!SQ(st)->bound)
    return NULL;
  n = (size_t)snprintf(buf, len, "%s:%s:", table, col);
  for(; n + 1 < len && *key; key++)
    buf[n++] = lower ? (char)tolower((unsigned char)*key) : *key;
  buf[n < len ? n : len - 1] = 0;
  return buf;
}

/* Bind a sealed copy of password (NULL when empty), bound to table, col
 * and the row's key. */
static int bind_password(struct exs_store *st, struct db_stmt *s, int i, const char *password,
                         size_t size, const char *table, const char *col, const char *key,
                         struct exs_error *err)
{
  char ctx[EXS_ADDRESS_MAX + 64];
  char plain[EXS_PASSWORD_MAX + 1];
  char *blob = NULL;
  size_t len = strnlen(password, size);
  int result = -1;

  if(len == 0) {
    db_bind_null(s, i);
    return 0;
  }
  if(len > EXS_PASSWORD_MAX) {
    exs_error_set(err, EXS_CAT_CONFIG, "password longer than %d characters", EXS_PASSWORD_MAX);
    return -1;
  }
  memcpy(plain, password, len);
  plain[len] = 0;
  if(exs_secret_encrypt_for(SQ(st)->secret, plain,
                            seal_context(st, table, col, key, ctx, sizeof(ctx)), &blob, err))
    goto out;
  db_bind_text(s, i, blob);
  free(blob);
  result = 0;
out:
  OPENSSL_cleanse(plain, sizeof(plain));
  return result;
}

static int read_password(struct exs_store *st, struct db_stmt *s, int i, char *out, size_t len,
                         const char *table, const char *col, const char *key, struct exs_error *err)
{
  const char *blob = db_col_text(s, i);
  char ctx[EXS_ADDRESS_MAX + 64];

  memset(out, 0, len);
  if(!blob)
    return 0;
  return exs_secret_decrypt_for(SQ(st)->secret, blob,
                                seal_context(st, table, col, key, ctx, sizeof(ctx)), out, len, err);
}

/* ---- org ----------------------------------------------------------------- */

int sq_org_get(struct exs_store *st, struct exs_org *org, struct exs_error *err)
{
  struct db_stmt *s = sq_prep(st, S_ORG_GET, err);
  int rc, result = -1;

  exs_org_defaults(org);
  if(!s)
    return -1;
  rc = db_step(s);
  if(rc == DB_ROW)
    sq_read_fields(s, exs_org_desc.fields, exs_org_desc.n, org, 0);
  else if(rc != DB_DONE) {
    sq_fail(st, err, "cannot read the org settings");
    goto out;
  }
  result = 0;
out:
  sq_done(st, s);
  return result;
}

int sq_org_put(struct exs_store *st, const struct exs_org *org, struct exs_error *err)
{
  struct db_stmt *s = sq_prep(st, S_ORG_PUT, err);
  int result = -1;

  if(!s)
    return -1;
  sq_bind_fields(s, exs_org_desc.fields, exs_org_desc.n, org, 0, 1);
  if(db_step(s) != DB_DONE) {
    sq_fail(st, err, "cannot write the org settings");
    goto out;
  }
  result = 0;
out:
  sq_done(st, s);
  return result;
}

/* ---- profiles ------------------------------------------------------------ */

/* A list result's password left sealed (exs_password_mark_sealed) is not
 * its value: writing it would replace the stored one. */
static int refuse_sealed(const struct entity *e, const struct exs_field *f, const void *obj,
                         const char *key, struct exs_error *err)
{
  if(!exs_password_is_sealed((const char *)obj + f->off, f->size))
    return 0;
  exs_error_set(err, EXS_CAT_CONFIG, "%s: attribute '%s' was read sealed (a list), not written",
                e->d->entity, f->attr);
  if(err)
    snprintf(err->message + strlen(err->message), sizeof(err->message) - strlen(err->message),
             e->pw_fmt, key);
  return -1;
}

/* Insert or update obj (an e->d->size struct) by its key, its sealed
 * columns bound to it; sets its id. *kind says what a failed write
 * violated. */
static int entity_put(struct exs_store *st, const struct entity *e, void *obj, enum db_err *kind,
                      struct exs_error *err)
{
  const struct exs_desc *d = e->d;
  const struct exs_field *kf = exs_desc_key(d);
  char *base = obj;
  const char *key = base + kf->off;
  struct db_stmt *s;
  size_t k;
  int i, result = -1;

  *kind = DB_E_OTHER;
  if(!key[0]) {
    exs_error_set(err, EXS_CAT_CONFIG, "%s: attribute '%s': is required", d->entity, kf->col);
    return -1;
  }
  s = sq_prep(st, e->put, err);
  if(!s)
    return -1;
  i = sq_bind_fields(s, d->fields, d->n, obj, 0, 1);
  for(k = 0; k < d->n; k++)
    if((d->fields[k].flags & EXS_FIELD_SECRET) &&
       (refuse_sealed(e, &d->fields[k], obj, key, err) ||
        bind_password(st, s, i++, base + d->fields[k].off, d->fields[k].size, d->table,
                      d->fields[k].col, key, err)))
      goto out;
  if(db_step(s) != DB_ROW) {
    char what[64];
    *kind = db_errkind(SQ(st)->db);
    snprintf(what, sizeof(what), "cannot write the %s", d->entity);
    sq_fail(st, err, what);
    goto out;
  }
  *(int64_t *)(void *)(base + rowid_off(d)) = db_col_int64(s, 0);
  result = 0;
out:
  sq_done(st, s);
  return result;
}

/* Fill obj from a row of select_sql(e); sealed columns opened when secrets,
 * else only marked when stored (exs_password_mark_sealed). */
static int entity_read(struct exs_store *st, const struct entity *e, struct db_stmt *s, void *obj,
                       bool secrets, struct exs_error *err)
{
  const struct exs_desc *d = e->d;
  const char *key;
  char *base = obj;
  size_t k;
  int i;

  memset(obj, 0, d->size);
  *(int64_t *)(void *)(base + rowid_off(d)) = db_col_int64(s, 0);
  i = sq_read_fields(s, d->fields, d->n, obj, 1); /* no FSTR here: never -1 */
  key = base + exs_desc_key(d)->off;
  for(k = 0; k < d->n; k++) {
    if(!(d->fields[k].flags & EXS_FIELD_SECRET))
      continue;
    if(!secrets) { /* say whether one is stored, without opening it */
      if(db_col_text(s, i++))
        exs_password_mark_sealed(base + d->fields[k].off, d->fields[k].size);
      continue;
    }
    if(read_password(st, s, i++, base + d->fields[k].off, d->fields[k].size, d->table,
                     d->fields[k].col, key, err)) {
      if(err)
        snprintf(err->message + strlen(err->message), sizeof(err->message) - strlen(err->message),
                 e->pw_fmt, key);
      return -1;
    }
  }
  return 0;
}

/* Read the row with this key into obj. */
static int entity_get(struct exs_store *st, const struct entity *e, const char *key, void *obj,
                      const char *not_found_fmt, struct exs_error *err)
{
  struct db_stmt *s = sq_prep(st, e->get, err);
  int rc, result = -1;

  if(!s)
    return -1;
  sq_bind_text(s, 1, key);
  rc = db_step(s);
  if(rc == DB_DONE) {
    exs_error_set(err, EXS_CAT_CONFIG, not_found_fmt, key);
    result = EXS_STORE_NOT_FOUND;
    goto out;
  }
  if(rc != DB_ROW) {
    char what[64];
    snprintf(what, sizeof(what), "cannot read the %s", e->d->entity);
    sq_fail(st, err, what);
    goto out;
  }
  result = entity_read(st, e, s, obj, true, err);
out:
  sq_done(st, s);
  return result;
}

int sq_profile_put(struct exs_store *st, struct exs_profile *p, struct exs_error *err)
{
  enum db_err kind;

  return entity_put(st, &profile_entity, p, &kind, err);
}

/* One set of settings for both directions when same_outgoing, whatever the
 * outgoing columns say. */
static void profile_fix(struct exs_profile *p)
{
  if(!p->same_outgoing)
    return;
  p->out_retrieval = p->retrieval;
  p->out_impersonation = p->impersonation;
  p->out_protocol = p->protocol;
  memcpy(p->out_user, p->user, sizeof(p->out_user));
  memcpy(p->out_password, p->password, sizeof(p->out_password));
}

static int read_profile(struct exs_store *st, struct db_stmt *s, struct exs_profile *p,
                        bool secrets, struct exs_error *err)
{
  if(entity_read(st, &profile_entity, s, p, secrets, err))
    return -1;
  profile_fix(p);
  return 0;
}

int sq_profile_get(struct exs_store *st, const char *name, struct exs_profile *p,
                   struct exs_error *err)
{
  int result = entity_get(st, &profile_entity, name, p, "no profile named '%s'", err);

  if(result == 0)
    profile_fix(p);
  return result;
}

/* Grow *arr (of elem-size items) to hold at least n+1. */
int sq_grow(void **arr, size_t *cap, size_t n, size_t elem)
{
  void *p;
  size_t nc;

  if(n < *cap)
    return 0;
  nc = *cap ? *cap * 2 : 16;
  p = realloc(*arr, nc * elem);
  if(!p)
    return -1;
  *arr = p;
  *cap = nc;
  return 0;
}

int sq_profile_list(struct exs_store *st, struct exs_profile **out, size_t *n,
                    struct exs_error *err)
{
  struct db_stmt *s = NULL;
  struct exs_profile *arr = NULL;
  size_t cnt = 0, cap = 0;
  char *sql = select_sql(&profile_entity, "ORDER BY name");
  int rc, result = -1;

  *out = NULL;
  *n = 0;
  if(!sql || !(s = sq_stmt(st, sql, err))) {
    sq_fail(st, err, "cannot list profiles");
    goto out;
  }
  while((rc = db_step(s)) == DB_ROW) {
    if(sq_grow((void **)&arr, &cap, cnt, sizeof(*arr))) {
      exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
      goto out;
    }
    read_profile(st, s, &arr[cnt++], false, err);
  }
  if(rc != DB_DONE) {
    sq_fail(st, err, "cannot list profiles");
    goto out;
  }
  *out = arr;
  *n = cnt;
  arr = NULL;
  result = 0;
out:
  free(arr);
  free(sql);
  sq_done(st, s);
  return result;
}

static int delete_by_key(struct exs_store *st, enum stmt_id id, const char *key, const char *what,
                         struct exs_error *err)
{
  struct db_stmt *s = sq_prep(st, id, err);
  int result = -1;

  if(!s)
    return -1;
  sq_bind_text(s, 1, key);
  if(db_step(s) != DB_DONE) {
    sq_fail(st, err, "cannot delete");
    goto out;
  }
  if(db_changes(SQ(st)->db) == 0) {
    exs_error_set(err, EXS_CAT_CONFIG, "no %s '%s'", what, key);
    result = EXS_STORE_NOT_FOUND;
    goto out;
  }
  result = 0;
out:
  sq_done(st, s);
  return result;
}

int sq_profile_delete(struct exs_store *st, const char *name, struct exs_error *err)
{
  return delete_by_key(st, S_PROFILE_DELETE, name, "profile named", err);
}

/* ---- mailboxes ----------------------------------------------------------- */

int sq_mailbox_put(struct exs_store *st, struct exs_mailbox *m, struct exs_error *err)
{
  enum db_err kind;

  if(entity_put(st, &mailbox_entity, m, &kind, err) == 0)
    return 0;
  if(kind == DB_E_FOREIGN_KEY)
    exs_error_set(err, EXS_CAT_CONFIG, "mailbox %s: profile '%s' does not exist", m->address,
                  m->profile);
  return -1;
}

static int read_mailbox(struct exs_store *st, struct db_stmt *s, struct exs_mailbox *m,
                        bool secrets, struct exs_error *err)
{
  return entity_read(st, &mailbox_entity, s, m, secrets, err);
}

int sq_mailbox_get(struct exs_store *st, const char *address, struct exs_mailbox *m,
                   struct exs_error *err)
{
  return entity_get(st, &mailbox_entity, address, m, "no mailbox %s", err);
}

int sq_mailbox_each(struct exs_store *st, const char *profile, unsigned flags,
                    exs_store_mailbox_cb cb, void *ctx, struct exs_error *err)
{
  struct db_stmt *s = NULL;
  struct exs_mailbox *m = NULL;
  char *sql = select_sql(&mailbox_entity,
                         profile ? "WHERE profile = ? ORDER BY address" : "ORDER BY address");
  int rc, result = -1;

  /* cb may call the store: a nested call gets a statement of its own (stmt) */
  if(!sql || !(s = sq_stmt(st, sql, err))) {
    sq_fail(st, err, "cannot list mailboxes");
    goto out;
  }
  m = malloc(sizeof(*m));
  if(!m) {
    exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
    goto out;
  }
  if(profile)
    sq_bind_text(s, 1, profile);
  while((rc = db_step(s)) == DB_ROW) {
    if(read_mailbox(st, s, m, (flags & EXS_STORE_WITH_SECRETS) != 0, err))
      goto out;
    rc = cb(ctx, m);
    exs_mailbox_wipe(m);
    if(rc) {
      result = rc;
      goto out;
    }
  }
  if(rc != DB_DONE) {
    sq_fail(st, err, "cannot list mailboxes");
    goto out;
  }
  result = 0;
out:
  if(m) {
    exs_mailbox_wipe(m);
    free(m);
  }
  free(sql);
  sq_done(st, s);
  return result;
}

struct collect {
  struct exs_mailbox *arr;
  size_t n, cap;
};

static int collect_cb(void *ctx, const struct exs_mailbox *m)
{
  struct collect *c = ctx;

  if(sq_grow((void **)&c->arr, &c->cap, c->n, sizeof(*c->arr)))
    return -2;
  c->arr[c->n++] = *m;
  return 0;
}

int sq_mailbox_list(struct exs_store *st, const char *profile, unsigned flags,
                    struct exs_mailbox **out, size_t *n, struct exs_error *err)
{
  struct collect c = {NULL, 0, 0};
  int rc;
  size_t i;

  *out = NULL;
  *n = 0;
  rc = sq_mailbox_each(st, profile, flags, collect_cb, &c, err);
  if(rc) {
    if(rc == -2)
      exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
    for(i = 0; i < c.n; i++)
      exs_mailbox_wipe(&c.arr[i]);
    free(c.arr);
    return -1;
  }
  *out = c.arr;
  *n = c.n;
  return 0;
}

int sq_mailbox_delete(struct exs_store *st, const char *address, struct exs_error *err)
{
  return delete_by_key(st, S_MAILBOX_DELETE, address, "mailbox", err);
}

/* ---- import -------------------------------------------------------------- */

/* Copy the Test & Enable results and sync runtime fields of old into m. */
static void keep_results(struct exs_mailbox *m, const struct exs_mailbox *old)
{
  exs_desc_copy(&exs_mailbox_desc, m, old, EXS_FIELD_RESULT | EXS_FIELD_RUNTIME);
}

/* A changed profile re-opens the verdicts of its mailboxes (mask of
 * workloads; joins the caller's transaction). */
static int reopen_mailboxes_of(struct exs_store *st, const char *profile, unsigned mask,
                               struct exs_error *err)
{
  struct exs_mailbox *m = NULL;
  size_t n = 0, i;
  int result = 0;

  if(!mask)
    return 0;
  if(sq_mailbox_list(st, profile, EXS_STORE_WITH_SECRETS, &m, &n, err))
    return -1;
  for(i = 0; i < n && !result; i++) {
    exs_mailbox_reset(&m[i], mask);
    result = sq_mailbox_put(st, &m[i], err);
  }
  for(i = 0; i < n; i++)
    exs_mailbox_wipe(&m[i]);
  free(m);
  return result ? -1 : 0;
}

int sq_import(struct exs_store *st, const struct exs_org *org, const struct exs_profile *profiles,
              size_t n_profiles, const struct exs_mailbox *mailboxes, size_t n_mailboxes,
              struct exs_error *err)
{
  struct exs_profile *p = NULL, *oldp = NULL;
  struct exs_mailbox *m = NULL, *oldm = NULL;
  bool own;
  size_t i;
  int rc, result = -1;

  p = malloc(sizeof(*p));
  oldp = malloc(sizeof(*oldp));
  m = malloc(sizeof(*m));
  oldm = malloc(sizeof(*oldm));
  if(!p || !oldp || !m || !oldm) {
    exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
    goto done_mem;
  }
  if(sq_tx_begin(st, &own, err))
    goto done_mem;
  if(org && sq_org_put(st, org, err))
    goto out;
  for(i = 0; i < n_profiles; i++) {
    bool existed;
    *p = profiles[i];
    rc = sq_profile_get(st, p->name, oldp, err);
    if(rc < 0)
      goto out;
    existed = rc == 0;
    if(!p->password[0] && existed)
      memcpy(p->password, oldp->password, sizeof(p->password));
    if(p->same_outgoing)
      memcpy(p->out_password, p->password, sizeof(p->out_password));
    else if(!p->out_password[0] && existed)
      memcpy(p->out_password, oldp->out_password, sizeof(p->out_password));
    if(sq_profile_put(st, p, err))
      goto out;
    if(existed && reopen_mailboxes_of(st, p->name, exs_profile_reopens(oldp, p), err))
      goto out;
  }
  for(i = 0; i < n_mailboxes; i++) {
    *m = mailboxes[i];
    rc = sq_mailbox_get(st, m->address, oldm, err);
    if(rc < 0)
      goto out;
    if(rc == 0) {
      keep_results(m, oldm);
      if(!m->password[0])
        memcpy(m->password, oldm->password, sizeof(m->password));
      exs_mailbox_reopen(oldm, m); /* a changed configuration re-opens its verdicts */
    }
    if(sq_mailbox_put(st, m, err))
      goto out;
  }
  result = 0;
out:
  if(sq_tx_end(st, own, result, err))
    result = -1;
done_mem:
  exs_profile_wipe(p);
  exs_profile_wipe(oldp);
  exs_mailbox_wipe(m);
  exs_mailbox_wipe(oldm);
  free(p);
  free(oldp);
  free(m);
  free(oldm);
  return result;
}

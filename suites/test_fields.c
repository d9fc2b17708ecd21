/* test_fields.c - the field descriptors (exsync/fields.h): each covers every
 * member of its struct, its names are unique and match the org file's
 * schema, and one sample of each entity goes unchanged through the store,
 * the org file and the JSON output (exsync's own, run in a child), on
 * SQLite and on PostgreSQL. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "exsync/error.h"
#include "exsync-diag/diag.h"
#include "exsync/clock.h"
#include "exsync/fields.h"
#include "exsync/model.h"
#include "exsync/orgfile.h"
#include "exsync/store.h"
#include "pgtest.h"
#include "testutil.h"

static const struct exs_desc *const descs[] = {&exs_org_desc, &exs_profile_desc, &exs_mailbox_desc};
#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- samples: every member away from its default ------------------------- */

static void sample_org(struct exs_org *o)
{
  exs_org_defaults(o);
  strcpy(o->id, "6f1c2a9e-0d4b-4c55-9a51-2f3e8d7b1c10");
  strcpy(o->default_profile, "Exchange");
  o->default_incoming = EXS_IN_FORWARD;
  o->default_outgoing = EXS_OUT_OUTLOOK;
  o->default_act = EXS_ACT_NONE;
  o->approve_users = false;
  o->approve_queues = false;
  o->alerts_errors = false;
  o->alerts_warnings = true;
  o->alerts_information = false;
  o->notify_owners = true;
  o->ignore_internal = true;
  strcpy(o->tracking_prefix, "TRK \"&<:");
  o->allow_credentials_non_secure = true;
  o->allow_basic_non_secure = true;
  o->allow_non_ssl = true;
  strcpy(o->ldap, "ldap://dc1.contoso.com");
  strcpy(o->ldap_site, "Site-1");
}

static void sample_profile(struct exs_profile *p)
{
  exs_profile_defaults(p);
  p->id = 1; /* the store's first row */
  strcpy(p->name, "Exchange");
  strcpy(p->description, "the <main> \"Exchange\" & co");
  p->autodiscover = true;
  strcpy(p->incoming_url, "https://mail.contoso.com/EWS/Exchange.asmx");
  strcpy(p->outgoing_url, "https://out.contoso.com/EWS/Exchange.asmx");
  p->same_outgoing = false;
  p->retrieval = EXS_RETRIEVAL_WINDOWS;
  p->impersonation = true;
  strcpy(p->user, "CONTOSO\\svc-crm");
  strcpy(p->password, "Secret-In-1");
  p->protocol = EXS_AUTH_NTLM;
  p->process_from = 1767225600; /* 2026-01-01 */
  p->poll_minutes = 5;
  p->max_connections = 42;
  p->move_undeliverable = true;
  p->timeout_enabled = false;
  p->timeout_ms = 5000;
  strcpy(p->owner, "admin@contoso.com");
  p->out_retrieval = EXS_RETRIEVAL_USER;
  p->out_impersonation = true;
  strcpy(p->out_user, "CONTOSO\\svc-out");
  strcpy(p->out_password, "Secret-Out-2");
  p->out_protocol = EXS_AUTH_BASIC;
}

static void sample_mailbox(struct exs_mailbox *m)
{
  exs_mailbox_defaults(m);
  m->id = 1;
  strcpy(m->name, "Alice & \"Bob\"");
  strcpy(m->address, "alice@contoso.com");
  m->is_queue = true;
  m->active = false;
  strcpy(m->profile, "Exchange");
  m->incoming = EXS_IN_OUTLOOK;
  m->outgoing = EXS_OUT_NONE;
  m->act = EXS_ACT_OUTLOOK;
  m->approval = EXS_APPROVAL_APPROVED;
  m->allow_credentials = true;
  strcpy(m->user, "alice");
  strcpy(m->password, "Secret-Mbx-3");
  m->sync_org_only = true;
  m->track = EXS_TRACK_ALL;
  m->process_from = 1767225660;
  m->status[EXS_WL_INCOMING] = EXS_STATUS_SUCCESS;
  m->status[EXS_WL_OUTGOING] = EXS_STATUS_FAILURE;
  m->status[EXS_WL_ACT] = EXS_STATUS_SUCCESS;
  m->enabled[EXS_WL_INCOMING] = true;
  m->enabled[EXS_WL_OUTGOING] = true;
  m->enabled[EXS_WL_ACT] = true;
  strcpy(m->ews_url, "https://mail.contoso.com/EWS/Exchange.asmx");
  m->autodiscovered_on = 1767225720;
  m->test_completed_on = 1767225780;
  m->retry_count = 3;
  m->retry_interval_s = 300;
  m->retry_max = 10;
  m->transient_failures = 2;
  m->retry_at = 1767225840;
  strcpy(m->last_error_code, "CONNECTION");
  strcpy(m->last_error, "connect: refused\n(second line)");
  m->last_error_count = 4;
  m->last_error_time = 1767225900;
  m->postponed_until = 1767225960;
  m->last_sync_start = 1767226020;
  m->last_sync_success = 1767226080;
  m->items_processed = 17;
  m->items_failed = 1;
  strcpy(m->processing_host, "sync-1");
}

/* A sample of d's struct (every member set) into obj, its defaults into def. */
static void sample(const struct exs_desc *d, void *obj, void *def)
{
  memset(obj, 0, d->size);
  memset(def, 0, d->size);
  if(d == &exs_org_desc) {
    sample_org(obj);
    exs_org_defaults(def);
  }
  else if(d == &exs_profile_desc) {
    sample_profile(obj);
    exs_profile_defaults(def);
  }
  else {
    sample_mailbox(obj);
    exs_mailbox_defaults(def);
  }
}

static bool field_eq(const struct exs_field *f, const void *a, const void *b)
{
  const char *x = (const char *)a + f->off, *y = (const char *)b + f->off;

  if(f->type == EXS_FT_TEXT)
    return strncmp(x, y, f->size) == 0;
  return memcmp(x, y, f->size) == 0;
}

/* ---- the descriptors themselves ------------------------------------------ */

static size_t align_of(enum exs_ftype t)
{
  switch(t) {
  case EXS_FT_TEXT:
    return 1;
  case EXS_FT_INT:
  case EXS_FT_ENUM:
  case EXS_FT_NAMED:
    return _Alignof(int);
  case EXS_FT_BOOL:
    return _Alignof(bool);
  case EXS_FT_TIME:
  case EXS_FT_SECS:
    return _Alignof(time_t);
  case EXS_FT_ROWID:
    return _Alignof(int64_t);
  case EXS_FT_STR:
    return _Alignof(char *);
  }
  return 1;
}

static size_t size_of(enum exs_ftype t)
{
  switch(t) {
  case EXS_FT_INT:
  case EXS_FT_ENUM:
  case EXS_FT_NAMED:
    return sizeof(int);
  case EXS_FT_BOOL:
    return sizeof(bool);
  case EXS_FT_TIME:
  case EXS_FT_SECS:
    return sizeof(time_t);
  case EXS_FT_ROWID:
    return sizeof(int64_t);
  case EXS_FT_STR:
    return sizeof(char *);
  case EXS_FT_TEXT:
    break;
  }
  return 0;
}

/* Laid out in offset order with their types' alignment, the fields must
 * give the struct's own layout and size: a member left out of the
 * descriptor shows as a hole that is not padding. */
START_TEST(descriptor_covers_every_member)
{
  const struct exs_desc *d = descs[_i];
  size_t pos = 0, maxal = 1, i, done;
  bool *used = calloc(d->n, sizeof(bool));

  ck_assert_ptr_nonnull(used);
  for(done = 0; done < d->n; done++) {
    size_t best = d->n, al;
    for(i = 0; i < d->n; i++)
      if(!used[i] && (best == d->n || d->fields[i].off < d->fields[best].off))
        best = i;
    used[best] = true;
    al = align_of(d->fields[best].type);
    if(al > maxal)
      maxal = al;
    pos = (pos + al - 1) / al * al;
    ck_assert_msg(d->fields[best].off == pos,
                  "%s: a member not described before %s (offset %zu, "
                  "expected %zu)",
                  d->entity, d->fields[best].member, d->fields[best].off, pos);
    if(d->fields[best].type != EXS_FT_TEXT)
      ck_assert_msg(d->fields[best].size == size_of(d->fields[best].type), "%s.%s: size %zu",
                    d->entity, d->fields[best].member, d->fields[best].size);
    pos += d->fields[best].size;
  }
  pos = (pos + maxal - 1) / maxal * maxal;
  ck_assert_msg(pos == d->size, "%s: members after the last described one (%zu of %zu bytes)",
                d->entity, pos, d->size);
  free(used);
}
END_TEST

/* Column, attribute (with a password's -env and -file) and JSON names are
 * unique; the flags and names agree with each other. */
START_TEST(descriptor_names_unique_and_consistent)
{
  const struct exs_desc *d = descs[_i];
  size_t i, j, keys = 0, rowids = 0;

  for(i = 0; i < d->n; i++) {
    const struct exs_field *f = &d->fields[i];
    ck_assert_msg(f->col && *f->col, "%s.%s has no column", d->entity, f->member);
    keys += (f->flags & EXS_FIELD_KEY) != 0;
    rowids += f->type == EXS_FT_ROWID;
    if(f->type == EXS_FT_ROWID)
      ck_assert_msg(!strcmp(f->col, "id") && !f->attr && !f->json, "%s.%s", d->entity, f->member);
    if(f->type == EXS_FT_TEXT)
      ck_assert_msg(f->max > 0 && f->max < f->size, "%s.%s: max %zu, buffer %zu", d->entity,
                    f->member, f->max, f->size);
    if(f->type == EXS_FT_ENUM)
      ck_assert_msg(f->codes && f->codes->name && f->codes->parse && f->codes->choices, "%s.%s",
                    d->entity, f->member);
    /* the org file's members print as written there: same name in JSON */
    if(f->attr)
      ck_assert_msg(f->json && !strcmp(f->json, f->attr), "%s.%s: JSON %s, attribute %s", d->entity,
                    f->member, f->json, f->attr);
    if(f->flags & EXS_FIELD_SECRET) {
      ck_assert_msg(f->type == EXS_FT_TEXT && f->attr && !(f->flags & EXS_FIELD_KEY), "%s.%s",
                    d->entity, f->member);
      ck_assert_msg(strstr(f->col, "_enc") != NULL, "%s.%s: sealed column %s", d->entity, f->member,
                    f->col);
    }
    if(f->flags & (EXS_FIELD_RESULT | EXS_FIELD_RUNTIME))
      ck_assert_msg(!f->attr, "%s.%s: state is not configuration", d->entity, f->member);
    if(f->flags & EXS_FIELD_DETAIL)
      ck_assert_msg(f->json != NULL, "%s.%s", d->entity, f->member);
    if(f->flags & EXS_FIELD_OUTGOING) {
      const struct exs_field *in;
      ck_assert(d == &exs_profile_desc && f->attr && !strncmp(f->attr, "outgoing-", 9));
      in = exs_desc_attr(d, f->attr + 9);
      ck_assert_msg(in && in->type == f->type && in->size == f->size &&
                        !(in->flags & EXS_FIELD_OUTGOING),
                    "%s: no incoming counterpart", f->attr);
    }
    for(j = 0; j < i; j++) {
      const struct exs_field *g = &d->fields[j];
      ck_assert_msg(strcmp(f->col, g->col), "%s: column %s twice", d->entity, f->col);
      ck_assert_msg(f->off != g->off, "%s: %s and %s in one place", d->entity, f->member,
                    g->member);
      if(f->json && g->json)
        ck_assert_msg(strcmp(f->json, g->json), "%s: JSON %s twice", d->entity, f->json);
      if(f->attr && g->attr) {
        char a[64], b[64];
        int x, y;
        ck_assert_msg(strcmp(f->attr, g->attr), "%s: attribute %s twice", d->entity, f->attr);
        /* a password's other names may not be another attribute */
        for(x = 0; x < 3; x++)
          for(y = 0; y < 3; y++) {
            static const char *const sfx[] = {"", "-env", "-file"};
            if((x && !(f->flags & EXS_FIELD_SECRET)) || (y && !(g->flags & EXS_FIELD_SECRET)))
              continue;
            snprintf(a, sizeof(a), "%s%s", f->attr, sfx[x]);
            snprintf(b, sizeof(b), "%s%s", g->attr, sfx[y]);
            ck_assert_msg(strcmp(a, b), "%s: attribute %s twice", d->entity, a);
          }
      }
    }
    /* a JSON group's members are consecutive */
    if(f->json && strchr(f->json, '.')) {
      size_t glen = (size_t)(strchr(f->json, '.') - f->json);
      bool seen = false, left = false;
      for(j = 0; j < d->n; j++) {
        const char *k = d->fields[j].json;
        bool in = k && !strncmp(k, f->json, glen + 1);
        if(!k)
          continue;
        ck_assert_msg(!(in && left), "%s: JSON group of %s is split", d->entity, f->json);
        seen |= in;
        left |= seen && !in;
      }
    }
  }
  ck_assert_uint_eq(keys, d == &exs_org_desc ? 0 : 1);
  ck_assert_uint_eq(rowids, d == &exs_org_desc ? 0 : 1);
  if(keys)
    ck_assert(exs_desc_key(d)->flags & EXS_FIELD_KEY);
}
END_TEST

/* The samples set every member away from its default (so the round trips
 * below check every one), and no printed form of a password holds it. */
START_TEST(samples_cover_every_field_and_hide_secrets)
{
  const struct exs_desc *d = descs[_i];
  char *obj = calloc(1, d->size), *def = calloc(1, d->size), buf[EXS_FIELD_TEXT_MAX];
  size_t i;

  ck_assert(obj && def);
  sample(d, obj, def);
  for(i = 0; i < d->n; i++) {
    const struct exs_field *f = &d->fields[i];
    ck_assert_msg(!field_eq(f, obj, def), "%s: the sample leaves %s at its default", d->entity,
                  f->member);
    exs_field_text(f, obj, buf, sizeof(buf));
    if(f->flags & EXS_FIELD_SECRET) {
      ck_assert_str_eq(buf, "(set, encrypted)");
      ck_assert_str_eq(exs_field_text(f, def, buf, sizeof(buf)), "(not set)");
    }
  }
  free(obj);
  free(def);
}
END_TEST

/* Every attribute of the org file's schema is a field, and every field with
 * an attribute is in the schema, on its element. */
START_TEST(attributes_match_the_schema)
{
  static const char *const elem[] = {"settings", "profile", "mailbox"};
  const struct exs_desc *d = descs[_i];
  xmlDocPtr doc = xmlReadFile(tu_path("fixtures/schema/org.xsd"), NULL, XML_PARSE_NONET);
  xmlXPathContextPtr x;
  xmlXPathObjectPtr r;
  char q[256];
  size_t i;
  int k, found = 0;

  ck_assert_ptr_nonnull(doc);
  x = xmlXPathNewContext(doc);
  xmlXPathRegisterNs(x, (const xmlChar *)"xs", (const xmlChar *)"http://www.w3.org/2001/XMLSchema");
  snprintf(q, sizeof(q), "//xs:element[@name='%s']//xs:attribute/@name", elem[_i]);
  r = xmlXPathEvalExpression((const xmlChar *)q, x);
  ck_assert(r && r->nodesetval && r->nodesetval->nodeNr > 0);
  for(k = 0; k < r->nodesetval->nodeNr; k++) {
    xmlChar *name = xmlNodeGetContent(r->nodesetval->nodeTab[k]);
    const struct exs_field *f = exs_desc_attr(d, (const char *)name);
    char base[64];
    snprintf(base, sizeof(base), "%s", (const char *)name);
    if(!f && strlen(base) > 4 && !strcmp(base + strlen(base) - 4, "-env"))
      base[strlen(base) - 4] = 0;
    else if(!f && strlen(base) > 5 && !strcmp(base + strlen(base) - 5, "-file"))
      base[strlen(base) - 5] = 0;
    if(!f) {
      f = exs_desc_attr(d, base);
      ck_assert_msg(f && (f->flags & EXS_FIELD_SECRET), "<%s %s>: no field", elem[_i], name);
    }
    ck_assert_msg(!(f->flags & EXS_FIELD_ROOT), "<%s %s>: a root attribute", elem[_i], name);
    found++;
    xmlFree(name);
  }
  xmlXPathFreeObject(r);
  for(i = 0; i < d->n; i++) {
    const struct exs_field *f = &d->fields[i];
    if(!f->attr)
      continue;
    if(f->flags & EXS_FIELD_ROOT)
      snprintf(q, sizeof(q), "//xs:element[@name='org']/xs:complexType/xs:attribute[@name='%s']",
               f->attr);
    else
      snprintf(q, sizeof(q), "//xs:element[@name='%s']//xs:attribute[@name='%s']", elem[_i],
               f->attr);
    r = xmlXPathEvalExpression((const xmlChar *)q, x);
    ck_assert_msg(r && r->nodesetval && r->nodesetval->nodeNr == 1, "%s: %s not in org.xsd",
                  d->entity, f->attr);
    xmlXPathFreeObject(r);
  }
  ck_assert_int_gt(found, 0);
  xmlXPathFreeContext(x);
  xmlFreeDoc(doc);
}
END_TEST

/* KEY=VALUE (org set, profile set, mailbox set): every attribute, the
 * org's id too, takes the org file's spelling; passwords never. */
START_TEST(key_value_sets_every_attribute)
{
  const struct exs_desc *d = descs[_i];
  char *obj = calloc(1, d->size), *def = calloc(1, d->size), buf[EXS_FIELD_TEXT_MAX];
  struct exs_error err;
  size_t i;
  int rc;

  ck_assert(obj && def);
  sample(d, obj, def);
  for(i = 0; i < d->n; i++) {
    const struct exs_field *f = &d->fields[i];
    if(!f->attr)
      continue;
    exs_field_text(f, obj, buf, sizeof(buf));
    exs_error_clear(&err);
    rc = d == &exs_org_desc       ? exs_orgfile_set_org((void *)def, f->attr, buf, &err)
         : d == &exs_profile_desc ? exs_orgfile_set_profile((void *)def, f->attr, buf, &err)
                                  : exs_orgfile_set_mailbox((void *)def, f->attr, buf, &err);
    if(f->flags & EXS_FIELD_SECRET) {
      ck_assert_int_eq(rc, -1);
      ck_assert_msg(strstr(err.message, "passwords are not set as"), "%s", err.message);
      continue;
    }
    ck_assert_msg(rc == 0, "%s=%s: %s", f->attr, buf, err.message);
    ck_assert_msg(field_eq(f, obj, def), "%s: %s=%s not set", d->entity, f->attr, buf);
  }
  if(d == &exs_org_desc) {
    memset(buf, 'x', 64);
    buf[64] = 0;
    ck_assert_int_eq(exs_orgfile_set_org((void *)def, "id", buf, &err), -1);
    ck_assert_str_eq(err.message, "the org settings 'id': must be at most 63 characters");
  }
  free(obj);
  free(def);
}
END_TEST

/* ---- round trips --------------------------------------------------------- */

/* dbpath: the SQLite file, or the PostgreSQL database's URI */
static char dir[256], dbpath[600], keypath[300];
static struct pgtest *cluster; /* started once for the postgresql cases */
static char cluster_err[1024];

static void setup(void)
{
  snprintf(dir, sizeof(dir), "/tmp/exsync-fields-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(dbpath, sizeof(dbpath), "%s/store.db", dir);
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

/* The same cases on a fresh PostgreSQL database of the test cluster. */
static void setup_pg(void)
{
  char e[512];

  ck_assert_msg(cluster != NULL, "no PostgreSQL test cluster: %s", cluster_err);
  setup();
  ck_assert_msg(pgtest_createdb(cluster, dbpath, sizeof(dbpath), e, sizeof(e)) == 0, "%s", e);
}

static void teardown(void)
{
  char cmd[400];

  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  if(system(cmd) != 0)
    fprintf(stderr, "cannot remove %s\n", dir);
}

static void assert_same(const struct exs_desc *d, const void *want, const void *got,
                        const char *where)
{
  size_t i;

  for(i = 0; i < d->n; i++)
    ck_assert_msg(field_eq(&d->fields[i], want, got), "%s: %s.%s changed", where, d->entity,
                  d->fields[i].member);
}

/* model -> store -> model: every field back as it was. */
START_TEST(store_round_trip)
{
  struct exs_error err;
  struct exs_store *st;
  struct exs_org o, o2, def;
  struct exs_profile p, p2, pdef;
  struct exs_mailbox m, m2, mdef;

  exs_error_clear(&err);
  st = exs_store_open(dbpath, keypath, &err);
  ck_assert_msg(st != NULL, "%s", err.message);
  sample(&exs_org_desc, &o, &def);
  sample(&exs_profile_desc, &p, &pdef);
  sample(&exs_mailbox_desc, &m, &mdef);
  ck_assert_msg(exs_store_org_put(st, &o, &err) == 0, "%s", err.message);
  ck_assert_msg(exs_store_profile_put(st, &p, &err) == 0, "%s", err.message);
  ck_assert_msg(exs_store_mailbox_put(st, &m, &err) == 0, "%s", err.message);
  memset(&o2, 0x5a, sizeof(o2));
  ck_assert_msg(exs_store_org_get(st, &o2, &err) == 0, "%s", err.message);
  assert_same(&exs_org_desc, &o, &o2, "store");
  memset(&p2, 0x5a, sizeof(p2));
  ck_assert_msg(exs_store_profile_get(st, "Exchange", &p2, &err) == 0, "%s", err.message);
  assert_same(&exs_profile_desc, &p, &p2, "store");
  memset(&m2, 0x5a, sizeof(m2));
  ck_assert_msg(exs_store_mailbox_get(st, "alice@contoso.com", &m2, &err) == 0, "%s", err.message);
  assert_same(&exs_mailbox_desc, &m, &m2, "store");
  /* Test & Enable's and the sync engine's writes: exactly their fields */
  for(int w = 0; w < 2; w++) {
    unsigned flag = w ? EXS_FIELD_RUNTIME : EXS_FIELD_RESULT;
    struct exs_mailbox next = m, want = m;
    exs_desc_copy(&exs_mailbox_desc, &next, &mdef, flag); /* its fields to their defaults */
    exs_desc_copy(&exs_mailbox_desc, &want, &next, flag);
    strcpy(next.name, "not written");
    if(w)
      ck_assert_msg(exs_store_mailbox_save_runtime(st, &next, &err) == 0, "%s", err.message);
    else
      ck_assert_msg(exs_store_save_test_result(st, &next, NULL, 0, &err) == 0, "%s", err.message);
    ck_assert_msg(exs_store_mailbox_get(st, m.address, &m2, &err) == 0, "%s", err.message);
    assert_same(&exs_mailbox_desc, &want, &m2, w ? "save_runtime" : "save_test_result");
    ck_assert_msg(exs_store_mailbox_put(st, &m, &err) == 0, "%s", err.message);
  }
  exs_profile_wipe(&p2);
  exs_mailbox_wipe(&m2);
  exs_store_close(st);
}
END_TEST

/* ---- org file -> model -> store -> JSON ----------------------------------- */

/* Append " attr=\"value\"" for every attribute of obj (passwords literal). */
static void xml_attrs(FILE *x, const struct exs_desc *d, const void *obj, bool root)
{
  char buf[EXS_FIELD_TEXT_MAX];
  size_t i;

  for(i = 0; i < d->n; i++) {
    const struct exs_field *f = &d->fields[i];
    const char *v;
    if(!f->attr || root != ((f->flags & EXS_FIELD_ROOT) != 0))
      continue;
    v = f->flags & EXS_FIELD_SECRET ? (const char *)obj + f->off
                                    : exs_field_text(f, obj, buf, sizeof(buf));
    fprintf(x, " %s=\"", f->attr);
    for(; *v; v++)
      switch(*v) {
      case '"':
        fputs("&quot;", x);
        break;
      case '&':
        fputs("&amp;", x);
        break;
      case '<':
        fputs("&lt;", x);
        break;
      default:
        fputc(*v, x);
      }
    fputc('"', x);
  }
}

static void assert_same_attrs(const struct exs_desc *d, const void *want, const void *got,
                              const char *where)
{
  size_t i;

  for(i = 0; i < d->n; i++)
    if(d->fields[i].attr)
      ck_assert_msg(field_eq(&d->fields[i], want, got), "%s: %s '%s' changed", where, d->entity,
                    d->fields[i].attr);
}

/* exsync --db ... ARGS... in a child; its standard output (malloc'd). */
static char *run_exsync(const char *a1, const char *a2, const char *a3, const char *a4)
{
  char *argv[] = {"exsync", "--db",     dbpath,     "--key-file", keypath,    "--format",
                  "json",   (char *)a1, (char *)a2, (char *)a3,   (char *)a4, NULL};
  char out[400];
  int argc = 7, status = 0, fd;
  pid_t pid;

  while(argv[argc])
    argc++;
  snprintf(out, sizeof(out), "%s/out.json", dir);
  fflush(NULL);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if(pid == 0) {
    fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if(fd < 0)
      _exit(99);
    dup2(fd, 1);
    close(fd);
    status = diag_main(argc, argv);
    fflush(NULL);
    _exit(status & 0xff);
  }
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exsync %s %s failed", a1, a2);
  return tu_read_file(out, NULL);
}

/* s as a JSON string literal. */
static void json_lit(char *buf, size_t len, const char *s)
{
  size_t n = 0;

  n += (size_t)snprintf(buf + n, len - n, "\"");
  for(; *s && n + 8 < len; s++) {
    if(*s == '"' || *s == '\\')
      n += (size_t)snprintf(buf + n, len - n, "\\%c", *s);
    else if(*s == '\n')
      n += (size_t)snprintf(buf + n, len - n, "\\n");
    else
      buf[n++] = *s;
  }
  snprintf(buf + n, len - n, "\"");
}

/* Every JSON member of obj, as fields.h says it prints, is in json. */
static void assert_json(const struct exs_desc *d, const void *obj, const char *json, bool detail)
{
  char text[EXS_FIELD_TEXT_MAX], val[2 * EXS_FIELD_TEXT_MAX], want[2 * EXS_FIELD_TEXT_MAX + 64];
  size_t i;

  for(i = 0; i < d->n; i++) {
    const struct exs_field *f = &d->fields[i];
    const char *p = (const char *)obj + f->off, *key = f->json, *from = json, *dot;
    if(!f->json || !exs_field_shown(d, f, obj)) {
      if(f->json) /* hidden: not printed at all */
        ck_assert_msg(!strstr(json, f->json), "%s: hidden %s printed", d->entity, f->json);
      continue;
    }
    if((f->flags & EXS_FIELD_DETAIL) && !detail) {
      ck_assert_msg(!strstr(json, f->json), "%s: %s printed in the list", d->entity, f->json);
      continue;
    }
    dot = strchr(f->json, '.');
    if(dot) { /* inside its group's object */
      snprintf(want, sizeof(want), "\"%.*s\": {", (int)(dot - f->json), f->json);
      from = strstr(json, want);
      ck_assert_msg(from != NULL, "%s: no %s in %s", d->entity, want, json);
      key = dot + 1;
    }
    exs_field_text(f, obj, text, sizeof(text));
    if(f->attr || f->type == EXS_FT_ENUM)
      json_lit(val, sizeof(val), text);
    else if(f->type == EXS_FT_INT)
      snprintf(val, sizeof(val), "%d", *(const int *)p);
    else if(f->type == EXS_FT_BOOL)
      snprintf(val, sizeof(val), "%s", *(const bool *)p ? "true" : "false");
    else if(!text[0] && !dot)
      snprintf(val, sizeof(val), "null");
    else
      json_lit(val, sizeof(val), text);
    snprintf(want, sizeof(want), "\"%s\": %s", key, val);
    ck_assert_msg(strstr(from, want) != NULL, "%s: no %s in %s", d->entity, want, json);
  }
}

static void assert_no_secret(const char *out, const struct exs_desc *d, const void *obj)
{
  size_t i;

  for(i = 0; i < d->n; i++)
    if(d->fields[i].flags & EXS_FIELD_SECRET)
      ck_assert_msg(!strstr(out, (const char *)obj + d->fields[i].off), "a password printed: %s",
                    out);
}

START_TEST(org_file_store_json_round_trip)
{
  struct exs_error err;
  struct exs_store *st;
  struct exs_orgfile *of = NULL;
  struct exs_org o, od, o2;
  struct exs_profile p, pd, p2;
  struct exs_mailbox m, md, m2;
  char *xml = NULL, *out, path[400];
  size_t len = 0;
  FILE *x = open_memstream(&xml, &len);

  sample(&exs_org_desc, &o, &od);
  sample(&exs_profile_desc, &p, &pd);
  sample(&exs_mailbox_desc, &m, &md);
  /* model -> org file */
  ck_assert_ptr_nonnull(x);
  fputs("<org xmlns=\"urn:exsync:org:1\"", x);
  xml_attrs(x, &exs_org_desc, &o, true);
  fputs(">\n<settings", x);
  xml_attrs(x, &exs_org_desc, &o, false);
  fputs("/>\n<profile", x);
  xml_attrs(x, &exs_profile_desc, &p, false);
  fputs("/>\n<mailbox", x);
  xml_attrs(x, &exs_mailbox_desc, &m, false);
  fputs("/>\n</org>\n", x);
  fclose(x);
  /* org file -> model */
  snprintf(path, sizeof(path), "%s/org.xml", dir);
  exs_error_clear(&err);
  ck_assert_msg(exs_orgfile_load_buffer(xml, len, path, NULL, 0, &of, &err) == 0, "%s\n%s",
                err.message, xml);
  ck_assert_uint_eq(of->n_profiles, 1);
  ck_assert_uint_eq(of->n_mailboxes, 1);
  assert_same_attrs(&exs_org_desc, &o, &of->org, "org file");
  assert_same_attrs(&exs_profile_desc, &p, &of->profiles[0], "org file");
  assert_same_attrs(&exs_mailbox_desc, &m, &of->mailboxes[0], "org file");
  /* model -> store -> model */
  st = exs_store_open(dbpath, keypath, &err);
  ck_assert_msg(st != NULL, "%s", err.message);
  ck_assert_msg(exs_store_import(st, &of->org, of->profiles, 1, of->mailboxes, 1, &err) == 0, "%s",
                err.message);
  ck_assert_msg(exs_store_org_get(st, &o2, &err) == 0, "%s", err.message);
  ck_assert_msg(exs_store_profile_get(st, p.name, &p2, &err) == 0, "%s", err.message);
  ck_assert_msg(exs_store_mailbox_get(st, m.address, &m2, &err) == 0, "%s", err.message);
  assert_same_attrs(&exs_org_desc, &o, &o2, "store");
  assert_same_attrs(&exs_profile_desc, &p, &p2, "store");
  assert_same_attrs(&exs_mailbox_desc, &m, &m2, "store");
  /* the state, as Test & Enable and the sync engine leave it */
  ck_assert_msg(exs_store_save_test_result(st, &m, NULL, 0, &err) == 0, "%s", err.message);
  ck_assert_msg(exs_store_mailbox_save_runtime(st, &m, &err) == 0, "%s", err.message);
  exs_store_close(st);
  exs_orgfile_free(of);
  free(xml);

  /* store -> JSON: every member as the descriptor says, no password */
  out = run_exsync("org", "show", NULL, NULL);
  assert_json(&exs_org_desc, &o, out, true);
  free(out);
  out = run_exsync("profile", "show", p.name, NULL);
  assert_json(&exs_profile_desc, &p, out, true);
  assert_no_secret(out, &exs_profile_desc, &p);
  free(out);
  out = run_exsync("profile", "list", NULL, NULL);
  assert_no_secret(out, &exs_profile_desc, &p);
  /* read without opening the sealed passwords, yet saying they are set */
  assert_json(&exs_profile_desc, &p, out, true);
  free(out);
  out = run_exsync("mailbox", "show", m.address, NULL);
  assert_json(&exs_mailbox_desc, &m, out, true);
  assert_no_secret(out, &exs_mailbox_desc, &m);
  free(out);
  out = run_exsync("mailbox", "list", NULL, NULL);
  assert_no_secret(out, &exs_mailbox_desc, &m);
  assert_json(&exs_mailbox_desc, &m, out, false);
  free(out);
  /* same-outgoing="yes": the outgoing settings are not printed */
  p.same_outgoing = true;
  st = exs_store_open(dbpath, keypath, &err);
  ck_assert_msg(st != NULL, "%s", err.message);
  ck_assert_msg(exs_store_profile_put(st, &p, &err) == 0, "%s", err.message);
  exs_store_close(st);
  out = run_exsync("profile", "show", p.name, NULL);
  ck_assert_msg(!strstr(out, "outgoing-user"), "%s", out);
  free(out);
  exs_profile_wipe(&p2);
  exs_mailbox_wipe(&m2);
}
END_TEST

/* The list entry of key in a JSON list: from its key to the next entry. */
static char *list_entry(char *json, const char *member, const char *key)
{
  char want[300], *at, *next;

  snprintf(want, sizeof(want), "\"%s\": \"%s\"", member, key);
  at = strstr(json, want);
  ck_assert_msg(at != NULL, "no %s in %s", want, json);
  next = strstr(at, "\n  {");
  if(next)
    *next = 0;
  return at;
}

static void assert_password(char *json, const char *member, const char *key, const char *pwkey,
                            bool set)
{
  char *copy = strdup(json), want[300];

  ck_assert_ptr_nonnull(copy);
  snprintf(want, sizeof(want), "\"%s\": \"%s\"", pwkey, set ? "(set, encrypted)" : "(not set)");
  ck_assert_msg(strstr(list_entry(copy, member, key), want), "%s %s: no %s in %s", member, key,
                want, json);
  free(copy);
}

/* The lists leave the passwords sealed but say which are stored; an entry
 * so read is never written back over its stored password. */
START_TEST(lists_say_whether_a_password_is_stored)
{
  struct exs_error err;
  struct exs_store *st;
  struct exs_profile p[2], pd, got;
  struct exs_mailbox m[2], md, *list = NULL;
  size_t n = 0, i;
  char *out;

  sample(&exs_profile_desc, &p[0], &pd);
  sample(&exs_profile_desc, &p[1], &pd);
  strcpy(p[1].name, "Nopass");
  p[1].password[0] = p[1].out_password[0] = 0;
  sample(&exs_mailbox_desc, &m[0], &md);
  sample(&exs_mailbox_desc, &m[1], &md);
  strcpy(m[1].address, "nopass@contoso.com");
  m[1].password[0] = 0;
  exs_error_clear(&err);
  st = exs_store_open(dbpath, keypath, &err);
  ck_assert_msg(st != NULL, "%s", err.message);
  ck_assert_msg(exs_store_import(st, NULL, p, 2, m, 2, &err) == 0, "%s", err.message);

  /* a list entry: "" (never a logon's password), marked as stored */
  ck_assert_int_eq(exs_store_mailbox_list(st, NULL, 0, &list, &n, &err), 0);
  ck_assert_uint_eq(n, 2);
  for(i = 0; i < n; i++) {
    bool stored = !strcmp(list[i].address, m[0].address);
    ck_assert_str_eq(list[i].password, "");
    ck_assert(exs_password_is_sealed(list[i].password, sizeof(list[i].password)) == stored);
    ck_assert_int_eq(exs_store_mailbox_put(st, &list[i], &err), stored ? -1 : 0);
  }
  ck_assert_msg(strstr(err.message, "mailbox alice@contoso.com"), "%s", err.message);
  ck_assert_msg(!strstr(err.message, "Secret"), "%s", err.message);
  free(list);
  /* the stored one is intact */
  ck_assert_int_eq(exs_store_mailbox_get(st, m[0].address, &md, &err), 0);
  ck_assert_str_eq(md.password, m[0].password);
  ck_assert_int_eq(exs_store_profile_get(st, p[0].name, &got, &err), 0);
  ck_assert_str_eq(got.password, p[0].password);
  ck_assert(!exs_password_is_sealed(got.password, sizeof(got.password)));
  exs_store_close(st);
  exs_mailbox_wipe(&md);
  exs_profile_wipe(&got);

  out = run_exsync("profile", "list", NULL, NULL);
  assert_no_secret(out, &exs_profile_desc, &p[0]);
  assert_password(out, "name", "Exchange", "password", true);
  assert_password(out, "name", "Exchange", "outgoing-password", true);
  assert_password(out, "name", "Nopass", "password", false);
  assert_password(out, "name", "Nopass", "outgoing-password", false);
  free(out);
  out = run_exsync("mailbox", "list", NULL, NULL);
  assert_no_secret(out, &exs_mailbox_desc, &m[0]);
  assert_password(out, "address", "alice@contoso.com", "password", true);
  assert_password(out, "address", "nopass@contoso.com", "password", false);
  free(out);
  exs_profile_wipe(&p[0]);
  exs_mailbox_wipe(&m[0]);
}
END_TEST

static Suite *fields_suite(void)
{
  Suite *s = suite_create("fields");
  TCase *tc = tcase_create("descriptors");
  TCase *rt = tcase_create("round_trip");
  TCase *pg = tcase_create("postgresql");

  tcase_add_loop_test(tc, descriptor_covers_every_member, 0, N(descs));
  tcase_add_loop_test(tc, descriptor_names_unique_and_consistent, 0, N(descs));
  tcase_add_loop_test(tc, samples_cover_every_field_and_hide_secrets, 0, N(descs));
  tcase_add_loop_test(tc, attributes_match_the_schema, 0, N(descs));
  tcase_add_loop_test(tc, key_value_sets_every_attribute, 0, N(descs));
  suite_add_tcase(s, tc);
  tcase_add_checked_fixture(rt, setup, teardown);
  tcase_add_test(rt, store_round_trip);
  tcase_add_test(rt, org_file_store_json_round_trip);
  tcase_add_test(rt, lists_say_whether_a_password_is_stored);
  suite_add_tcase(s, rt);
  tcase_add_unchecked_fixture(pg, cluster_start, cluster_stop);
  tcase_add_checked_fixture(pg, setup_pg, teardown);
  tcase_add_test(pg, store_round_trip);
  tcase_add_test(pg, org_file_store_json_round_trip);
  tcase_add_test(pg, lists_say_whether_a_password_is_stored);
  suite_add_tcase(s, pg);
  return s;
}

int main(void)
{
  return tu_run(fields_suite());
}

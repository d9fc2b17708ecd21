/* scenario.c - load a world from a scenario file (urn:exsync:scenario:1,
 * validated against fixtures/schema/scenario.xsd), plus the --user and
 * --impersonator entry points of the public API.
 *
 * The file is parsed with the shared safe parser, validated, then read into
 * the mailstore (plain structs; the document is freed at the end). Errors
 * name the file and line: "FILE:LINE: message".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "emu_internal.h"
#include "krb.h"
#include "exsync/clock.h"
#include "exsync/datadir.h"
#include "exsync/xml.h"

#define NS_SCN "urn:exsync:scenario:1"

static void schema_path(char *out, size_t len)
{
  exs_data_path("schema/scenario.xsd", out, len);
}

static bool yes(xmlNodePtr n, const char *attr, bool dflt)
{
  char b[8];

  if(!exs_xml_attr(n, attr, b, sizeof(b)))
    return dflt;
  return strcmp(b, "yes") == 0;
}

/* attribute as a malloc'd string or NULL */
static char *attr_dup(xmlNodePtr n, const char *attr)
{
  char b[2048];

  return exs_xml_attr(n, attr, b, sizeof(b)) ? strdup(b) : NULL;
}

static int load_host(struct emu *emu, xmlNodePtr n, const char *path, char *err, size_t errlen)
{
  char name[256], b[256];
  struct emu_host *h;

  exs_xml_attr(n, "name", name, sizeof(name));
  h = emu_host_add(emu, name);
  if(!h) {
    snprintf(err, errlen, "%s:%ld: out of memory", path, xmlGetLineNo(n));
    return -1;
  }
  h->ews = yes(n, "ews", true);
  h->pox = yes(n, "pox", true);
  h->soap = yes(n, "soap", true);
  if(exs_xml_attr(n, "auth", b, sizeof(b))) {
    h->basic = strstr(b, "basic") != NULL;
    h->ntlm = strstr(b, "ntlm") != NULL;
    h->negotiate = strstr(b, "negotiate") != NULL;
  }
  free(h->ews_url);
  h->ews_url = attr_dup(n, "ews-url");
  free(h->ews_host);
  h->ews_host = attr_dup(n, "ews-host");
  exs_xml_attr(n, "autodiscover", b, sizeof(b));
  h->ad_action = strcmp(b, "redirect-addr") == 0  ? EMU_AD_REDIRECT_ADDR
                 : strcmp(b, "redirect-url") == 0 ? EMU_AD_REDIRECT_URL
                 : strcmp(b, "error") == 0        ? EMU_AD_ERROR
                                                  : EMU_AD_SETTINGS;
  free(h->ad_target);
  h->ad_target = attr_dup(n, "target");
  if((h->ad_action == EMU_AD_REDIRECT_ADDR || h->ad_action == EMU_AD_REDIRECT_URL) &&
     !h->ad_target) {
    snprintf(err, errlen, "%s:%ld: host %s: autodiscover=\"%s\" needs a target", path,
             xmlGetLineNo(n), name, b);
    return -1;
  }
  h->redirect_status = exs_xml_attr(n, "redirect-status", b, sizeof(b)) ? atoi(b) : 0;
  free(h->redirect_location);
  h->redirect_location = attr_dup(n, "redirect-location");
  if(h->redirect_status && !h->redirect_location) {
    snprintf(err, errlen, "%s:%ld: host %s: redirect-status needs redirect-location", path,
             xmlGetLineNo(n), name);
    return -1;
  }
  free(h->tls_variant);
  h->tls_variant = attr_dup(n, "tls");
  return 0;
}

static int load_user(struct emu *emu, xmlNodePtr n, const char *path, char *err, size_t errlen)
{
  char login[256], pw[256], domain[256], smtp[256];
  struct emu_user *u;

  exs_xml_attr(n, "login", login, sizeof(login));
  exs_xml_attr(n, "password", pw, sizeof(pw));
  exs_xml_attr(n, "domain", domain, sizeof(domain));
  exs_xml_attr(n, "mailbox", smtp, sizeof(smtp));
  u = emu_user_add(emu, login, pw, domain, smtp[0] ? smtp : NULL);
  if(!u) {
    snprintf(err, errlen, "%s:%ld: out of memory", path, xmlGetLineNo(n));
    return -1;
  }
  u->impersonate_all = yes(n, "impersonate-all", false);
  for(xmlNodePtr c = exs_xml_child(n, NS_SCN, "impersonate"); c;
      c = exs_xml_next(c, NS_SCN, "impersonate")) {
    char m[256];
    exs_xml_attr(c, "mailbox", m, sizeof(m));
    if(emu_strv_add(&u->impersonate, &u->nimpersonate, m) != 0) {
      snprintf(err, errlen, "%s:%ld: out of memory", path, xmlGetLineNo(c));
      return -1;
    }
  }
  return 0;
}

static struct emu_folder *folder_named(struct emu_mailbox *m, const char *name)
{
  struct emu_folder *f = emu_folder_distinguished(m, name);

  for(size_t i = 0; !f && i < m->nfolders; i++)
    if(m->folders[i]->name && strcasecmp(m->folders[i]->name, name) == 0)
      f = m->folders[i];
  return f;
}

static void split_list(const char *s, char ***v, size_t *n)
{
  char *copy = s ? strdup(s) : NULL, *save = NULL;

  if(!copy)
    return;
  for(char *t = strtok_r(copy, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
    emu_strv_add(v, n, t);
  free(copy);
}

static int load_message(struct emu *emu, struct emu_mailbox *m, xmlNodePtr c, const char *path,
                        char *err, size_t errlen)
{
  char folder[256], b[2048];
  struct emu_folder *f;
  struct emu_item *it;
  char *body;

  exs_xml_attr(c, "folder", folder, sizeof(folder));
  f = folder_named(m, folder[0] ? folder : "inbox");
  if(!f) {
    snprintf(err, errlen, "%s:%ld: message: mailbox %s has no folder \"%s\"", path, xmlGetLineNo(c),
             m->smtp, folder);
    return -1;
  }
  it = emu_item_new(emu, f);
  if(!it) {
    snprintf(err, errlen, "%s:%ld: out of memory", path, xmlGetLineNo(c));
    return -1;
  }
  it->item_class = strdup("IPM.Note");
  it->subject = attr_dup(c, "subject");
  it->from = attr_dup(c, "from");
  if(exs_xml_attr(c, "to", b, sizeof(b)))
    split_list(b, &it->to, &it->nto);
  else
    emu_strv_add(&it->to, &it->nto, m->smtp);
  if(exs_xml_attr(c, "cc", b, sizeof(b)))
    split_list(b, &it->cc, &it->ncc);
  if(exs_xml_attr(c, "categories", b, sizeof(b)))
    split_list(b, &it->categories, &it->ncat);
  if(exs_xml_attr(c, "received", b, sizeof(b))) {
    time_t t;
    if(exs_time_parse(b, &t) != 0) {
      snprintf(err, errlen, "%s:%ld: message: bad received time \"%s\"", path, xmlGetLineNo(c), b);
      return -1;
    }
    it->received = it->sent = it->created = t;
  }
  it->is_read = yes(c, "read", false);
  it->body_html = yes(c, "html", false);
  it->message_id = attr_dup(c, "message-id");
  if(!it->message_id) {
    snprintf(b, sizeof(b), "<%llu.scenario@exsync.invalid>", (unsigned long long)it->num);
    it->message_id = strdup(b);
  }
  if(!it->from)
    it->from = strdup("sender@example.com");
  body = (char *)xmlNodeGetContent(c);
  it->body = strdup(body ? body : "");
  xmlFree(body);
  return 0;
}

static int load_mailbox(struct emu *emu, xmlNodePtr n, const char *path, char *err, size_t errlen)
{
  char smtp[256], display[256], owner[256];
  struct emu_mailbox *m;

  exs_xml_attr(n, "address", smtp, sizeof(smtp));
  exs_xml_attr(n, "display-name", display, sizeof(display));
  exs_xml_attr(n, "owner", owner, sizeof(owner));
  m = emu_mailbox_add(emu, smtp, display[0] ? display : NULL, owner[0] ? owner : NULL);
  if(!m) {
    snprintf(err, errlen, "%s:%ld: out of memory", path, xmlGetLineNo(n));
    return -1;
  }
  if(display[0]) {
    free(m->display);
    m->display = strdup(display);
  }
  if(owner[0]) {
    free(m->owner);
    m->owner = strdup(owner);
  }
  for(xmlNodePtr c = n->children; c; c = c->next) {
    char b[256], b2[256];
    if(c->type != XML_ELEMENT_NODE)
      continue;
    if(exs_xml_is(c, NS_SCN, "delegate")) {
      exs_xml_attr(c, "login", b, sizeof(b));
      emu_strv_add(&m->delegates, &m->ndelegates, b);
    }
    else if(exs_xml_is(c, NS_SCN, "folder")) {
      struct emu_folder *f;
      if(exs_xml_attr(c, "distinguished", b, sizeof(b))) {
        f = emu_folder_distinguished(m, b);
        if(!f) {
          snprintf(err, errlen, "%s:%ld: folder: unknown distinguished folder \"%s\"", path,
                   xmlGetLineNo(c), b);
          return -1;
        }
      }
      else if(exs_xml_attr(c, "name", b, sizeof(b)) && b[0]) {
        char cls[64];
        struct emu_folder *parent;
        exs_xml_attr(c, "parent", b2, sizeof(b2));
        parent = folder_named(m, b2[0] ? b2 : "msgfolderroot");
        if(!parent) {
          snprintf(err, errlen, "%s:%ld: folder: unknown parent \"%s\"", path, xmlGetLineNo(c), b2);
          return -1;
        }
        exs_xml_attr(c, "class", cls, sizeof(cls));
        f = emu_folder_add(emu, m, parent, NULL, b, cls[0] ? cls : "IPF.Note");
        if(!f) {
          snprintf(err, errlen, "%s:%ld: out of memory", path, xmlGetLineNo(c));
          return -1;
        }
      }
      else {
        snprintf(err, errlen, "%s:%ld: folder needs distinguished or name", path, xmlGetLineNo(c));
        return -1;
      }
      f->access_denied = yes(c, "access-denied", false);
    }
    else if(exs_xml_is(c, NS_SCN, "property")) {
      char folder[256], set[64], name[256], type[64], *value;
      struct emu_folder *f;
      struct emu_prop key;
      exs_xml_attr(c, "folder", folder, sizeof(folder));
      exs_xml_attr(c, "set", set, sizeof(set));
      exs_xml_attr(c, "name", name, sizeof(name));
      exs_xml_attr(c, "type", type, sizeof(type));
      f = folder_named(m, folder[0] ? folder : "msgfolderroot");
      if(!f) {
        snprintf(err, errlen, "%s:%ld: property: unknown folder \"%s\"", path, xmlGetLineNo(c),
                 folder);
        return -1;
      }
      memset(&key, 0, sizeof(key));
      key.dset = set[0] ? set : "PublicStrings";
      key.name = name;
      key.type = type[0] ? type : "String";
      value = attr_dup(c, "value");
      if(emu_prop_set(&f->props, &key, value ? value : "") != 0) {
        free(value);
        snprintf(err, errlen, "%s:%ld: out of memory", path, xmlGetLineNo(c));
        return -1;
      }
      free(value);
    }
    else if(exs_xml_is(c, NS_SCN, "message")) {
      if(load_message(emu, m, c, path, err, errlen) != 0)
        return -1;
    }
  }
  return 0;
}

/* keytab="FILE": as --keytab, relative to the scenario file. */
static int load_keytab(struct emu *emu, xmlNodePtr root, const char *path, char *err, size_t errlen)
{
  char kt[1024], full[2100], ke[512];
  const char *slash = strrchr(path, '/');
  struct emu_krb *k;

  if(!exs_xml_attr(root, "keytab", kt, sizeof(kt)))
    return 0;
  if(kt[0] == '/' || !slash)
    snprintf(full, sizeof(full), "%s", kt);
  else
    snprintf(full, sizeof(full), "%.*s/%s", (int)(slash - path), path, kt);
  k = emu_krb_new(full, ke, sizeof(ke));
  if(!k) {
    snprintf(err, errlen, "%s:%ld: keytab: %s", path, xmlGetLineNo(root), ke);
    return -1;
  }
  emu_krb_free(emu->krb);
  emu->krb = k;
  return 0;
}

/* <fault spec="..."/>, seeded from the scenario unless it names a seed. */
static int load_fault(struct emu *emu, xmlNodePtr n, const char *path, char *err, size_t errlen)
{
  char spec[1024], fe[256];
  struct emu_fault *f;

  exs_xml_attr(n, "spec", spec, sizeof(spec));
  f = emu_fault_parse(spec, fe, sizeof(fe));
  if(!f) {
    snprintf(err, errlen, "%s:%ld: fault: %s", path, xmlGetLineNo(n), fe);
    return -1;
  }
  /* the scenario's seed drives the faults that name none of their own */
  if(!strstr(spec, "seed=")) {
    f->rng = emu->rng + (uint64_t)xmlGetLineNo(n) * 0x9e3779b97f4a7c15ull;
    if(!f->rng)
      f->rng = 1;
  }
  if(emu_fault_add_locked(emu, f) < 0) {
    emu_fault_free(f);
    snprintf(err, errlen, "%s:%ld: out of memory", path, xmlGetLineNo(n));
    return -1;
  }
  return 0;
}

/* The root's elements: users and hosts first, mailboxes next, faults last. */
static int load_elements(struct emu *emu, xmlNodePtr root, const char *path, char *err,
                         size_t errlen)
{
  for(int pass = 0; pass < 3; pass++) {
    for(xmlNodePtr n = root->children; n; n = n->next) {
      if(n->type != XML_ELEMENT_NODE)
        continue;
      if(pass == 0 && exs_xml_is(n, NS_SCN, "host") && load_host(emu, n, path, err, errlen) != 0)
        return -1;
      if(pass == 0 && exs_xml_is(n, NS_SCN, "user") && load_user(emu, n, path, err, errlen) != 0)
        return -1;
      if(pass == 1 && exs_xml_is(n, NS_SCN, "mailbox") &&
         load_mailbox(emu, n, path, err, errlen) != 0)
        return -1;
      if(pass == 2 && exs_xml_is(n, NS_SCN, "fault") && load_fault(emu, n, path, err, errlen) != 0)
        return -1;
    }
  }
  return 0;
}

/* Users' own mailboxes that no mailbox element declared. */
static int add_user_mailboxes(struct emu *emu, const char *path, char *err, size_t errlen)
{
  for(size_t i = 0; i < emu->nusers; i++) {
    struct emu_user *u = emu->users[i];
    struct emu_mailbox *m;
    if(!u->smtp)
      continue;
    m = emu_mailbox_find(emu, u->smtp);
    if(!m)
      m = emu_mailbox_add(emu, u->smtp, u->login, u->login);
    if(!m) {
      snprintf(err, errlen, "%s: out of memory", path);
      return -1;
    }
    if(!m->owner)
      m->owner = strdup(u->login);
  }
  return 0;
}

int emu_scenario_load_locked(struct emu *emu, const char *path, char *err, size_t errlen)
{
  char xsd[4096], e[1024], seed[32];
  struct exs_schema *schema = NULL;
  xmlDocPtr doc = NULL;
  xmlNodePtr root;
  int result = -1;

  doc = exs_xml_parse_file(path, e, sizeof(e));
  if(!doc) {
    snprintf(err, errlen, "%s", e);
    goto out;
  }
  schema_path(xsd, sizeof(xsd));
  schema = exs_schema_load(xsd, e, sizeof(e));
  if(!schema) {
    snprintf(err, errlen, "%s: cannot load scenario schema: %s", path, e);
    goto out;
  }
  if(exs_schema_validate(schema, doc, NULL, path, e, sizeof(e)) != 0) {
    snprintf(err, errlen, "%s", e);
    goto out;
  }
  root = xmlDocGetRootElement(doc);
  /* replace the world */
  emu_store_clear(emu);
  emu_hosts_clear(emu);
  emu_faults_clear_locked(emu);
  if(exs_xml_attr(root, "seed", seed, sizeof(seed)))
    emu->rng = strtoull(seed, NULL, 10) * 0x9e3779b97f4a7c15ull + 1;
  if(load_keytab(emu, root, path, err, errlen) != 0 ||
     load_elements(emu, root, path, err, errlen) != 0 ||
     add_user_mailboxes(emu, path, err, errlen) != 0)
    goto out;
  result = 0;
out:
  exs_schema_free(schema);
  if(doc)
    xmlFreeDoc(doc);
  return result;
}

int emu_load_scenario(struct emu *emu, const char *path, char *err, size_t errlen)
{
  int rc;

  emu_world_write(emu);
  rc = emu_scenario_load_locked(emu, path, err, errlen);
  if(rc == 0 && path != emu->scenario_path) {
    char *copy = strdup(path);
    free(emu->scenario_path);
    emu->scenario_path = copy;
  }
  emu_world_unlock(emu);
  return rc;
}

int emu_reset(struct emu *emu, char *err, size_t errlen)
{
  int rc = 0;

  emu_world_write(emu);
  emu_faults_clear_locked(emu);
  if(emu->scenario_path)
    rc = emu_scenario_load_locked(emu, emu->scenario_path, err, errlen);
  emu_world_unlock(emu);
  emu_journal_clear(emu);
  return rc;
}

int emu_add_user(struct emu *emu, const char *login, const char *password, const char *domain,
                 char *err, size_t errlen)
{
  char smtp[512];
  int result = -1;

  if(!login || !*login || strchr(login, '@') || strchr(login, ':') || !domain || !*domain ||
     !strchr(domain, '.')) {
    snprintf(err, errlen, "user needs LOGIN and a DOMAIN such as example.com (got %s@%s)",
             login ? login : "", domain ? domain : "");
    return -1;
  }
  snprintf(smtp, sizeof(smtp), "%s@%s", login, domain);
  emu_world_write(emu);
  if(!emu_user_add(emu, login, password, domain, smtp) ||
     !emu_mailbox_add(emu, smtp, login, login)) {
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  result = 0;
out:
  emu_world_unlock(emu);
  return result;
}

int emu_add_impersonator(struct emu *emu, const char *login, char *err, size_t errlen)
{
  struct emu_user *u;
  int result = -1;

  emu_world_write(emu);
  u = emu_user_find(emu, login);
  if(!u) {
    snprintf(err, errlen, "unknown user %s (add it with --user first)", login);
    goto out;
  }
  u->impersonate_all = true;
  result = 0;
out:
  emu_world_unlock(emu);
  return result;
}

/* One compiled EWS schema per process, shared read-only by every emulator
 * (libxml2 validation contexts are per call). Kept until exit. */
static pthread_mutex_t schema_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static char schema_cache_path[4096];
static struct exs_schema *schema_cache;

int emu_set_ews_schema(struct emu *emu, const char *xsd_path, char *err, size_t errlen)
{
  struct exs_schema *s = NULL;
  char *dir = NULL, *slash;

  if(xsd_path) {
    pthread_mutex_lock(&schema_cache_lock);
    if(!schema_cache || strcmp(schema_cache_path, xsd_path) != 0) {
      char e[512];
      s = exs_schema_load(xsd_path, e, sizeof(e));
      if(!s) {
        pthread_mutex_unlock(&schema_cache_lock);
        snprintf(err, errlen, "%s", e);
        return -1;
      }
      /* an older cached schema may still be used by another emulator: keep it */
      schema_cache = s;
      snprintf(schema_cache_path, sizeof(schema_cache_path), "%s", xsd_path);
    }
    s = schema_cache;
    pthread_mutex_unlock(&schema_cache_lock);
    dir = strdup(xsd_path);
    if(!dir) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    slash = strrchr(dir, '/');
    if(slash)
      *slash = '\0';
    else
      snprintf(dir, strlen(dir) + 1, ".");
  }
  emu_world_write(emu);
  emu->ews_schema = s;
  free(emu->ews_schema_dir);
  emu->ews_schema_dir = dir;
  emu_world_unlock(emu);
  return 0;
}

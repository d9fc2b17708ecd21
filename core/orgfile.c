/* orgfile.c - load the org configuration file and CSV mailbox lists.
 *
 * Flow: read the file, parse it safely, validate it against org.xsd
 * (rewriting libxml2's message into "FILE:LINE: attribute 'NAME': rule"),
 * then apply each attribute through the entity's field descriptor
 * (fields.h) and check the result with the model's rules. Attribute lines: libxml2 knows only the
 * line of an element, so the loader finds the attribute in the source text of the start tag to
 * point at the exact line.
 */
#include "exsync/orgfile.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/tree.h>
#include <openssl/crypto.h>

#include "exsync/clock.h"
#include "exsync/datadir.h"
#include "exsync/fields.h"
#include "exsync/xml.h"

#define ORG_NS "urn:exsync:org:1"
#define MAX_FILE_BYTES (64u * 1024u * 1024u)

/* ---- attributes (shared by the XML and CSV loaders) ---------------------- *
 *
 * An attribute is a field of the entity's descriptor (fields.h); a password
 * field has three: ATTR (the password itself), ATTR-env and ATTR-file. */

enum source { SRC_VALUE, SRC_LITERAL, SRC_ENV, SRC_FILE };
static const char *const source_suffix[] = {"", "", "-env", "-file"};

/* The field the attribute name sets (the root's own attributes only when
 * root) and, for a password, where its value comes from; NULL when none. */
static const struct exs_field *find_attr(const struct exs_desc *d, const char *name, bool root,
                                         enum source *src)
{
  size_t i, n;

  for(i = 0; i < d->n; i++) {
    const struct exs_field *f = &d->fields[i];
    if(!f->attr || ((f->flags & EXS_FIELD_ROOT) && !root))
      continue;
    if(!(f->flags & EXS_FIELD_SECRET)) {
      if(!strcmp(f->attr, name)) {
        *src = SRC_VALUE;
        return f;
      }
      continue;
    }
    n = strlen(f->attr);
    if(strncmp(f->attr, name, n))
      continue;
    for(*src = SRC_LITERAL; *src <= SRC_FILE; (*src)++)
      if(!strcmp(name + n, source_suffix[*src]))
        return f;
  }
  return NULL;
}

/* The attribute's name ("password-env"). */
static const char *attr_name(const struct exs_field *f, enum source src, char *buf, size_t len)
{
  snprintf(buf, len, "%s%s", f->attr, source_suffix[src]);
  return buf;
}

/* Whether node gives field f (a password by any of its names). */
static bool node_gives(xmlNodePtr node, const struct exs_field *f)
{
  char name[64];
  enum source k;

  if(!(f->flags & EXS_FIELD_SECRET))
    return xmlHasProp(node, (const xmlChar *)f->attr) != NULL;
  for(k = SRC_LITERAL; k <= SRC_FILE; k++)
    if(xmlHasProp(node, (const xmlChar *)attr_name(f, k, name, sizeof(name))))
      return true;
  return false;
}

/* Apply a non-secret value. Returns 0, or -1 with the rule in rule. */
static int apply_value(const struct exs_field *d, void *obj, const char *value, char *rule,
                       size_t rlen)
{
  char *p = (char *)obj + d->off;
  size_t n;
  int v;

  if(d->flags & EXS_FIELD_SECRET) {
    snprintf(rule, rlen, "cannot be set here");
    return -1;
  }
  switch(d->type) {
  case EXS_FT_TEXT:
    n = strlen(value);
    if(n > d->max || n >= d->size) {
      snprintf(rule, rlen, "must be at most %zu characters",
               d->max < d->size ? d->max : d->size - 1);
      return -1;
    }
    memcpy(p, value, n + 1);
    return 0;
  case EXS_FT_BOOL:
    if(d->codes) { /* spelled otherwise: kind="user|queue" */
      v = d->codes->parse(value);
      if(v < 0) {
        snprintf(rule, rlen, "must be %s", d->codes->choices);
        return -1;
      }
      *(bool *)p = v != 0;
      return 0;
    }
    if(!strcmp(value, "yes") || !strcmp(value, "no")) {
      *(bool *)p = value[0] == 'y';
      return 0;
    }
    snprintf(rule, rlen, "must be yes or no");
    return -1;
  case EXS_FT_INT: {
    char *end;
    long long ll;
    errno = 0;
    ll = strtoll(value, &end, 10);
    if(!*value || *end || (errno && errno != ERANGE)) {
      snprintf(rule, rlen, "must be an integer");
      return -1;
    }
    /* out-of-range values are clamped so the model's range rule names them */
    if(ll > INT_MAX)
      ll = INT_MAX;
    if(ll < INT_MIN)
      ll = INT_MIN;
    *(int *)p = (int)ll;
    return 0;
  }
  case EXS_FT_TIME:
    if(exs_time_parse(value, (time_t *)p)) {
      snprintf(rule, rlen, "must be a date and time such as 2026-01-01T00:00:00Z");
      return -1;
    }
    return 0;
  case EXS_FT_ENUM:
    v = d->codes->parse(value);
    if(v < 0) {
      snprintf(rule, rlen, "must be %s", d->codes->choices);
      return -1;
    }
    *(int *)p = v;
    return 0;
  default:
    break;
  }
  snprintf(rule, rlen, "cannot be set here");
  return -1;
}

/* Read a password from its source into out. group_other_readable reports a
 * password file that is readable by group or others. Returns 0 or -1 with
 * rule (never containing the password). */
static int read_secret(enum source src, const char *value, const char *basedir, char *out,
                       size_t outlen, char *rule, size_t rlen, bool *loose_file)
{
  char path[4096];
  char line[1024];
  FILE *f = NULL;
  struct stat st;
  const char *s;
  size_t n;
  int result = -1;

  *loose_file = false;
  memset(out, 0, outlen);
  memset(line, 0, sizeof(line));
  if(src == SRC_ENV) {
    s = getenv(value);
    if(!s) {
      snprintf(rule, rlen, "environment variable %s is not set", value);
      return -1;
    }
    if(!*s) {
      snprintf(rule, rlen, "environment variable %s is empty", value);
      return -1;
    }
  }
  else if(src == SRC_FILE) {
    if(value[0] == '/' || !basedir || !*basedir)
      snprintf(path, sizeof(path), "%s", value);
    else
      snprintf(path, sizeof(path), "%s/%s", basedir, value);
    f = fopen(path, "r");
    if(!f) {
      snprintf(rule, rlen, "cannot read %s: %s", path, strerror(errno));
      return -1;
    }
    if(fstat(fileno(f), &st) == 0 && (st.st_mode & 044))
      *loose_file = true;
    if(!fgets(line, sizeof(line), f)) {
      snprintf(rule, rlen, "%s is empty", path);
      goto out;
    }
    line[strcspn(line, "\r\n")] = 0;
    if(!line[0]) {
      snprintf(rule, rlen, "the first line of %s is empty", path);
      goto out;
    }
    s = line;
  }
  else
    s = value;
  n = strlen(s);
  if(n > EXS_PASSWORD_MAX || n >= outlen) {
    snprintf(rule, rlen, "the password must be at most %d characters", EXS_PASSWORD_MAX);
    goto out;
  }
  memcpy(out, s, n + 1);
  result = 0;
out:
  OPENSSL_cleanse(line, sizeof(line));
  if(f)
    fclose(f);
  return result;
}

/* ---- XML loader ---------------------------------------------------------- */

struct loader {
  const char *path;
  const char *src;
  size_t len;
  char dir[4096];
  bool file_loose; /* the org file is readable by group or others */
  unsigned flags;
  struct exs_orgfile *f;
  struct exs_error *err;
};

/* The line of attribute attr in the start tag of element elem that libxml2
 * placed at elem_line (the line where the start tag ends); the line where
 * the tag starts when attr is NULL or absent; elem_line when the tag cannot
 * be found. */
static int attr_line(const struct loader *L, int elem_line, const char *elem, const char *attr)
{
  const char *src = L->src, *end = L->src + L->len, *p, *q, *start = NULL;
  size_t an = attr ? strlen(attr) : 0, en = strlen(elem);
  int line = 1, tag_line;
  char quote = 0;

  if(elem_line <= 0)
    return elem_line;
  /* end of elem_line */
  for(p = src; p < end && line < elem_line; p++)
    if(*p == '\n')
      line++;
  while(p < end && *p != '\n')
    p++;
  /* the last "<[prefix:]elem" starting at or before it */
  for(size_t back = (size_t)(p - src) + 1; back-- > 0;) {
    const char *name, *ne;
    q = src + back;
    if(*q != '<')
      continue;
    name = q + 1;
    for(ne = name; ne < end && (isalnum((unsigned char)*ne) || strchr(":-_.", *ne)); ne++)
      ;
    {
      const char *local = name, *c;
      for(c = name; c < ne; c++)
        if(*c == ':')
          local = c + 1;
      if((size_t)(ne - local) == en && !strncmp(local, elem, en)) {
        start = ne;
        break;
      }
    }
  }
  if(!start)
    return elem_line;
  line = 1;
  for(p = src; p < start; p++)
    if(*p == '\n')
      line++;
  tag_line = line;
  if(!attr)
    return tag_line;
  for(p = start; p < end; p++) {
    if(quote) {
      if(*p == quote)
        quote = 0;
    }
    else if(*p == '"' || *p == '\'')
      quote = *p;
    else if(*p == '>')
      break;
    else if(isspace((unsigned char)p[-1]) && (size_t)(end - p) > an && !strncmp(p, attr, an) &&
            (p[an] == '=' || isspace((unsigned char)p[an])))
      return line;
    if(*p == '\n')
      line++;
  }
  return tag_line; /* absent: point at the start of the tag */
}

static const char *local_name(xmlNodePtr n)
{
  return n ? (const char *)n->name : "";
}

static int fail_at(struct loader *L, xmlNodePtr node, const char *attr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_at(struct loader *L, xmlNodePtr node, const char *attr, const char *fmt, ...)
{
  char rule[768];
  va_list ap;
  int line = node ? (int)xmlGetLineNo(node) : 0;

  va_start(ap, fmt);
  vsnprintf(rule, sizeof(rule), fmt, ap);
  va_end(ap);
  if(attr)
    exs_error_set(L->err, EXS_CAT_CONFIG, "%s:%d: attribute '%s': %s", L->path,
                  attr_line(L, line, local_name(node), attr), attr, rule);
  else
    exs_error_set(L->err, EXS_CAT_CONFIG, "%s:%d: element '%s': %s", L->path,
                  attr_line(L, line, local_name(node), NULL), local_name(node), rule);
  return -1;
}

static int warn_at(struct loader *L, xmlNodePtr node, const char *attr, const char *text)
{
  char buf[1024];
  char **w;
  int line = attr_line(L, (int)xmlGetLineNo(node), local_name(node), attr);

  snprintf(buf, sizeof(buf), "%s:%d: attribute '%s': %s", L->path, line, attr, text);
  w = realloc(L->f->warnings, (L->f->n_warnings + 1) * sizeof(*w));
  if(!w)
    return -1;
  L->f->warnings = w;
  w[L->f->n_warnings] = strdup(buf);
  if(!w[L->f->n_warnings])
    return -1;
  L->f->n_warnings++;
  return 0;
}

/* Rewrite libxml2's "Element '{ns}x', attribute 'a': msg" into our format. */
static void schema_message(struct loader *L, const char *raw)
{
  const char *p = raw, *msg, *el, *ee, *at, *ae;
  char elem[64] = "", attr[64] = "", rest[512];
  size_t plen = strlen(L->path);
  int line = 0;

  if(!strncmp(p, L->path, plen) && p[plen] == ':') {
    p += plen + 1;
    line = atoi(p);
    msg = strchr(p, ':');
    msg = msg ? msg + 1 : p;
    while(*msg == ' ')
      msg++;
  }
  else
    msg = p;
  if(!strncmp(msg, "Element '", 9)) {
    el = msg + 9;
    ee = strchr(el, '\'');
    if(ee) {
      const char *close = memchr(el, '}', (size_t)(ee - el));
      if(close)
        el = close + 1;
      snprintf(elem, sizeof(elem), "%.*s", (int)(ee - el), el);
      msg = ee + 1;
      if(!strncmp(msg, ", attribute '", 13)) {
        at = msg + 13;
        ae = strchr(at, '\'');
        if(ae) {
          snprintf(attr, sizeof(attr), "%.*s", (int)(ae - at), at);
          msg = ae + 1;
        }
      }
      if(*msg == ':')
        msg++;
      while(*msg == ' ')
        msg++;
    }
  }
  if(!strncmp(msg, "[facet '", 8) && strstr(msg, "] "))
    msg = strstr(msg, "] ") + 2;
  snprintf(rest, sizeof(rest), "%s", msg);
  rest[strcspn(rest, "\n")] = 0;
  if(!attr[0] && (at = strstr(rest, "The attribute '")) && strstr(rest, "is required")) {
    at += 15;
    ae = strchr(at, '\'');
    if(ae) {
      snprintf(attr, sizeof(attr), "%.*s", (int)(ae - at), at);
      snprintf(rest, sizeof(rest), "is required");
    }
  }
  if(attr[0])
    exs_error_set(L->err, EXS_CAT_CONFIG, "%s:%d: attribute '%s': %s", L->path,
                  elem[0] ? attr_line(L, line, elem, attr) : line, attr, rest);
  else if(elem[0])
    exs_error_set(L->err, EXS_CAT_CONFIG, "%s:%d: element '%s': %s", L->path,
                  attr_line(L, line, elem, NULL), elem, rest);
  else
    exs_error_set(L->err, EXS_CAT_CONFIG, "%s:%d: %s", L->path, line, rest);
}

/* Apply every attribute of node through descriptor d onto obj. */
static int apply_attrs(struct loader *L, xmlNodePtr node, const struct exs_desc *d, void *obj)
{
  xmlAttrPtr a;
  struct {
    const struct exs_field *f;
    const char *name;
  } given[4]; /* the passwords given so far, by which attribute */
  size_t n_given = 0, g;
  char rule[512];
  int result = -1;

  for(a = node->properties; a; a = a->next) {
    const char *name = (const char *)a->name;
    enum source src;
    const struct exs_field *f = find_attr(d, name, false, &src);
    xmlChar *v;

    if(a->ns) {
      fail_at(L, node, name, "attributes in a namespace are not allowed");
      goto out;
    }
    if(!f) { /* the XSD refuses these first; this is a second line */
      fail_at(L, node, name, "unknown attribute");
      goto out;
    }
    v = xmlNodeListGetString(node->doc, a->children, 1);
    if(!v)
      v = xmlStrdup((const xmlChar *)"");
    if(!v) {
      fail_at(L, node, name, "out of memory");
      goto out;
    }
    if(f->flags & EXS_FIELD_SECRET) {
      bool loose = false;
      for(g = 0; g < n_given && given[g].f != f; g++)
        ;
      if(g < n_given) {
        xmlFree(v);
        fail_at(L, node, name, "only one of %s, %s-env and %s-file may be given (%s is given too)",
                f->attr, f->attr, f->attr, given[g].name);
        goto out;
      }
      if(n_given < sizeof(given) / sizeof(given[0])) {
        given[n_given].f = f;
        given[n_given++].name = name;
      }
      if(read_secret(src, (const char *)v, L->dir, (char *)obj + f->off, f->size, rule,
                     sizeof(rule), &loose)) {
        OPENSSL_cleanse(v, (size_t)xmlStrlen(v));
        xmlFree(v);
        fail_at(L, node, name, "%s", rule);
        goto out;
      }
      if(src == SRC_LITERAL) {
        OPENSSL_cleanse(v, (size_t)xmlStrlen(v));
        if(L->file_loose && warn_at(L, node, name,
                                    "a literal password in a file readable by group or others: "
                                    "use password-env or password-file, or chmod 600 the file"))
          goto oom;
      }
      else if(loose && warn_at(L, node, name,
                               "the password file is readable by group or others: chmod 600 it"))
        goto oom;
      xmlFree(v);
      continue;
    oom:
      xmlFree(v);
      fail_at(L, node, name, "out of memory");
      goto out;
    }
    if(apply_value(f, obj, (const char *)v, rule, sizeof(rule))) {
      xmlFree(v);
      fail_at(L, node, name, "%s", rule);
      goto out;
    }
    xmlFree(v);
  }
  result = 0;
out:
  return result;
}

static bool has_profile(const struct exs_orgfile *f, const char *name)
{
  size_t i;

  for(i = 0; i < f->n_profiles; i++)
    if(!strcmp(f->profiles[i].name, name))
      return true;
  return false;
}

static int load_profile(struct loader *L, xmlNodePtr node)
{
  struct exs_orgfile *f = L->f;
  struct exs_profile *p, *arr;
  struct exs_invalid inv;

  arr = realloc(f->profiles, (f->n_profiles + 1) * sizeof(*arr));
  if(!arr)
    return fail_at(L, node, NULL, "out of memory");
  f->profiles = arr;
  p = &arr[f->n_profiles++];
  exs_profile_defaults(p);
  if(apply_attrs(L, node, &exs_profile_desc, p))
    return -1;
  if(p->same_outgoing) {
    xmlAttrPtr a;
    enum source src;
    for(a = node->properties; a; a = a->next) {
      const struct exs_field *fd = find_attr(&exs_profile_desc, (const char *)a->name, false, &src);
      if(fd && (fd->flags & EXS_FIELD_OUTGOING))
        return fail_at(L, node, (const char *)a->name,
                       "is only allowed with same-outgoing=\"no\" (same-outgoing=\"yes\" uses "
                       "the incoming settings for outgoing)");
    }
  }
  else {
    /* each outgoing setting not given defaults to its incoming counterpart,
     * the attribute without "outgoing-" */
    size_t k;
    for(k = 0; k < exs_profile_desc.n; k++) {
      const struct exs_field *out = &exs_profile_desc.fields[k], *in;
      if(!(out->flags & EXS_FIELD_OUTGOING) || node_gives(node, out))
        continue;
      in = exs_desc_attr(&exs_profile_desc, out->attr + strlen("outgoing-"));
      memcpy((char *)p + out->off, (char *)p + in->off, out->size);
    }
  }
  if(exs_profile_validate(p, &inv))
    return fail_at(L, node, inv.field, "%s", inv.rule);
  if(f->n_profiles > 1) {
    size_t i;
    for(i = 0; i + 1 < f->n_profiles; i++)
      if(!strcmp(f->profiles[i].name, p->name))
        return fail_at(L, node, "name", "a profile named '%s' is already defined", p->name);
  }
  return 0;
}

static int load_mailbox(struct loader *L, xmlNodePtr node)
{
  struct exs_orgfile *f = L->f;
  struct exs_mailbox *m, *arr;
  struct exs_invalid inv;
  int *lines;

  arr = realloc(f->mailboxes, (f->n_mailboxes + 1) * sizeof(*arr));
  if(!arr)
    return fail_at(L, node, NULL, "out of memory");
  f->mailboxes = arr;
  lines = realloc(f->mailbox_lines, (f->n_mailboxes + 1) * sizeof(*lines));
  if(!lines)
    return fail_at(L, node, NULL, "out of memory");
  f->mailbox_lines = lines;
  lines[f->n_mailboxes] = attr_line(L, (int)xmlGetLineNo(node), "mailbox", NULL);
  m = &arr[f->n_mailboxes++];
  exs_mailbox_defaults(m);
  m->incoming = f->org.default_incoming;
  m->outgoing = f->org.default_outgoing;
  m->act = f->org.default_act;
  snprintf(m->profile, sizeof(m->profile), "%s", f->org.default_profile);
  if(apply_attrs(L, node, &exs_mailbox_desc, m))
    return -1;
  if(exs_mailbox_validate(m, &inv))
    return fail_at(L, node, inv.field, "%s", inv.rule);
  if(m->profile[0] && !(L->flags & EXS_ORGFILE_EXTERNAL_PROFILES) && !has_profile(f, m->profile))
    return fail_at(L, node, xmlHasProp(node, (const xmlChar *)"profile") ? "profile" : "address",
                   "no profile named '%s' in this file", m->profile);
  return 0;
}

struct addr_ix {
  const char *address;
  size_t i;
};

static int addr_cmp(const void *a, const void *b)
{
  const struct addr_ix *x = a, *y = b;
  int c = strcasecmp(x->address, y->address);

  return c ? c : (x->i < y->i ? -1 : x->i > y->i);
}

static int check_duplicates(struct loader *L, xmlNodePtr root)
{
  struct exs_orgfile *f = L->f;
  struct addr_ix *ix;
  size_t i, dup = (size_t)-1;

  if(f->n_mailboxes < 2)
    return 0;
  ix = malloc(f->n_mailboxes * sizeof(*ix));
  if(!ix)
    return fail_at(L, root, NULL, "out of memory");
  for(i = 0; i < f->n_mailboxes; i++) {
    ix[i].address = f->mailboxes[i].address;
    ix[i].i = i;
  }
  qsort(ix, f->n_mailboxes, sizeof(*ix), addr_cmp);
  for(i = 1; i < f->n_mailboxes; i++)
    if(!strcasecmp(ix[i - 1].address, ix[i].address) && (dup == (size_t)-1 || ix[i].i < dup))
      dup = ix[i].i;
  free(ix);
  if(dup != (size_t)-1) {
    exs_error_set(L->err, EXS_CAT_CONFIG,
                  "%s:%d: attribute 'address': mailbox %s is already "
                  "defined",
                  L->path, attr_line(L, f->mailbox_lines[dup], "mailbox", "address"),
                  f->mailboxes[dup].address);
    return -1;
  }
  return 0;
}

const char *exs_orgfile_schema_path(char *buf, size_t len)
{
  return exs_data_path("schema/org.xsd", buf, len);
}

static char *read_all(const char *path, size_t *len, struct exs_error *err)
{
  FILE *f = fopen(path, "rb");
  char *data = NULL;
  long size;

  if(!f) {
    exs_error_set(err, EXS_CAT_CONFIG, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  if(fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
    exs_error_set(err, EXS_CAT_CONFIG, "%s: cannot read", path);
    goto out;
  }
  if((unsigned long)size > MAX_FILE_BYTES) {
    exs_error_set(err, EXS_CAT_CONFIG, "%s: larger than %u bytes", path, MAX_FILE_BYTES);
    goto out;
  }
  data = malloc((size_t)size + 1);
  if(!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
    exs_error_set(err, EXS_CAT_CONFIG, "%s: cannot read", path);
    free(data);
    data = NULL;
    goto out;
  }
  data[size] = 0;
  *len = (size_t)size;
out:
  fclose(f);
  return data;
}

static void set_dir(char *dir, size_t len, const char *path)
{
  const char *slash = strrchr(path, '/');

  if(!slash)
    snprintf(dir, len, ".");
  else if(slash == path)
    snprintf(dir, len, "/");
  else
    snprintf(dir, len, "%.*s", (int)(slash - path), path);
}

/* Load from src (len bytes, NUL-terminated, borrowed) named path. */
static int load_source(const char *path, const char *src, size_t len, bool file_loose,
                       const char *schema_path, unsigned flags, struct exs_orgfile **out,
                       struct exs_error *err)
{
  struct loader L;
  struct exs_schema *schema = NULL;
  xmlDocPtr doc = NULL;
  xmlNodePtr root, n;
  struct exs_invalid inv;
  char xsd[4096], msg[1024];
  size_t i;
  int result = -1;

  *out = NULL;
  memset(&L, 0, sizeof(L));
  L.path = path;
  L.src = src;
  L.len = len;
  L.file_loose = file_loose;
  L.flags = flags;
  L.err = err;
  set_dir(L.dir, sizeof(L.dir), path);
  if(!schema_path)
    schema_path = exs_orgfile_schema_path(xsd, sizeof(xsd));
  L.f = calloc(1, sizeof(*L.f));
  if(!L.f) {
    exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
    return -1;
  }
  exs_org_defaults(&L.f->org);
  doc = exs_xml_parse(src, len, path, msg, sizeof(msg));
  if(!doc) {
    exs_error_set(err, EXS_CAT_CONFIG, "%s", msg);
    goto out;
  }
  if(access(schema_path, R_OK)) {
    exs_error_set(err, EXS_CAT_CONFIG,
                  "cannot load the org file schema %s: %s (set EXSYNC_DATA_DIR to the directory "
                  "holding schema/org.xsd)",
                  schema_path, strerror(errno));
    goto out;
  }
  schema = exs_schema_load(schema_path, msg, sizeof(msg));
  if(!schema) {
    exs_error_set(err, EXS_CAT_CONFIG, "cannot load the org file schema: %s (set EXSYNC_DATA_DIR)",
                  msg);
    goto out;
  }
  if(exs_schema_validate(schema, doc, NULL, path, msg, sizeof(msg))) {
    schema_message(&L, msg);
    goto out;
  }
  root = xmlDocGetRootElement(doc);
  if(!exs_xml_is(root, ORG_NS, "org")) {
    fail_at(&L, root, NULL, "the root element must be org in namespace " ORG_NS);
    goto out;
  }
  for(i = 0; i < exs_org_desc.n; i++) {
    const struct exs_field *f = &exs_org_desc.fields[i];
    char rule[256];
    if(!(f->flags & EXS_FIELD_ROOT) || !exs_xml_attr(root, f->attr, msg, sizeof(msg)))
      continue;
    if(apply_value(f, &L.f->org, msg, rule, sizeof(rule))) {
      fail_at(&L, root, f->attr, "%s", rule);
      goto out;
    }
  }
  n = exs_xml_child(root, ORG_NS, "settings");
  if(n) {
    if(apply_attrs(&L, n, &exs_org_desc, &L.f->org))
      goto out;
    if(exs_org_validate(&L.f->org, &inv)) {
      fail_at(&L, n, inv.field, "%s", inv.rule);
      goto out;
    }
  }
  for(n = exs_xml_child(root, ORG_NS, "profile"); n; n = exs_xml_next(n, ORG_NS, "profile"))
    if(load_profile(&L, n))
      goto out;
  for(n = exs_xml_child(root, ORG_NS, "mailbox"); n; n = exs_xml_next(n, ORG_NS, "mailbox"))
    if(load_mailbox(&L, n))
      goto out;
  if(check_duplicates(&L, root))
    goto out;
  n = exs_xml_child(root, ORG_NS, "settings");
  if(n && L.f->org.default_profile[0] && !(flags & EXS_ORGFILE_EXTERNAL_PROFILES) &&
     !has_profile(L.f, L.f->org.default_profile)) {
    fail_at(&L, n, "default-profile", "no profile named '%s' in this file",
            L.f->org.default_profile);
    goto out;
  }
  *out = L.f;
  L.f = NULL;
  result = 0;
out:
  exs_orgfile_free(L.f);
  exs_schema_free(schema);
  if(doc)
    xmlFreeDoc(doc);
  return result;
}

int exs_orgfile_load(const char *path, const char *schema_path, unsigned flags,
                     struct exs_orgfile **out, struct exs_error *err)
{
  struct stat st;
  size_t len = 0;
  char *src;
  int result;

  *out = NULL;
  src = read_all(path, &len, err);
  if(!src)
    return -1;
  result = load_source(path, src, len, stat(path, &st) == 0 && (st.st_mode & 044), schema_path,
                       flags, out, err);
  OPENSSL_cleanse(src, len); /* it may hold literal passwords */
  free(src);
  return result;
}

int exs_orgfile_load_buffer(const char *data, size_t len, const char *name, const char *schema_path,
                            unsigned flags, struct exs_orgfile **out, struct exs_error *err)
{
  char *src;
  int result;

  *out = NULL;
  if(len > MAX_FILE_BYTES) {
    exs_error_set(err, EXS_CAT_CONFIG, "%s: larger than %u bytes", name, MAX_FILE_BYTES);
    return -1;
  }
  /* a terminated copy: the line finder reads it as a string */
  src = malloc(len + 1);
  if(!src) {
    exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
    return -1;
  }
  memcpy(src, data, len);
  src[len] = 0;
  result = load_source(name, src, len, false, schema_path, flags, out, err);
  OPENSSL_cleanse(src, len);
  free(src);
  return result;
}

void exs_orgfile_free(struct exs_orgfile *f)
{
  size_t i;

  if(!f)
    return;
  for(i = 0; i < f->n_profiles; i++)
    exs_profile_wipe(&f->profiles[i]);
  for(i = 0; i < f->n_mailboxes; i++)
    exs_mailbox_wipe(&f->mailboxes[i]);
  for(i = 0; i < f->n_warnings; i++)
    free(f->warnings[i]);
  free(f->profiles);
  free(f->mailboxes);
  free(f->mailbox_lines);
  free(f->warnings);
  free(f);
}

/* ---- CSV ----------------------------------------------------------------- */

#define CSV_MAX_COLS 32

/* Split one line into fields in place. Returns the count, or -1 with the
 * 1-based column of an unterminated or malformed quote in *badcol. */
static int csv_split(char *line, char **fields, int max, int *badcol)
{
  char *r = line, *w;
  int n = 0;

  for(;;) {
    if(n == max) {
      *badcol = n + 1;
      return -1;
    }
    fields[n++] = w = r;
    if(*r == '"') {
      r++;
      for(;;) {
        if(!*r) {
          *badcol = n;
          return -1;
        }
        if(*r == '"') {
          if(r[1] == '"') {
            *w++ = '"';
            r += 2;
            continue;
          }
          r++;
          break;
        }
        *w++ = *r++;
      }
      if(*r && *r != ',') {
        *badcol = n;
        return -1;
      }
    }
    else {
      while(*r && *r != ',')
        *w++ = *r++;
    }
    if(!*r) {
      *w = 0;
      return n;
    }
    *w = 0;
    r++;
  }
}

static void trim(char *s)
{
  size_t n = strlen(s), i = 0;

  while(n && isspace((unsigned char)s[n - 1]))
    s[--n] = 0;
  while(isspace((unsigned char)s[i]))
    i++;
  if(i)
    memmove(s, s + i, n - i + 1);
}

/* A blank line or a comment. */
static bool csv_skip_line(const char *line)
{
  while(isspace((unsigned char)*line))
    line++;
  return !*line || *line == '#';
}

/* The header line: which attribute (and source) each column holds. */
struct csv_header {
  struct {
    const struct exs_field *f;
    enum source src;
  } cols[CSV_MAX_COLS];
  int ncols, addr_col;
};

static int csv_read_header(const char *path, int lineno, char **fields, int nf,
                           struct csv_header *h, struct exs_error *err)
{
  int c;
  size_t k;

  for(c = 0; c < nf; c++) {
    trim(fields[c]);
    h->cols[c].f = find_attr(&exs_mailbox_desc, fields[c], false, &h->cols[c].src);
    if(!h->cols[c].f || h->cols[c].src == SRC_LITERAL) {
      exs_error_set(err, EXS_CAT_CONFIG, "%s:%d:%d: column '%s': unknown column%s", path, lineno,
                    c + 1, fields[c],
                    h->cols[c].f ? " (no literal passwords in CSV: use password-env or "
                                   "password-file)"
                                 : "");
      return -1;
    }
    for(k = 0; k < (size_t)c; k++)
      if(h->cols[k].f == h->cols[c].f && h->cols[k].src == h->cols[c].src) {
        exs_error_set(err, EXS_CAT_CONFIG, "%s:%d:%d: column '%s': given twice", path, lineno,
                      c + 1, fields[c]);
        return -1;
      }
    if(!strcmp(fields[c], "address"))
      h->addr_col = c;
  }
  if(h->addr_col < 0) {
    exs_error_set(err, EXS_CAT_CONFIG, "%s:%d:1: column 'address': is required in the header", path,
                  lineno);
    return -1;
  }
  h->ncols = nf;
  return 0;
}

/* Append a mailbox with the org's defaults to arr; NULL when out of memory. */
static struct exs_mailbox *csv_add_mailbox(struct exs_mailbox **arr, size_t *cnt, size_t *mcap,
                                           const struct exs_org *org, struct exs_error *err)
{
  struct exs_mailbox *m;

  if(*cnt == *mcap) {
    size_t nc = *mcap ? *mcap * 2 : 64;
    struct exs_mailbox *na = realloc(*arr, nc * sizeof(*na));
    if(!na) {
      exs_error_set(err, EXS_CAT_CONFIG, "out of memory");
      return NULL;
    }
    *arr = na;
    *mcap = nc;
  }
  m = &(*arr)[(*cnt)++];
  exs_mailbox_defaults(m);
  m->incoming = org->default_incoming;
  m->outgoing = org->default_outgoing;
  m->act = org->default_act;
  snprintf(m->profile, sizeof(m->profile), "%s", org->default_profile);
  return m;
}

/* Set the row's non-empty cells on m (secrets read from their env or file). */
static int csv_fill_row(const char *path, int lineno, const char *dir, const struct csv_header *h,
                        char **fields, struct exs_mailbox *m, struct exs_error *err)
{
  char rule[512], name[64];
  int c;

  for(c = 0; c < h->ncols; c++) {
    const struct exs_field *d = h->cols[c].f;
    int rc;
    trim(fields[c]);
    if(!fields[c][0])
      continue;
    if(d->flags & EXS_FIELD_SECRET) {
      bool loose;
      rc = read_secret(h->cols[c].src, fields[c], dir, (char *)m + d->off, d->size, rule,
                       sizeof(rule), &loose);
    }
    else
      rc = apply_value(d, m, fields[c], rule, sizeof(rule));
    if(rc) {
      exs_error_set(err, EXS_CAT_CONFIG, "%s:%d:%d: column '%s': %s", path, lineno, c + 1,
                    attr_name(d, h->cols[c].src, name, sizeof(name)), rule);
      return -1;
    }
  }
  return 0;
}

/* The last mailbox of arr[0..cnt-1] is valid and not listed before it; an
 * error names the offending column (the address column when none fits). */
static int csv_check_row(const char *path, int lineno, const struct csv_header *h,
                         const struct exs_mailbox *arr, size_t cnt, struct exs_error *err)
{
  const struct exs_mailbox *m = &arr[cnt - 1];
  struct exs_invalid inv;
  char name[64];
  size_t k;
  int c;

  if(exs_mailbox_validate(m, &inv)) {
    for(c = 0; c < h->ncols &&
               strcmp(attr_name(h->cols[c].f, h->cols[c].src, name, sizeof(name)), inv.field);
        c++)
      ;
    exs_error_set(err, EXS_CAT_CONFIG, "%s:%d:%d: column '%s': %s", path, lineno,
                  c < h->ncols ? c + 1 : h->addr_col + 1, inv.field, inv.rule);
    return -1;
  }
  for(k = 0; k + 1 < cnt; k++)
    if(!strcasecmp(arr[k].address, m->address)) {
      exs_error_set(err, EXS_CAT_CONFIG,
                    "%s:%d:%d: column 'address': mailbox %s is already "
                    "listed",
                    path, lineno, h->addr_col + 1, m->address);
      return -1;
    }
  return 0;
}

int exs_csv_load_mailboxes(const char *path, const struct exs_org *defaults,
                           struct exs_mailbox **out, size_t *n, struct exs_error *err)
{
  FILE *f;
  char *line = NULL, *fields[CSV_MAX_COLS], dir[4096];
  struct csv_header h;
  size_t cap = 0, cnt = 0, mcap = 0, k;
  struct exs_mailbox *arr = NULL, *m;
  struct exs_org org;
  ssize_t got;
  int lineno = 0, nf, badcol, result = -1;

  *out = NULL;
  *n = 0;
  h.ncols = 0;
  h.addr_col = -1;
  if(defaults)
    org = *defaults;
  else
    exs_org_defaults(&org);
  set_dir(dir, sizeof(dir), path);
  f = fopen(path, "r");
  if(!f) {
    exs_error_set(err, EXS_CAT_CONFIG, "%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  while((got = getline(&line, &cap, f)) >= 0) {
    lineno++;
    line[strcspn(line, "\r\n")] = 0;
    if(lineno == 1 && !strncmp(line, "\xef\xbb\xbf", 3)) /* UTF-8 BOM */
      memmove(line, line + 3, strlen(line + 3) + 1);
    if(csv_skip_line(line))
      continue;
    nf = csv_split(line, fields, CSV_MAX_COLS, &badcol);
    if(nf < 0) {
      exs_error_set(err, EXS_CAT_CONFIG, "%s:%d:%d: malformed quoted field or too many columns",
                    path, lineno, badcol);
      goto out;
    }
    if(!h.ncols) {
      if(csv_read_header(path, lineno, fields, nf, &h, err))
        goto out;
      continue;
    }
    if(nf != h.ncols) {
      exs_error_set(err, EXS_CAT_CONFIG, "%s:%d:%d: %d columns where the header has %d", path,
                    lineno, nf < h.ncols ? nf + 1 : h.ncols + 1, nf, h.ncols);
      goto out;
    }
    if(!(m = csv_add_mailbox(&arr, &cnt, &mcap, &org, err)) ||
       csv_fill_row(path, lineno, dir, &h, fields, m, err) ||
       csv_check_row(path, lineno, &h, arr, cnt, err))
      goto out;
  }
  if(!h.ncols) {
    exs_error_set(err, EXS_CAT_CONFIG, "%s:1:1: no header line", path);
    goto out;
  }
  *out = arr;
  *n = cnt;
  arr = NULL;
  result = 0;
out:
  if(arr) {
    for(k = 0; k < cnt; k++)
      exs_mailbox_wipe(&arr[k]);
    free(arr);
  }
  if(line) {
    OPENSSL_cleanse(line, cap);
    free(line);
  }
  fclose(f);
  return result;
}

/* ---- KEY=VALUE access for the command line (org set, profile set, ...) ---- */

static int set_attr(const struct exs_desc *d, void *obj, const char *what, const char *name,
                    const char *value, struct exs_error *err)
{
  enum source src;
  const struct exs_field *f = find_attr(d, name, true, &src);
  char rule[160];

  if(!f) {
    exs_error_set(err, EXS_CAT_CONFIG, "%s has no setting '%s'", what, name);
    return -1;
  }
  if(f->flags & EXS_FIELD_SECRET) {
    exs_error_set(err, EXS_CAT_CONFIG,
                  "passwords are not set as %s=VALUE: use --password-env VAR, "
                  "--password-file FILE or the prompt",
                  name);
    return -1;
  }
  if(apply_value(f, obj, value, rule, sizeof(rule))) {
    exs_error_set(err, EXS_CAT_CONFIG, "%s '%s': %s", what, name, rule);
    return -1;
  }
  return 0;
}

int exs_orgfile_set_org(struct exs_org *org, const char *name, const char *value,
                        struct exs_error *err)
{
  return set_attr(&exs_org_desc, org, "the org settings", name, value, err);
}

int exs_orgfile_set_profile(struct exs_profile *p, const char *name, const char *value,
                            struct exs_error *err)
{
  return set_attr(&exs_profile_desc, p, "a profile", name, value, err);
}

int exs_orgfile_set_mailbox(struct exs_mailbox *m, const char *name, const char *value,
                            struct exs_error *err)
{
  return set_attr(&exs_mailbox_desc, m, "a mailbox", name, value, err);
}

/* Every attribute of obj shown, as the org file spells it; a password only
 * as whether one is stored (exs_field_text). */
static void print_attrs(FILE *f, const struct exs_desc *d, const void *obj)
{
  char buf[EXS_FIELD_TEXT_MAX];
  size_t i;

  for(i = 0; i < d->n; i++)
    if(d->fields[i].attr && exs_field_shown(d, &d->fields[i], obj))
      fprintf(f, "%-29s %s\n", d->fields[i].attr,
              exs_field_text(&d->fields[i], obj, buf, sizeof(buf)));
}

void exs_orgfile_print_org(FILE *f, const struct exs_org *org)
{
  print_attrs(f, &exs_org_desc, org);
}

void exs_orgfile_print_profile(FILE *f, const struct exs_profile *p)
{
  print_attrs(f, &exs_profile_desc, p);
}

void exs_orgfile_print_mailbox(FILE *f, const struct exs_mailbox *m)
{
  print_attrs(f, &exs_mailbox_desc, m);
}

/* recording.c - load, write and match recordings (recording.h). */
#include "exsync-diag/recording.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libxml/tree.h>

#include "exsync/clock.h"
#include "exsync/privfile.h"
#include "exsync/xml.h"

#define REC_NS "urn:exsync:recording:1"
#define SOAP_NS "http://schemas.xmlsoap.org/soap/envelope/"

static const char *const known_ops[] = {
    "GetFolder",       "FindFolder",   "CreateFolder",
    "UpdateFolder",    "DeleteFolder", "SyncFolderHierarchy",
    "SyncFolderItems", "FindItem",     "GetItem",
    "CreateItem",      "UpdateItem",   "DeleteItem",
    "MoveItem",        "CopyItem",     "SendItem",
    "ResolveNames",    "ConvertId",    "GetUserSettingsRequestMessage",
    "Autodiscover"};

bool diag_operation_known(const char *op)
{
  size_t i;

  if(!op || !*op)
    return true;
  for(i = 0; i < sizeof(known_ops) / sizeof(known_ops[0]); i++)
    if(!strcmp(op, known_ops[i]))
      return true;
  return false;
}

struct diag_recording *diag_recording_new(void)
{
  struct diag_recording *r = calloc(1, sizeof(*r));

  if(r && !(r->format = strdup("text"))) {
    free(r);
    return NULL;
  }
  return r;
}

static void exchange_free(struct diag_rec_exchange *x)
{
  free(x->method);
  free(x->url);
  free(x->operation);
  free(x->keys);
  free(x->req_headers);
  free(x->req_body);
  free(x->failure);
  free(x->resp_headers);
  free(x->resp_body);
}

void diag_recording_free(struct diag_recording *r)
{
  size_t i;

  if(!r)
    return;
  free(r->name);
  for(i = 0; i < r->argc; i++)
    free(r->argv[i]);
  free(r->format);
  for(i = 0; i < r->n_rules; i++)
    free(r->rules[i]);
  free(r->rules);
  for(i = 0; i < r->n_files; i++) {
    free(r->files[i].name);
    free(r->files[i].content);
  }
  for(i = 0; i < r->n_x; i++)
    exchange_free(&r->x[i]);
  free(r->x);
  free(r->report);
  free(r);
}

static char *dup_n(const char *s, size_t n, bool *oom)
{
  char *d;

  if(!s)
    return NULL;
  d = malloc(n + 1);
  if(!d) {
    *oom = true;
    return NULL;
  }
  memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

int diag_recording_add(struct diag_recording *r, const struct diag_rec_exchange *x)
{
  struct diag_rec_exchange *c;
  bool oom = false;

  if(r->n_x == r->cap_x) {
    size_t cap = r->cap_x ? r->cap_x * 2 : 16;
    struct diag_rec_exchange *p = realloc(r->x, cap * sizeof(*p));
    if(!p)
      return -1;
    r->x = p;
    r->cap_x = cap;
  }
  c = &r->x[r->n_x];
  memset(c, 0, sizeof(*c));
  c->method = dup_n(x->method, x->method ? strlen(x->method) : 0, &oom);
  c->url = dup_n(x->url, x->url ? strlen(x->url) : 0, &oom);
  c->operation =
      dup_n(x->operation ? x->operation : "", x->operation ? strlen(x->operation) : 0, &oom);
  c->keys = dup_n(x->keys ? x->keys : "", x->keys ? strlen(x->keys) : 0, &oom);
  c->req_headers = dup_n(x->req_headers, x->req_headers ? strlen(x->req_headers) : 0, &oom);
  c->req_body = dup_n(x->req_body, x->req_body_len, &oom);
  c->req_body_len = x->req_body_len;
  c->status = x->status;
  c->failure = dup_n(x->failure, x->failure ? strlen(x->failure) : 0, &oom);
  c->resp_headers = dup_n(x->resp_headers, x->resp_headers ? strlen(x->resp_headers) : 0, &oom);
  c->resp_body = dup_n(x->resp_body, x->resp_body_len, &oom);
  c->resp_body_len = x->resp_body_len;
  c->elapsed_ms = x->elapsed_ms;
  c->legs = x->legs;
  c->line = x->line;
  if(oom || !c->method || !c->url) {
    exchange_free(c);
    return -1;
  }
  r->n_x++;
  return 0;
}

/* ---- request keys ---- */

static int add_key(struct exs_buf *keys, const char *k, const char *v)
{
  char low[512];
  size_t i;

  snprintf(low, sizeof(low), "%s", v);
  for(i = 0; low[i]; i++)
    if(low[i] >= 'A' && low[i] <= 'Z')
      low[i] = (char)(low[i] - 'A' + 'a');
  return exs_buf_addf(keys, "%s%s=%s", keys->len ? ";" : "", k, low);
}

static int walk_keys(xmlNodePtr node, struct exs_buf *keys)
{
  xmlNodePtr c;
  char buf[512];

  for(c = node ? node->children : NULL; c; c = c->next) {
    const char *name;
    if(c->type != XML_ELEMENT_NODE)
      continue;
    name = (const char *)c->name;
    if(!strcmp(name, "DistinguishedFolderId") && exs_xml_attr(c, "Id", buf, sizeof(buf))) {
      char addr[320];
      xmlNodePtr mb = exs_xml_path(c, NULL, "Mailbox/EmailAddress");
      if(mb) {
        exs_xml_text(mb, addr, sizeof(addr));
        strncat(buf, "/", sizeof(buf) - strlen(buf) - 1);
        strncat(buf, addr, sizeof(buf) - strlen(buf) - 1);
      }
      if(add_key(keys, "folder", buf))
        return -1;
      continue;
    }
    if(!strcmp(name, "BaseShape") && c->parent &&
       (!strcmp((const char *)c->parent->name, "ItemShape") ||
        !strcmp((const char *)c->parent->name, "FolderShape"))) {
      if(add_key(keys,
                 !strcmp((const char *)c->parent->name, "ItemShape") ? "itemshape" : "foldershape",
                 exs_xml_text(c, buf, sizeof(buf))))
        return -1;
      continue;
    }
    if((!strcmp(name, "EMailAddress") || !strcmp(name, "Mailbox")) && c->parent &&
       (!strcmp((const char *)c->parent->name, "Request") ||
        !strcmp((const char *)c->parent->name, "User"))) {
      if(add_key(keys, "mailbox", exs_xml_text(c, buf, sizeof(buf))))
        return -1;
      continue;
    }
    if(!strcmp(name, "Restriction")) {
      /* what the restriction is on: the incoming poll (DateTimeReceived)
       * and the test-message search (an extended property) differ here */
      xmlNodePtr f = c;
      while(f && (f = exs_xml_first_element(f)) != NULL) {
        if(exs_xml_attr(f, "FieldURI", buf, sizeof(buf)) ||
           exs_xml_attr(f, "PropertyName", buf, sizeof(buf))) {
          if(add_key(keys, "restriction", buf))
            return -1;
          break;
        }
      }
      continue;
    }
    if((!strcmp(name, "IndexedPageItemView") || !strcmp(name, "IndexedPageFolderView")) &&
       exs_xml_attr(c, "Offset", buf, sizeof(buf))) {
      if(add_key(keys, "offset", buf))
        return -1;
      continue;
    }
    if(walk_keys(c, keys))
      return -1;
  }
  return 0;
}

int diag_request_keys(const char *body, size_t len, char *op, size_t oplen, struct exs_buf *keys)
{
  char err[256], buf[512];
  xmlDocPtr doc;
  xmlNodePtr root, n;
  size_t i = 0;
  int result = -1;

  op[0] = '\0';
  while(i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
    i++;
  if(i == len || body[i] != '<')
    return 0;
  doc = exs_xml_parse(body, len, "request", err, sizeof(err));
  if(!doc) {
    snprintf(op, oplen, "?");
    return -1;
  }
  root = xmlDocGetRootElement(doc);
  if(exs_xml_is(root, SOAP_NS, "Envelope")) {
    xmlNodePtr hdr = exs_xml_child(root, SOAP_NS, "Header");
    xmlNodePtr bodyn = exs_xml_child(root, SOAP_NS, "Body");
    xmlNodePtr first = bodyn ? exs_xml_first_element(bodyn) : NULL;
    if(first)
      snprintf(op, oplen, "%s", (const char *)first->name);
    n = hdr ? exs_xml_child(hdr, NULL, "ExchangeImpersonation") : NULL;
    n = n ? exs_xml_child(n, NULL, "ConnectingSID") : NULL;
    n = n ? exs_xml_first_element(n) : NULL;
    if(n && add_key(keys, "imp", exs_xml_text(n, buf, sizeof(buf))))
      goto out;
    if(first) {
      static const char *const attrs[][2] = {{"MessageDisposition", "disposition"},
                                             {"DeleteType", "delete"},
                                             {"Traversal", "traversal"}};
      size_t a;
      for(a = 0; a < sizeof(attrs) / sizeof(attrs[0]); a++)
        if(exs_xml_attr(first, attrs[a][0], buf, sizeof(buf)) && add_key(keys, attrs[a][1], buf))
          goto out;
      if(walk_keys(first, keys))
        goto out;
    }
  }
  else if(root) {
    snprintf(op, oplen, "%s", (const char *)root->name);
    if(walk_keys(root, keys))
      goto out;
  }
  result = 0;
out:
  xmlFreeDoc(doc);
  return result;
}

bool diag_keys_subset(const char *want, const char *have)
{
  const char *p = want;

  while(p && *p) {
    const char *e = strchr(p, ';');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    const char *h = have;
    bool found = false;
    while(h && *h) {
      const char *he = strchr(h, ';');
      size_t hn = he ? (size_t)(he - h) : strlen(h);
      if(hn == n && !strncasecmp(h, p, n)) {
        found = true;
        break;
      }
      h = he ? he + 1 : NULL;
    }
    if(!found && n)
      return false;
    p = e ? e + 1 : NULL;
  }
  return true;
}

/* ---- loading ---- */

static char *node_text(xmlNodePtr n, size_t *len, const char *name, char *err, size_t errlen,
                       bool *bad)
{
  xmlChar *c = xmlNodeGetContent(n);
  char enc[16];
  char *out = NULL;
  size_t l;

  if(!c) {
    *bad = true;
    snprintf(err, errlen, "%s:%ld: out of memory", name, xmlGetLineNo(n));
    return NULL;
  }
  l = strlen((const char *)c);
  if(exs_xml_attr(n, "encoding", enc, sizeof(enc)) && !strcmp(enc, "base64")) {
    struct exs_buf b;
    size_t i, o = 0;
    char *clean = malloc(l + 1);
    exs_buf_init(&b, DIAG_REC_MAX_BODY + 16);
    if(!clean) {
      *bad = true;
      snprintf(err, errlen, "%s:%ld: out of memory", name, xmlGetLineNo(n));
      goto done;
    }
    for(i = 0; i < l; i++)
      if(c[i] != ' ' && c[i] != '\n' && c[i] != '\r' && c[i] != '\t')
        clean[o++] = (char)c[i];
    if(exs_base64_decode(&b, clean, o)) {
      *bad = true;
      snprintf(err, errlen, "%s:%ld: body is not valid base64 (or larger than %u bytes)", name,
               xmlGetLineNo(n), DIAG_REC_MAX_BODY);
      free(clean);
      exs_buf_free(&b);
      goto done;
    }
    free(clean);
    l = b.len;
    out = exs_buf_steal(&b);
    if(!out) {
      *bad = true;
      snprintf(err, errlen, "%s:%ld: out of memory", name, xmlGetLineNo(n));
    }
    goto done;
  }
  out = strdup((const char *)c);
  if(!out) {
    *bad = true;
    snprintf(err, errlen, "%s:%ld: out of memory", name, xmlGetLineNo(n));
  }
done:
  xmlFree(c);
  if(out && l > DIAG_REC_MAX_BODY) {
    *bad = true;
    snprintf(err, errlen, "%s:%ld: body of %zu bytes is over the limit of %u bytes", name,
             xmlGetLineNo(n), l, DIAG_REC_MAX_BODY);
    free(out);
    out = NULL;
  }
  if(len)
    *len = out ? l : 0;
  return out;
}

static bool host_of(const char *url, char *host, size_t len)
{
  const char *p = strstr(url, "://");
  size_t n;

  if(!p)
    return false;
  p += 3;
  n = strcspn(p, ":/?#");
  if(n == 0 || n >= len)
    return false;
  memcpy(host, p, n);
  host[n] = '\0';
  return true;
}

/* The operation and element keys of x's request body into op and keys; the
 * operation named in the exchange (op, may be "") must be the body's. 0,
 * or -1 with err. */
static int body_operation(const struct diag_rec_exchange *x, char *op, size_t oplen,
                          struct exs_buf *keys, const char *name, long line, char *err,
                          size_t errlen)
{
  char bop[64];

  if(diag_request_keys(x->req_body, x->req_body_len, bop, sizeof(bop), keys)) {
    snprintf(err, errlen, "%s:%ld: exchange: the request body is not well-formed XML", name, line);
    return -1;
  }
  if(!diag_operation_known(bop)) {
    snprintf(err, errlen, "%s:%ld: exchange: unknown operation '%s' in the request body", name,
             line, bop);
    return -1;
  }
  if(*op && strcmp(op, bop)) {
    snprintf(err, errlen, "%s:%ld: exchange: operation '%s' does not match the request body's '%s'",
             name, line, op, bop);
    return -1;
  }
  snprintf(op, oplen, "%s", bop);
  return 0;
}

/* <response status="N"><headers/><body/>: into x. 0, or -1 with err. */
static int load_response(struct diag_rec_exchange *x, xmlNodePtr resp, const char *name, char *err,
                         size_t errlen)
{
  xmlNodePtr h = exs_xml_child(resp, REC_NS, "headers");
  xmlNodePtr b = exs_xml_child(resp, REC_NS, "body");
  char num[32];
  bool bad = false;

  x->status = exs_xml_attr(resp, "status", num, sizeof(num)) ? (int)strtol(num, NULL, 10) : 0;
  if(x->status < 100 || x->status > 599) {
    snprintf(err, errlen, "%s:%ld: response: status must be 100..599", name, xmlGetLineNo(resp));
    return -1;
  }
  if(h && !(x->resp_headers = node_text(h, NULL, name, err, errlen, &bad)))
    return -1;
  if(b && !(x->resp_body = node_text(b, &x->resp_body_len, name, err, errlen, &bad)))
    return -1;
  return 0;
}

static int load_exchange(struct diag_recording *r, xmlNodePtr e, const char *name, char *err,
                         size_t errlen)
{
  struct diag_rec_exchange x;
  char method[16], url[2048], op[64], keys_attr[1024], num[32], host[256], cat[64];
  xmlNodePtr req = exs_xml_child(e, REC_NS, "request");
  xmlNodePtr resp = exs_xml_child(e, REC_NS, "response");
  xmlNodePtr fail = exs_xml_child(e, REC_NS, "failure");
  struct exs_buf keys;
  bool bad = false;
  long line = xmlGetLineNo(e);
  int result = -1;

  memset(&x, 0, sizeof(x));
  exs_buf_init(&keys, 8192);
  if(!exs_xml_attr(e, "method", method, sizeof(method)) ||
     (strcmp(method, "GET") && strcmp(method, "POST"))) {
    snprintf(err, errlen, "%s:%ld: exchange: method must be GET or POST", name, line);
    goto out;
  }
  if(!exs_xml_attr(e, "url", url, sizeof(url)) || !host_of(url, host, sizeof(host)) ||
     (strncasecmp(url, "http://", 7) && strncasecmp(url, "https://", 8))) {
    snprintf(err, errlen, "%s:%ld: exchange: url must be an http:// or https:// URL", name, line);
    goto out;
  }
  exs_xml_attr(e, "operation", op, sizeof(op));
  if(!diag_operation_known(op)) {
    snprintf(err, errlen, "%s:%ld: exchange: unknown operation '%s'", name, line, op);
    goto out;
  }
  exs_xml_attr(e, "keys", keys_attr, sizeof(keys_attr));
  x.method = method;
  x.url = url;
  x.line = (int)line;
  if(exs_xml_attr(e, "elapsed-ms", num, sizeof(num)))
    x.elapsed_ms = strtol(num, NULL, 10);
  if(exs_xml_attr(e, "legs", num, sizeof(num)))
    x.legs = (int)strtol(num, NULL, 10);
  if(req) {
    xmlNodePtr h = exs_xml_child(req, REC_NS, "headers");
    xmlNodePtr b = exs_xml_child(req, REC_NS, "body");
    if(h && !(x.req_headers = node_text(h, NULL, name, err, errlen, &bad)))
      goto out;
    if(b && !(x.req_body = node_text(b, &x.req_body_len, name, err, errlen, &bad)))
      goto out;
  }
  if(x.req_body && body_operation(&x, op, sizeof(op), &keys, name, line, err, errlen))
    goto out;
  if(*keys_attr && exs_buf_addf(&keys, "%s%s", keys.len ? ";" : "", keys_attr))
    goto oom;
  x.operation = op;
  x.keys = keys.data ? keys.data : "";
  if(resp) {
    if(load_response(&x, resp, name, err, errlen))
      goto out;
  }
  else if(fail) {
    exs_xml_attr(fail, "category", cat, sizeof(cat));
    x.failure = cat;
  }
  else {
    snprintf(err, errlen, "%s:%ld: exchange: needs a <response> or a <failure>", name, line);
    goto out;
  }
  if(diag_recording_add(r, &x))
    goto oom;
  result = 0;
  goto out;
oom:
  snprintf(err, errlen, "%s:%ld: out of memory", name, line);
out:
  (void)bad;
  free(x.req_headers);
  free(x.req_body);
  free(x.resp_headers);
  free(x.resp_body);
  exs_buf_free(&keys);
  return result;
}

/* <command format="F"><arg>...: the words and the report format. */
static int load_command(struct diag_recording *r, xmlNodePtr n, const char *name, char *err,
                        size_t errlen)
{
  char fmt[16];
  xmlNodePtr a;
  bool bad = false;

  if(exs_xml_attr(n, "format", fmt, sizeof(fmt))) {
    free(r->format);
    if(!(r->format = strdup(fmt))) {
      snprintf(err, errlen, "%s: out of memory", name);
      return -1;
    }
  }
  for(a = exs_xml_child(n, REC_NS, "arg"); a; a = exs_xml_next(a, REC_NS, "arg")) {
    if(r->argc >= DIAG_REC_MAX_ARGS) {
      snprintf(err, errlen, "%s:%ld: more than %d command arguments", name, xmlGetLineNo(a),
               DIAG_REC_MAX_ARGS);
      return -1;
    }
    if(!(r->argv[r->argc] = node_text(a, NULL, name, err, errlen, &bad)))
      return -1;
    r->argc++;
  }
  if(!r->argc) {
    snprintf(err, errlen, "%s:%ld: <command> needs at least one <arg>", name, xmlGetLineNo(n));
    return -1;
  }
  return 0;
}

/* <normalize anonymize="true"><scrub>REGEX=REPLACEMENT</scrub>... */
static int load_normalize(struct diag_recording *r, xmlNodePtr n, const char *name, char *err,
                          size_t errlen)
{
  char v[16];
  xmlNodePtr s;
  size_t cnt = 0;
  bool bad = false;

  r->anonymize =
      exs_xml_attr(n, "anonymize", v, sizeof(v)) && (!strcmp(v, "true") || !strcmp(v, "1"));
  for(s = exs_xml_child(n, REC_NS, "scrub"); s; s = exs_xml_next(s, REC_NS, "scrub"))
    cnt++;
  if(cnt && !(r->rules = calloc(cnt, sizeof(char *)))) {
    snprintf(err, errlen, "%s: out of memory", name);
    return -1;
  }
  for(s = exs_xml_child(n, REC_NS, "scrub"); s; s = exs_xml_next(s, REC_NS, "scrub")) {
    if(!(r->rules[r->n_rules] = node_text(s, NULL, name, err, errlen, &bad)))
      return -1;
    r->n_rules++;
  }
  return 0;
}

/* The embedded <file name="N">s: plain names only. */
static int load_files(struct diag_recording *r, xmlNodePtr root, const char *name, char *err,
                      size_t errlen)
{
  xmlNodePtr n;
  bool bad = false;

  for(n = exs_xml_child(root, REC_NS, "file"); n; n = exs_xml_next(n, REC_NS, "file")) {
    char fname[128];
    if(r->n_files >= DIAG_REC_MAX_FILES) {
      snprintf(err, errlen, "%s:%ld: more than %d files", name, xmlGetLineNo(n),
               DIAG_REC_MAX_FILES);
      return -1;
    }
    if(!exs_xml_attr(n, "name", fname, sizeof(fname)) || !*fname || strchr(fname, '/') ||
       !strcmp(fname, "..") || !strcmp(fname, ".")) {
      snprintf(err, errlen, "%s:%ld: <file> needs a plain name", name, xmlGetLineNo(n));
      return -1;
    }
    if(!(r->files[r->n_files].name = strdup(fname))) {
      snprintf(err, errlen, "%s: out of memory", name);
      return -1;
    }
    if(!(r->files[r->n_files].content = node_text(n, NULL, name, err, errlen, &bad))) {
      free(r->files[r->n_files].name);
      return -1;
    }
    r->n_files++;
  }
  return 0;
}

/* <expect exit="N"><report>: what the replayed run must give. */
static int load_expect(struct diag_recording *r, xmlNodePtr n, const char *name, char *err,
                       size_t errlen)
{
  char ex[16], *end;
  xmlNodePtr rep = exs_xml_child(n, REC_NS, "report");
  bool bad = false;

  if(!exs_xml_attr(n, "exit", ex, sizeof(ex)) ||
     (r->exit_code = (int)strtol(ex, &end, 10), *end || end == ex)) {
    snprintf(err, errlen, "%s:%ld: <expect> needs exit=\"N\"", name, xmlGetLineNo(n));
    return -1;
  }
  if(!rep) {
    snprintf(err, errlen, "%s:%ld: <expect> needs a <report>", name, xmlGetLineNo(n));
    return -1;
  }
  return (r->report = node_text(rep, NULL, name, err, errlen, &bad)) ? 0 : -1;
}

static int load_doc(xmlDocPtr doc, const char *name, const char *xsd_path,
                    struct diag_recording **out, char *err, size_t errlen)
{
  struct diag_recording *r = NULL;
  xmlNodePtr root = xmlDocGetRootElement(doc);
  xmlNodePtr n;
  bool bad = false;
  int result = -1;

  if(!exs_xml_is(root, REC_NS, "recording")) {
    snprintf(err, errlen, "%s:%ld: not a recording (root element <recording> in namespace %s)",
             name, root ? xmlGetLineNo(root) : 1L, REC_NS);
    return -1;
  }
  if(xsd_path) {
    struct exs_schema *s = exs_schema_load(xsd_path, err, errlen);
    int rc;
    if(!s)
      return -1;
    rc = exs_schema_validate(s, doc, NULL, name, err, errlen);
    exs_schema_free(s);
    if(rc)
      return -1;
  }
  r = diag_recording_new();
  if(!r) {
    snprintf(err, errlen, "%s: out of memory", name);
    return -1;
  }
  n = exs_xml_path(root, REC_NS, "info/name");
  if(n && !(r->name = node_text(n, NULL, name, err, errlen, &bad)))
    goto out;
  n = exs_xml_child(root, REC_NS, "command");
  if(!n) {
    snprintf(err, errlen, "%s:%ld: a recording needs a <command>", name, xmlGetLineNo(root));
    goto out;
  }
  if(load_command(r, n, name, err, errlen))
    goto out;
  n = exs_xml_child(root, REC_NS, "time");
  if(n) {
    char t[64];
    if(exs_time_parse(exs_xml_text(n, t, sizeof(t)), &r->frozen)) {
      snprintf(err, errlen, "%s:%ld: <time>: not a date-time '%s'", name, xmlGetLineNo(n), t);
      goto out;
    }
  }
  n = exs_xml_child(root, REC_NS, "normalize");
  if((n && load_normalize(r, n, name, err, errlen)) || load_files(r, root, name, err, errlen))
    goto out;
  for(n = exs_xml_child(root, REC_NS, "exchange"); n; n = exs_xml_next(n, REC_NS, "exchange"))
    if(load_exchange(r, n, name, err, errlen))
      goto out;
  n = exs_xml_child(root, REC_NS, "expect");
  if(!n) {
    snprintf(err, errlen, "%s:%ld: a recording needs an <expect> with the report", name,
             xmlGetLineNo(root));
    goto out;
  }
  if(load_expect(r, n, name, err, errlen))
    goto out;
  *out = r;
  r = NULL;
  result = 0;
out:
  diag_recording_free(r);
  return result;
}

int diag_recording_load_mem(const char *data, size_t len, const char *name, const char *xsd_path,
                            struct diag_recording **out, char *err, size_t errlen)
{
  xmlDocPtr doc;
  int result;

  *out = NULL;
  if(len == 0) {
    snprintf(err, errlen, "%s:1: empty file", name);
    return -1;
  }
  doc = exs_xml_parse(data, len, name, err, errlen);
  if(!doc)
    return -1;
  result = load_doc(doc, name, xsd_path, out, err, errlen);
  xmlFreeDoc(doc);
  return result;
}

int diag_recording_load(const char *path, const char *xsd_path, struct diag_recording **out,
                        char *err, size_t errlen)
{
  FILE *f = fopen(path, "rb");
  struct exs_buf b;
  char chunk[65536];
  size_t n;
  int result = -1;

  *out = NULL;
  if(!f) {
    snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
    return -1;
  }
  exs_buf_init(&b, EXS_XML_MAX_BYTES);
  while((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
    if(exs_buf_add(&b, chunk, n)) {
      snprintf(err, errlen, "%s: larger than %u bytes", path, EXS_XML_MAX_BYTES);
      goto out;
    }
  }
  if(ferror(f)) {
    snprintf(err, errlen, "%s: read error", path);
    goto out;
  }
  result = diag_recording_load_mem(b.data ? b.data : "", b.len, path, xsd_path, out, err, errlen);
out:
  fclose(f);
  exs_buf_free(&b);
  return result;
}

/* ---- writing ---- */

/* True when s can go into XML text as is (valid UTF-8, no control
 * characters other than tab, CR, LF). */
static bool xml_safe(const char *s, size_t n)
{
  size_t i = 0;

  while(i < n) {
    unsigned char c = (unsigned char)s[i];
    size_t need, k;
    if(c < 0x80) {
      if(c < 0x20 && c != '\t' && c != '\n' && c != '\r')
        return false;
      i++;
      continue;
    }
    if(c >= 0xC2 && c <= 0xDF)
      need = 1;
    else if(c >= 0xE0 && c <= 0xEF)
      need = 2;
    else if(c >= 0xF0 && c <= 0xF4)
      need = 3;
    else
      return false;
    for(k = 1; k <= need; k++)
      if(i + k >= n || ((unsigned char)s[i + k] & 0xC0) != 0x80)
        return false;
    i += need + 1;
  }
  return true;
}

/* Escape for XML: text keeps quotes readable, attributes escape them. */
static int add_escaped(struct exs_buf *o, const char *s, size_t n, bool attr)
{
  size_t i;

  for(i = 0; i < n; i++) {
    int rc;
    switch(s[i]) {
    case '&':
      rc = exs_buf_adds(o, "&amp;");
      break;
    case '<':
      rc = exs_buf_adds(o, "&lt;");
      break;
    case '>':
      rc = exs_buf_adds(o, "&gt;");
      break;
    case '"':
      rc = attr ? exs_buf_adds(o, "&quot;") : exs_buf_add(o, s + i, 1);
      break;
    case '\r':
      rc = exs_buf_adds(o, "&#13;");
      break;
    case '\t':
      rc = exs_buf_adds(o, "&#9;");
      break;
    default:
      rc = exs_buf_add(o, s + i, 1);
      break;
    }
    if(rc)
      return -1;
  }
  return 0;
}

static int add_text(struct exs_buf *o, const char *s, size_t n)
{
  return add_escaped(o, s, n, false);
}

static int add_attr(struct exs_buf *o, const char *s)
{
  return add_escaped(o, s, strlen(s), true);
}

static int add_elem(struct exs_buf *o, const char *indent, const char *tag, const char *s, size_t n,
                    bool body)
{
  if(!s)
    return 0;
  if(body && !xml_safe(s, n)) {
    if(exs_buf_addf(o, "%s<%s encoding=\"base64\">", indent, tag) ||
       exs_base64_encode(o, (const unsigned char *)s, n) || exs_buf_addf(o, "</%s>\n", tag))
      return -1;
    return 0;
  }
  if(exs_buf_addf(o, "%s<%s>", indent, tag) || add_text(o, s, n) || exs_buf_addf(o, "</%s>\n", tag))
    return -1;
  return 0;
}

int diag_recording_write(const struct diag_recording *r, struct exs_buf *o)
{
  size_t i;

  if(exs_buf_adds(o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<recording xmlns=\"" REC_NS "\" version=\"1\">\n"))
    return -1;
  if(r->name && (exs_buf_adds(o, "  <info>\n") ||
                 add_elem(o, "    ", "name", r->name, strlen(r->name), false) ||
                 exs_buf_adds(o, "  </info>\n")))
    return -1;
  if(exs_buf_addf(o, "  <command format=\"%s\">\n", r->format ? r->format : "text"))
    return -1;
  for(i = 0; i < r->argc; i++)
    if(add_elem(o, "    ", "arg", r->argv[i], strlen(r->argv[i]), false))
      return -1;
  if(exs_buf_adds(o, "  </command>\n"))
    return -1;
  if(r->frozen) {
    char t[32];
    if(exs_buf_addf(o, "  <time>%s</time>\n", exs_time_iso(r->frozen, t, sizeof(t))))
      return -1;
  }
  if(r->anonymize || r->n_rules) {
    if(exs_buf_addf(o, "  <normalize anonymize=\"%s\">\n", r->anonymize ? "true" : "false"))
      return -1;
    for(i = 0; i < r->n_rules; i++)
      if(add_elem(o, "    ", "scrub", r->rules[i], strlen(r->rules[i]), false))
        return -1;
    if(exs_buf_adds(o, "  </normalize>\n"))
      return -1;
  }
  for(i = 0; i < r->n_files; i++) {
    if(exs_buf_adds(o, "  <file name=\"") || add_attr(o, r->files[i].name) ||
       exs_buf_adds(o, "\">") || add_text(o, r->files[i].content, strlen(r->files[i].content)) ||
       exs_buf_adds(o, "</file>\n"))
      return -1;
  }
  for(i = 0; i < r->n_x; i++) {
    const struct diag_rec_exchange *x = &r->x[i];
    if(exs_buf_addf(o, "  <exchange method=\"%s\" url=\"", x->method) || add_attr(o, x->url) ||
       exs_buf_adds(o, "\""))
      return -1;
    if(x->operation && *x->operation && exs_buf_addf(o, " operation=\"%s\"", x->operation))
      return -1;
    if(!x->req_body && x->keys && *x->keys &&
       (exs_buf_adds(o, " keys=\"") || add_attr(o, x->keys) || exs_buf_adds(o, "\"")))
      return -1;
    if(exs_buf_addf(o, " elapsed-ms=\"%ld\"", x->elapsed_ms < 0 ? 0 : x->elapsed_ms))
      return -1;
    if(x->legs > 0 && exs_buf_addf(o, " legs=\"%d\"", x->legs))
      return -1;
    if(exs_buf_adds(o, ">\n"))
      return -1;
    if(x->req_headers || x->req_body) {
      if(exs_buf_adds(o, "    <request>\n") ||
         add_elem(o, "      ", "headers", x->req_headers,
                  x->req_headers ? strlen(x->req_headers) : 0, false) ||
         add_elem(o, "      ", "body", x->req_body, x->req_body_len, true) ||
         exs_buf_adds(o, "    </request>\n"))
        return -1;
    }
    if(x->status) {
      if(exs_buf_addf(o, "    <response status=\"%d\">\n", x->status) ||
         add_elem(o, "      ", "headers", x->resp_headers,
                  x->resp_headers ? strlen(x->resp_headers) : 0, false) ||
         add_elem(o, "      ", "body", x->resp_body, x->resp_body_len, true) ||
         exs_buf_adds(o, "    </response>\n"))
        return -1;
    }
    else {
      if(exs_buf_addf(o, "    <failure category=\"%s\"/>\n", x->failure ? x->failure : "CONNECT"))
        return -1;
    }
    if(exs_buf_adds(o, "  </exchange>\n"))
      return -1;
  }
  if(exs_buf_addf(o, "  <expect exit=\"%d\">\n", r->exit_code) ||
     add_elem(o, "    ", "report", r->report ? r->report : "", r->report ? strlen(r->report) : 0,
              false) ||
     exs_buf_adds(o, "  </expect>\n</recording>\n"))
    return -1;
  return 0;
}

static int write_file_atomic(const char *path, const struct exs_buf *b, char *err, size_t errlen);

int diag_recording_save_expect(const struct diag_recording *r, const char *path, char *err,
                               size_t errlen)
{
  struct exs_buf old, b;
  const char *start, *end;
  char chunk[65536];
  size_t n;
  FILE *f = fopen(path, "rb");
  int result = -1;

  exs_buf_init(&old, EXS_XML_MAX_BYTES);
  exs_buf_init(&b, EXS_XML_MAX_BYTES);
  if(!f)
    return diag_recording_save(r, path, err, errlen);
  while((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    if(exs_buf_add(&old, chunk, n))
      break;
  fclose(f);
  start = old.data ? strstr(old.data, "<expect") : NULL;
  end = start ? strstr(start, "</expect>") : NULL;
  if(!start || !end) {
    exs_buf_free(&old);
    return diag_recording_save(r, path, err, errlen);
  }
  end += strlen("</expect>");
  if(exs_buf_add(&b, old.data, (size_t)(start - old.data)) ||
     exs_buf_addf(&b, "<expect exit=\"%d\">\n", r->exit_code) ||
     add_elem(&b, "    ", "report", r->report ? r->report : "", r->report ? strlen(r->report) : 0,
              false) ||
     exs_buf_adds(&b, "  </expect>") || exs_buf_adds(&b, end)) {
    snprintf(err, errlen, "%s: the recording is too large or memory ran out", path);
    goto out;
  }
  result = write_file_atomic(path, &b, err, errlen);
out:
  exs_buf_free(&old);
  exs_buf_free(&b);
  return result;
}

int diag_recording_save(const struct diag_recording *r, const char *path, char *err, size_t errlen)
{
  struct exs_buf b;
  int result = -1;

  exs_buf_init(&b, EXS_XML_MAX_BYTES);
  if(diag_recording_write(r, &b)) {
    snprintf(err, errlen, "%s: the recording is too large or memory ran out", path);
    goto out;
  }
  result = write_file_atomic(path, &b, err, errlen);
out:
  exs_buf_free(&b);
  return result;
}

static int write_file_atomic(const char *path, const struct exs_buf *b, char *err, size_t errlen)
{
  /* 0600 and no symbolic links: recordings hold addresses and answers */
  return exs_privfile_write(path, b->data ? b->data : "", b->len, err, errlen);
}

/* ---- what a recording may run ---- */

/* The length of the option name when a is one of names, alone or as
 * NAME=VALUE (*inline_value then points after '='); 0 when it is none. */
static size_t option_in(const char *a, const char *const *names, size_t n,
                        const char **inline_value)
{
  size_t k;

  *inline_value = NULL;
  for(k = 0; k < n; k++) {
    size_t l = strlen(names[k]);
    if(!strncmp(a, names[k], l) && (!a[l] || a[l] == '=')) {
      if(a[l] == '=')
        *inline_value = a + l + 1;
      return l;
    }
  }
  return 0;
}

/* A file value: at record time any path (the recorder embeds the file);
 * at replay exactly {{file:NAME}} with NAME one of the recording's files
 * (or "password" when password is set). */
static bool file_value_ok(const struct diag_recording *r, const char *v, bool password)
{
  const char *name, *end;
  size_t len, i;

  if(!r)
    return *v != '\0';
  if(strncmp(v, "{{file:", 7))
    return false;
  name = v + 7;
  end = strstr(name, "}}");
  if(!end || end[2] || end == name)
    return false;
  len = (size_t)(end - name);
  if(password && len == 8 && !strncmp(name, "password", 8))
    return true;
  for(i = 0; i < r->n_files; i++)
    if(strlen(r->files[i].name) == len && !strncmp(r->files[i].name, name, len) &&
       strcmp(r->files[i].name, "password") && strcmp(r->files[i].name, "replay-ca.pem"))
      return true;
  return false;
}

static bool env_name_ok(const char *v)
{
  size_t i;

  if(!((v[0] >= 'A' && v[0] <= 'Z') || (v[0] >= 'a' && v[0] <= 'z') || v[0] == '_'))
    return false;
  for(i = 1; v[i]; i++)
    if(!((v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= 'a' && v[i] <= 'z') ||
         (v[i] >= '0' && v[i] <= '9') || v[i] == '_'))
      return false;
  return i <= 64;
}

/* A refusal: the message in err, -1 from the checking helper. */
#define REFUSE(...)                                                                                \
  do {                                                                                             \
    snprintf(err, errlen, __VA_ARGS__);                                                            \
    return -1;                                                                                     \
  } while(0)

/* Pass 1, as diag_main: global options wherever they stand. The transport
 * overrides are dropped (replay gives its own), --format is kept (in kept,
 * when given), the rest goes to rest with its 1-based position in pos. 0, or
 * -1 with the refusal in err. */
static int split_globals(const char *const *argv, size_t argc, const char **rest, size_t *pos,
                         size_t *nrest, const char **kept, size_t *nk, char *err, size_t errlen)
{
  static const char *const dropped[] = {"--cacert", "--connect-to", "--resolve"};
  static const char *const refused[] = {"--db", "--key-file", "--trace"};
  const char *iv;
  size_t i;

  for(i = 0; i < argc; i++) {
    const char *a = argv[i];
    if(!strcmp(a, "--"))
      REFUSE("argument %zu '--': a recorded command holds no second '--'", i + 1);
    if(option_in(a, refused, 3, &iv))
      REFUSE("argument %zu '%s': a recording may not name a store, key or trace file "
             "(give such options to replay itself)",
             i + 1, a);
    if(option_in(a, dropped, 3, &iv) || option_in(a, (const char *const[]){"--format"}, 1, &iv)) {
      bool keep = !strncmp(a, "--format", 8);
      if(!iv && i + 1 >= argc)
        REFUSE("argument %zu '%s' needs a value", i + 1, a);
      if(keep && kept) {
        kept[(*nk)++] = a;
        if(!iv)
          kept[(*nk)++] = argv[i + 1];
      }
      if(!iv)
        i++;
      continue;
    }
    pos[*nrest] = i + 1;
    rest[(*nrest)++] = a;
  }
  return 0;
}

/* Pass 2: the command (test-enable or autodiscover only) and its own
 * options; file references only where replay substitutes the recording's
 * files. 0, or -1 with the refusal in err. */
static int check_command_words(const struct diag_recording *r, const char **rest, const size_t *pos,
                               size_t nrest, char *err, size_t errlen)
{
  static const char *const te_flags[] = {"--this-org-only", "--wait-retries", "--help", "-h"};
  static const char *const te_values[] = {"--delivery-timeout", "--retry-interval", "--max-retries",
                                          "--mailbox"};
  static const char *const ad_flags[] = {"--allow-non-ssl", "--password-prompt", "--help", "-h"};
  static const char *const ad_values[] = {"--user", "--protocol"};
  const char *iv;
  bool te, have_address = false;
  size_t i;

  if(!nrest)
    REFUSE("the recorded command is empty");
  te = !strcmp(rest[0], "test-enable");
  if(!te && strcmp(rest[0], "autodiscover"))
    REFUSE("argument %zu '%s': a recording may only run test-enable or autodiscover", pos[0],
           rest[0]);
  for(i = 1; i < nrest; i++) {
    const char *a = rest[i], *v = i + 1 < nrest ? rest[i + 1] : NULL;
    if(r && strstr(a, "{{file:"))
      REFUSE("argument %zu '%s': a file reference outside --config/--password-file", pos[i], a);
    if(option_in(a, te ? te_flags : ad_flags, 4, &iv) && !iv)
      continue;
    if(option_in(a, te ? te_values : ad_values, te ? 4 : 2, &iv) && !iv) {
      if(!v)
        REFUSE("argument %zu '%s' needs a value", pos[i], a);
      if(r && strstr(v, "{{file:"))
        REFUSE("argument %zu '%s': a file reference outside --config/--password-file", pos[i + 1],
               v);
      i++;
      continue;
    }
    if(te && !strcmp(a, "--config")) {
      if(!v || !file_value_ok(r, v, false))
        REFUSE("argument %zu '%s': --config must name one of the recording's files "
               "({{file:NAME}})",
               pos[i] + (v ? 1 : 0), v ? v : a);
      i++;
      continue;
    }
    if(!te && !strcmp(a, "--password-file")) {
      if(!v || !file_value_ok(r, v, true))
        REFUSE("argument %zu '%s': --password-file must be {{file:password}}", pos[i] + (v ? 1 : 0),
               v ? v : a);
      i++;
      continue;
    }
    if(!te && !strcmp(a, "--password-env")) {
      if(!v || !env_name_ok(v))
        REFUSE("argument %zu '%s': --password-env wants a variable name", pos[i] + (v ? 1 : 0),
               v ? v : a);
      i++;
      continue;
    }
    if(!te && a[0] != '-' && !have_address) {
      have_address = true;
      continue;
    }
    REFUSE("argument %zu '%s': not an option a recording may give to %s", pos[i], a, rest[0]);
  }
  return 0;
}
#undef REFUSE

int diag_recording_check_command(const struct diag_recording *r, const char *const *argv,
                                 size_t argc, const char **kept, size_t *n_kept, char *err,
                                 size_t errlen)
{
  const char **rest = calloc(argc + 1, sizeof(char *));
  size_t *pos = calloc(argc + 1, sizeof(size_t));
  size_t nrest = 0, nk = 0, i;
  int result = -1;

  if(!rest || !pos) {
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  if(split_globals(argv, argc, rest, pos, &nrest, kept, &nk, err, errlen) ||
     check_command_words(r, rest, pos, nrest, err, errlen))
    goto out;
  if(kept) {
    /* the command words in their order, the kept globals before them */
    for(i = 0; i < nrest; i++)
      kept[nk++] = rest[i];
    *n_kept = nk;
  }
  result = 0;
out:
  free(rest);
  free(pos);
  return result;
}

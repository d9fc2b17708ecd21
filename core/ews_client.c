/* ews_client.c - the EWS client: the one place that does I/O for EWS.
 * Every operation takes one path, build -> send -> classify -> parse: the
 * builders and parsers of ews.c, ews_folder.c, ews_item.c and ews_util.c
 * (which never do I/O), exs_ews_call for the HTTP exchange (SOAPAction,
 * X-AnchorMailbox, no transport resend of state-changing operations,
 * throttling retries) and one size cap for every request. */
#include "exsync/ews.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pwd.h>
#include <unistd.h>

#include <libxml/tree.h>

#include "exsync/clock.h"
#include "exsync/faultpoint.h"
#include "exsync/xml.h"
#include "ews_internal.h"

struct exs_ews {
  struct exs_http *http;
  char *url;
  char *server_version;
  char *impersonate;
  char *anchor;
  bool mailbox_credentials;
  bool running_identity;
  int max_retries;
  long max_wait_ms;
};

static char *dup_or_null(const char *s)
{
  return s ? strdup(s) : NULL;
}

struct exs_ews *exs_ews_new(struct exs_http *http, const struct exs_ews_options *opt)
{
  struct exs_ews *ews = calloc(1, sizeof(*ews));

  if(!ews)
    return NULL;
  ews->http = http;
  ews->url = dup_or_null(opt->url);
  ews->server_version =
      dup_or_null(opt->ctx.server_version ? opt->ctx.server_version : EXS_EWS_DEFAULT_VERSION);
  ews->impersonate = dup_or_null(opt->ctx.impersonate);
  ews->anchor = dup_or_null(opt->anchor_mailbox ? opt->anchor_mailbox : opt->ctx.impersonate);
  ews->mailbox_credentials = opt->mailbox_credentials;
  ews->running_identity = opt->running_identity;
  ews->max_retries = opt->max_throttle_retries > 0 ? opt->max_throttle_retries : 3;
  ews->max_wait_ms = opt->max_throttle_wait_ms > 0 ? opt->max_throttle_wait_ms : 30000;
  if(!ews->url || !ews->server_version) {
    exs_ews_free(ews);
    return NULL;
  }
  return ews;
}

void exs_ews_free(struct exs_ews *ews)
{
  if(!ews)
    return;
  free(ews->url);
  free(ews->server_version);
  free(ews->impersonate);
  free(ews->anchor);
  free(ews);
}

/* The context a request of this client is built with. */
static struct exs_ews_context client_ctx(const struct exs_ews *ews)
{
  struct exs_ews_context ctx = {ews->server_version, ews->impersonate};
  return ctx;
}

const char *exs_ews_url(const struct exs_ews *ews)
{
  return ews ? ews->url : NULL;
}

/* True when a 200 answer's every ResponseMessage is an ErrorServerBusy
 * error: the server processed none of it, so the request may be repeated
 * (real servers also throttle this way). Fills err and
 * *wait_ms (the largest BackOffMilliseconds, 0 if none). */
static bool all_messages_busy(const char *op, struct exs_http_response *resp, long *wait_ms,
                              struct exs_error *err)
{
  xmlDocPtr doc = NULL;
  xmlNodePtr messages, msg;
  struct exs_error merr, first;
  size_t n = 0;
  bool busy = true;

  if(!resp->body.data || !strstr(resp->body.data, "ErrorServerBusy"))
    return false;
  exs_error_clear(&merr);
  exs_error_clear(&first);
  if(exs_ews_parse_envelope(resp->body.data, resp->body.len, resp->status, op, &doc, &messages,
                            &merr)) {
    xmlFreeDoc(doc);
    return false;
  }
  *wait_ms = 0;
  for(msg = exs_xml_first_element(messages); msg && busy; msg = msg->next) {
    if(msg->type != XML_ELEMENT_NODE)
      continue;
    exs_error_clear(&merr);
    busy = exs_ews_message_status(msg, &merr) != 0 && !strcmp(merr.ews_code, "ErrorServerBusy");
    if(busy && !n++)
      first = merr;
    if(busy && merr.backoff_ms > *wait_ms)
      *wait_ms = merr.backoff_ms;
  }
  xmlFreeDoc(doc);
  if(!busy || !n)
    return false;
  first.http_status = resp->status;
  snprintf(first.url, sizeof(first.url), "%s", err->url);
  first.backoff_ms = *wait_ms;
  *err = first;
  return true;
}

/* Classify an HTTP-level answer. Returns 1 when the caller should retry
 * after *wait_ms, 0 when the answer is for the parser, -1 on failure. */
static int classify(struct exs_ews *ews, const char *op, struct exs_http_response *resp,
                    long *wait_ms, struct exs_error *err)
{
  err->http_status = resp->status;
  snprintf(err->url, sizeof(err->url), "%s", ews->url);
  if(resp->status == 200)
    return all_messages_busy(op, resp, wait_ms, err) ? 1 : 0;
  if(resp->status == 401 && ews->running_identity) {
    /* Windows integrated: no credential of the profile was used */
    struct passwd *pw = getpwuid(geteuid());
    exs_error_set(err, EXS_CAT_CREDENTIALS,
                  "Exchange refused the running identity (%s, Windows integrated "
                  "authentication; HTTP 401, offered: %s)",
                  pw && pw->pw_name ? pw->pw_name : "this process's user",
                  resp->www_authenticate[0] ? resp->www_authenticate : "no scheme");
    snprintf(err->hint, sizeof(err->hint),
             "Windows integrated authentication uses the identity exsync runs as: run it as the "
             "service account Exchange expects (with a Kerberos ticket or client keytab for "
             "Negotiate), or give the profile credentials (authenticate-using=profile).");
    return -1;
  }
  if(resp->status == 401) {
    exs_error_set(err, ews->mailbox_credentials ? EXS_CAT_MBX_CREDENTIALS : EXS_CAT_CREDENTIALS,
                  "Exchange refused the %s credentials (HTTP 401, offered: %s)",
                  ews->mailbox_credentials ? "mailbox's" : "profile's",
                  resp->www_authenticate[0] ? resp->www_authenticate : "no scheme");
    return -1;
  }
  if(resp->status == 403) {
    exs_error_set(err, EXS_CAT_ACCESS_DENIED, "Exchange forbade %s (HTTP 403)", op);
    return -1;
  }
  if(resp->status == 503) {
    exs_error_set(err, EXS_CAT_THROTTLED, "Exchange is busy (HTTP 503) for %s", op);
    *wait_ms = 0;
    return 1;
  }
  if(resp->status == 500) {
    xmlDocPtr doc = NULL;
    xmlNodePtr messages;
    struct exs_error ferr;
    exs_error_clear(&ferr);
    /* a SOAP fault: throttling is retried here, the rest is the parser's */
    if(exs_ews_parse_envelope(resp->body.data, resp->body.len, resp->status, op, &doc, &messages,
                              &ferr) &&
       ferr.category == EXS_CAT_THROTTLED) {
      xmlFreeDoc(doc);
      *err = ferr;
      snprintf(err->url, sizeof(err->url), "%s", ews->url);
      *wait_ms = ferr.backoff_ms;
      return 1;
    }
    xmlFreeDoc(doc);
    return 0;
  }
  if(resp->status >= 300 && resp->status < 400) {
    exs_error_set(err, EXS_CAT_PROTOCOL,
                  "Exchange redirected the EWS request (HTTP %ld to %s): a proxy or login "
                  "page is in the way",
                  resp->status, resp->location[0] ? resp->location : "nowhere");
    return -1;
  }
  if(resp->status == 404) {
    exs_error_set(err, EXS_CAT_CONFIG, "no EWS endpoint at %s (HTTP 404)", ews->url);
    return -1;
  }
  if(resp->status >= 500) {
    exs_error_set(err, EXS_CAT_SERVER, "Exchange answered HTTP %ld to %s", resp->status, op);
    return -1;
  }
  exs_error_set(err, EXS_CAT_PROTOCOL, "unexpected HTTP %ld to %s", resp->status, op);
  return -1;
}

/* Operations whose repetition would change Exchange twice (a second send,
 * a second item): never let the transport repeat them behind our back. */
static bool changes_state(const char *op)
{
  static const char *const ops[] = {"CreateItem",   "SendItem",  "UpdateItem",   "DeleteItem",
                                    "MoveItem",     "CopyItem",  "CreateFolder", "UpdateFolder",
                                    "DeleteFolder", "MoveFolder"};
  size_t i;

  for(i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
    if(!strcmp(op, ops[i]))
      return true;
  return false;
}

int exs_ews_call(struct exs_ews *ews, const char *op, const struct exs_buf *request,
                 struct exs_http_response *resp, struct exs_error *err)
{
  char soapaction[160];
  char anchor[300];
  const char *headers[2];
  size_t nh = 0;
  struct exs_http_request req = {0};
  long waited = 0;
  long next_wait = 1000;
  int attempt;

  snprintf(soapaction, sizeof(soapaction), "SOAPAction: \"%s/%s\"", EXS_NS_MSG, op);
  headers[nh++] = soapaction;
  if(ews->anchor) {
    snprintf(anchor, sizeof(anchor), "X-AnchorMailbox: %s", ews->anchor);
    headers[nh++] = anchor;
  }
  req.method = "POST";
  req.url = ews->url;
  req.content_type = "text/xml; charset=utf-8";
  req.body = request->data;
  req.body_len = request->len;
  req.headers = headers;
  req.n_headers = nh;
  req.no_resend = changes_state(op);

  for(attempt = 0;; attempt++) {
    long wait_ms = 0;
    int c;
    EXS_FAULT_POINT("ews.request"); /* before it leaves */
    if(exs_http_perform(ews->http, &req, resp, err))
      return -1;
    EXS_FAULT_POINT("ews.response"); /* answered, not yet read */
    c = classify(ews, op, resp, &wait_ms, err);
    if(c <= 0)
      return c;
    /* throttled: the server did not process it, so repeating is safe */
    if(wait_ms <= 0) {
      wait_ms = next_wait;
      next_wait *= 2;
    }
    if(attempt >= ews->max_retries || waited + wait_ms > ews->max_wait_ms) {
      err->backoff_ms = wait_ms;
      return -1;
    }
    exs_sleep_ms(wait_ms);
    waited += wait_ms;
  }
}

/* ---- one operation's round trip ---- */

/* Every operation takes the same path: build (capped at
 * EXS_EWS_REQUEST_MAX) -> send -> classify (exs_ews_call: status, faults,
 * throttling retries) -> parse. A client is
 *   trip_begin(ews, &t);
 *   result = trip_send(ews, &t, "Op", exs_ews_build_op(&t.req, &t.ctx, ...), err);
 *   if(!result)
 *     result = exs_ews_parse_op(t.resp.body.data, t.resp.body.len, t.resp.status, ..., err);
 *   return trip_end(ews, &t, result, err);
 */
struct trip {
  struct exs_ews_context ctx;
  struct exs_buf req;
  struct exs_http_response resp;
};

static void trip_begin(const struct exs_ews *ews, struct trip *t)
{
  t->ctx = client_ctx(ews);
  exs_buf_init(&t->req, EXS_EWS_REQUEST_MAX);
  exs_http_response_init(&t->resp);
}

/* build_rc is the builder's result: not 0 means the request outgrew the cap. */
static int trip_send(struct exs_ews *ews, struct trip *t, const char *op, int build_rc,
                     struct exs_error *err)
{
  if(build_rc) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "%s request too large", op);
    return -1;
  }
  return exs_ews_call(ews, op, &t->req, &t->resp, err);
}

/* Frees t; a failure names the EWS URL. Returns result. */
static int trip_end(const struct exs_ews *ews, struct trip *t, int result, struct exs_error *err)
{
  if(result)
    snprintf(err->url, sizeof(err->url), "%s", ews->url);
  exs_buf_free(&t->req);
  exs_http_response_free(&t->resp);
  return result;
}

/* ---- the operations ---- */

int exs_ews_get_folder_ext(struct exs_ews *ews, const struct exs_ews_folder_ref *refs, size_t n,
                           const struct exs_ews_extprop *props, size_t n_props,
                           struct exs_ews_folder *out, struct exs_error *err)
{
  struct trip t;
  int result;

  trip_begin(ews, &t);
  result = trip_send(ews, &t, "GetFolder",
                     exs_ews_build_get_folder_ext(&t.req, &t.ctx, refs, n, props, n_props), err);
  if(!result)
    result =
        exs_ews_parse_get_folder(t.resp.body.data, t.resp.body.len, t.resp.status, out, n, err);
  return trip_end(ews, &t, result, err);
}

int exs_ews_get_folder(struct exs_ews *ews, const struct exs_ews_folder_ref *refs, size_t n,
                       struct exs_ews_folder *out, struct exs_error *err)
{
  return exs_ews_get_folder_ext(ews, refs, n, NULL, 0, out, err);
}

int exs_ews_find_folder(struct exs_ews *ews, const struct exs_ews_find_folder_req *req,
                        struct exs_ews_folder_page *out, struct exs_error *err)
{
  struct trip t;
  int result;

  memset(out, 0, sizeof(*out));
  trip_begin(ews, &t);
  result = trip_send(ews, &t, "FindFolder", exs_ews_build_find_folder(&t.req, &t.ctx, req), err);
  if(!result)
    result = exs_ews_parse_find_folder(t.resp.body.data, t.resp.body.len, t.resp.status, out, err);
  return trip_end(ews, &t, result, err);
}

int exs_ews_create_folder(struct exs_ews *ews, const struct exs_ews_folder_ref *parent,
                          const char *display_name, const char *folder_class,
                          struct exs_ews_folder *out, struct exs_error *err)
{
  struct trip t;
  int result;

  trip_begin(ews, &t);
  result = trip_send(
      ews, &t, "CreateFolder",
      exs_ews_build_create_folder(&t.req, &t.ctx, parent, display_name, folder_class), err);
  if(!result)
    result =
        exs_ews_parse_create_folder(t.resp.body.data, t.resp.body.len, t.resp.status, out, err);
  return trip_end(ews, &t, result, err);
}

int exs_ews_update_folder(struct exs_ews *ews, const struct exs_ews_folder_ref *folder,
                          const char *folder_kind, const struct exs_ews_extprop_set *sets, size_t n,
                          struct exs_ews_folder *out, struct exs_error *err)
{
  struct trip t;
  int result;

  trip_begin(ews, &t);
  result =
      trip_send(ews, &t, "UpdateFolder",
                exs_ews_build_update_folder(&t.req, &t.ctx, folder, folder_kind, sets, n), err);
  if(!result)
    result =
        exs_ews_parse_update_folder(t.resp.body.data, t.resp.body.len, t.resp.status, out, err);
  return trip_end(ews, &t, result, err);
}

int exs_ews_sync_folder_hierarchy(struct exs_ews *ews, const struct exs_ews_folder_ref *sync_folder,
                                  const char *sync_state, struct exs_ews_folder_sync *out,
                                  struct exs_error *err)
{
  struct trip t;
  int result;

  memset(out, 0, sizeof(*out));
  trip_begin(ews, &t);
  result =
      trip_send(ews, &t, "SyncFolderHierarchy",
                exs_ews_build_sync_folder_hierarchy(&t.req, &t.ctx, sync_folder, sync_state), err);
  if(!result)
    result = exs_ews_parse_sync_folder_hierarchy(t.resp.body.data, t.resp.body.len, t.resp.status,
                                                 out, err);
  return trip_end(ews, &t, result, err);
}

int exs_ews_find_item(struct exs_ews *ews, const struct exs_ews_find_item_req *req,
                      struct exs_ews_item_page *out, struct exs_error *err)
{
  struct trip t;
  int result;

  memset(out, 0, sizeof(*out));
  trip_begin(ews, &t);
  result = trip_send(ews, &t, "FindItem", exs_ews_build_find_item(&t.req, &t.ctx, req), err);
  if(!result)
    result = exs_ews_parse_find_item(t.resp.body.data, t.resp.body.len, t.resp.status, out, err);
  return trip_end(ews, &t, result, err);
}

int exs_ews_get_item(struct exs_ews *ews, const struct exs_ews_get_item_req *req,
                     struct exs_ews_item *out, struct exs_error *err)
{
  struct trip t;
  int result;

  memset(out, 0, req->n_ids * sizeof(*out));
  trip_begin(ews, &t);
  result = trip_send(ews, &t, "GetItem", exs_ews_build_get_item(&t.req, &t.ctx, req), err);
  if(!result)
    result = exs_ews_parse_get_item(t.resp.body.data, t.resp.body.len, t.resp.status, out,
                                    req->n_ids, err);
  return trip_end(ews, &t, result, err);
}

int exs_ews_create_item(struct exs_ews *ews, const struct exs_ews_create_item_req *req,
                        struct exs_ews_item_result *out, struct exs_error *err)
{
  struct trip t;
  int result;

  trip_begin(ews, &t);
  result = trip_send(ews, &t, "CreateItem", exs_ews_build_create_item(&t.req, &t.ctx, req), err);
  if(!result)
    result = exs_ews_parse_create_item(t.resp.body.data, t.resp.body.len, t.resp.status, out,
                                       req->n, err);
  return trip_end(ews, &t, result, err);
}

int exs_ews_update_item(struct exs_ews *ews, const char *conflict_resolution,
                        const struct exs_ews_item_change *changes, size_t n,
                        struct exs_ews_item_result *out, struct exs_error *err)
{
  struct trip t;
  int result;

  trip_begin(ews, &t);
  result =
      trip_send(ews, &t, "UpdateItem",
                exs_ews_build_update_item(&t.req, &t.ctx, conflict_resolution, changes, n), err);
  if(!result)
    result =
        exs_ews_parse_update_item(t.resp.body.data, t.resp.body.len, t.resp.status, out, n, err);
  return trip_end(ews, &t, result, err);
}

int exs_ews_move_item(struct exs_ews *ews, const struct exs_ews_folder_ref *to,
                      const char *const *ids, size_t n, struct exs_ews_item_result *out,
                      struct exs_error *err)
{
  struct trip t;
  int result;

  trip_begin(ews, &t);
  result = trip_send(ews, &t, "MoveItem", exs_ews_build_move_item(&t.req, &t.ctx, to, ids, n), err);
  if(!result)
    result = exs_ews_parse_move_item(t.resp.body.data, t.resp.body.len, t.resp.status, out, n, err);
  return trip_end(ews, &t, result, err);
}

int exs_ews_delete_item(struct exs_ews *ews, const char *delete_type, const char *const *ids,
                        size_t n, struct exs_ews_item_result *out, struct exs_error *err)
{
  struct trip t;
  int result;

  trip_begin(ews, &t);
  result = trip_send(ews, &t, "DeleteItem",
                     exs_ews_build_delete_item(&t.req, &t.ctx, delete_type, ids, n), err);
  if(!result)
    result =
        exs_ews_parse_delete_item(t.resp.body.data, t.resp.body.len, t.resp.status, out, n, err);
  return trip_end(ews, &t, result, err);
}

int exs_ews_sync_folder_items(struct exs_ews *ews, const struct exs_ews_sync_items_req *req,
                              struct exs_ews_item_sync *out, struct exs_error *err)
{
  struct trip t;
  int result;

  exs_ews_item_sync_reset(out); /* keeps the changes array for this page */
  trip_begin(ews, &t);
  result = trip_send(ews, &t, "SyncFolderItems",
                     exs_ews_build_sync_folder_items(&t.req, &t.ctx, req), err);
  if(!result)
    result =
        exs_ews_parse_sync_folder_items(t.resp.body.data, t.resp.body.len, t.resp.status, out, err);
  return trip_end(ews, &t, result, err);
}

int exs_ews_resolve_names(struct exs_ews *ews, const char *entry, struct exs_ews_resolve *out,
                          struct exs_error *err)
{
  struct trip t;
  int result;

  memset(out, 0, sizeof(*out));
  trip_begin(ews, &t);
  result =
      trip_send(ews, &t, "ResolveNames", exs_ews_build_resolve_names(&t.req, &t.ctx, entry), err);
  if(!result)
    result =
        exs_ews_parse_resolve_names(t.resp.body.data, t.resp.body.len, t.resp.status, out, err);
  return trip_end(ews, &t, result, err);
}

/* ews.c - SOAP envelope, request-level checks and dispatch of EWS operations.
 *
 * The request is parsed with the shared safe parser (exs_xml_parse); the
 * answer is written straight into ctx->out with the streaming helpers of
 * ews_write.c (ews_ops.h), in schema order. Request-level problems (version,
 * impersonation, injected EWS faults) become SOAP faults with HTTP 500;
 * per-id problems become ResponseClass="Error" messages. Runs under the
 * world lock (shared); before an operation runs, the mailboxes it can touch
 * are locked (lock_mailboxes), and they stay locked until emu_ews_finish.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ews_ops.h"
#include "emu_internal.h"
#include "exsync-emulator/emulator_test.h"
#include "exsync/xml.h"

static const char *const known_versions[] = {
    "Exchange2007",     "Exchange2007_SP1", "Exchange2009", "Exchange2010",     "Exchange2010_SP1",
    "Exchange2010_SP2", "Exchange2012",     "Exchange2013", "Exchange2013_SP1", "Exchange2015",
    "Exchange2016",     "V2015_10_05",      "V2016_01_06",  "V2016_04_13",      "V2016_07_13",
    "V2016_10_10",      "V2017_01_07",      "V2017_04_14",  "V2017_07_11",      "V2017_10_09",
    "V2018_01_08",
};

static const char *fault_text(const char *code)
{
  static const struct {
    const char *code, *text;
  } texts[] = {
      {"ErrorServerBusy", "The server cannot service this request right now. Try again later."},
      {"ErrorImpersonateUserDenied",
       "The account does not have permission to impersonate the requested user."},
      {"ErrorNonExistentMailbox", "The SMTP address has no mailbox associated with it."},
      {"ErrorInvalidServerVersion", "The specified server version is invalid."},
      {"ErrorMailboxMoveInProgress", "The mailbox is being moved. Try again later."},
      {"ErrorMailboxStoreUnavailable", "The mailbox database is temporarily unavailable."},
      {"ErrorInternalServerError", "An internal server error occurred. The operation failed."},
      {"ErrorAccessDenied", "Access is denied. Check credentials and try again."},
  };

  for(size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
    if(strcmp(texts[i].code, code) == 0)
      return texts[i].text;
  return "The request failed.";
}

/* ---- dispatch ---- */

/* reads: the operation changes nothing in a mailbox, so requests share the
 * mailbox locks (an operation that writes anything, even a counter, must
 * not be marked) */
static const struct {
  const char *name;
  void (*fn)(struct emu_ews_ctx *, xmlNodePtr);
  bool reads;
} ops[] = {
    {"GetFolder", ews_get_folder, true},
    {"FindFolder", ews_find_folder, true},
    {"CreateFolder", ews_create_folder, false},
    {"UpdateFolder", ews_update_folder, false},
    {"SyncFolderHierarchy", ews_sync_folder_hierarchy, true},
    {"FindItem", ews_find_item, true},
    {"GetItem", ews_get_item, true},
    {"CreateItem", ews_create_item, false},
    {"DeleteItem", ews_delete_item, false},
    {"MoveItem", ews_move_item, false},
    {"CopyItem", ews_copy_item, false},
    {"ResolveNames", ews_resolve_names, true},
    {"UpdateItem", ews_update_item, false},
    {"ConvertId", ews_convert_id, true},
    {"GetUserConfiguration", ews_get_user_configuration, true},
    {"GetUserPhoto", ews_get_user_photo, true},
    {"DeleteFolder", ews_delete_folder, false},
    {"SyncFolderItems", ews_sync_folder_items, true},
};

/* First t:Mailbox/t:EmailAddress under a folder id in the operation: the
 * mailbox a delegate request acts on (for the journal and fault scopes). */
static void find_delegate_target(xmlNodePtr n, char *out, size_t len, int depth)
{
  for(xmlNodePtr c = n ? n->children : NULL; c && !out[0] && depth < 8; c = c->next) {
    if(c->type != XML_ELEMENT_NODE)
      continue;
    if(exs_xml_is(c, EMU_NS_T, "Mailbox") && c->parent &&
       (exs_xml_is(c->parent, EMU_NS_T, "DistinguishedFolderId"))) {
      exs_xml_text(exs_xml_child(c, EMU_NS_T, "EmailAddress"), out, len);
      return;
    }
    find_delegate_target(c, out, len, depth + 1);
  }
}

/* ---- the mailboxes a request touches ---- */

static int add_locked(struct emu_ews_ctx *ctx, struct emu_mailbox *m, size_t *cap)
{
  if(!m)
    return 0;
  for(size_t i = 0; i < ctx->nlocked; i++)
    if(ctx->locked[i] == m)
      return 0;
  if(ctx->nlocked == *cap) {
    size_t ncap = *cap ? 2 * *cap : 8;
    struct emu_mailbox **n = realloc(ctx->locked, ncap * sizeof(*n));
    if(!n)
      return -1;
    ctx->locked = n;
    *cap = ncap;
  }
  ctx->locked[ctx->nlocked++] = m;
  return 0;
}

/* Every mailbox named in the operation: by an item or folder id (the
 * mailbox holding it now; an id never moves to another mailbox, a move
 * makes a new one) or by an e-mail address (delegate folders, recipients). */
static int collect_mailboxes(struct emu_ews_ctx *ctx, xmlNodePtr n, size_t *cap, int depth)
{
  char buf[256], kind;
  uint64_t num;

  for(xmlNodePtr c = n ? n->children : NULL; c && depth < 32; c = c->next) {
    if(c->type != XML_ELEMENT_NODE)
      continue;
    if(exs_xml_attr(c, "Id", buf, sizeof(buf)) && emu_id_decode(buf, &kind, &num) == 0 &&
       add_locked(ctx, emu_owner_of(ctx->emu, kind, num), cap) != 0)
      return -1;
    if(exs_xml_is(c, EMU_NS_T, "EmailAddress") && exs_xml_text(c, buf, sizeof(buf)) &&
       add_locked(ctx, emu_mailbox_find(ctx->emu, buf), cap) != 0)
      return -1;
    if(collect_mailboxes(ctx, c, cap, depth + 1) != 0)
      return -1;
  }
  return 0;
}

static int by_index(const void *a, const void *b)
{
  const struct emu_mailbox *x = *(const struct emu_mailbox *const *)a;
  const struct emu_mailbox *y = *(const struct emu_mailbox *const *)b;

  return x->index < y->index ? -1 : x->index > y->index;
}

/* Lock the acting mailbox and every one op names, in table order (no
 * deadlock between requests), shared when the operation only reads. -1
 * when out of memory. */
static int lock_mailboxes(struct emu_ews_ctx *ctx, xmlNodePtr op, bool reads)
{
  size_t cap = 0;

  if(ctx->exclusive)
    return 0;
  if(add_locked(ctx, ctx->acting, &cap) != 0 || collect_mailboxes(ctx, op, &cap, 0) != 0) {
    free(ctx->locked);
    ctx->locked = NULL;
    ctx->nlocked = 0;
    return -1;
  }
  if(ctx->nlocked > 1)
    qsort(ctx->locked, ctx->nlocked, sizeof(ctx->locked[0]), by_index);
  for(size_t i = 0; i < ctx->nlocked; i++) {
    if(reads)
      pthread_rwlock_rdlock(&ctx->locked[i]->lock);
    else
      pthread_rwlock_wrlock(&ctx->locked[i]->lock);
  }
  return 0;
}

/* emu_check_answers: validate the answer in ctx->out, count a failure. */
static void check_answer(struct emu_ews_ctx *ctx)
{
  struct emu *emu = ctx->emu;
  char err[400];
  xmlDocPtr doc;
  xmlNodePtr env, body, op;

  if(!ctx->out->data || ctx->status != 200)
    return; /* faults and HTTP errors are not in the EWS schema */
  doc = exs_xml_parse(ctx->out->data, ctx->out->len, "answer", err, sizeof(err));
  env = doc ? xmlDocGetRootElement(doc) : NULL;
  body = env ? exs_xml_child(env, EMU_NS_SOAP, "Body") : NULL;
  op = body ? exs_xml_first_element(body) : NULL;
  if(!op || exs_schema_validate(emu->ews_schema, doc, op, "answer", err, sizeof(err)) != 0) {
    pthread_mutex_lock(&emu->lock);
    if(!emu->invalid_answers++)
      snprintf(emu->first_invalid, sizeof(emu->first_invalid), "%s: %s", ctx->operation,
               op ? err : "not a SOAP answer");
    pthread_mutex_unlock(&emu->lock);
  }
  if(doc)
    xmlFreeDoc(doc);
}

void emu_ews_handle(struct emu_ews_ctx *ctx, const char *body, size_t len)
{
  char err[512];
  xmlDocPtr doc = exs_xml_parse(body, len, "request", err, sizeof(err));

  emu_ews_handle_doc(ctx, doc, err);
  emu_ews_finish(ctx);
}

void emu_ews_finish(struct emu_ews_ctx *ctx)
{
  struct emu *emu = ctx->emu;

  for(size_t i = ctx->nlocked; i > 0; i--)
    pthread_rwlock_unlock(&ctx->locked[i - 1]->lock);
  free(ctx->locked);
  ctx->locked = NULL;
  ctx->nlocked = 0;
  emu_deliveries_run(ctx); /* mail it sent, one recipient's mailbox at a time */
  if(atomic_load(&emu->check_answers) && emu->ews_schema)
    check_answer(ctx); /* outside the mailbox locks: it parses the answer */
}

/* The SOAP envelope and its operation element (in the messages namespace);
 * NULL after answering with a fault. */
static xmlNodePtr request_operation(struct emu_ews_ctx *ctx, xmlDocPtr doc, const char *parse_err,
                                    xmlNodePtr *header)
{
  char err[512];
  xmlNodePtr env, sbody, op;

  env = doc ? xmlDocGetRootElement(doc) : NULL;
  if(!doc) {
    /* the parser's message names a line and a limit, never the content */
    snprintf(err, sizeof(err), "The request failed schema validation: %s.", parse_err);
    emu_ews_fault(ctx, "ErrorSchemaValidation", err, -1, NULL);
    return NULL;
  }
  if(!env || !exs_xml_is(env, EMU_NS_SOAP, "Envelope")) {
    emu_ews_fault(ctx, "ErrorSchemaValidation",
                  "The request failed schema validation: not a SOAP 1.1 envelope.", -1, NULL);
    return NULL;
  }
  *header = exs_xml_child(env, EMU_NS_SOAP, "Header");
  sbody = exs_xml_child(env, EMU_NS_SOAP, "Body");
  op = sbody ? exs_xml_first_element(sbody) : NULL;
  if(!op || !op->ns || !op->ns->href || strcmp((const char *)op->ns->href, EMU_NS_M) != 0) {
    emu_ews_fault(ctx, "ErrorInvalidRequest", "The request is invalid.", -1, NULL);
    return NULL;
  }
  return op;
}

/* RequestServerVersion, when present, must name a version we know. */
static int check_server_version(struct emu_ews_ctx *ctx, xmlNodePtr header)
{
  char buf[256];
  xmlNodePtr n = header ? exs_xml_child(header, EMU_NS_T, "RequestServerVersion") : NULL;
  bool ok = false;

  if(!n)
    return 0;
  exs_xml_attr(n, "Version", buf, sizeof(buf));
  for(size_t i = 0; i < sizeof(known_versions) / sizeof(known_versions[0]); i++)
    if(strcmp(buf, known_versions[i]) == 0)
      ok = true;
  if(!ok) {
    emu_ews_fault(ctx, "ErrorInvalidServerVersion", fault_text("ErrorInvalidServerVersion"), -1,
                  NULL);
    return -1;
  }
  return 0;
}

/* Schema validation of the operation and the EWS header elements. */
static int validate_request(struct emu_ews_ctx *ctx, xmlDocPtr doc, xmlNodePtr header,
                            xmlNodePtr op)
{
  struct emu *emu = ctx->emu;
  char err[512];
  xmlNodePtr check[8];
  size_t nc = 0;

  if(!emu->ews_schema)
    return 0;
  check[nc++] = op;
  for(xmlNodePtr h = header ? header->children : NULL; h && nc < 8; h = h->next)
    if(h->type == XML_ELEMENT_NODE && h->ns && h->ns->href &&
       strcmp((const char *)h->ns->href, EMU_NS_T) == 0)
      check[nc++] = h;
  for(size_t i = 0; i < nc; i++) {
    if(exs_schema_validate(emu->ews_schema, doc, check[i], "request", err, sizeof(err)) != 0) {
      char text[700];
      snprintf(text, sizeof(text), "The request failed schema validation: %s", err);
      emu_ews_fault(ctx, "ErrorSchemaValidation", text, -1, NULL);
      return -1;
    }
  }
  return 0;
}

/* ExchangeImpersonation: the impersonated mailbox becomes the acting one,
 * if it exists and the caller may impersonate it. */
static int impersonate(struct emu_ews_ctx *ctx, xmlNodePtr n)
{
  struct emu *emu = ctx->emu;
  xmlNodePtr sid = exs_xml_child(n, EMU_NS_T, "ConnectingSID");
  xmlNodePtr v = NULL;
  struct emu_mailbox *target = NULL;

  if(sid) {
    v = exs_xml_child(sid, EMU_NS_T, "PrimarySmtpAddress");
    if(!v)
      v = exs_xml_child(sid, EMU_NS_T, "SmtpAddress");
    if(!v)
      v = exs_xml_child(sid, EMU_NS_T, "PrincipalName");
  }
  exs_xml_text(v, ctx->impersonated, sizeof(ctx->impersonated));
  snprintf(ctx->mailbox, sizeof(ctx->mailbox), "%s", ctx->impersonated);
  if(!ctx->impersonated[0]) {
    emu_ews_fault(ctx, "ErrorInvalidExchangeImpersonationHeaderData",
                  "The impersonation header is missing or empty.", -1, NULL);
    return -1;
  }
  target = emu_mailbox_find(emu, ctx->impersonated);
  if(!target && !strchr(ctx->impersonated, '@')) {
    /* PrincipalName: a login */
    struct emu_user *u = emu_user_find(emu, ctx->impersonated);
    if(u && u->smtp)
      target = emu_mailbox_find(emu, u->smtp);
  }
  if(!target) {
    emu_ews_fault(ctx, "ErrorNonExistentMailbox", fault_text("ErrorNonExistentMailbox"), -1,
                  ctx->impersonated);
    return -1;
  }
  if(!emu_user_may_impersonate(ctx->user, target->smtp)) {
    emu_ews_fault(ctx, "ErrorImpersonateUserDenied", fault_text("ErrorImpersonateUserDenied"), -1,
                  NULL);
    return -1;
  }
  ctx->acting = target;
  ctx->effective_login = target->owner;
  return 0;
}

/* Acting mailbox: the caller's own, or the impersonated one. */
static int resolve_acting(struct emu_ews_ctx *ctx, xmlNodePtr header, xmlNodePtr op)
{
  struct emu *emu = ctx->emu;
  xmlNodePtr n;

  ctx->acting = ctx->user->smtp ? emu_mailbox_find(emu, ctx->user->smtp) : NULL;
  n = header ? exs_xml_child(header, EMU_NS_T, "ExchangeImpersonation") : NULL;
  if(n)
    return impersonate(ctx, n);
  ctx->effective_login = ctx->user->login;
  find_delegate_target(op, ctx->mailbox, sizeof(ctx->mailbox), 0);
  if(!ctx->mailbox[0] && ctx->acting)
    snprintf(ctx->mailbox, sizeof(ctx->mailbox), "%s", ctx->acting->smtp);
  return 0;
}

/* Injected faults, now that operation and mailbox are known. -1 when the
 * fault is the whole answer; the others are applied later by the caller. */
static int inject_fault(struct emu_ews_ctx *ctx)
{
  struct emu_fault *fault;
  long delay_ms;

  fault = emu_fault_match(ctx->emu, ctx->host, ctx->mailbox, ctx->operation, ctx->user->login,
                          &delay_ms);
  if(!fault)
    return 0;
  ctx->delay_ms = delay_ms;
  if(fault->kind == EMU_FAULT_EWS) {
    emu_ews_fault(ctx, fault->ews_code, fault_text(fault->ews_code), fault->backoff_ms, NULL);
    return -1;
  }
  if(fault->kind == EMU_FAULT_HTTP) {
    ctx->has_fault = true;
    ctx->fault_kind = EMU_FAULT_HTTP;
    ctx->status = fault->http_status;
    exs_buf_reset(ctx->out);
    exs_buf_addf(ctx->out,
                 "<html><head><title>Server Error</title></head><body>"
                 "<h1>HTTP %d</h1><p>Runtime Error</p></body></html>",
                 fault->http_status);
    snprintf(ctx->response_code, sizeof(ctx->response_code), "HTTP%d", fault->http_status);
    return -1;
  }
  if(fault->kind != EMU_FAULT_DELAY) {
    ctx->has_fault = true;
    ctx->fault_kind = fault->kind;
    ctx->fault = fault;
  }
  return 0;
}

/* Runs the operation under its mailbox locks (released by emu_ews_finish). */
static void dispatch(struct emu_ews_ctx *ctx, xmlNodePtr op)
{
  for(size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
    if(strcmp(ops[i].name, ctx->operation) == 0) {
      if(lock_mailboxes(ctx, op, ops[i].reads) != 0) {
        emu_ews_fault(ctx, "ErrorInternalServerError", fault_text("ErrorInternalServerError"), -1,
                      NULL);
        return;
      }
      ews_envelope_begin(ctx->out);
      ops[i].fn(ctx, op);
      ews_envelope_end(ctx->out);
      return;
    }
  }
  emu_ews_fault(ctx, "ErrorInvalidRequest", "The request is invalid.", -1, NULL);
}

void emu_ews_handle_doc(struct emu_ews_ctx *ctx, xmlDocPtr doc, const char *parse_err)
{
  xmlNodePtr header = NULL, op;

  op = request_operation(ctx, doc, parse_err, &header);
  if(!op)
    goto out;
  snprintf(ctx->operation, sizeof(ctx->operation), "%s", (const char *)op->name);
  if(check_server_version(ctx, header) != 0 || validate_request(ctx, doc, header, op) != 0 ||
     resolve_acting(ctx, header, op) != 0 || inject_fault(ctx) != 0)
    goto out;
  dispatch(ctx, op);
out:
  if(doc)
    xmlFreeDoc(doc);
}

void emu_check_answers(struct emu *emu, bool on)
{
  atomic_store(&emu->check_answers, on);
}

size_t emu_invalid_answers(struct emu *emu, char *err, size_t errlen)
{
  size_t n;

  pthread_mutex_lock(&emu->lock);
  n = emu->invalid_answers;
  snprintf(err, errlen, "%s", emu->first_invalid);
  pthread_mutex_unlock(&emu->lock);
  return n;
}

int emu_test_ews_request(struct emu *emu, const char *login, const char *host, const char *body,
                         size_t len)
{
  struct emu_ews_ctx ctx;
  struct exs_buf out;
  int result = -1;

  exs_buf_init(&out, EMU_MAX_BODY);
  memset(&ctx, 0, sizeof(ctx));
  emu_world_write(emu);
  ctx.emu = emu;
  ctx.user = emu_user_find(emu, login);
  ctx.host = host;
  ctx.out = &out;
  ctx.status = 200;
  ctx.exclusive = true;
  if(ctx.user) {
    emu_ews_handle(&ctx, body, len);
    result = ctx.status;
  }
  emu_world_unlock(emu);
  exs_buf_free(&out);
  return result;
}

/* server.c - the emulator's listeners, event loops and request routing.
 *
 * Each worker (emu_set_threads, by default one per core) runs an event_base
 * of its own on its own thread, with one evhttp for plain and one for TLS
 * listeners (OpenSSL bufferevents). Every listener is opened once per worker
 * on the same port with SO_REUSEPORT, so the kernel spreads connections over
 * the workers and each connection lives on one worker from accept to close.
 * Requests are answered on their worker's thread under the world lock
 * (shared) and the locks of the mailboxes they touch (emu_internal.h); an
 * answer delayed by a fault is kept in a struct answer until its timer (on
 * the same worker) fires (no lock is held while waiting). Listening sockets
 * are created here (not by evhttp) so TCP_NODELAY can be set on them and
 * inherited by accepted sockets (Linux), and it is set again on each
 * request's socket for other systems.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <libxml/parser.h>
#include <openssl/err.h>

#include "emu_internal.h"
#include "exsync-emulator/tlscert.h"
#include "krb.h"
#include "exsync/clock.h"
#include "exsync/xml.h"

static pthread_once_t evthread_once = PTHREAD_ONCE_INIT;
static void init_evthread(void)
{
  evthread_use_pthreads();
  /* libxml2 sets up its global state lazily, racing when the first parses
   * run on several loop threads at once: once here, before any thread */
  xmlInitParser();
  signal(SIGPIPE, SIG_IGN);
}

/* ---- answers ---- */

struct answer {
  struct emu *emu;
  struct emu_worker *worker; /* the connection's: timers run on its base */
  struct evhttp_request *req;
  struct event *timer;
  struct exs_buf body;
  int status;
  const char *content_type;
  enum emu_fault_kind fault_kind;
  bool has_fault;
  struct emu_user *user; /* in-flight accounting, NULL when none; valid
                            while emu->users_gen is user_gen (world lock) */
  uint64_t user_gen;
  uint64_t conn_id;         /* conn.c's record of the connection, 0 none */
  long cut_after;           /* EMU_FAULT_CUT: body bytes sent before the close */
  long drip_bytes, drip_ms; /* EMU_FAULT_DRIP */
  size_t drip_off;          /* body bytes dripped so far */
  char extra_name[6][40];
  char extra_value[6][512];
  int nextra;
  struct answer *prev, *next; /* in emu->pending while a timer runs */
};

static const char *reason(int status)
{
  switch(status) {
  case 200:
    return "OK";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 307:
    return "Temporary Redirect";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 500:
    return "Internal Server Error";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  default:
    return "Status";
  }
}

static void set_nodelay(struct evhttp_request *req)
{
  struct evhttp_connection *conn = evhttp_request_get_connection(req);
  struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
  int fd = bev ? (int)bufferevent_getfd(bev) : -1;
  int one = 1;

  if(fd >= 0)
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void answer_unlink(struct answer *a)
{
  if(!a->timer)
    return;
  pthread_mutex_lock(&a->emu->lock);
  if(a->prev)
    a->prev->next = a->next;
  else if(a->emu->pending == a)
    a->emu->pending = a->next;
  if(a->next)
    a->next->prev = a->prev;
  pthread_mutex_unlock(&a->emu->lock);
}

static void answer_free(struct answer *a)
{
  answer_unlink(a);
  emu_conn_request_done(a->worker, a->conn_id);
  if(a->timer)
    event_free(a->timer);
  exs_buf_free(&a->body);
  free(a);
}

static void drip_cb(evutil_socket_t fd, short what, void *arg);

/* Send (or sabotage) the answer; frees a. */
static void answer_send(struct answer *a)
{
  struct evhttp_request *req = a->req;
  struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
  struct evbuffer *eb = evhttp_request_get_output_buffer(req);
  const char *data = a->body.data ? a->body.data : "";
  size_t len = a->body.len;

  if(a->user) {
    /* a reset or scenario load while the answer was held (a delay fault)
     * freed its user: nothing to count then */
    emu_world_read(a->emu);
    if(a->emu->users_gen == a->user_gen && atomic_fetch_sub(&a->user->in_flight, 1) <= 0)
      atomic_fetch_add(&a->user->in_flight, 1); /* never below 0 */
    emu_world_unlock(a->emu);
  }
  if(a->has_fault && a->fault_kind == EMU_FAULT_RESET) {
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
    int fd = bev ? (int)bufferevent_getfd(bev) : -1;
    if(fd >= 0) {
      struct linger lg = {1, 0};
      setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
      shutdown(fd, SHUT_RDWR);
    }
    evhttp_add_header(oh, "Connection", "close");
    evhttp_send_reply(req, 500, reason(500), NULL);
    answer_free(a);
    return;
  }
  for(int i = 0; i < a->nextra; i++)
    evhttp_add_header(oh, a->extra_name[i], a->extra_value[i]);
  if(a->content_type)
    evhttp_add_header(oh, "Content-Type", a->content_type);
  if(a->has_fault && a->fault_kind == EMU_FAULT_DRIP && a->conn_id) {
    char cl[32];
    snprintf(cl, sizeof(cl), "%zu", len);
    evhttp_add_header(oh, "Content-Length", cl);
    evhttp_send_reply_start(req, a->status, reason(a->status));
    drip_cb(-1, 0, a);
    return;
  }
  if(a->has_fault && (a->fault_kind == EMU_FAULT_TRUNCATED || a->fault_kind == EMU_FAULT_CUT)) {
    char cl[32];
    size_t half = a->fault_kind == EMU_FAULT_CUT ? (size_t)a->cut_after : len / 2;

    if(half > len)
      half = len;
    snprintf(cl, sizeof(cl), "%zu", len);
    evhttp_add_header(oh, "Content-Length", cl);
    evhttp_add_header(oh, "Connection", "close");
    evbuffer_add(eb, data, half);
    evhttp_send_reply(req, a->status, reason(a->status), NULL);
    answer_free(a);
    return;
  }
  if(a->has_fault && a->fault_kind == EMU_FAULT_MALFORMED) {
    static const char junk[] = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
                               "<s:Envelope xmlns:s=\"" EMU_NS_SOAP "\"><s:Body><m:Get";
    evbuffer_add(eb, junk, sizeof(junk) - 1);
    evhttp_send_reply(req, 200, reason(200), NULL);
    answer_free(a);
    return;
  }
  evbuffer_add(eb, data, len);
  evhttp_send_reply(req, a->status, reason(a->status), NULL);
  answer_free(a);
}

static void answer_timer_cb(evutil_socket_t fd, short what, void *arg)
{
  answer_send(arg);
}

/* Run cb on a after ms, keeping a in emu->pending (emu_free frees it). */
static int answer_rearm(struct answer *a, event_callback_fn cb, long ms)
{
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  struct event *ev = evtimer_new(a->worker->base, cb, a);

  if(!ev)
    return -1;
  if(a->timer) {
    event_free(a->timer); /* still linked */
  }
  else {
    pthread_mutex_lock(&a->emu->lock);
    a->next = a->emu->pending;
    if(a->next)
      a->next->prev = a;
    a->emu->pending = a;
    pthread_mutex_unlock(&a->emu->lock);
  }
  a->timer = ev;
  return evtimer_add(ev, &tv);
}

/* One piece of a dripped answer per call; the last one ends the reply. */
static void drip_cb(evutil_socket_t fd, short what, void *arg)
{
  struct answer *a = arg;
  size_t n = a->body.len - a->drip_off;
  struct evbuffer *piece;

  (void)fd;
  (void)what;
  if(!emu_conn_alive(a->worker, a->conn_id)) {
    answer_free(a); /* the client left: its request went with the connection */
    return;
  }
  if(n > (size_t)a->drip_bytes)
    n = (size_t)a->drip_bytes;
  piece = evbuffer_new();
  if(piece && n) {
    evbuffer_add(piece, a->body.data + a->drip_off, n);
    evhttp_send_reply_chunk(a->req, piece);
    a->drip_off += n;
  }
  evbuffer_free(piece);
  if(!piece || a->drip_off >= a->body.len || answer_rearm(a, drip_cb, a->drip_ms)) {
    evhttp_send_reply_end(a->req);
    answer_free(a);
  }
}

static void answer_dispatch(struct answer *a, long delay_ms)
{
  if(delay_ms > 0) {
    struct timeval tv = {delay_ms / 1000, (delay_ms % 1000) * 1000};
    a->timer = evtimer_new(a->worker->base, answer_timer_cb, a);
    if(a->timer && evtimer_add(a->timer, &tv) == 0) {
      pthread_mutex_lock(&a->emu->lock);
      a->next = a->emu->pending;
      if(a->next)
        a->next->prev = a;
      a->emu->pending = a;
      pthread_mutex_unlock(&a->emu->lock);
      return;
    }
  }
  answer_send(a);
}

size_t emu_delayed(struct emu *emu)
{
  size_t n = 0;

  pthread_mutex_lock(&emu->lock);
  for(struct answer *a = emu->pending; a; a = a->next)
    n++;
  pthread_mutex_unlock(&emu->lock);
  return n;
}

void emu_release_delayed(struct emu *emu)
{
  /* under the lock no pending answer can be freed; each worker runs its
   * timers' callbacks (answer_send) as soon as it can */
  pthread_mutex_lock(&emu->lock);
  for(struct answer *a = emu->pending; a; a = a->next)
    event_active(a->timer, EV_TIMEOUT, 1);
  pthread_mutex_unlock(&emu->lock);
}

static void answer_header(struct answer *a, const char *name, const char *value)
{
  if(a->nextra >= 6)
    return;
  snprintf(a->extra_name[a->nextra], sizeof(a->extra_name[0]), "%s", name);
  snprintf(a->extra_value[a->nextra], sizeof(a->extra_value[0]), "%s", value);
  a->nextra++;
}

/* ---- request routing ---- */

static void copy_lower(char *dst, size_t n, const char *src)
{
  size_t i = 0;

  for(; src && src[i] && i + 1 < n; i++)
    dst[i] = (char)tolower((unsigned char)src[i]);
  dst[i] = '\0';
}

static void host_of(struct evhttp_request *req, char *out, size_t n)
{
  const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Host");
  char *colon;

  copy_lower(out, n, h ? h : "");
  if(out[0] == '[') { /* IPv6 literal */
    char *end = strchr(out, ']');
    if(end)
      end[1] = '\0';
    return;
  }
  colon = strchr(out, ':');
  if(colon)
    *colon = '\0';
}

static const char *method_name(enum evhttp_cmd_type t)
{
  switch(t) {
  case EVHTTP_REQ_GET:
    return "GET";
  case EVHTTP_REQ_POST:
    return "POST";
  case EVHTTP_REQ_HEAD:
    return "HEAD";
  case EVHTTP_REQ_PUT:
    return "PUT";
  case EVHTTP_REQ_DELETE:
    return "DELETE";
  case EVHTTP_REQ_OPTIONS:
    return "OPTIONS";
  default:
    return "OTHER";
  }
}

/* One request on its way through the router, and its journal entry. */
struct req_state {
  struct emu_side *side;
  struct emu *emu;
  struct evhttp_request *req;
  struct answer *a;
  struct emu_journal_entry je;
  struct emu_host *host;
  struct emu_user *user;  /* once authenticated */
  struct emu_ews_ctx ews; /* an EWS request's: its mailboxes stay locked until
                             its journal entry is written */
  bool ews_started;
  const char *query;
  enum evhttp_cmd_type cmd;
  char path[256]; /* lower case */
  char *body;
  size_t blen;
  xmlDocPtr doc;
  char parse_err[512];
  long delay_ms;
  bool is_ews, is_pox, is_soapad, is_admin, is_wsdl;
};

/* Which endpoint the path names; the caller holds the world lock. */
static void classify_path(struct req_state *rs)
{
  const char *path = rs->path;

  rs->is_ews = strcmp(path, "/ews/exchange.asmx") == 0;
  rs->is_pox = strcmp(path, "/autodiscover/autodiscover.xml") == 0;
  rs->is_soapad = strcmp(path, "/autodiscover/autodiscover.svc") == 0;
  rs->is_wsdl = strcmp(path, "/ews/services.wsdl") == 0 || strcmp(path, "/ews/messages.xsd") == 0 ||
                strcmp(path, "/ews/types.xsd") == 0;
  if(rs->is_wsdl && (!rs->host->ews || !rs->emu->ews_schema_dir))
    rs->is_wsdl = false;
}

/* Check the Authorization header; false when the answer is a 401. */
static bool authenticate(struct req_state *rs)
{
  struct answer *a = rs->a;
  struct emu_journal_entry *je = &rs->je;
  struct evhttp_connection *conn = evhttp_request_get_connection(rs->req);
  struct evkeyvalq *oh = evhttp_request_get_output_headers(rs->req);
  char challenge[1024];
  const char *authz =
      evhttp_find_header(evhttp_request_get_input_headers(rs->req), "Authorization");
  const char *scheme = "";
  enum emu_auth_result ar = emu_auth_check(rs->emu, rs->host, authz, conn, &rs->user, &scheme,
                                           challenge, sizeof(challenge));

  if(rs->is_ews)
    snprintf(je->operation, sizeof(je->operation), "%s", "");
  else
    snprintf(je->operation, sizeof(je->operation), "autodiscover");
  if(ar != EMU_AUTH_OK) {
    a->status = 401;
    a->content_type = "text/html";
    je->auth_failed = ar == EMU_AUTH_BAD;
    if(ar == EMU_AUTH_CONTINUE) {
      evhttp_add_header(oh, "WWW-Authenticate", challenge);
    }
    else {
      struct emu_conn_auth *ca = emu_conn_auth_get(rs->emu, conn, false);
      if(ca && ca->refusal[0])
        snprintf(je->response_code, sizeof(je->response_code), "%s", ca->refusal);
      emu_auth_challenge_headers(rs->host, je->host, oh);
    }
    if((rs->is_pox || rs->is_soapad) && rs->host->soap) {
      answer_header(a, "X-SOAP-Enabled", "True");
      answer_header(a, "X-WSSecurity-Enabled", "True");
      answer_header(a, "X-OAuth-Enabled", "True");
    }
    exs_buf_adds(&a->body, "<html><body>401 Unauthorized</body></html>");
    return false;
  }
  snprintf(je->auth_user, sizeof(je->auth_user), "%s", rs->user->login);
  snprintf(je->auth_scheme, sizeof(je->auth_scheme), "%s", scheme);
  if(challenge[0]) /* Kerberos mutual authentication */
    evhttp_add_header(oh, "WWW-Authenticate", challenge);
  je->in_flight = atomic_fetch_add(&rs->user->in_flight, 1) + 1;
  a->user = rs->user;
  a->user_gen = rs->emu->users_gen;
  return true;
}

/* The schema files Exchange publishes beside the EWS endpoint. */
static void serve_wsdl(struct req_state *rs)
{
  static const char *const names[] = {"Services.wsdl", "messages.xsd", "types.xsd"};
  struct answer *a = rs->a;
  char file[4200], chunk[8192];
  size_t n;
  FILE *fp;
  const char *name = strstr(rs->path, "wsdl")       ? names[0]
                     : strstr(rs->path, "messages") ? names[1]
                                                    : names[2];

  snprintf(rs->je.operation, sizeof(rs->je.operation), "wsdl");
  snprintf(file, sizeof(file), "%s/%s", rs->emu->ews_schema_dir, name);
  fp = fopen(file, "rb");
  if(!fp) {
    a->status = 404;
    return;
  }
  while((n = fread(chunk, 1, sizeof(chunk), fp)) > 0)
    exs_buf_add(&a->body, chunk, n);
  fclose(fp);
  a->content_type = "text/xml";
}

/* An EWS SOAP request: the parsed document goes to the EWS handler. */
static void serve_ews(struct req_state *rs)
{
  struct answer *a = rs->a;
  struct emu_journal_entry *je = &rs->je;
  struct emu_ews_ctx *ctx = &rs->ews;

  memset(ctx, 0, sizeof(*ctx));
  ctx->emu = rs->emu;
  ctx->user = rs->user;
  ctx->host = je->host;
  ctx->out = &a->body;
  ctx->status = 200;
  rs->ews_started = true;
  emu_ews_handle_doc(ctx, rs->doc, rs->parse_err);
  rs->doc = NULL;
  snprintf(je->operation, sizeof(je->operation), "%s", ctx->operation);
  snprintf(je->mailbox, sizeof(je->mailbox), "%s", ctx->mailbox);
  snprintf(je->impersonated, sizeof(je->impersonated), "%s", ctx->impersonated);
  snprintf(je->response_code, sizeof(je->response_code), "%s", ctx->response_code);
  a->status = ctx->status;
  a->has_fault = ctx->has_fault;
  a->fault_kind = ctx->fault_kind;
  if(ctx->fault) {
    a->cut_after = ctx->fault->cut_after;
    a->drip_bytes = ctx->fault->drip_bytes;
    a->drip_ms = ctx->fault->drip_ms;
  }
  rs->delay_ms = ctx->delay_ms;
  a->content_type =
      a->has_fault && a->fault_kind == EMU_FAULT_HTTP ? "text/html" : "text/xml; charset=utf-8";
}

/* A fault a scenario set on Autodiscover, applied to its answer. */
static void autodiscover_fault(struct req_state *rs, const char *mailbox)
{
  struct answer *a = rs->a;
  long delay_ms;
  struct emu_fault *f =
      emu_fault_match(rs->emu, rs->je.host, mailbox, "autodiscover", rs->user->login, &delay_ms);

  if(f)
    rs->delay_ms = delay_ms;
  if(f && f->kind == EMU_FAULT_DELAY) {
    /* delay only */
  }
  else if(f && f->kind == EMU_FAULT_HTTP) {
    a->status = f->http_status;
    exs_buf_reset(&a->body);
    exs_buf_addf(&a->body, "<html><body>%d %s</body></html>", f->http_status,
                 reason(f->http_status));
    a->content_type = "text/html";
  }
  else if(f && f->kind == EMU_FAULT_EWS) {
    /* an EWS error code becomes the Autodiscover protocol's own error */
    a->status = 200;
    emu_autodiscover_fault(rs->is_pox, f->ews_code, &a->body, rs->je.response_code,
                           sizeof(rs->je.response_code));
  }
  else if(f) {
    a->has_fault = true;
    a->fault_kind = f->kind;
    a->cut_after = f->cut_after;
    a->drip_bytes = f->drip_bytes;
    a->drip_ms = f->drip_ms;
  }
}

/* A POX or SOAP Autodiscover request. */
static void serve_autodiscover(struct req_state *rs)
{
  struct answer *a = rs->a;
  struct emu_journal_entry *je = &rs->je;
  char mb[256] = "", code[64] = "";
  const char *hh = evhttp_find_header(evhttp_request_get_input_headers(rs->req), "Host");

  a->status =
      emu_autodiscover_handle(rs->emu, rs->host, rs->is_pox, rs->side->tls, hh ? hh : je->host,
                              rs->body, rs->blen, &a->body, mb, sizeof(mb), code, sizeof(code));
  snprintf(je->mailbox, sizeof(je->mailbox), "%s", mb);
  snprintf(je->response_code, sizeof(je->response_code), "%s", code);
  a->content_type = "text/xml; charset=utf-8";
  autodiscover_fault(rs, mb);
}

/* Route the request to its endpoint and fill in the answer and journal
 * entry; called with the world lock held for reading (an admin request
 * without it: admin calls the public API, which takes it for writing). */
static void route(struct req_state *rs)
{
  struct answer *a = rs->a;
  struct emu_host *host;

  if(rs->is_admin) {
    snprintf(rs->je.operation, sizeof(rs->je.operation), "admin");
    a->status =
        emu_admin_handle(rs->emu, rs->je.method, rs->path, rs->query, rs->body, rs->blen, &a->body);
    a->content_type = "application/json";
    return;
  }
  host = rs->host = emu_host_find(rs->emu, rs->je.host);
  classify_path(rs);
  if(rs->is_pox && rs->cmd == EVHTTP_REQ_GET && host->redirect_status) {
    snprintf(rs->je.operation, sizeof(rs->je.operation), "autodiscover-redirect");
    a->status = host->redirect_status;
    answer_header(a, "Location", host->redirect_location ? host->redirect_location : "/");
    return;
  }
  if((rs->is_pox && !host->pox) || (rs->is_soapad && !host->soap) || (rs->is_ews && !host->ews) ||
     (!rs->is_ews && !rs->is_pox && !rs->is_soapad && !rs->is_wsdl)) {
    a->status = 404;
    a->content_type = "text/html";
    exs_buf_adds(&a->body, "<html><body>404 Not Found</body></html>");
    return;
  }
  if(!authenticate(rs))
    return;
  if(rs->is_wsdl)
    serve_wsdl(rs);
  else if(rs->cmd != EVHTTP_REQ_POST) {
    if(rs->is_ews) {
      a->content_type = "text/html";
      exs_buf_adds(&a->body, "<html><body>You have created a service.</body></html>");
    }
    else {
      a->status = 405;
    }
  }
  else if(rs->is_ews)
    serve_ews(rs);
  else
    serve_autodiscover(rs);
}

static void handle_request(struct evhttp_request *req, void *arg)
{
  struct req_state rs;
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
  const char *rawpath = uri ? evhttp_uri_get_path(uri) : NULL;
  struct answer *a;

  set_nodelay(req);
  a = calloc(1, sizeof(*a));
  if(!a) {
    evhttp_send_error(req, 500, NULL);
    return;
  }
  memset(&rs, 0, sizeof(rs));
  rs.side = arg;
  rs.emu = rs.side->emu;
  rs.req = req;
  rs.a = a;
  rs.query = uri ? evhttp_uri_get_query(uri) : NULL;
  rs.cmd = evhttp_request_get_command(req);
  rs.blen = evbuffer_get_length(in);
  a->emu = rs.emu;
  a->worker = rs.side->worker;
  a->req = req;
  a->status = 200;
  a->conn_id = emu_conn_request_start(a->worker, evhttp_request_get_connection(req));
  exs_buf_init(&a->body, EMU_MAX_BODY);
  copy_lower(rs.path, sizeof(rs.path), rawpath ? rawpath : "/");
  snprintf(rs.je.path, sizeof(rs.je.path), "%s", rawpath ? rawpath : "/");
  snprintf(rs.je.method, sizeof(rs.je.method), "%s", method_name(rs.cmd));
  host_of(req, rs.je.host, sizeof(rs.je.host));
  rs.je.start_ms = exs_now_ms();
  {
    const char *ua = evhttp_find_header(evhttp_request_get_input_headers(req), "User-Agent");
    snprintf(rs.je.client, sizeof(rs.je.client), "%s", ua ? ua : "");
  }

  if(rs.blen > EMU_MAX_BODY) {
    a->status = 413;
    goto send;
  }
  rs.body = malloc(rs.blen + 1);
  if(!rs.body) {
    a->status = 500;
    goto send;
  }
  evbuffer_copyout(in, rs.body, rs.blen);
  rs.body[rs.blen] = '\0';
  /* an EWS request is parsed before the lock is taken (the parse is
   * bounded: exs_xml_parse) */
  if(rs.cmd == EVHTTP_REQ_POST && strcmp(rs.path, "/ews/exchange.asmx") == 0)
    rs.doc = exs_xml_parse(rs.body, rs.blen, "request", rs.parse_err, sizeof(rs.parse_err));

  rs.is_admin = strncmp(rs.path, "/_emulator/", 11) == 0 || strcmp(rs.path, "/_emulator") == 0;
  if(!rs.is_admin)
    emu_world_read(rs.emu);
  route(&rs);
  rs.je.status = a->has_fault && a->fault_kind == EMU_FAULT_RESET ? 0 : a->status;
  emu_journal_add(rs.emu, &rs.je);
  if(rs.ews_started)
    emu_ews_finish(&rs.ews); /* its mailboxes unlocked; the answer checked */
  if(!rs.is_admin)
    emu_world_unlock(rs.emu);
send:
  if(rs.doc)
    xmlFreeDoc(rs.doc);
  free(rs.body);
  answer_dispatch(a, rs.delay_ms);
}

/* ---- TLS ---- */

static struct bufferevent *tls_bevcb(struct event_base *base, void *arg)
{
  struct emu_worker *w = arg;
  SSL_CTX *ctx;
  SSL *ssl;

  /* emu_set_certificate may swap the context meanwhile: take a reference
   * under the lock (the SSL keeps one of its own) */
  pthread_mutex_lock(&w->emu->lock);
  ctx = w->emu->ssl_ctx;
  if(ctx)
    SSL_CTX_up_ref(ctx);
  pthread_mutex_unlock(&w->emu->lock);
  ssl = ctx ? SSL_new(ctx) : NULL;
  SSL_CTX_free(ctx);
  if(!ssl)
    return NULL;
  return emu_conn_adopt(w, bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                          BEV_OPT_CLOSE_ON_FREE));
}

static struct bufferevent *plain_bevcb(struct event_base *base, void *arg)
{
  return emu_conn_adopt(arg, bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE));
}

/* A server context for cert/key files, or NULL with err. */
static SSL_CTX *tls_ctx_new(const char *cert, const char *key, char *err, size_t errlen)
{
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

  if(!ctx) {
    snprintf(err, errlen, "SSL_CTX_new failed");
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  if(SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
     SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
     SSL_CTX_check_private_key(ctx) != 1) {
    char e[256];
    ERR_error_string_n(ERR_get_error(), e, sizeof(e));
    ERR_clear_error();
    snprintf(err, errlen, "cannot load certificate %s / key %s: %s", cert, key, e);
    SSL_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

/* A context presenting a certificate for names[0..n-1] issued by the
 * generated CA, of the kind a scenario asks for (tls="expired", ...). */
static SSL_CTX *generated_ctx(struct emu *emu, const char *variant, const char *const *names,
                              size_t n)
{
  enum emu_tls_leaf_kind kind = EMU_TLS_LEAF_VALID;
  struct emu_tls_leaf *leaf;
  SSL_CTX *ctx;

  if(variant && !strcmp(variant, "expired"))
    kind = EMU_TLS_LEAF_EXPIRED;
  else if(variant && !strcmp(variant, "wrong-name"))
    kind = EMU_TLS_LEAF_WRONG_NAME;
  else if(variant && !strcmp(variant, "untrusted"))
    kind = EMU_TLS_LEAF_UNTRUSTED;
  leaf = emu_tls_leaf_new(emu->ca, kind, names, n, NULL);
  if(!leaf)
    return NULL;
  ctx = emu_tls_server_ctx(leaf, NULL);
  emu_tls_leaf_free(leaf);
  return ctx;
}

static int host_cert_add_locked(struct emu *emu, const char *host, SSL_CTX *ctx)
{
  struct emu_host_cert *n = realloc(emu->host_certs, (emu->nhost_certs + 1) * sizeof(*n));
  char *h = strdup(host);

  if(n)
    emu->host_certs = n;
  if(!n || !h) {
    free(h);
    return -1;
  }
  n[emu->nhost_certs].host = h;
  n[emu->nhost_certs].ctx = ctx;
  emu->nhost_certs++;
  return 0;
}

/* SNI: switch to the host's own certificate. With generated certificates
 * every name gets one on first use, so any virtual host (and any variant a
 * scenario asks for) works without knowing the names in advance. */
static int sni_cb(SSL *ssl, int *alert, void *arg)
{
  struct emu *emu = arg;
  const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  SSL_CTX *ctx = NULL;

  (void)alert;
  if(!name)
    return SSL_TLSEXT_ERR_OK;
  emu_world_read(emu); /* the hosts */
  pthread_mutex_lock(&emu->lock);
  for(size_t i = 0; i < emu->nhost_certs; i++) {
    if(strcasecmp(emu->host_certs[i].host, name) == 0) {
      ctx = emu->host_certs[i].ctx;
      break;
    }
  }
  if(!ctx && emu->ca && strlen(name) < 256) {
    const char *variant = NULL;
    for(size_t i = 0; i < emu->nhosts; i++)
      if(strcasecmp(emu->hosts[i]->name, name) == 0)
        variant = emu->hosts[i]->tls_variant;
    ctx = generated_ctx(emu, variant, &name, 1);
    if(ctx && host_cert_add_locked(emu, name, ctx)) {
      SSL_CTX_free(ctx);
      ctx = NULL;
    }
  }
  if(ctx)
    SSL_set_SSL_CTX(ssl, ctx);
  pthread_mutex_unlock(&emu->lock);
  emu_world_unlock(emu);
  return SSL_TLSEXT_ERR_OK;
}

/* The throwaway CA, made on first need. Caller holds the lock. */
static int ensure_ca_locked(struct emu *emu, char *err, size_t errlen)
{
  int rc = 0;

  if(emu->ca)
    return 0;
  emu->ca = emu_tls_ca_new("exsync emulator test CA", &rc);
  if(!emu->ca) {
    snprintf(err, errlen, "cannot generate the emulator's CA (%s)", emu_tls_strerror(rc));
    return -1;
  }
  return 0;
}

int emu_set_host_certificate(struct emu *emu, const char *host, const char *cert_pem_file,
                             const char *key_pem_file, char *err, size_t errlen)
{
  SSL_CTX *ctx = tls_ctx_new(cert_pem_file, key_pem_file, err, errlen);
  int result = -1;

  if(!ctx)
    return -1;
  pthread_mutex_lock(&emu->lock);
  for(size_t i = 0; i < emu->nhost_certs; i++) {
    if(strcasecmp(emu->host_certs[i].host, host) == 0) {
      /* SSL_set_SSL_CTX took its own reference: handshakes using the old
       * context keep it alive */
      SSL_CTX_free(emu->host_certs[i].ctx);
      emu->host_certs[i].ctx = ctx;
      result = 0;
      goto out;
    }
  }
  if(host_cert_add_locked(emu, host, ctx)) {
    SSL_CTX_free(ctx);
    snprintf(err, errlen, "out of memory");
    goto out;
  }
  result = 0;
out:
  pthread_mutex_unlock(&emu->lock);
  return result;
}

/* Per-host certificates (sni_cb) for connections of the listeners' ctx. */
static void tls_ctx_sni(struct emu *emu, SSL_CTX *ctx)
{
  SSL_CTX_set_tlsext_servername_callback(ctx, sni_cb);
  SSL_CTX_set_tlsext_servername_arg(ctx, emu);
}

static int tls_setup(struct emu *emu, char *err, size_t errlen)
{
  SSL_CTX *ctx;

  if(emu->ssl_ctx)
    return 0;
  if(!emu->cert_file || !emu->key_file) {
    /* no files given: a throwaway CA and certificates (emu_write_ca) */
    static const char *const names[] = {"localhost", "127.0.0.1"};
    if(ensure_ca_locked(emu, err, errlen))
      return -1;
    ctx = generated_ctx(emu, NULL, names, 2);
    if(!ctx) {
      snprintf(err, errlen, "cannot generate the emulator's server certificate");
      return -1;
    }
  }
  else {
    ctx = tls_ctx_new(emu->cert_file, emu->key_file, err, errlen);
    if(!ctx)
      return -1;
  }
  tls_ctx_sni(emu, ctx);
  emu->ssl_ctx = ctx;
  return 0;
}

int emu_set_certificate(struct emu *emu, const char *cert_pem_file, const char *key_pem_file,
                        char *err, size_t errlen)
{
  int result = -1;

  pthread_mutex_lock(&emu->lock);
  if(access(cert_pem_file, R_OK) != 0 || access(key_pem_file, R_OK) != 0) {
    snprintf(err, errlen, "cannot read %s or %s: %s", cert_pem_file, key_pem_file, strerror(errno));
    goto out;
  }
  if(emu->ssl_ctx) {
    /* TLS listeners serve already: swap in the new context; connections
     * being set up hold references of their own to the old one */
    SSL_CTX *ctx = tls_ctx_new(cert_pem_file, key_pem_file, err, errlen);
    if(!ctx)
      goto out;
    tls_ctx_sni(emu, ctx);
    SSL_CTX_free(emu->ssl_ctx);
    emu->ssl_ctx = ctx;
  }
  free(emu->cert_file);
  free(emu->key_file);
  emu->cert_file = strdup(cert_pem_file);
  emu->key_file = strdup(key_pem_file);
  result = 0;
out:
  pthread_mutex_unlock(&emu->lock);
  return result;
}

int emu_write_ca(struct emu *emu, const char *path, char *err, size_t errlen)
{
  FILE *in, *out;
  char buf[4096];
  size_t n;
  int result = -1;

  pthread_mutex_lock(&emu->lock);
  if(!emu->cert_file) {
    /* the generated CA: its certificate only, never its key */
    result = ensure_ca_locked(emu, err, errlen);
    if(result == 0 && emu_tls_ca_write_pem(emu->ca, path) != 0) {
      snprintf(err, errlen, "%s: cannot write the CA certificate: %s", path, strerror(errno));
      result = -1;
    }
    pthread_mutex_unlock(&emu->lock);
    return result;
  }
  in = fopen(emu->cert_file, "rb");
  pthread_mutex_unlock(&emu->lock);
  if(!in) {
    snprintf(err, errlen, "cannot read certificate: %s", strerror(errno));
    return -1;
  }
  out = fopen(path, "wb");
  if(!out) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    fclose(in);
    return -1;
  }
  while((n = fread(buf, 1, sizeof(buf), in)) > 0)
    fwrite(buf, 1, n, out);
  result = fclose(out) == 0 ? 0 : -1;
  if(result != 0)
    snprintf(err, errlen, "%s: write failed", path);
  fclose(in);
  return result;
}

/* ---- lifecycle ---- */

static void worker_free(struct emu_worker *w)
{
  if(!w)
    return;
  if(w->http)
    evhttp_free(w->http);
  if(w->https)
    evhttp_free(w->https);
  /* let deferred bufferevent frees (TLS connections cut mid-handshake)
   * run before the base goes away */
  if(w->base)
    for(int i = 0; i < 4; i++)
      event_base_loop(w->base, EVLOOP_NONBLOCK);
  if(w->base && w->base != w->emu->base)
    event_base_free(w->base);
  pthread_mutex_destroy(&w->conn_lock);
  free(w);
}

static struct emu_worker *worker_new(struct emu *emu, unsigned index)
{
  struct emu_worker *w = calloc(1, sizeof(*w));

  if(!w)
    return NULL;
  w->emu = emu;
  w->index = index;
  pthread_mutex_init(&w->conn_lock, NULL);
  w->side_plain.emu = emu;
  w->side_plain.worker = w;
  w->side_tls.emu = emu;
  w->side_tls.worker = w;
  w->side_tls.tls = true;
  w->base = index == 0 ? emu->base : event_base_new();
  w->http = w->base ? evhttp_new(w->base) : NULL;
  if(!w->http) {
    worker_free(w);
    return NULL;
  }
  evhttp_set_gencb(w->http, handle_request, &w->side_plain);
  evhttp_set_bevcb(w->http, plain_bevcb, w);
  w->limits_gen = atomic_load(&emu->conns.limits_gen);
  emu_conn_http_limits(emu, w->http);
  evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                          EVHTTP_REQ_DELETE | EVHTTP_REQ_PUT);
  return w;
}

/* The TLS evhttp of w, made at the first TLS listen. */
static int worker_https(struct emu_worker *w)
{
  if(w->https)
    return 0;
  w->https = evhttp_new(w->base);
  if(!w->https)
    return -1;
  evhttp_set_gencb(w->https, handle_request, &w->side_tls);
  evhttp_set_bevcb(w->https, tls_bevcb, w);
  emu_conn_http_limits(w->emu, w->https);
  evhttp_set_allowed_methods(w->https, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                           EVHTTP_REQ_DELETE | EVHTTP_REQ_PUT);
  return 0;
}

unsigned emu_default_threads(void)
{
  const char *env = getenv("EXSYNC_EMU_THREADS");
  long n;

  if(env && *env) {
    char *end;
    n = strtol(env, &end, 10);
    if(*end == '\0' && n >= 1 && n <= EMU_MAX_THREADS)
      return (unsigned)n;
  }
  n = sysconf(_SC_NPROCESSORS_ONLN);
  if(n < 1)
    n = 1;
  return n > EMU_MAX_THREADS ? EMU_MAX_THREADS : (unsigned)n;
}

int emu_set_threads(struct emu *emu, unsigned n, char *err, size_t errlen)
{
  int result = -1;

  if(n == 0)
    n = emu_default_threads();
  if(n > EMU_MAX_THREADS) {
    snprintf(err, errlen, "threads: %u is more than %d", n, EMU_MAX_THREADS);
    return -1;
  }
  pthread_mutex_lock(&emu->lock);
  if(emu->listening || emu->thread_running) {
    snprintf(err, errlen, "threads: set before the first listener");
    goto out;
  }
  while(emu->nworkers > n)
    worker_free(emu->workers[--emu->nworkers]);
  while(emu->nworkers < n) {
    struct emu_worker *w = worker_new(emu, (unsigned)emu->nworkers);
    if(!w) {
      snprintf(err, errlen, "threads: cannot make event loop %zu", emu->nworkers + 1);
      goto out;
    }
    emu->workers[emu->nworkers++] = w;
  }
  result = 0;
out:
  pthread_mutex_unlock(&emu->lock);
  return result;
}

unsigned emu_threads(struct emu *emu)
{
  unsigned n;

  pthread_mutex_lock(&emu->lock);
  n = (unsigned)emu->nworkers;
  pthread_mutex_unlock(&emu->lock);
  return n;
}

struct emu *emu_new(void)
{
  struct emu *emu;
  char err[128];

  pthread_once(&evthread_once, init_evthread);
  emu = calloc(1, sizeof(*emu));
  if(!emu)
    return NULL;
  pthread_mutex_init(&emu->lock, NULL);
  pthread_mutex_init(&emu->store_lock, NULL);
  pthread_mutex_init(&emu->fault_lock, NULL);
  pthread_mutex_init(&emu->journal_lock, NULL);
  emu_world_init(emu);
  pthread_cond_init(&emu->started_cond, NULL);
  emu->rng = 0x9e3779b97f4a7c15ull;
  emu->next_fault_id = 1;
  emu->workers = calloc(EMU_MAX_THREADS, sizeof(*emu->workers));
  emu->base = event_base_new();
  if(!emu->workers || !emu->base || emu_journal_init(&emu->journal, EMU_JOURNAL_CAP) != 0)
    goto fail;
  emu_conns_init(emu);
  emu->conns.on_close = emu_conn_auth_forget;
  if(emu_set_threads(emu, emu_default_threads(), err, sizeof(err)) != 0)
    goto fail;
  return emu;
fail:
  emu_free(emu);
  return NULL;
}

void emu_free(struct emu *emu)
{
  if(!emu)
    return;
  emu_stop(emu);
  /* answers still waiting for their delay: their requests die with evhttp */
  while(emu->pending) {
    struct answer *a = emu->pending;
    emu->pending = a->next;
    event_free(a->timer);
    exs_buf_free(&a->body);
    free(a);
  }
  emu_conns_destroy(emu);
  for(size_t i = emu->nworkers; i > 0; i--)
    worker_free(emu->workers[i - 1]);
  free(emu->workers);
  emu_conn_auth_clear(emu); /* normally emptied by the close callbacks */
  emu_krb_free(emu->krb);
  if(emu->sigint_ev)
    event_free(emu->sigint_ev);
  if(emu->sigterm_ev)
    event_free(emu->sigterm_ev);
  if(emu->base)
    event_base_free(emu->base);
  if(emu->ssl_ctx)
    SSL_CTX_free(emu->ssl_ctx);
  emu_tls_ca_free(emu->ca);
  for(size_t i = 0; i < emu->nhost_certs; i++) {
    SSL_CTX_free(emu->host_certs[i].ctx);
    free(emu->host_certs[i].host);
  }
  free(emu->host_certs);
  free(emu->cert_file);
  free(emu->key_file);
  free(emu->scenario_path);
  free(emu->ews_schema_dir);
  free(emu->scenario_dir);
  free(emu->listeners);
  emu_store_clear(emu);
  emu_hosts_clear(emu);
  emu_faults_clear_locked(emu);
  emu_journal_destroy(&emu->journal);
  pthread_cond_destroy(&emu->started_cond);
  emu_world_destroy(emu);
  pthread_mutex_destroy(&emu->journal_lock);
  pthread_mutex_destroy(&emu->fault_lock);
  pthread_mutex_destroy(&emu->store_lock);
  pthread_mutex_destroy(&emu->lock);
  free(emu);
}

static int make_listen_socket(const char *addr, int port, bool reuseport, char *bound,
                              size_t boundlen, int *outport, char *err, size_t errlen)
{
  struct addrinfo hints, *res = NULL;
  char portstr[16];
  int fd = -1, one = 1, rc;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  char host[INET6_ADDRSTRLEN];

  memset(&hints, 0, sizeof(hints));
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  snprintf(portstr, sizeof(portstr), "%d", port);
  rc = getaddrinfo(addr && *addr ? addr : NULL, portstr, &hints, &res);
  if(rc != 0) {
    snprintf(err, errlen, "%s: %s", addr ? addr : "*", gai_strerror(rc));
    return -1;
  }
  fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
  if(fd < 0)
    goto fail;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  /* one listening socket per worker on the same port: the kernel spreads
   * the connections */
  if(reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
    goto fail;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if(bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 511) != 0)
    goto fail;
  if(evutil_make_socket_nonblocking(fd) != 0)
    goto fail;
  if(getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
    goto fail;
  if(ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
    *outport = ntohs(s6->sin6_port);
    snprintf(bound, boundlen, "[%s]:%d", host, *outport);
  }
  else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
    *outport = ntohs(s4->sin_port);
    snprintf(bound, boundlen, "%s:%d", host, *outport);
  }
  freeaddrinfo(res);
  return fd;
fail:
  snprintf(err, errlen, "listen %s:%d: %s", addr ? addr : "*", port, strerror(errno));
  if(fd >= 0)
    close(fd);
  freeaddrinfo(res);
  return -1;
}

int emu_listen(struct emu *emu, const char *addr, int port, bool tls, char *bound, size_t boundlen,
               char *err, size_t errlen)
{
  int fd, result = -1, outport = 0;
  char b[64];
  struct evhttp_bound_socket *h = NULL;
  bool reuse;

  pthread_mutex_lock(&emu->lock);
  reuse = emu->nworkers > 1;
  if(emu->nlisteners == emu->listeners_cap) {
    size_t cap = emu->listeners_cap ? 2 * emu->listeners_cap : 4;
    struct emu_listener *l = realloc(emu->listeners, cap * sizeof(*l));
    if(!l) {
      snprintf(err, errlen, "out of memory");
      goto out;
    }
    emu->listeners = l;
    emu->listeners_cap = cap;
  }
  if(tls) {
    if(tls_setup(emu, err, errlen) != 0)
      goto out;
    for(size_t i = 0; i < emu->nworkers; i++) {
      if(worker_https(emu->workers[i]) != 0) {
        snprintf(err, errlen, "evhttp_new failed");
        goto out;
      }
    }
  }
  /* the first socket picks the port (port 0: ephemeral), the other
   * workers' sockets join it */
  for(size_t i = 0; i < emu->nworkers; i++) {
    struct emu_worker *w = emu->workers[i];
    struct evhttp_bound_socket *wh;
    char bb[64];
    int p = 0;
    fd =
        make_listen_socket(addr, i ? outport : port, reuse, i ? bb : b, sizeof(b), &p, err, errlen);
    if(fd < 0)
      goto out; /* sockets already added stay: they serve on their port */
    if(!i)
      outport = p;
    wh = evhttp_accept_socket_with_handle(tls ? w->https : w->http, fd);
    if(!wh) {
      close(fd);
      snprintf(err, errlen, "evhttp_accept_socket failed");
      goto out;
    }
    emu_conn_listener_added(w, wh);
    if(!i)
      h = wh;
  }
  emu->listening = true;
  emu->listeners[emu->nlisteners].handle = h;
  emu->listeners[emu->nlisteners].tls = tls;
  snprintf(emu->listeners[emu->nlisteners].bound, sizeof(emu->listeners[0].bound), "%s", b);
  emu->nlisteners++;
  if(bound)
    snprintf(bound, boundlen, "%s", b);
  result = outport;
out:
  pthread_mutex_unlock(&emu->lock);
  return result;
}

/* First callback of a loop: a stop asked before the loop ran (its
 * loopbreak was then lost: event_base_loop clears it) ends it now. */
static void honour_stop(struct emu_worker *w)
{
  if(atomic_load(&w->emu->stopping))
    event_base_loopbreak(w->base);
}

static void started_cb(evutil_socket_t fd, short what, void *arg)
{
  struct emu_worker *w = arg;
  struct emu *emu = w->emu;

  honour_stop(w);
  pthread_mutex_lock(&emu->lock);
  emu->loops_started++;
  pthread_cond_broadcast(&emu->started_cond);
  pthread_mutex_unlock(&emu->lock);
}

static void first_loop_cb(evutil_socket_t fd, short what, void *arg)
{
  honour_stop(arg);
}

static void *loop_thread(void *arg)
{
  struct emu_worker *w = arg;

  event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
  return NULL;
}

/* Start the loops of workers [from, nworkers) on threads of their own and
 * wait until they run, so that a later loopbreak cannot be lost. */
static int start_workers(struct emu *emu, size_t from, char *err, size_t errlen)
{
  struct timeval zero = {0, 0};
  size_t want = emu->nworkers - from, i;

  pthread_mutex_lock(&emu->lock);
  emu->loops_started = 0;
  pthread_mutex_unlock(&emu->lock);
  for(i = from; i < emu->nworkers; i++) {
    struct emu_worker *w = emu->workers[i];
    if(event_base_once(w->base, -1, EV_TIMEOUT, started_cb, w, &zero) != 0) {
      snprintf(err, errlen, "event_base_once failed");
      break;
    }
    if(pthread_create(&w->thread, NULL, loop_thread, w) != 0) {
      snprintf(err, errlen, "pthread_create: %s", strerror(errno));
      break;
    }
    w->thread_running = true;
  }
  want = i - from;
  pthread_mutex_lock(&emu->lock);
  while(emu->loops_started < want)
    pthread_cond_wait(&emu->started_cond, &emu->lock);
  pthread_mutex_unlock(&emu->lock);
  return i == emu->nworkers ? 0 : -1;
}

/* Stop and join the worker threads started from index from. */
static void stop_workers(struct emu *emu, size_t from)
{
  for(size_t i = from; i < emu->nworkers; i++)
    event_base_loopbreak(emu->workers[i]->base);
  for(size_t i = from; i < emu->nworkers; i++) {
    if(emu->workers[i]->thread_running) {
      pthread_join(emu->workers[i]->thread, NULL);
      emu->workers[i]->thread_running = false;
    }
  }
}

int emu_start(struct emu *emu, char *err, size_t errlen)
{
  if(emu->thread_running) {
    snprintf(err, errlen, "already running");
    return -1;
  }
  atomic_store(&emu->stopping, false); /* a stop from before is not this run's */
  if(start_workers(emu, 0, err, errlen) != 0) {
    stop_workers(emu, 0);
    return -1;
  }
  emu->thread_running = true;
  return 0;
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
  struct emu *emu = arg;

  event_base_loopbreak(emu->base);
}

int emu_run(struct emu *emu, bool handle_signals)
{
  struct timeval zero = {0, 0};
  char err[128];
  int rc = 0;

  if(handle_signals) {
    if(!emu->sigint_ev)
      emu->sigint_ev = evsignal_new(emu->base, SIGINT, signal_cb, emu);
    if(!emu->sigterm_ev)
      emu->sigterm_ev = evsignal_new(emu->base, SIGTERM, signal_cb, emu);
    if(!emu->sigint_ev || !emu->sigterm_ev)
      return -1;
    evsignal_add(emu->sigint_ev, NULL);
    evsignal_add(emu->sigterm_ev, NULL);
  }
  /* worker 0 runs here, the others on threads of their own (which keep
   * SIGINT and SIGTERM blocked when the caller blocked them) */
  if(start_workers(emu, 1, err, sizeof(err)) != 0) {
    stop_workers(emu, 1);
    fprintf(stderr, "exsync-emulator: %s\n", err);
    return -1;
  }
  if(handle_signals) {
    /* a caller that blocked them until now (exsync-emulator, from before its
     * "listening" lines) gets any signal already sent as a clean stop */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_UNBLOCK, &stop, NULL);
  }
  /* a stop asked until now is seen here, one asked later by first_loop_cb
   * (or by its loopbreak once the loop runs) */
  if(!atomic_load(&emu->stopping)) {
    if(event_base_once(emu->base, -1, EV_TIMEOUT, first_loop_cb, emu->workers[0], &zero) != 0)
      rc = -1;
    else
      rc = event_base_loop(emu->base, EVLOOP_NO_EXIT_ON_EMPTY);
  }
  stop_workers(emu, 1);
  atomic_store(&emu->stopping, false);
  if(handle_signals) {
    evsignal_del(emu->sigint_ev);
    evsignal_del(emu->sigterm_ev);
  }
  return rc < 0 ? -1 : 0;
}

void emu_stop(struct emu *emu)
{
  if(!emu || !emu->base)
    return;
  /* sticky: loops not running yet see it when they start (honour_stop),
   * emu_run before its loop; a loop run by emu_run stops too, and emu_run
   * joins its own threads */
  atomic_store(&emu->stopping, true);
  for(size_t i = 0; i < emu->nworkers; i++)
    event_base_loopbreak(emu->workers[i]->base);
  if(emu->thread_running) {
    stop_workers(emu, 0);
    emu->thread_running = false;
    atomic_store(&emu->stopping, false);
  }
}

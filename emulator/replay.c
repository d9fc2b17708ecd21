/* replay.c - the emulator library's replay server (replay.h). */
#include "exsync-emulator/replay.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
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
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <event2/util.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "exsync/buf.h"
#include "exsync-emulator/ntlm.h"
#include "exsync-emulator/tlscert.h"

#define REPLAY_MAX_BODY (32u * 1024u * 1024u)

struct side {
  struct emu_replay *r;
  bool tls;
};

struct emu_replay {
  emu_replay_fn fn;
  void *ctx;
  char **tls_hosts;
  size_t n_tls_hosts;
  struct event_base *base;
  struct evhttp *http;
  struct evhttp *https;
  SSL_CTX *ssl_ctx;
  struct emu_tls_ca *ca;
  struct emu_tls_leaf *leaf;
  struct side plain_side, tls_side;
  pthread_t thread;
  bool running;
};

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_once(void)
{
  evthread_use_pthreads();
  signal(SIGPIPE, SIG_IGN);
}

struct emu_replay *emu_replay_new(emu_replay_fn fn, void *ctx, const char *const *tls_hosts,
                                  size_t n_tls_hosts)
{
  struct emu_replay *r;
  size_t i;

  pthread_once(&once, init_once);
  r = calloc(1, sizeof(*r));
  if(!r)
    return NULL;
  r->fn = fn;
  r->ctx = ctx;
  if(n_tls_hosts) {
    r->tls_hosts = calloc(n_tls_hosts, sizeof(char *));
    if(!r->tls_hosts)
      goto fail;
    for(i = 0; i < n_tls_hosts; i++) {
      r->tls_hosts[i] = strdup(tls_hosts[i]);
      if(!r->tls_hosts[i])
        goto fail;
      r->n_tls_hosts++;
    }
  }
  r->base = event_base_new();
  if(!r->base)
    goto fail;
  r->plain_side.r = r;
  r->tls_side.r = r;
  r->tls_side.tls = true;
  return r;
fail:
  emu_replay_free(r);
  return NULL;
}

void emu_replay_free(struct emu_replay *r)
{
  size_t i;

  if(!r)
    return;
  if(r->running) {
    event_base_loopbreak(r->base);
    pthread_join(r->thread, NULL);
  }
  if(r->http)
    evhttp_free(r->http);
  if(r->https)
    evhttp_free(r->https);
  /* let deferred bufferevent frees (TLS connections cut mid-handshake) run
   * before the base goes away, as emu_free does */
  if(r->base)
    for(i = 0; i < 4; i++)
      event_base_loop(r->base, EVLOOP_NONBLOCK);
  if(r->base)
    event_base_free(r->base);
  if(r->ssl_ctx)
    SSL_CTX_free(r->ssl_ctx);
  emu_tls_leaf_free(r->leaf);
  emu_tls_ca_free(r->ca);
  for(i = 0; i < r->n_tls_hosts; i++)
    free(r->tls_hosts[i]);
  free(r->tls_hosts);
  free(r);
}

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
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 500:
    return "Internal Server Error";
  case 503:
    return "Service Unavailable";
  default:
    return "Status";
  }
}

static bool hop_by_hop(const char *name)
{
  static const char *const names[] = {"content-length", "transfer-encoding", "connection",
                                      "keep-alive",     "content-encoding",  "date"};
  size_t i;

  for(i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if(!strcasecmp(name, names[i]))
      return true;
  return false;
}

/* An NTLM NEGOTIATE message in an Authorization value: answer with a
 * CHALLENGE (returns true when handled). */
static bool answer_ntlm_negotiate(struct evhttp_request *req, const char *auth)
{
  const char *scheme = NULL;
  struct exs_buf raw, chal, hdr;
  struct emu_ntlm_negotiate neg;
  struct emu_ntlm_target target = {"REPLAY", "REPLAY", "replay.invalid", "replay.replay.invalid"};
  uint8_t server_challenge[8];
  bool handled = false;

  if(!strncasecmp(auth, "NTLM ", 5))
    scheme = "NTLM";
  else if(!strncasecmp(auth, "Negotiate ", 10))
    scheme = "Negotiate";
  if(!scheme)
    return false;
  auth += strlen(scheme) + 1;
  exs_buf_init(&raw, 64 * 1024);
  exs_buf_init(&chal, 64 * 1024);
  exs_buf_init(&hdr, 128 * 1024);
  if(exs_base64_decode(&raw, auth, strlen(auth)) || raw.len < 12 ||
     memcmp(raw.data, "NTLMSSP\0", 8) || raw.data[8] != 1)
    goto out;
  if(emu_ntlm_parse_negotiate((const uint8_t *)raw.data, raw.len, &neg) != EMU_NTLM_OK)
    goto out;
  if(RAND_bytes(server_challenge, sizeof(server_challenge)) != 1)
    memset(server_challenge, 0x5a, sizeof(server_challenge));
  if(emu_ntlm_build_challenge(emu_ntlm_challenge_flags(neg.flags), server_challenge, &target,
                              emu_ntlm_filetime((int64_t)time(NULL)), &chal) != EMU_NTLM_OK)
    goto out;
  if(exs_buf_addf(&hdr, "%s ", scheme) ||
     exs_base64_encode(&hdr, (const unsigned char *)chal.data, chal.len))
    goto out;
  evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", hdr.data);
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/html");
  evhttp_send_reply(req, 401, reason(401), NULL);
  handled = true;
out:
  exs_buf_free(&raw);
  exs_buf_free(&chal);
  exs_buf_free(&hdr);
  return handled;
}

static void close_without_answer(struct evhttp_request *req)
{
  struct evhttp_connection *conn = evhttp_request_get_connection(req);
  struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
  int fd = bev ? (int)bufferevent_getfd(bev) : -1;

  if(fd >= 0) {
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    shutdown(fd, SHUT_RDWR);
  }
  evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
  evhttp_send_reply(req, 500, reason(500), NULL);
}

static void add_answer_headers(struct evhttp_request *req, const char *headers)
{
  struct evkeyvalq *oh = evhttp_request_get_output_headers(req);
  const char *p = headers;

  while(p && *p) {
    const char *eol = strchr(p, '\n');
    size_t n = eol ? (size_t)(eol - p) : strlen(p);
    const char *colon = memchr(p, ':', n);
    if(n && p[n - 1] == '\r')
      n--;
    if(colon && colon > p) {
      char name[128];
      char *value = NULL;
      size_t nl = (size_t)(colon - p);
      const char *v = colon + 1;
      while(v < p + n && *v == ' ')
        v++;
      if(nl < sizeof(name)) {
        memcpy(name, p, nl);
        name[nl] = '\0';
        value = strndup(v, (size_t)(p + n - v));
        if(value && !hop_by_hop(name))
          evhttp_add_header(oh, name, value);
        free(value);
      }
    }
    p = eol ? eol + 1 : NULL;
  }
}

static void handle(struct evhttp_request *req, void *arg)
{
  struct side *side = arg;
  struct emu_replay *r = side->r;
  struct evkeyvalq *ih = evhttp_request_get_input_headers(req);
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  struct emu_replay_request rq;
  struct emu_replay_answer ans;
  struct exs_buf hdrs;
  struct evkeyval *kv;
  const char *auth = evhttp_find_header(ih, "Authorization");
  const char *host_hdr = evhttp_find_header(ih, "Host");
  char host[256] = "";
  char *body = NULL;
  size_t blen = evbuffer_get_length(in);

  if(auth && answer_ntlm_negotiate(req, auth))
    return;
  if(host_hdr) {
    size_t n = strcspn(host_hdr, ":");
    if(host_hdr[0] == '[')
      n = strcspn(host_hdr, "]") + 1;
    if(n >= sizeof(host))
      n = sizeof(host) - 1;
    memcpy(host, host_hdr, n);
    host[n] = '\0';
  }
  exs_buf_init(&hdrs, 256 * 1024);
  for(kv = ih->tqh_first; kv; kv = kv->next.tqe_next)
    exs_buf_addf(&hdrs, "%s: %s\n", kv->key, kv->value);
  body = malloc(blen + 1);
  if(!body) {
    exs_buf_free(&hdrs);
    evhttp_send_reply(req, 500, reason(500), NULL);
    return;
  }
  evbuffer_copyout(in, body, blen);
  body[blen] = '\0';
  memset(&rq, 0, sizeof(rq));
  rq.tls = side->tls;
  switch(evhttp_request_get_command(req)) {
  case EVHTTP_REQ_GET:
    rq.method = "GET";
    break;
  case EVHTTP_REQ_POST:
    rq.method = "POST";
    break;
  case EVHTTP_REQ_HEAD:
    rq.method = "HEAD";
    break;
  default:
    rq.method = "OTHER";
    break;
  }
  rq.host = host;
  rq.uri = evhttp_request_get_uri(req);
  rq.headers = hdrs.data ? hdrs.data : "";
  rq.body = body;
  rq.body_len = blen;
  memset(&ans, 0, sizeof(ans));
  r->fn(r->ctx, &rq, &ans);
  if(ans.status == 0) {
    close_without_answer(req);
  }
  else {
    add_answer_headers(req, ans.headers);
    if(ans.body_len)
      evbuffer_add(evhttp_request_get_output_buffer(req), ans.body, ans.body_len);
    evhttp_send_reply(req, ans.status, reason(ans.status), NULL);
  }
  free(body);
  exs_buf_free(&hdrs);
}

static struct bufferevent *tls_bevcb(struct event_base *base, void *arg)
{
  struct emu_replay *r = arg;
  SSL *ssl = SSL_new(r->ssl_ctx);

  if(!ssl)
    return NULL;
  return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                        BEV_OPT_CLOSE_ON_FREE);
}

static int listen_on(struct emu_replay *r, struct evhttp **http, struct side *side, int *port,
                     char *err, size_t errlen)
{
  struct sockaddr_in sa;
  socklen_t sl = sizeof(sa);
  int fd, one = 1;

  *http = evhttp_new(r->base);
  if(!*http) {
    snprintf(err, errlen, "evhttp_new failed");
    return -1;
  }
  evhttp_set_max_body_size(*http, REPLAY_MAX_BODY);
  evhttp_set_allowed_methods(*http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD);
  evhttp_set_gencb(*http, handle, side);
  if(side->tls)
    evhttp_set_bevcb(*http, tls_bevcb, r);
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if(fd < 0) {
    snprintf(err, errlen, "socket failed");
    return -1;
  }
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = 0;
  if(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 128) ||
     evutil_make_socket_nonblocking(fd) || getsockname(fd, (struct sockaddr *)&sa, &sl)) {
    snprintf(err, errlen, "cannot listen on 127.0.0.1:0");
    close(fd);
    return -1;
  }
  if(!evhttp_accept_socket_with_handle(*http, fd)) {
    snprintf(err, errlen, "evhttp_accept_socket failed");
    close(fd);
    return -1;
  }
  *port = ntohs(sa.sin_port);
  return 0;
}

static void *loop_thread(void *arg)
{
  struct emu_replay *r = arg;

  event_base_loop(r->base, EVLOOP_NO_EXIT_ON_EMPTY);
  return NULL;
}

int emu_replay_start(struct emu_replay *r, int *plain_port, int *tls_port, char *err, size_t errlen)
{
  int rc = 0;

  *plain_port = 0;
  *tls_port = 0;
  if(listen_on(r, &r->http, &r->plain_side, plain_port, err, errlen))
    return -1;
  if(r->n_tls_hosts) {
    r->ca = emu_tls_ca_new("exsync replay CA", &rc);
    if(r->ca)
      r->leaf = emu_tls_leaf_new(r->ca, EMU_TLS_LEAF_VALID, (const char *const *)r->tls_hosts,
                                 r->n_tls_hosts, &rc);
    if(r->leaf)
      r->ssl_ctx = emu_tls_server_ctx(r->leaf, &rc);
    if(!r->ssl_ctx) {
      snprintf(err, errlen, "replay TLS: %s", emu_tls_strerror(rc));
      return -1;
    }
    if(listen_on(r, &r->https, &r->tls_side, tls_port, err, errlen))
      return -1;
  }
  if(pthread_create(&r->thread, NULL, loop_thread, r)) {
    snprintf(err, errlen, "pthread_create failed");
    return -1;
  }
  r->running = true;
  return 0;
}

int emu_replay_write_ca(struct emu_replay *r, const char *path, char *err, size_t errlen)
{
  if(!r->ca || emu_tls_ca_write_pem(r->ca, path)) {
    snprintf(err, errlen, "cannot write the replay CA to %s", path);
    return -1;
  }
  return 0;
}

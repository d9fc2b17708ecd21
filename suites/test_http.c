/* test_http.c - the transport: redaction, plain-HTTP rules, curl error
 * mapping (DNS, CONNECT, TIMEOUT), traces, and the EWS client's HTTP-level
 * classification and throttling retries over a local canned server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exsync/buf.h"
#include "exsync/clock.h"
#include "exsync/ews.h"
#include "exsync/http.h"
#include "test_http_server.h"
#include "testutil.h"

#define PASSWORD "S3cret!pw-42"

/* ---- redaction ---- */

static const struct {
  const char *in;
  const char *must_keep; /* still visible */
  const char *must_drop; /* gone */
} redactions[] = {
    {"POST /EWS/Exchange.asmx HTTP/1.1\r\nAuthorization: Basic dTpTM2NyZXQhcHctNDI=\r\n\r\n",
     "Authorization: Basic <redacted>", "dTpTM2NyZXQhcHctNDI="},
    {"Authorization: NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAKAGFKAAAADw==\r\n",
     "Authorization: NTLM <redacted>", "TlRMTVNTUAAB"},
    {"Authorization: Negotiate "
     "YIIGhgYGKwYBBQUCoIIGejCCBnagMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYK\r\n",
     "Authorization: Negotiate <redacted>", "YIIGhgYG"},
    {"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM TlRMTVNTUAACAAAADAAMADgAAAA=\r\n",
     "WWW-Authenticate: NTLM <redacted>", "TlRMTVNTUAACAAAA"},
    {"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nWWW-Authenticate: NTLM\r\n",
     "WWW-Authenticate: Negotiate\r\nWWW-Authenticate: NTLM\r\n", "<redacted>"},
    {"Proxy-Authorization: Basic cHJveHk6cHc=\r\n", "Proxy-Authorization: Basic <redacted>",
     "cHJveHk6cHc="},
    {"Cookie: X-BackEndCookie=abc123; ASP.NET_SessionId=xyz\r\n", "Cookie: <redacted>", "abc123"},
    {"Set-Cookie: exchangecookie=deadbeef; path=/\r\n", "Set-Cookie: <redacted>", "deadbeef"},
    {"X-Echo: user said " PASSWORD " here\r\n", "X-Echo: user said", PASSWORD},
    {"authorization: basic Zm9vOmJhcg==\n", "authorization: basic <redacted>", "Zm9vOmJhcg=="},
};

START_TEST(redacts_secret_headers)
{
  struct exs_buf out;

  exs_buf_init(&out, 1 << 16);
  ck_assert_int_eq(
      exs_http_redact_headers(redactions[_i].in, strlen(redactions[_i].in), PASSWORD, &out), 0);
  ck_assert_msg(strstr(out.data, redactions[_i].must_keep) != NULL, "case %d: %s", _i, out.data);
  ck_assert_msg(strstr(out.data, redactions[_i].must_drop) == NULL, "case %d: %s", _i, out.data);
  exs_buf_free(&out);
}
END_TEST

/* ---- plain-HTTP rules (docs/org-file.md, docs/test-enable.md) ---- */

static const struct {
  const char *url;
  bool non_ssl, creds_non_secure, basic_non_secure;
  const char *user;
  enum exs_auth_protocol auth;
  int expect;
} channels[] = {
    {"https://mail.contoso.com/EWS/Exchange.asmx", false, false, false, "u", EXS_AUTH_BASIC, 0},
    {"HTTPS://mail.contoso.com/EWS/Exchange.asmx", false, false, false, NULL, EXS_AUTH_NTLM, 0},
    {"http://mail.contoso.com/EWS/Exchange.asmx", false, false, false, NULL, EXS_AUTH_NTLM, -1},
    {"http://mail.contoso.com/EWS/Exchange.asmx", false, true, true, "u", EXS_AUTH_NTLM, -1},
    {"http://mail.contoso.com/EWS/Exchange.asmx", true, false, false, NULL, EXS_AUTH_NTLM, 0},
    {"http://mail.contoso.com/EWS/Exchange.asmx", true, false, false, "u", EXS_AUTH_NTLM, -1},
    {"http://mail.contoso.com/EWS/Exchange.asmx", true, true, false, "u", EXS_AUTH_NTLM, 0},
    {"http://mail.contoso.com/EWS/Exchange.asmx", true, true, false, "u", EXS_AUTH_AUTODETECT, 0},
    {"http://mail.contoso.com/EWS/Exchange.asmx", true, true, false, "u", EXS_AUTH_BASIC, -1},
    {"http://mail.contoso.com/EWS/Exchange.asmx", true, false, true, "u", EXS_AUTH_BASIC, -1},
    {"http://mail.contoso.com/EWS/Exchange.asmx", true, true, true, "u", EXS_AUTH_BASIC, 0},
    {"Http://mail.contoso.com/EWS/Exchange.asmx", false, false, false, NULL, EXS_AUTH_NTLM, -1},
};

START_TEST(plain_http_rules)
{
  struct exs_http_options o = {0};
  struct exs_error err;

  o.allow_non_ssl = channels[_i].non_ssl;
  o.allow_credentials_non_secure = channels[_i].creds_non_secure;
  o.allow_basic_non_secure = channels[_i].basic_non_secure;
  if(channels[_i].user)
    exs_http_options_set_credentials(&o, channels[_i].user, PASSWORD);
  o.auth = channels[_i].auth;
  exs_error_clear(&err);
  ck_assert_int_eq(exs_http_check_channel(&o, channels[_i].url, &err), channels[_i].expect);
  if(channels[_i].expect) {
    ck_assert_int_eq(err.category, EXS_CAT_INSECURE_CHANNEL);
    ck_assert(!err.transient);
    ck_assert_str_eq(err.url, channels[_i].url);
    /* the message names the deployment property that refuses it */
    ck_assert_ptr_nonnull(strstr(err.message, "Allow"));
    ck_assert_ptr_null(strstr(err.message, PASSWORD));
  }
}
END_TEST

/* Refused before any byte is sent: the server sees no connection. */
START_TEST(plain_http_refused_before_sending)
{
  struct ts_server srv;
  static const char *const answers[] = {"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"};
  struct exs_http_options o = {0};
  struct exs_http *h;
  struct exs_http_request req = {0};
  struct exs_http_response resp;
  struct exs_error err;
  char url[128];

  ck_assert_int_eq(ts_start(&srv, answers, 1), 0);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/EWS/Exchange.asmx", srv.port);
  exs_http_options_set_credentials(&o, "svc", PASSWORD);
  o.allow_non_ssl = true; /* but not credentials */
  h = exs_http_new(&o);
  req.method = "POST";
  req.url = url;
  req.body = "<x/>";
  req.body_len = 4;
  exs_http_response_init(&resp);
  exs_error_clear(&err);
  ck_assert_int_eq(exs_http_perform(h, &req, &resp, &err), -1);
  ck_assert_int_eq(err.category, EXS_CAT_INSECURE_CHANNEL);
  ck_assert_uint_eq(srv.served, 0);
  /* the anonymous probe (Autodiscover GET redirect) is allowed */
  req.method = "GET";
  req.anonymous = true;
  ck_assert_int_eq(exs_http_perform(h, &req, &resp, &err), 0);
  ck_assert_int_eq(resp.status, 200);
  ck_assert_ptr_null(strstr(srv.requests[0], "Authorization"));
  exs_http_response_free(&resp);
  exs_http_free(h);
  ts_stop(&srv);
}
END_TEST

/* ---- curl error mapping ---- */

static int perform_get(const char *url, long timeout_ms, struct exs_error *err)
{
  struct exs_http_options o = {0};
  struct exs_http *h;
  struct exs_http_request req = {0};
  struct exs_http_response resp;
  int rc;

  o.timeout_ms = timeout_ms;
  o.connect_timeout_ms = timeout_ms;
  o.allow_non_ssl = true;
  h = exs_http_new(&o);
  ck_assert_ptr_nonnull(h);
  req.method = "GET";
  req.url = url;
  exs_http_response_init(&resp);
  exs_error_clear(err);
  rc = exs_http_perform(h, &req, &resp, err);
  exs_http_response_free(&resp);
  exs_http_free(h);
  return rc;
}

START_TEST(dns_failure_maps_to_dns)
{
  struct exs_error err;

  ck_assert_int_eq(perform_get("https://mail.exsync-test.invalid/EWS/Exchange.asmx", 5000, &err),
                   -1);
  ck_assert_msg(err.category == EXS_CAT_DNS, "%s", err.message);
  ck_assert(err.transient);
  ck_assert_int_ne(err.transport_code, 0);
  ck_assert_str_eq(err.url, "https://mail.exsync-test.invalid/EWS/Exchange.asmx");
}
END_TEST

START_TEST(closed_port_maps_to_connect)
{
  struct exs_error err;
  char url[128];
  int port;
  int fd = ts_listen(&port);

  ck_assert_int_ge(fd, 0);
  close(fd); /* nothing listens there now */
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/EWS/Exchange.asmx", port);
  ck_assert_int_eq(perform_get(url, 5000, &err), -1);
  ck_assert_msg(err.category == EXS_CAT_CONNECT, "%s", err.message);
  ck_assert(err.transient);
}
END_TEST

START_TEST(silent_server_maps_to_timeout)
{
  struct exs_error err;
  char url[128];
  int port;
  int fd = ts_listen(&port); /* listens, never accepts nor answers */

  ck_assert_int_ge(fd, 0);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/EWS/Exchange.asmx", port);
  ck_assert_int_eq(perform_get(url, 300, &err), -1);
  ck_assert_msg(err.category == EXS_CAT_TIMEOUT, "%s", err.message);
  ck_assert(err.transient);
  close(fd);
}
END_TEST

START_TEST(bad_url_is_config)
{
  struct exs_error err;

  ck_assert_int_eq(perform_get("ftp://mail.contoso.com/", 300, &err), -1);
  ck_assert_int_eq(err.category, EXS_CAT_CONFIG);
}
END_TEST

/* ---- a kept connection that dies before any answer ---- */

/* Answers the first request of its first connection and keeps it open,
 * reads the second request on it and closes without a byte; then serves
 * one more connection (libcurl's resend) if one comes. */
struct dying {
  int fd;
  pthread_t thread;
  int requests; /* requests read, over both connections */
};

static void *dying_run(void *arg)
{
  static const char ok[] =
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok";
  struct dying *d = arg;
  char buf[16384];
  int c = accept(d->fd, NULL, NULL);

  ts_read_request(c, buf, sizeof(buf));
  d->requests++;
  if(write(c, ok, sizeof(ok) - 1) < 0)
    return NULL;
  ts_read_request(c, buf, sizeof(buf));
  d->requests++;
  close(c); /* taken, never answered */
  c = accept(d->fd, NULL, NULL);
  ts_read_request(c, buf, sizeof(buf));
  if(buf[0]) {
    d->requests++;
    if(write(c, ok, sizeof(ok) - 1) < 0)
      d->requests += 100;
  }
  close(c);
  return NULL;
}

/* Two POSTs on one kept connection, the second lost after it was read:
 * returns the second's exs_http_perform result, *requests what the server
 * read in all. */
static int second_post_lost(bool no_resend, int *requests, struct exs_error *err)
{
  struct dying d = {0};
  struct exs_http_options o = {0};
  struct exs_http_request req = {0};
  struct exs_http_response resp;
  struct exs_http *h;
  char url[128];
  int port, rc;

  d.fd = ts_listen(&port);
  ck_assert_int_ge(d.fd, 0);
  ck_assert_int_eq(pthread_create(&d.thread, NULL, dying_run, &d), 0);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/EWS/Exchange.asmx", port);
  o.timeout_ms = 10000;
  o.connect_timeout_ms = 10000;
  o.allow_non_ssl = true;
  h = exs_http_new(&o);
  ck_assert_ptr_nonnull(h);
  req.method = "POST";
  req.url = url;
  req.body = "<a/>";
  req.body_len = 4;
  req.no_resend = no_resend;
  exs_http_response_init(&resp);
  exs_error_clear(err);
  ck_assert_int_eq(exs_http_perform(h, &req, &resp, err), 0);
  ck_assert_int_eq(resp.status, 200);
  rc = exs_http_perform(h, &req, &resp, err);
  if(rc) {
    /* no resend came: release the server's last accept */
    int c = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(c);
  }
  pthread_join(d.thread, NULL);
  close(d.fd);
  exs_http_response_free(&resp);
  exs_http_free(h);
  *requests = d.requests;
  return rc;
}

/* libcurl resends a request whose kept connection died before any answer
 * byte; a state-changing one (no_resend) must fail instead, fate unknown,
 * and reach the server once. */
START_TEST(lost_answer_is_not_resent)
{
  struct exs_error err;
  int requests;

  ck_assert_int_eq(second_post_lost(false, &requests, &err), 0);
  ck_assert_int_eq(requests, 3); /* what no_resend guards against */
  ck_assert_int_eq(second_post_lost(true, &requests, &err), -1);
  ck_assert_int_eq(requests, 2);
  ck_assert_msg(err.category == EXS_CAT_CONNECT && err.transient, "%s", err.message);
  ck_assert_ptr_nonnull(strstr(err.message, "not sent again"));
}
END_TEST

/* ---- traces never carry secrets ---- */

struct trace_sink {
  struct exs_buf all;
};

static void sink_fn(void *ctx, enum exs_trace_kind kind, const char *data, size_t len)
{
  struct trace_sink *s = ctx;

  (void)kind;
  exs_buf_add(&s->all, data, len);
}

START_TEST(trace_is_redacted)
{
  struct ts_server srv;
  static const char *const answers[] = {
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: sess=cookievalue42\r\n"
      "Connection: close\r\nContent-Length: 27\r\n\r\nyour password: " PASSWORD};
  struct exs_http_options o = {0};
  struct exs_http *h;
  struct exs_http_request req = {0};
  struct exs_http_response resp;
  struct exs_error err;
  struct trace_sink sink;
  struct exs_transport t = {0};
  char url[128];

  exs_buf_init(&sink.all, 1 << 20);
  ck_assert_int_eq(ts_start(&srv, answers, 1), 0);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/EWS/Exchange.asmx", srv.port);
  t.trace = sink_fn;
  t.trace_ctx = &sink;
  exs_http_options_init(&o, &t);
  exs_http_options_set_credentials(&o, "svc", PASSWORD);
  o.auth = EXS_AUTH_BASIC;
  o.allow_non_ssl = o.allow_credentials_non_secure = o.allow_basic_non_secure = true;
  h = exs_http_new(&o);
  req.method = "POST";
  req.url = url;
  req.body = "<pw>" PASSWORD "</pw>";
  req.body_len = strlen(req.body);
  exs_http_response_init(&resp);
  exs_error_clear(&err);
  ck_assert_int_eq(exs_http_perform(h, &req, &resp, &err), 0);
  ck_assert_int_eq(resp.status, 200);
  /* the server really got Basic credentials ... */
  ck_assert_ptr_nonnull(strstr(srv.requests[0], "Authorization: Basic c3ZjOlMzY3JldCFwdy00Mg=="));
  /* ... but the trace shows none of it */
  ck_assert_ptr_nonnull(sink.all.data);
  ck_assert_ptr_nonnull(strstr(sink.all.data, "Authorization: Basic <redacted>"));
  ck_assert_ptr_null(strstr(sink.all.data, "c3ZjOlMzY3JldCFwdy00Mg=="));
  ck_assert_ptr_null(strstr(sink.all.data, PASSWORD));
  ck_assert_ptr_null(strstr(sink.all.data, "cookievalue42"));
  exs_http_response_free(&resp);
  exs_http_free(h);
  ts_stop(&srv);
  exs_buf_free(&sink.all);
}
END_TEST

/* A kept transport serves only exactly the settings it was made for:
 * every member counts, the run's settings by identity. */
START_TEST(options_compared_whole)
{
  struct exs_transport t1 = {0}, t2 = {0};
  struct exs_http_options a, b;
  struct exs_http *h;

  exs_http_options_init(&a, &t1);
  ck_assert_int_eq(exs_http_options_set_credentials(&a, "svc", PASSWORD), 0);
  a.timeout_ms = 5000;
  h = exs_http_new(&a);
  ck_assert_ptr_nonnull(h);
  b = a;
  ck_assert(exs_http_made_for(h, &b));
  b.timeout_ms = 6000;
  ck_assert(!exs_http_made_for(h, &b));
  b = a;
  b.allow_basic_non_secure = true;
  ck_assert(!exs_http_made_for(h, &b));
  b = a;
  b.transport = &t2;
  ck_assert(!exs_http_made_for(h, &b));
  /* the same credentials written again are the same bytes */
  exs_http_options_init(&b, &t1);
  exs_http_options_set_credentials(&b, "somebody-else", "x");
  exs_http_options_set_credentials(&b, "svc", PASSWORD);
  b.timeout_ms = 5000;
  ck_assert(exs_http_made_for(h, &b));
  exs_http_options_set_credentials(&b, "svc", "other");
  ck_assert(!exs_http_made_for(h, &b));
  /* too long is refused, not cut */
  {
    char lng[EXS_HTTP_USER_MAX + 2];
    memset(lng, 'u', sizeof(lng) - 1);
    lng[sizeof(lng) - 1] = '\0';
    ck_assert_int_eq(exs_http_options_set_credentials(&b, lng, "x"), -1);
  }
  exs_http_options_wipe(&a);
  exs_http_options_wipe(&b);
  exs_http_free(h);
}
END_TEST

struct hook_count {
  int calls;
  long status;
};

static void count_exchange(void *ctx, const struct exs_http_exchange *x)
{
  struct hook_count *c = ctx;

  c->calls++;
  c->status = x->status;
}

/* The exchange hook belongs to the transports made with it, not to the
 * process: a transport without it reports nothing. */
START_TEST(exchange_hook_per_transport)
{
  struct ts_server srv;
  static const char *const answers[] = {
      "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
      "HTTP/1.1 204 No Content\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"};
  struct hook_count count = {0, 0};
  struct exs_transport hooked = {0}, plain = {0};
  struct exs_http_options o;
  struct exs_http *with, *without;
  struct exs_http_request req = {0};
  struct exs_http_response resp;
  struct exs_error err;
  char url[128];

  ck_assert_int_eq(ts_start(&srv, answers, 2), 0);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", srv.port);
  hooked.exchange = count_exchange;
  hooked.exchange_ctx = &count;
  exs_http_options_init(&o, &plain);
  o.allow_non_ssl = true;
  without = exs_http_new(&o);
  o.transport = &hooked;
  with = exs_http_new(&o);
  ck_assert_ptr_nonnull(with);
  ck_assert_ptr_nonnull(without);
  req.method = "GET";
  req.url = url;
  exs_http_response_init(&resp);
  exs_error_clear(&err);
  ck_assert_int_eq(exs_http_perform(without, &req, &resp, &err), 0);
  ck_assert_int_eq(count.calls, 0);
  ck_assert_int_eq(exs_http_perform(with, &req, &resp, &err), 0);
  ck_assert_int_eq(count.calls, 1);
  ck_assert_int_eq(count.status, 204);
  exs_http_response_free(&resp);
  exs_http_free(with);
  exs_http_free(without);
  ts_stop(&srv);
}
END_TEST

/* ---- EWS client HTTP classification and throttling ---- */

#define SOAP_OK                                                                                    \
  "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body>"                       \
  "<m:GetFolderResponse xmlns:m='" EXS_NS_MSG "' xmlns:t='" EXS_NS_TYPES "'>"                      \
  "<m:ResponseMessages><m:GetFolderResponseMessage ResponseClass='Success'>"                       \
  "<m:ResponseCode>NoError</m:ResponseCode><m:Folders><t:Folder>"                                  \
  "<t:FolderId Id='INBOX' ChangeKey='CK'/><t:DisplayName>Inbox</t:DisplayName></t:Folder>"         \
  "</m:Folders></m:GetFolderResponseMessage></m:ResponseMessages></m:GetFolderResponse>"           \
  "</s:Body></s:Envelope>"

#define BUSY_FAULT                                                                                 \
  "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body><s:Fault>"              \
  "<faultcode xmlns:a='" EXS_NS_TYPES "'>a:ErrorServerBusy</faultcode>"                            \
  "<faultstring>busy</faultstring><detail>"                                                        \
  "<e:ResponseCode xmlns:e='" EXS_NS_ERRORS "'>ErrorServerBusy</e:ResponseCode>"                   \
  "<t:MessageXml xmlns:t='" EXS_NS_TYPES "'><t:Value Name='BackOffMilliseconds'>20</t:Value>"      \
  "</t:MessageXml></detail></s:Fault></s:Body></s:Envelope>"

#define BUSY_MESSAGE                                                                               \
  "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'><s:Body>"                       \
  "<m:GetFolderResponse xmlns:m='" EXS_NS_MSG "' xmlns:t='" EXS_NS_TYPES "'>"                      \
  "<m:ResponseMessages><m:GetFolderResponseMessage ResponseClass='Error'>"                         \
  "<m:MessageText>busy</m:MessageText><m:ResponseCode>ErrorServerBusy</m:ResponseCode>"            \
  "<m:MessageXml><t:Value Name='BackOffMilliseconds'>15</t:Value></m:MessageXml>"                  \
  "</m:GetFolderResponseMessage></m:ResponseMessages></m:GetFolderResponse>"                       \
  "</s:Body></s:Envelope>"

static char ans_ok[2048], ans_busy[2048], ans_busy_msg[2048];

static void make_answers(void)
{
  snprintf(ans_ok, sizeof(ans_ok),
           "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nConnection: close\r\n"
           "Content-Length: %zu\r\n\r\n%s",
           strlen(SOAP_OK), SOAP_OK);
  snprintf(ans_busy, sizeof(ans_busy),
           "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/xml; charset=utf-8\r\n"
           "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
           strlen(BUSY_FAULT), BUSY_FAULT);
  snprintf(ans_busy_msg, sizeof(ans_busy_msg),
           "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nConnection: close\r\n"
           "Content-Length: %zu\r\n\r\n%s",
           strlen(BUSY_MESSAGE), BUSY_MESSAGE);
}

static int ews_get_inbox(const char *const *answers, size_t n, int retries, struct ts_server *srv,
                         struct exs_ews_folder *f, struct exs_error *err)
{
  struct exs_http_options ho = {0};
  struct exs_ews_options eo = {0};
  struct exs_http *h;
  struct exs_ews *ews;
  struct exs_ews_folder_ref ref = {"inbox", NULL, NULL};
  char url[128];
  int rc;

  ck_assert_int_eq(ts_start(srv, answers, n), 0);
  snprintf(url, sizeof(url), "http://127.0.0.1:%d/EWS/Exchange.asmx", srv->port);
  ho.allow_non_ssl = true;
  h = exs_http_new(&ho);
  eo.url = url;
  eo.ctx.impersonate = "alice@contoso.com";
  eo.max_throttle_retries = retries;
  ews = exs_ews_new(h, &eo);
  exs_error_clear(err);
  rc = exs_ews_get_folder(ews, &ref, 1, f, err);
  exs_ews_free(ews);
  exs_http_free(h);
  ts_stop(srv);
  return rc;
}

START_TEST(ews_throttled_then_ok)
{
  const char *answers[] = {ans_busy, ans_ok};
  struct ts_server srv;
  struct exs_ews_folder f;
  struct exs_error err;

  make_answers();
  ck_assert_int_eq(ews_get_inbox(answers, 2, 3, &srv, &f, &err), 0);
  ck_assert_uint_eq(srv.served, 2);
  ck_assert_str_eq(f.id, "INBOX");
  /* the same request twice, with the anchor mailbox and SOAPAction */
  ck_assert_str_eq(strstr(srv.requests[0], "\r\n\r\n"), strstr(srv.requests[1], "\r\n\r\n"));
  ck_assert_ptr_nonnull(strstr(srv.requests[0], "X-AnchorMailbox: alice@contoso.com"));
  ck_assert_ptr_nonnull(strstr(srv.requests[0], "SOAPAction: \"" EXS_NS_MSG "/GetFolder\""));
}
END_TEST

START_TEST(ews_throttled_gives_up)
{
  const char *answers[] = {ans_busy, ans_busy};
  struct ts_server srv;
  struct exs_ews_folder f;
  struct exs_error err;

  make_answers();
  ck_assert_int_eq(ews_get_inbox(answers, 2, 1, &srv, &f, &err), -1);
  ck_assert_uint_eq(srv.served, 2); /* at least one retry */
  ck_assert_int_eq(err.category, EXS_CAT_THROTTLED);
  ck_assert(err.transient);
  ck_assert_str_eq(err.ews_code, "ErrorServerBusy");
  ck_assert_int_eq(err.backoff_ms, 20);
  ck_assert_int_eq(err.http_status, 500);
}
END_TEST

/* ErrorServerBusy in every ResponseMessage of a 200: nothing was processed,
 * so it is retried like the fault. */
START_TEST(ews_busy_message_retried)
{
  const char *answers[] = {ans_busy_msg, ans_ok};
  struct ts_server srv;
  struct exs_ews_folder f;
  struct exs_error err;

  make_answers();
  ck_assert_int_eq(ews_get_inbox(answers, 2, 3, &srv, &f, &err), 0);
  ck_assert_uint_eq(srv.served, 2);
  ck_assert(f.ok);
}
END_TEST

START_TEST(ews_busy_message_gives_up)
{
  const char *answers[] = {ans_busy_msg, ans_busy_msg};
  struct ts_server srv;
  struct exs_ews_folder f;
  struct exs_error err;

  make_answers();
  ck_assert_int_eq(ews_get_inbox(answers, 2, 1, &srv, &f, &err), -1);
  ck_assert_int_eq(err.category, EXS_CAT_THROTTLED);
  ck_assert_str_eq(err.ews_code, "ErrorServerBusy");
  ck_assert_int_eq(err.backoff_ms, 15);
  ck_assert_int_eq(err.http_status, 200);
}
END_TEST

/* An answer of one element with 50,000 attributes: refused by the bounded
 * parse before libxml2's quadratic duplicate check, with a clear error. */
START_TEST(ews_answer_with_50000_attributes_refused)
{
  struct exs_buf body, ans;
  const char *answers[1];
  struct ts_server srv;
  struct exs_ews_folder f;
  struct exs_error err;
  int64_t t0;

  exs_buf_init(&body, 8u << 20);
  exs_buf_init(&ans, 8u << 20);
  exs_buf_adds(&body, "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"" EXS_NS_SOAP "\"><s:Body"
                      "><m:GetFolderResponse xmlns:m=\"" EXS_NS_MSG "\"");
  for(int i = 0; i < 50000; i++)
    exs_buf_addf(&body, " a%d=\"v\"", i);
  exs_buf_adds(&body, "/></s:Body></s:Envelope>");
  exs_buf_addf(&ans,
               "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\n"
               "Connection: close\r\nContent-Length: %zu\r\n\r\n",
               body.len);
  exs_buf_add(&ans, body.data, body.len);
  answers[0] = ans.data;
  t0 = exs_monotonic_ms();
  ck_assert_int_eq(ews_get_inbox(answers, 1, 0, &srv, &f, &err), -1);
  fprintf(stderr, "client: a 50,000-attribute answer (%zu bytes) refused in %lld ms: %s\n",
          body.len, (long long)(exs_monotonic_ms() - t0), err.message);
  ck_assert_msg(strstr(err.message, "more than 256 attributes") != NULL, "%s", err.message);
  exs_buf_free(&body);
  exs_buf_free(&ans);
}
END_TEST

static const struct {
  const char *answer;
  enum exs_category cat;
  bool transient;
} http_classes[] = {
    {"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Negotiate\r\nWWW-Authenticate: NTLM\r\n"
     "Connection: close\r\nContent-Length: 0\r\n\r\n",
     EXS_CAT_CREDENTIALS, false},
    {"HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
     EXS_CAT_ACCESS_DENIED, false},
    {"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", EXS_CAT_CONFIG,
     false},
    {"HTTP/1.1 302 Found\r\nLocation: https://login.contoso.com/\r\nConnection: close\r\n"
     "Content-Length: 0\r\n\r\n",
     EXS_CAT_PROTOCOL, false},
    {"HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", EXS_CAT_SERVER,
     true},
    {"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/html\r\nConnection: close\r\n"
     "Content-Length: 24\r\n\r\n<html><b>oops</b></html>",
     EXS_CAT_SERVER, true},
};

START_TEST(ews_http_classification)
{
  const char *answers[] = {http_classes[_i].answer};
  struct ts_server srv;
  struct exs_ews_folder f;
  struct exs_error err;

  ck_assert_int_eq(ews_get_inbox(answers, 1, 1, &srv, &f, &err), -1);
  ck_assert_msg(err.category == http_classes[_i].cat, "case %d: %s: %s", _i,
                exs_category_name(err.category), err.message);
  ck_assert_int_eq(err.transient, http_classes[_i].transient);
  ck_assert_int_ne(err.http_status, 0);
  ck_assert_ptr_nonnull(strstr(err.url, "/EWS/Exchange.asmx"));
}
END_TEST

int main(void)
{
  Suite *s = suite_create("http");
  TCase *tc = tcase_create("http");

  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, redacts_secret_headers, 0, sizeof(redactions) / sizeof(redactions[0]));
  tcase_add_loop_test(tc, plain_http_rules, 0, sizeof(channels) / sizeof(channels[0]));
  tcase_add_test(tc, plain_http_refused_before_sending);
  tcase_add_test(tc, dns_failure_maps_to_dns);
  tcase_add_test(tc, closed_port_maps_to_connect);
  tcase_add_test(tc, lost_answer_is_not_resent);
  tcase_add_test(tc, silent_server_maps_to_timeout);
  tcase_add_test(tc, bad_url_is_config);
  tcase_add_test(tc, trace_is_redacted);
  tcase_add_test(tc, options_compared_whole);
  tcase_add_test(tc, exchange_hook_per_transport);
  tcase_add_test(tc, ews_throttled_then_ok);
  tcase_add_test(tc, ews_throttled_gives_up);
  tcase_add_test(tc, ews_busy_message_retried);
  tcase_add_test(tc, ews_busy_message_gives_up);
  tcase_add_test(tc, ews_answer_with_50000_attributes_refused);
  tcase_add_loop_test(tc, ews_http_classification, 0,
                      sizeof(http_classes) / sizeof(http_classes[0]));
  suite_add_tcase(s, tc);
  return tu_run(s);
}

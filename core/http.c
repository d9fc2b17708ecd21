/* http.c - libcurl transport: safety rules, auth selection, error mapping,
 * redacted traces. */
#include "exsync/http.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/x509_vfy.h>

#include "exsync/clock.h"
#include "exsync/kerberos.h"

#include <gssapi/gssapi_krb5.h>

#define DEFAULT_MAX_BODY (32u * 1024u * 1024u)

struct exs_http {
  CURL *curl;
  struct exs_http_options opt; /* as given: what exs_http_made_for compares */
  /* the run's settings (opt.transport), copied: the handle never reads
   * opt.transport again */
  struct curl_slist *resolve;
  struct curl_slist *connect_to;
  char *proxy, *noproxy, *cacert, *user_agent;
  exs_http_trace_fn trace;
  void *trace_ctx;
  exs_http_exchange_fn exchange;
  void *exchange_ctx;
  const char *user;     /* opt.user with credentials, else NULL */
  const char *password; /* opt.password with credentials, else NULL */
  long connect_timeout_ms, timeout_ms;
  size_t max_body;
  struct exs_http_response *cur; /* response being filled */
  char errbuf[CURL_ERROR_SIZE];
  bool capture;         /* the exchange hook is set for this request */
  struct exs_buf xreq;  /* request headers of the last leg */
  struct exs_buf xresp; /* response headers of the last answer */
  int legs;
  char offered[64];    /* schemes offered by the 401s of this request */
  const char *scheme;  /* the scheme the last answered request used */
  struct exs_krb *krb; /* Kerberos identity, when Negotiate is used */
  bool krb_tried;      /* auto-detect: Kerberos was tried (and is krb or not) */
  /* the body of a no_resend request, sent by read_body */
  const char *body;
  size_t body_len, body_sent;
  bool answered;      /* an answer header came since the body was last started */
  char krb_host[256]; /* the host krb holds a service ticket for */
};

void exs_http_options_init(struct exs_http_options *o, const struct exs_transport *t)
{
  memset(o, 0, sizeof(*o));
  o->transport = t;
}

int exs_http_options_set_credentials(struct exs_http_options *o, const char *user,
                                     const char *password)
{
  size_t ul = strlen(user), pl = strlen(password);

  if(ul >= sizeof(o->user) || pl >= sizeof(o->password))
    return -1;
  /* zeros after the string: equal credentials are equal bytes */
  memset(o->user, 0, sizeof(o->user));
  memset(o->password, 0, sizeof(o->password));
  memcpy(o->user, user, ul);
  memcpy(o->password, password, pl);
  o->credentials = true;
  return 0;
}

bool exs_http_options_same(const struct exs_http_options *a, const struct exs_http_options *b)
{
  return !memcmp(a, b, sizeof(*a));
}

void exs_http_options_wipe(struct exs_http_options *o)
{
  OPENSSL_cleanse(o->password, sizeof(o->password));
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init(void)
{
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *dup_or_null(const char *s)
{
  return s ? strdup(s) : NULL;
}

/* Copy the run's settings t into h; -1 on no memory. */
static int take_transport(struct exs_http *h, const struct exs_transport *t)
{
  size_t i;

  if(!t)
    return 0;
  h->cacert = dup_or_null(t->cacert);
  h->proxy = dup_or_null(t->proxy);
  h->noproxy = dup_or_null(t->noproxy);
  h->user_agent = dup_or_null(t->user_agent);
  h->trace = t->trace;
  h->trace_ctx = t->trace_ctx;
  h->exchange = t->exchange;
  h->exchange_ctx = t->exchange_ctx;
  for(i = 0; i < t->n_resolve; i++)
    if(!(h->resolve = curl_slist_append(h->resolve, t->resolve[i])))
      return -1;
  for(i = 0; i < t->n_connect_to; i++)
    if(!(h->connect_to = curl_slist_append(h->connect_to, t->connect_to[i])))
      return -1;
  return (t->cacert && !h->cacert) || (t->proxy && !h->proxy) || (t->noproxy && !h->noproxy) ||
                 (t->user_agent && !h->user_agent)
             ? -1
             : 0;
}

struct exs_http *exs_http_new(const struct exs_http_options *opt)
{
  struct exs_http *h;

  pthread_once(&global_once, global_init);
  h = calloc(1, sizeof(*h));
  if(!h)
    return NULL;
  h->opt = *opt;
  h->user = opt->credentials ? h->opt.user : NULL;
  h->password = opt->credentials && opt->password[0] ? h->opt.password : NULL;
  h->connect_timeout_ms = opt->connect_timeout_ms ? opt->connect_timeout_ms : 10000;
  h->timeout_ms = opt->timeout_ms ? opt->timeout_ms : 100000;
  h->max_body = opt->max_body ? opt->max_body : DEFAULT_MAX_BODY;
  h->curl = curl_easy_init();
  if(!h->curl || take_transport(h, opt->transport)) {
    exs_http_free(h);
    return NULL;
  }
  return h;
}

bool exs_http_made_for(const struct exs_http *h, const struct exs_http_options *o)
{
  return exs_http_options_same(&h->opt, o);
}

void exs_http_free(struct exs_http *h)
{
  if(!h)
    return;
  if(h->curl)
    curl_easy_cleanup(h->curl);
  curl_slist_free_all(h->resolve);
  curl_slist_free_all(h->connect_to);
  free(h->proxy);
  free(h->noproxy);
  free(h->cacert);
  free(h->user_agent);
  exs_krb_free(h->krb);
  exs_http_options_wipe(&h->opt);
  free(h);
}

void exs_http_response_init(struct exs_http_response *r)
{
  memset(r, 0, sizeof(*r));
  exs_buf_init(&r->body, DEFAULT_MAX_BODY);
}

void exs_http_response_free(struct exs_http_response *r)
{
  if(r)
    exs_buf_free(&r->body);
}

static bool is_plain_http(const char *url)
{
  return strncasecmp(url, "http://", 7) == 0;
}

int exs_http_check_channel(const struct exs_http_options *opt, const char *url,
                           struct exs_error *err)
{
  if(!is_plain_http(url))
    return 0;
  snprintf(err->url, sizeof(err->url), "%s", url);
  if(!opt->allow_non_ssl) {
    exs_error_set(err, EXS_CAT_INSECURE_CHANNEL,
                  "refusing plain-HTTP EWS endpoint %s: AllowNonSSLEmail is 0", url);
    return -1;
  }
  if(opt->credentials && !opt->allow_credentials_non_secure) {
    exs_error_set(err, EXS_CAT_INSECURE_CHANNEL,
                  "refusing to send credentials over plain HTTP to %s: "
                  "AllowCredentialsEntryViaNonSecureChannels is 0",
                  url);
    return -1;
  }
  if(opt->credentials && opt->auth == EXS_AUTH_BASIC && !opt->allow_basic_non_secure) {
    exs_error_set(err, EXS_CAT_INSECURE_CHANNEL,
                  "refusing Basic authentication over plain HTTP to %s: "
                  "AllowBasicAuthenticationOnNonSecureChannel is 0",
                  url);
    return -1;
  }
  return 0;
}

/* Replace the value of secret-bearing headers; keep the scheme name of
 * Authorization / WWW-Authenticate so traces still show what was used. */
int exs_http_redact_headers(const char *in, size_t len, const char *password, struct exs_buf *out)
{
  static const char *const secret_headers[] = {
      "authorization:", "proxy-authorization:", "www-authenticate:", "proxy-authenticate:",
      "cookie:",        "set-cookie:"};
  const char *p = in;
  const char *end = in + len;

  while(p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    size_t n = eol ? (size_t)(eol - p + 1) : (size_t)(end - p);
    size_t i;
    bool done = false;

    for(i = 0; i < sizeof(secret_headers) / sizeof(secret_headers[0]); i++) {
      size_t hl = strlen(secret_headers[i]);
      if(n >= hl && !strncasecmp(p, secret_headers[i], hl)) {
        const char *v = p + hl;
        const char *vend = p + n;
        const char *scheme_end;
        while(v < vend && *v == ' ')
          v++;
        scheme_end = v;
        while(scheme_end < vend && isalpha((unsigned char)*scheme_end))
          scheme_end++;
        /* a bare scheme ("WWW-Authenticate: NTLM") carries no secret */
        if(i >= 2 && i <= 3 &&
           (scheme_end >= vend || *scheme_end == '\r' || *scheme_end == '\n' ||
            *scheme_end == ',')) {
          break;
        }
        if(exs_buf_add(out, p, (size_t)(v - p)))
          return -1;
        if(i < 4 && exs_buf_add(out, v, (size_t)(scheme_end - v)))
          return -1;
        if(exs_buf_adds(out, i < 4 ? " <redacted>" : "<redacted>"))
          return -1;
        if(eol && exs_buf_adds(out, eol > p && eol[-1] == '\r' ? "\r\n" : "\n"))
          return -1;
        done = true;
        break;
      }
    }
    if(!done && exs_buf_add(out, p, n))
      return -1;
    p += n;
  }
  /* a password echoed anywhere (it should never be) is redacted too */
  if(password && *password && out->data) {
    size_t pl = strlen(password);
    char *hit;
    while((hit = strstr(out->data, password)) != NULL) {
      memset(hit, '*', pl);
    }
  }
  return 0;
}

static void trace_emit(struct exs_http *h, enum exs_trace_kind kind, const char *data, size_t len)
{
  struct exs_buf b;

  exs_buf_init(&b, len * 2 + 256);
  if(kind == EXS_TRACE_REQ_HEADERS || kind == EXS_TRACE_RESP_HEADERS) {
    if(exs_http_redact_headers(data, len, h->password, &b) == 0)
      h->trace(h->trace_ctx, kind, b.data ? b.data : "", b.len);
  }
  else if(exs_buf_add(&b, data, len) == 0) {
    if(h->password && *h->password) {
      char *hit;
      size_t pl = strlen(h->password);
      while((hit = strstr(b.data, h->password)) != NULL)
        memset(hit, '*', pl);
    }
    h->trace(h->trace_ctx, kind, b.data, b.len);
  }
  exs_buf_free(&b);
}

static int debug_cb(CURL *c, curl_infotype type, char *data, size_t size, void *ud)
{
  struct exs_http *h = ud;

  (void)c;
  if(h->capture && type == CURLINFO_HEADER_OUT) {
    exs_buf_reset(&h->xreq);
    exs_buf_add(&h->xreq, data, size);
    h->legs++;
  }
  if(!h->trace)
    return 0;
  switch(type) {
  case CURLINFO_TEXT:
    trace_emit(h, EXS_TRACE_INFO, data, size);
    break;
  case CURLINFO_HEADER_OUT:
    trace_emit(h, EXS_TRACE_REQ_HEADERS, data, size);
    break;
  case CURLINFO_DATA_OUT:
    trace_emit(h, EXS_TRACE_REQ_BODY, data, size);
    break;
  case CURLINFO_HEADER_IN:
    trace_emit(h, EXS_TRACE_RESP_HEADERS, data, size);
    break;
  case CURLINFO_DATA_IN:
    trace_emit(h, EXS_TRACE_RESP_BODY, data, size);
    break;
  default:
    break;
  }
  return 0;
}

static size_t write_cb(char *p, size_t size, size_t n, void *ud)
{
  struct exs_http *h = ud;

  if(exs_buf_add(&h->cur->body, p, size * n))
    return 0; /* over the cap: curl aborts with CURLE_WRITE_ERROR */
  return size * n;
}

static void append_scheme(char *dst, size_t len, const char *scheme)
{
  if(strstr(dst, scheme))
    return;
  if(*dst)
    strncat(dst, ",", len - strlen(dst) - 1);
  strncat(dst, scheme, len - strlen(dst) - 1);
}

/* The body of a no_resend request, fed to libcurl (CURLOPT_POSTFIELDS would
 * let it resend the request by itself). */
static size_t read_body(char *buf, size_t size, size_t n, void *ud)
{
  struct exs_http *h = ud;
  size_t left = h->body_len - h->body_sent, k = size * n < left ? size * n : left;

  memcpy(buf, h->body + h->body_sent, k);
  h->body_sent += k;
  return k;
}

/* libcurl rewinds the body for another round on the same request: allowed
 * after an answer (a 401 of an authentication handshake), refused when the
 * connection died before any answer byte (libcurl's silent resend on a new
 * connection: the server may have processed the first one). */
static int seek_body(void *ud, curl_off_t offset, int origin)
{
  struct exs_http *h = ud;

  if(!h->answered || offset != 0 || origin != SEEK_SET)
    return CURL_SEEKFUNC_CANTSEEK;
  h->body_sent = 0;
  h->answered = false;
  return CURL_SEEKFUNC_OK;
}

static size_t header_cb(char *p, size_t size, size_t n, void *ud)
{
  struct exs_http *h = ud;
  size_t len = size * n;
  struct exs_http_response *r = h->cur;
  char line[1100];
  size_t l = len < sizeof(line) - 1 ? len : sizeof(line) - 1;

  h->answered = true;
  memcpy(line, p, l);
  line[l] = '\0';
  line[strcspn(line, "\r\n")] = '\0';
  if(h->capture) {
    if(!strncmp(line, "HTTP/", 5))
      exs_buf_reset(&h->xresp);
    exs_buf_add(&h->xresp, p, len);
  }
  if(!strncmp(line, "HTTP/", 5)) {
    /* a new response (after a 401 or 100): forget the previous headers */
    r->www_authenticate[0] = '\0';
    r->location[0] = '\0';
    r->soap_enabled = false;
  }
  else if(!strncasecmp(line, "www-authenticate:", 17)) {
    char *v = line + 17;
    char scheme[32];
    while(*v == ' ')
      v++;
    if(sscanf(v, "%31[A-Za-z]", scheme) == 1) {
      append_scheme(r->www_authenticate, sizeof(r->www_authenticate), scheme);
      append_scheme(h->offered, sizeof(h->offered), scheme);
    }
  }
  else if(!strncasecmp(line, "location:", 9)) {
    char *v = line + 9;
    while(*v == ' ')
      v++;
    snprintf(r->location, sizeof(r->location), "%s", v);
  }
  else if(!strncasecmp(line, "x-soap-enabled:", 15)) {
    r->soap_enabled = strstr(line + 15, "rue") != NULL;
  }
  return len;
}

/* The host of url ("mail.contoso.com"), for the service principal. */
static void url_host(const char *url, char *out, size_t len)
{
  const char *p = strstr(url, "://");
  size_t n;

  p = p ? p + 3 : url;
  if(*p == '[') {
    p++;
    n = strcspn(p, "]");
  }
  else {
    n = strcspn(p, ":/?#");
  }
  snprintf(out, len, "%.*s", (int)n, p);
}

static void krb_trace(void *ctx, const char *line)
{
  struct exs_http *h = ctx;

  if(h->trace)
    h->trace(h->trace_ctx, EXS_TRACE_INFO, line, strlen(line));
}

/* Kerberos for a request to url: the identity (the profile's credentials,
 * or the running identity when the user name is empty) and a service
 * ticket for HTTP/<host>, fetched before the request so that a failure is
 * named. Returns 1 when Negotiate can go with Kerberos, 0 when Kerberos is
 * not for this request (another protocol; auto-detect without a realm for
 * the user, or failing for another reason than the credential), -1 with
 * err when the request must fail. */
static int kerberos_prepare(struct exs_http *h, const char *url, struct exs_error *err)
{
  bool required = h->opt.auth == EXS_AUTH_NEGOTIATE;
  bool running_identity = !h->user[0];
  struct exs_error kerr;
  char host[256];

  if(h->opt.auth != EXS_AUTH_NEGOTIATE && h->opt.auth != EXS_AUTH_AUTODETECT)
    return 0;
  exs_error_clear(&kerr);
  url_host(url, host, sizeof(host));
  if(!h->krb) {
    if(!required && h->krb_tried)
      return 0;
    h->krb_tried = true;
    if(!required && !exs_krb_configured(running_identity ? NULL : h->user, host))
      return 0;
    if(running_identity ? exs_krb_login_default(krb_trace, h, &h->krb, &kerr)
                        : exs_krb_login_password(h->user, h->password ? h->password : "", krb_trace,
                                                 h, &h->krb, &kerr))
      goto failed;
  }
  if(strcmp(host, h->krb_host)) {
    if(exs_krb_service_ticket(h->krb, host, url, &kerr))
      goto failed;
    snprintf(h->krb_host, sizeof(h->krb_host), "%s", host);
  }
  return 1;
failed:
  snprintf(kerr.url, sizeof(kerr.url), "%s", url);
  /* a refused password is never presented again through another scheme */
  if(required || kerr.category == EXS_CAT_CREDENTIALS) {
    *err = kerr;
    return -1;
  }
  if(h->trace) {
    char line[700];
    snprintf(line, sizeof(line), "auto-detect: not using Kerberos: %s", kerr.message);
    krb_trace(h, line);
  }
  exs_krb_free(h->krb);
  h->krb = NULL;
  return 0;
}

static long curl_auth_mask(const struct exs_http *h, bool plain, bool kerberos)
{
  switch(h->opt.auth) {
  case EXS_AUTH_BASIC:
    return CURLAUTH_BASIC;
  case EXS_AUTH_NTLM:
    return CURLAUTH_NTLM;
  case EXS_AUTH_NEGOTIATE:
    return CURLAUTH_NEGOTIATE;
  case EXS_AUTH_AUTODETECT:
  default: {
    /* strongest that works (docs/test-enable.md): curl picks Negotiate > NTLM > Basic
     * among the offered schemes, but a Negotiate without a Kerberos ticket
     * fails instead of falling back, so it is offered only with one;
     * Basic only over TLS unless allowed. */
    long mask = CURLAUTH_NTLM;
    if(kerberos)
      mask |= CURLAUTH_NEGOTIATE;
    if(!plain || h->opt.allow_basic_non_secure)
      mask |= CURLAUTH_BASIC;
    return mask;
  }
  }
}

/* What curl chose among the offered schemes (its order: Negotiate, NTLM,
 * Basic); NULL when no 401 told. */
static const char *scheme_used(long mask, const char *offered)
{
  if((mask & CURLAUTH_NEGOTIATE) && strstr(offered, "Negotiate"))
    return "Kerberos (Negotiate)";
  if((mask & CURLAUTH_NTLM) && strstr(offered, "NTLM"))
    return "NTLM";
  if((mask & CURLAUTH_BASIC) && strstr(offered, "Basic"))
    return "Basic";
  return NULL;
}

const char *exs_http_auth_scheme(const struct exs_http *h)
{
  return h->scheme;
}

/* The proxy a request to url goes through, as libcurl picks it: --proxy,
 * else the environment (lower case first, as curl; http_proxy only in lower
 * case), unless --noproxy or no_proxy names the host. Written without its
 * user:password. Returns the variable it came from ("--proxy", "https_proxy"
 * ...), or NULL when the request goes direct. */
static const char *proxy_in_use(const struct exs_http *h, const char *url, char *buf, size_t len)
{
  static const char *const https_vars[] = {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
  static const char *const http_vars[] = {"http_proxy", "all_proxy", "ALL_PROXY"};
  const char *const *vars = strncmp(url, "https:", 6) ? http_vars : https_vars;
  size_t nvars = strncmp(url, "https:", 6) ? 3 : 4, i;
  const char *from = NULL, *value = NULL, *no = h->noproxy, *at, *scheme_end;

  if(h->proxy) {
    if(!*h->proxy)
      return NULL;
    from = "--proxy";
    value = h->proxy;
  }
  else {
    for(i = 0; i < nvars && !value; i++) {
      const char *v = getenv(vars[i]);
      if(v && *v) {
        from = vars[i];
        value = v;
      }
    }
    if(!value)
      return NULL;
    if(!no)
      no = getenv("no_proxy") ? getenv("no_proxy") : getenv("NO_PROXY");
  }
  if(no && *no) {
    /* the host of url against each comma-separated entry (suffix match) */
    const char *host = strstr(url, "://");
    char hostname[256];
    size_t hl;
    host = host ? host + 3 : url;
    hl = strcspn(host, ":/?");
    snprintf(hostname, sizeof(hostname), "%.*s", (int)hl, host);
    if(!strcmp(no, "*"))
      return NULL;
    while(*no) {
      size_t el = strcspn(no, ",");
      const char *e = no;
      while(el && *e == ' ')
        e++, el--;
      if(el && *e == '.')
        e++, el--;
      if(el && strlen(hostname) >= el && !strncasecmp(hostname + strlen(hostname) - el, e, el) &&
         (strlen(hostname) == el || hostname[strlen(hostname) - el - 1] == '.'))
        return NULL;
      no += strcspn(no, ",");
      if(*no == ',')
        no++;
    }
  }
  scheme_end = strstr(value, "://");
  at = strrchr(value, '@');
  if(at && (!scheme_end || at > scheme_end))
    snprintf(buf, len, "%.*s%s", scheme_end ? (int)(scheme_end + 3 - value) : 0, value, at + 1);
  else
    snprintf(buf, len, "%s", value);
  return from;
}

/* The value of certinfo line "Key:value" when it starts with key. */
static const char *cert_field(const struct curl_slist *l, const char *key)
{
  size_t n = strlen(key);

  for(; l; l = l->next)
    if(!strncmp(l->data, key, n) && l->data[n] == ':')
      return l->data + n + 1;
  return NULL;
}

/* Where a connection goes: --resolve, --connect-to and the proxy settings,
 * the same for a request and for the certificate probe. */
static void set_route(const struct exs_http *h, CURL *c)
{
  if(h->resolve)
    curl_easy_setopt(c, CURLOPT_RESOLVE, h->resolve);
  if(h->connect_to)
    curl_easy_setopt(c, CURLOPT_CONNECT_TO, h->connect_to);
  if(h->proxy)
    curl_easy_setopt(c, CURLOPT_PROXY, h->proxy);
  if(h->noproxy)
    curl_easy_setopt(c, CURLOPT_NOPROXY, h->noproxy);
}

/* What the server's certificate says, for a TLS failure: a second,
 * unverified handshake that sends no request (CONNECT_ONLY) and no
 * credential, only to read the certificate. Writes "subject ..., issuer
 * ..., SAN ..., valid FROM to TO (N days left)" into out ("" when it
 * cannot be read). */
static void peer_certificate(struct exs_http *h, const char *url, char *out, size_t len)
{
  CURL *c = curl_easy_init();
  struct curl_certinfo *ci = NULL;
  const char *subject, *issuer, *san, *start, *expire;

  out[0] = '\0';
  if(!c)
    return;
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  curl_easy_setopt(c, CURLOPT_CERTINFO, 1L);
  set_route(h, c);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
  if(curl_easy_perform(c) == CURLE_OK && curl_easy_getinfo(c, CURLINFO_CERTINFO, &ci) == CURLE_OK &&
     ci && ci->num_of_certs > 0) {
    const struct curl_slist *l = ci->certinfo[0];
    time_t t_exp;
    subject = cert_field(l, "Subject");
    issuer = cert_field(l, "Issuer");
    san = cert_field(l, "X509v3 Subject Alternative Name");
    start = cert_field(l, "Start date");
    expire = cert_field(l, "Expire date");
    t_exp = expire ? curl_getdate(expire, NULL) : -1;
    snprintf(out, len, "subject %s, issuer %s, SAN %s, valid %s to %s", subject ? subject : "?",
             issuer ? issuer : "?", san ? san : "none", start ? start : "?", expire ? expire : "?");
    if(t_exp != -1) {
      size_t l2 = strlen(out);
      long days = (long)((t_exp - exs_now()) / 86400);
      snprintf(out + l2, len - l2, " (%ld day%s %s)", days < 0 ? -days : days,
               (days == 1 || days == -1) ? "" : "s", days < 0 ? "ago" : "left");
    }
  }
  curl_easy_cleanup(c);
}

/* Add what the certificate says and the CA bundle used to a TLS error. */
static void describe_tls_failure(struct exs_http *h, const char *url, struct exs_error *err)
{
  char cert[640], msg[sizeof(err->message)];
  char *def = NULL;
  const char *bundle = h->cacert;

  if(!bundle && curl_easy_getinfo(h->curl, CURLINFO_CAINFO, &def) == CURLE_OK && def)
    bundle = def;
  peer_certificate(h, url, cert, sizeof(cert));
  snprintf(msg, sizeof(msg), "%s; %s%sCA bundle %s%s", err->message, cert, cert[0] ? "; " : "",
           bundle ? bundle : "(the system's)", h->cacert ? " (--cacert)" : "");
  snprintf(err->message, sizeof(err->message), "%s", msg);
}

static void map_curl_error(struct exs_http *h, CURLcode rc, const char *url, struct exs_error *err)
{
  char proxy[256];
  const char *proxy_from = proxy_in_use(h, url, proxy, sizeof(proxy));
  long verify = 0;

  err->transport_code = (int)rc;
  snprintf(err->transport, sizeof(err->transport), "%s",
           h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc));
  snprintf(err->url, sizeof(err->url), "%s", url);
  switch(rc) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
    exs_error_set(err, EXS_CAT_DNS, "cannot resolve the host of %s: %s", url, err->transport);
    break;
  case CURLE_COULDNT_CONNECT:
    exs_error_set(err, EXS_CAT_CONNECT, "cannot connect to %s: %s", url, err->transport);
    break;
  case CURLE_OPERATION_TIMEDOUT:
    exs_error_set(err, EXS_CAT_TIMEOUT, "no answer from %s in time: %s", url, err->transport);
    break;
  case CURLE_PEER_FAILED_VERIFICATION:
    curl_easy_getinfo(h->curl, CURLINFO_SSL_VERIFYRESULT, &verify);
    if(verify == X509_V_ERR_CERT_HAS_EXPIRED || verify == X509_V_ERR_CERT_NOT_YET_VALID)
      exs_error_set(err, EXS_CAT_TLS_EXPIRED, "the certificate of %s has expired: %s", url,
                    err->transport);
    else if(verify == X509_V_ERR_HOSTNAME_MISMATCH || strstr(err->transport, "subject name") ||
            strstr(err->transport, "host name"))
      /* curl checks the name itself after a verified chain: its text says so */
      exs_error_set(err, EXS_CAT_TLS_NAME, "the certificate of %s does not match its host: %s", url,
                    err->transport);
    else
      exs_error_set(err, EXS_CAT_TLS_TRUST, "the certificate of %s is not trusted: %s", url,
                    err->transport);
    break;
  case CURLE_SSL_CONNECT_ERROR:
    exs_error_set(err, EXS_CAT_TLS_TRUST, "TLS handshake with %s failed: %s", url, err->transport);
    break;
  default:
    break;
  }
  if(rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CONNECT_ERROR)
    describe_tls_failure(h, url, err);
  switch(rc) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CONNECT_ERROR:
    break;
  case CURLE_SSL_CACERT_BADFILE:
    exs_error_set(err, EXS_CAT_CONFIG, "cannot use the CA bundle %s: %s",
                  h->cacert ? h->cacert : "(system)", err->transport);
    break;
  case CURLE_WRITE_ERROR:
    exs_error_set(err, EXS_CAT_PROTOCOL, "the answer of %s is larger than %zu bytes", url,
                  h->max_body);
    break;
  case CURLE_URL_MALFORMAT:
  case CURLE_UNSUPPORTED_PROTOCOL:
    exs_error_set(err, EXS_CAT_CONFIG, "not a usable URL: %s", url);
    break;
  case CURLE_SEND_FAIL_REWIND: /* seek_body refused a resend */
    exs_error_set(err, EXS_CAT_CONNECT,
                  "the connection to %s was lost before any answer: the request may have been "
                  "processed, so it is not sent again",
                  url);
    break;
  default:
    exs_error_set(err, EXS_CAT_CONNECT, "connection to %s failed: %s", url, err->transport);
    break;
  }
  if(proxy_from && rc != CURLE_URL_MALFORMAT && rc != CURLE_UNSUPPORTED_PROTOCOL &&
     rc != CURLE_WRITE_ERROR && rc != CURLE_SSL_CACERT_BADFILE) {
    /* name the proxy: the failure may be the proxy's, not Exchange's */
    char msg[sizeof(err->message)];
    snprintf(msg, sizeof(msg), "%s (through the proxy %s, from %s)", err->message, proxy,
             proxy_from);
    snprintf(err->message, sizeof(err->message), "%s", msg);
    snprintf(err->hint, sizeof(err->hint),
             "The request went through the proxy %s (%s): check that the proxy is up and allows "
             "this host, or bypass it with --noproxy HOST or --proxy ''.",
             proxy, proxy_from);
  }
}

static void report_exchange(struct exs_http *h, const struct exs_http_request *req,
                            const struct exs_http_response *resp, const struct exs_error *err)
{
  struct exs_http_exchange x;
  if(!h->exchange)
    return;
  memset(&x, 0, sizeof(x));
  x.method = req->method ? req->method : "GET";
  x.url = req->url;
  x.req_headers = h->xreq.data ? h->xreq.data : "";
  x.req_headers_len = h->xreq.len;
  x.req_body = req->body ? req->body : "";
  x.req_body_len = req->body ? req->body_len : 0;
  x.status = err ? 0 : resp->status;
  x.resp_headers = h->xresp.data ? h->xresp.data : "";
  x.resp_headers_len = h->xresp.len;
  x.resp_body = resp->body.data ? resp->body.data : "";
  x.resp_body_len = resp->body.len;
  x.elapsed_ms = resp->elapsed_ms;
  x.legs = h->legs;
  x.password = h->password;
  x.error = err;
  h->exchange(h->exchange_ctx, &x);
}

/* The options of one transfer: where, TLS always verified, time-outs, the
 * answer's callbacks, and the debug callback when traced or captured. */
static void set_transfer(struct exs_http *h, CURL *c, const struct exs_http_request *req)
{
  curl_easy_setopt(c, CURLOPT_URL, req->url);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  if(h->cacert)
    curl_easy_setopt(c, CURLOPT_CAINFO, h->cacert);
  set_route(h, c);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, h->connect_timeout_ms);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, h->timeout_ms);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
  curl_easy_setopt(c, CURLOPT_USERAGENT, h->user_agent ? h->user_agent : "exsync/" EXSYNC_VERSION);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
  h->capture = h->exchange != NULL;
  h->legs = 0;
  if(h->capture) {
    exs_buf_init(&h->xreq, 256 * 1024);
    exs_buf_init(&h->xresp, 256 * 1024);
  }
  if(h->trace || h->capture) {
    curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
    curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, debug_cb);
    curl_easy_setopt(c, CURLOPT_DEBUGDATA, h);
  }
  h->offered[0] = '\0';
}

/* The credentials of an authenticated request: Kerberos prepared when it
 * may be used (*gss_cache_set: libcurl's GSS-API calls pointed at its
 * cache), the schemes allowed in *mask. 0, or -1 with err. */
static int set_auth(struct exs_http *h, CURL *c, const struct exs_http_request *req, bool plain,
                    long *mask, bool *gss_cache_set, struct exs_error *err)
{
  int krb = kerberos_prepare(h, req->url, err);

  if(krb < 0)
    return -1;
  if(krb) {
    OM_uint32 minor;
    /* libcurl's GSS-API calls run in this thread: point them at our cache */
    gss_krb5_ccache_name(&minor, exs_krb_ccache(h->krb), NULL);
    *gss_cache_set = true;
  }
  *mask = curl_auth_mask(h, plain, krb == 1);
  curl_easy_setopt(c, CURLOPT_HTTPAUTH, *mask);
  curl_easy_setopt(c, CURLOPT_USERNAME, h->user);
  curl_easy_setopt(c, CURLOPT_PASSWORD, h->password ? h->password : "");
  return 0;
}

/* The request's headers into *headers and its body (POST) or GET; *ct is
 * the Content-Type line the list points to (the caller frees both). 0, or
 * -1 with err. */
static int set_body(struct exs_http *h, CURL *c, const struct exs_http_request *req,
                    struct curl_slist **headers, char **ct, struct exs_error *err)
{
  const char *type = req->content_type ? req->content_type : "text/xml; charset=utf-8";
  size_t i, n = strlen(type) + 16;

  for(i = 0; i < req->n_headers; i++)
    *headers = curl_slist_append(*headers, req->headers[i]);
  if(!req->method || strcmp(req->method, "POST")) {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    *headers = curl_slist_append(*headers, "Expect:");
    return 0;
  }
  if(!(*ct = malloc(n))) {
    exs_error_set(err, EXS_CAT_PROTOCOL, "out of memory");
    return -1;
  }
  snprintf(*ct, n, "Content-Type: %s", type);
  *headers = curl_slist_append(*headers, *ct);
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  if(req->no_resend) {
    /* kept connections stay usable: libcurl cannot rewind this body for a
     * resend of its own (seek_body), so nothing is sent twice */
    h->body = req->body ? req->body : "";
    h->body_len = req->body ? req->body_len : 0;
    h->body_sent = 0;
    h->answered = false;
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_body);
    curl_easy_setopt(c, CURLOPT_READDATA, h);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, seek_body);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, h);
  }
  else {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
  }
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
  *headers = curl_slist_append(*headers, "Expect:");
  return 0;
}

/* An answer arrived: its status, content type and the scheme used; -1 with
 * err when the server refused a valid Kerberos ticket. */
static int take_answer(struct exs_http *h, const struct exs_http_request *req,
                       struct exs_http_response *resp, long mask, struct exs_error *err)
{
  char *t = NULL;

  curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &resp->status);
  curl_easy_getinfo(h->curl, CURLINFO_CONTENT_TYPE, &t);
  snprintf(resp->content_type, sizeof(resp->content_type), "%s", t ? t : "");
  if(mask) {
    const char *used = scheme_used(mask, h->offered);
    if(used)
      h->scheme = used;
  }
  if(h->capture)
    report_exchange(h, req, resp, NULL);
  if(resp->status == 401 && h->krb && (mask & CURLAUTH_NEGOTIATE) &&
     strstr(h->offered, "Negotiate")) {
    /* the KDC gave us a ticket for this server, and the server refused it */
    char host[256];
    url_host(req->url, host, sizeof(host));
    exs_krb_rejected(h->krb, host, req->url, err);
    err->http_status = 401;
    return -1;
  }
  return 0;
}

int exs_http_perform(struct exs_http *h, const struct exs_http_request *req,
                     struct exs_http_response *resp, struct exs_error *err)
{
  struct curl_slist *headers = NULL;
  CURL *c = h->curl;
  CURLcode rc;
  bool plain = is_plain_http(req->url);
  int64_t start = exs_monotonic_ms();
  char *ct = NULL;
  int result = -1;
  bool gss_cache_set = false;
  long mask = 0;

  if(!req->anonymous && exs_http_check_channel(&h->opt, req->url, err))
    return -1;
  if(strncasecmp(req->url, "https://", 8) && !plain) {
    snprintf(err->url, sizeof(err->url), "%s", req->url);
    exs_error_set(err, EXS_CAT_CONFIG, "not an http(s) URL: %s", req->url);
    return -1;
  }

  curl_easy_reset(c);
  h->errbuf[0] = '\0';
  h->cur = resp;
  resp->body.max = h->max_body;
  exs_buf_reset(&resp->body);
  resp->status = 0;
  set_transfer(h, c, req);
  if(!req->anonymous && h->user && set_auth(h, c, req, plain, &mask, &gss_cache_set, err))
    goto out;
  if(set_body(h, c, req, &headers, &ct, err))
    goto out;
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);

  rc = curl_easy_perform(c);
  resp->elapsed_ms = (long)(exs_monotonic_ms() - start);
  if(rc != CURLE_OK) {
    map_curl_error(h, rc, req->url, err);
    if(h->capture)
      report_exchange(h, req, resp, err);
    goto out;
  }
  if(take_answer(h, req, resp, mask, err))
    goto out;
  result = 0;
out:
  if(gss_cache_set) {
    OM_uint32 minor;
    gss_krb5_ccache_name(&minor, NULL, NULL);
  }
  if(h->capture) {
    if(h->xreq.data)
      OPENSSL_cleanse(h->xreq.data, h->xreq.len);
    exs_buf_free(&h->xreq);
    exs_buf_free(&h->xresp);
    h->capture = false;
  }
  /* curl keeps a pointer to the header list only for this transfer */
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
  curl_slist_free_all(headers);
  free(ct);
  h->cur = NULL;
  return result;
}

/* replay.c - `exsync replay FILE`: serve a recording's answers from the
 * emulator library's replay server, rerun the recorded command against it
 * with the recorded time frozen, and compare its report with the recorded
 * one (exit 0 same, 1 different with a diff, 2 unusable file). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "opt.h"
#include "exsync-emulator/replay.h"
#include "exsync/clock.h"
#include "exsync/http.h"
#include "exsync/normalize.h"
#include "recplay.h"

enum mode { MODE_NONE, MODE_ONCE, MODE_NEW_EPISODES, MODE_ALL };

#define MAX_HOSTS 64
#define MAX_PROBLEMS 32
#define REPLAY_PW_VAR "EXSYNC_REPLAY_PASSWORD"

struct endpoint {
  char host[256];
  int port;
  bool tls;
};

struct replayer {
  pthread_mutex_t lock;
  struct diag_recording *rec;
  struct exs_normalizer *norm;
  enum mode mode;
  const struct exs_transport *transport; /* new_episodes: the run's --connect-to, --resolve,
                                            --cacert, --proxy */
  char problems[MAX_PROBLEMS][512];
  size_t n_problems;
  size_t unmatched;
  size_t added; /* exchanges recorded by new_episodes */
  char scratch_headers[64 * 1024];
  char *scratch_body; /* answer of a forwarded request */
};

static int parse_url(const char *url, struct endpoint *ep, char *path, size_t pathlen)
{
  const char *p;
  size_t n;

  memset(ep, 0, sizeof(*ep));
  if(!strncasecmp(url, "https://", 8)) {
    ep->tls = true;
    ep->port = 443;
    p = url + 8;
  }
  else if(!strncasecmp(url, "http://", 7)) {
    ep->port = 80;
    p = url + 7;
  }
  else {
    return -1;
  }
  n = strcspn(p, ":/?#");
  if(!n || n >= sizeof(ep->host))
    return -1;
  memcpy(ep->host, p, n);
  ep->host[n] = '\0';
  p += n;
  if(*p == ':') {
    ep->port = (int)strtol(p + 1, NULL, 10);
    p += 1 + strspn(p + 1, "0123456789");
  }
  if(path)
    snprintf(path, pathlen, "%.*s", (int)strcspn(*p ? p : "/", "?#"), *p ? p : "/");
  return 0;
}

static void add_problem(struct replayer *rp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add_problem(struct replayer *rp, const char *fmt, ...)
{
  va_list ap;

  if(rp->n_problems >= MAX_PROBLEMS)
    return;
  va_start(ap, fmt);
  vsnprintf(rp->problems[rp->n_problems++], sizeof(rp->problems[0]), fmt, ap);
  va_end(ap);
}

static bool has_header(const char *block, const char *name)
{
  const char *p = block;
  size_t nl = strlen(name);

  while(p && *p) {
    if(!strncasecmp(p, name, nl) && p[nl] == ':')
      return true;
    p = strchr(p, '\n');
    if(p)
      p++;
  }
  return false;
}

/* The response header block of the forwarded request, through the exchange
 * hook of forward's own transport. */
static void capture_headers(void *ud, const struct exs_http_exchange *x)
{
  struct replayer *rp = ud;
  const char *p = x->resp_headers, *end = x->resp_headers + x->resp_headers_len;
  size_t o = 0;

  rp->scratch_headers[0] = '\0';
  while(p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
    size_t vl = n && p[n - 1] == '\r' ? n - 1 : n;
    if(vl && strncmp(p, "HTTP/", 5) && memchr(p, ':', vl) &&
       o + vl + 2 < sizeof(rp->scratch_headers)) {
      memcpy(rp->scratch_headers + o, p, vl);
      o += vl;
      rp->scratch_headers[o++] = '\n';
      rp->scratch_headers[o] = '\0';
    }
    p += n + (eol ? 1 : 0);
  }
}

/* The request's headers worth forwarding (not those the transport writes
 * itself), split in place in copy, into hdrs[]; their number. */
static size_t forward_headers(char *copy, const char **hdrs, size_t max)
{
  static const char *const skip[] = {"host",      "content-length",  "content-type",
                                     "expect",    "accept-encoding", "connection",
                                     "user-agent"};
  char *p, *save = NULL;
  size_t n = 0;

  for(p = strtok_r(copy, "\n", &save); p && n < max; p = strtok_r(NULL, "\n", &save)) {
    size_t k;
    bool drop = false;
    for(k = 0; k < sizeof(skip) / sizeof(skip[0]); k++)
      if(!strncasecmp(p, skip[k], strlen(skip[k])) && p[strlen(skip[k])] == ':')
        drop = true;
    if(!drop)
      hdrs[n++] = p;
  }
  return n;
}

/* The real server's answer into ans and the new exchange e (normalised);
 * -1 on no memory. */
static int keep_answer(struct replayer *rp, const struct exs_http_response *resp,
                       struct diag_rec_exchange *e, struct exs_buf *nh,
                       struct emu_replay_answer *ans)
{
  e->status = (int)resp->status;
  if(exs_normalize_headers(rp->norm, rp->scratch_headers, strlen(rp->scratch_headers), nh))
    return -1;
  e->resp_headers = nh->data ? nh->data : "";
  free(rp->scratch_body);
  rp->scratch_body = malloc(resp->body.len + 1);
  if(!rp->scratch_body)
    return -1;
  memcpy(rp->scratch_body, resp->body.data ? resp->body.data : "", resp->body.len);
  rp->scratch_body[resp->body.len] = '\0';
  e->resp_body = rp->scratch_body;
  e->resp_body_len = resp->body.len;
  ans->status = e->status;
  ans->headers = rp->scratch_headers;
  ans->body = rp->scratch_body;
  ans->body_len = resp->body.len;
  return 0;
}

/* new_episodes: send the request to the real server, answer with what it
 * said and append the exchange (normalised) to the recording. */
static int forward(struct replayer *rp, const struct emu_replay_request *rq, const char *op,
                   const char *keys, struct emu_replay_answer *ans)
{
  struct exs_http_options o;
  struct exs_http_request req;
  struct exs_http_response resp;
  struct exs_error err;
  struct exs_http *h;
  struct diag_rec_exchange e;
  const char *hdrs[64];
  char *copy = strdup(rq->headers);
  char url[2048];
  struct exs_buf nb, nh;
  struct exs_transport t = *rp->transport;
  int result = -1;

  /* the answer's headers come through the exchange hook; no trace: the
   * replayed command's conversation is the one traced */
  t.trace = NULL;
  t.trace_ctx = NULL;
  t.exchange = capture_headers;
  t.exchange_ctx = rp;
  exs_http_options_init(&o, &t);
  o.allow_non_ssl = true;
  memset(&req, 0, sizeof(req));
  memset(&e, 0, sizeof(e));
  exs_error_clear(&err);
  exs_buf_init(&nb, DIAG_REC_MAX_BODY);
  exs_buf_init(&nh, 64 * 1024);
  exs_http_response_init(&resp);
  h = exs_http_new(&o);
  if(!h || !copy)
    goto out;
  snprintf(url, sizeof(url), "%s://%s%s", rq->tls ? "https" : "http", rq->host, rq->uri);
  req.method = rq->method;
  req.url = url;
  req.body = rq->body;
  req.body_len = rq->body_len;
  req.headers = hdrs;
  req.n_headers = forward_headers(copy, hdrs, sizeof(hdrs) / sizeof(hdrs[0]));
  req.anonymous = true;
  e.method = (char *)rq->method;
  e.url = url;
  e.operation = (char *)op;
  e.keys = (char *)keys;
  if(exs_normalize_text(rp->norm, rq->body, rq->body_len, &nb))
    goto out;
  e.req_body = nb.len ? nb.data : NULL;
  e.req_body_len = nb.len;
  rp->scratch_headers[0] = '\0';
  if(exs_http_perform(h, &req, &resp, &err)) {
    e.failure = (char *)exs_category_name(err.category);
    ans->status = 0;
  }
  else if(keep_answer(rp, &resp, &e, &nh, ans)) {
    goto out;
  }
  if(diag_recording_add(rp->rec, &e))
    goto out;
  rp->rec->x[rp->rec->n_x - 1].uses = 1;
  rp->added++;
  result = 0;
out:
  exs_http_response_free(&resp);
  exs_http_free(h);
  exs_buf_free(&nb);
  exs_buf_free(&nh);
  free(copy);
  return result;
}

/* How well recorded exchange x matches the request: the score (method,
 * host, path, operation, body elements each count one) and the first part
 * that differs (NULL: none). */
static int match_score(const struct diag_rec_exchange *x, const struct emu_replay_request *rq,
                       const char *path, const char *op, const char *keys, const char **diff)
{
  struct endpoint ep;
  char xpath[1024];
  int score = 0;

  *diff = "URL";
  if(parse_url(x->url, &ep, xpath, sizeof(xpath)))
    return -1;
  *diff = NULL;
  if(strcasecmp(x->method, rq->method))
    *diff = "method";
  else
    score++;
  if(ep.tls != rq->tls || strcasecmp(ep.host, rq->host))
    *diff = *diff ? *diff : "host";
  else
    score++;
  if(strcasecmp(xpath, path))
    *diff = *diff ? *diff : "path";
  else
    score++;
  if(strcmp(x->operation ? x->operation : "", op))
    *diff = *diff ? *diff : "operation";
  else
    score++;
  if(!diag_keys_subset(x->keys, keys))
    *diff = *diff ? *diff : "body elements";
  else
    score++;
  return score;
}

/* No recorded answer: a problem naming the nearest exchange, and a 500. */
static void no_answer(struct replayer *rp, const struct emu_replay_request *rq, const char *path,
                      const char *op, const char *keys, long nearest, const char *nearest_diff,
                      struct emu_replay_answer *ans)
{
  struct diag_recording *rec = rp->rec;

  rp->unmatched++;
  if(nearest >= 0)
    add_problem(rp,
                "no recorded answer for %s %s://%s%s%s%s [%s]; nearest: exchange %ld "
                "(line %d, %s %s %s [%s]) differs in %s",
                rq->method, rq->tls ? "https" : "http", rq->host, path, *op ? " " : "", op, keys,
                nearest + 1, rec->x[nearest].line, rec->x[nearest].method, rec->x[nearest].url,
                rec->x[nearest].operation, rec->x[nearest].keys, nearest_diff);
  else
    add_problem(rp, "no recorded answer for %s %s://%s%s%s%s (the recording has none)", rq->method,
                rq->tls ? "https" : "http", rq->host, path, *op ? " " : "", op);
  ans->status = 500;
  ans->headers = "Content-Type: text/plain\n";
  ans->body = "exsync replay: no recorded answer for this request\n";
  ans->body_len = strlen(ans->body);
}

static void answer(void *ud, const struct emu_replay_request *rq, struct emu_replay_answer *ans)
{
  struct replayer *rp = ud;
  struct diag_recording *rec = rp->rec;
  struct exs_buf nb, keys;
  char path[1024], op[64];
  size_t i, pathlen = strcspn(rq->uri, "?#");
  long pick = -1, repeat = -1, nearest = -1;
  int best_score = -1;
  const char *nearest_diff = "";
  bool auth = has_header(rq->headers, "Authorization");

  exs_buf_init(&nb, DIAG_REC_MAX_BODY);
  exs_buf_init(&keys, 8192);
  snprintf(path, sizeof(path), "%.*s", (int)pathlen, rq->uri);
  pthread_mutex_lock(&rp->lock);
  op[0] = '\0';
  if(exs_normalize_text(rp->norm, rq->body, rq->body_len, &nb) == 0)
    diag_request_keys(nb.data ? nb.data : "", nb.len, op, sizeof(op), &keys);
  for(i = 0; i < rec->n_x && pick < 0; i++) {
    const char *diff;
    int score = match_score(&rec->x[i], rq, path, op, keys.data ? keys.data : "", &diff);
    if(score < 0)
      continue;
    if(!diff && rec->x[i].uses == 0)
      pick = (long)i;
    else if(!diff)
      repeat = (long)i;
    else if(score > best_score) {
      best_score = score;
      nearest = (long)i;
      nearest_diff = diff;
    }
  }
  if(pick < 0 && repeat >= 0 && rp->mode != MODE_NEW_EPISODES)
    pick = repeat; /* a request asked more often than recorded: the last answer again */
  if(pick >= 0) {
    struct diag_rec_exchange *x = &rec->x[pick];
    /* an unauthenticated leg answered with the recorded 401 leaves the
     * exchange for the authenticated leg that follows */
    if(!(x->status == 401 && !auth))
      x->uses++;
    ans->status = x->status;
    ans->headers = x->resp_headers ? x->resp_headers : "";
    ans->body = x->resp_body;
    ans->body_len = x->resp_body_len;
  }
  else if(rp->mode != MODE_NEW_EPISODES ||
          forward(rp, rq, op, keys.data ? keys.data : "", ans) != 0) {
    no_answer(rp, rq, path, op, keys.data ? keys.data : "", nearest, nearest_diff, ans);
  }
  pthread_mutex_unlock(&rp->lock);
  exs_buf_free(&nb);
  exs_buf_free(&keys);
}

/* ---- report comparison ---- */

static size_t split_lines(char *s, char **lines, size_t max)
{
  size_t n = 0;
  char *p = s;

  while(*p && n < max) {
    char *e = strchr(p, '\n');
    lines[n++] = p;
    if(!e)
      break;
    *e = '\0';
    p = e + 1;
  }
  return n;
}

/* Print a unified-style diff of a (expected) and b (actual) to f. */
static void print_diff(FILE *f, const char *label, char *a, char *b)
{
  enum { MAXL = 2000 };
  char **la = calloc(MAXL, sizeof(char *));
  char **lb = calloc(MAXL, sizeof(char *));
  size_t na, nb, i, j;
  unsigned short *t = NULL;

  if(!la || !lb)
    goto out;
  na = split_lines(a, la, MAXL);
  nb = split_lines(b, lb, MAXL);
  t = calloc((na + 1) * (nb + 1), sizeof(*t));
  if(!t)
    goto out;
#define T(x, y) t[(x) * (nb + 1) + (y)]
  for(i = na; i-- > 0;)
    for(j = nb; j-- > 0;)
      T(i, j) = !strcmp(la[i], lb[j])       ? (unsigned short)(T(i + 1, j + 1) + 1)
                : T(i + 1, j) > T(i, j + 1) ? T(i + 1, j)
                                            : T(i, j + 1);
  fprintf(f, "--- expected (%s)\n+++ actual (replayed)\n", label);
  i = j = 0;
  while(i < na || j < nb) {
    if(i < na && j < nb && !strcmp(la[i], lb[j])) {
      fprintf(f, " %s\n", la[i]);
      i++;
      j++;
    }
    else if(i < na && (j == nb || T(i + 1, j) >= T(i, j + 1))) {
      fprintf(f, "-%s\n", la[i++]);
    }
    else {
      fprintf(f, "+%s\n", lb[j++]);
    }
  }
#undef T
out:
  free(t);
  free(la);
  free(lb);
}

/* ---- the command ---- */

static int help(void)
{
  printf("usage: exsync replay FILE [--mode none|once|new_episodes|all] [--update]\n"
         "                    [--password-env VAR] [-- COMMAND...]\n\n"
         "Rerun a recording's command against its recorded answers, offline, with the\n"
         "recorded time frozen, and compare the report with the recorded one.\n\n"
         "  --mode none          only recorded answers (default; never touches the network)\n"
         "  --mode once          record COMMAND into FILE when FILE does not exist, else none\n"
         "  --mode new_episodes  recorded answers; requests without one go to the real server\n"
         "                       (the global --connect-to/--resolve/--cacert apply) and are\n"
         "                       added to FILE\n"
         "  --mode all           record COMMAND into FILE again\n"
         "  --update             write the replayed report into FILE as the expected one\n"
         "  --password-env VAR   the real password in place of {{secret:password}} (for\n"
         "                       new_episodes against a real server)\n\n"
         "A recording may only run test-enable --config or autodiscover (with their own\n"
         "options, --format, and --cacert/--connect-to/--resolve, which replay replaces);\n"
         "anything else, --db, --key-file, --trace or a file that is not embedded in the\n"
         "recording is refused with exit 2 naming the argument. The command runs in a\n"
         "private temporary directory holding the recording's files.\n\n"
         "Exit codes: 0 the report is the recorded one, 1 it differs (a diff is printed),\n"
         "2 the file is unusable or refused.\n");
  return 0;
}

static int write_file(const char *path, const char *content)
{
  FILE *f = fopen(path, "w");
  size_t n = strlen(content);

  if(!f)
    return -1;
  if(fwrite(content, 1, n, f) != n) {
    fclose(f);
    return -1;
  }
  return fclose(f) ? -1 : 0;
}

/* A copy of text with every {{secret:password}} replaced by pw. */
static char *with_password(const char *text, const char *pw)
{
  static const char ph[] = "{{secret:password}}";
  struct exs_buf b;
  const char *p = text, *hit;

  exs_buf_init(&b, DIAG_REC_MAX_BODY);
  while((hit = strstr(p, ph)) != NULL) {
    if(exs_buf_add(&b, p, (size_t)(hit - p)) || exs_buf_adds(&b, pw)) {
      exs_buf_free(&b);
      return NULL;
    }
    p = hit + sizeof(ph) - 1;
  }
  if(exs_buf_adds(&b, p)) {
    exs_buf_free(&b);
    return NULL;
  }
  return exs_buf_steal(&b);
}

static char *substitute(const char *word, const char *dir)
{
  const char *b = strstr(word, "{{file:");
  const char *e = b ? strstr(b, "}}") : NULL;
  size_t n;
  char *out;

  if(!b || !e)
    return strdup(word);
  n = strlen(word) + strlen(dir) + 2;
  out = malloc(n);
  if(out)
    snprintf(out, n, "%.*s%s/%.*s%s", (int)(b - word), word, dir, (int)(e - b - 7), b + 7, e + 2);
  return out;
}

/* One replay run: the options, the recording, the private directory, the
 * replay server and the command line that runs against it. */
struct replay_run {
  struct diag_ctx *ctx;
  const char *file;
  const char *const *command; /* after "--", for once / all */
  size_t n_command;
  enum mode mode;
  bool update;
  const char *password_env;
  int64_t started;
  struct replayer rp;
  struct diag_recording *rec;
  struct emu_replay *srv;
  struct endpoint eps[MAX_HOSTS];
  size_t neps;
  const char *tls_hosts[MAX_HOSTS];
  size_t ntls;
  struct diag_ctx run_ctx; /* what the replayed command runs with */
  char *args[DIAG_REC_MAX_ARGS];
  size_t nargs;
  const char *words[DIAG_REC_MAX_ARGS];
  size_t n_words;
  char connect[MAX_HOSTS + 3][320];
  char dir[32];
  bool have_dir;
  char ca[4200];
  int plain_port, tls_port, exit_code;
  char *report;
};

/* The options; -1 to go on, else the exit code (help, a bad option). */
static int parse_options(struct replay_run *r, int argc, char **argv)
{
  static const struct diag_opt opts[] = {
      {"--update", false, 1}, {"--password-env", true, 2}, {"--mode", true, 3}, {NULL, false, 0}};
  struct diag_optp p;
  int id;

  diag_opt_init(&p, "replay", opts, NULL, argc, argv, 1);
  p.stop_at_dashdash = true;
  while((id = diag_opt_next(&p)) != DIAG_OPT_END) {
    switch(id) {
    case DIAG_OPT_HELP:
      return help();
    case DIAG_OPT_ERR:
      return 2;
    case DIAG_OPT_ARG:
      if(r->file)
        return diag_opt_unexpected(&p);
      r->file = p.value;
      break;
    case 1:
      r->update = true;
      break;
    case 2:
      r->password_env = p.value;
      if(!getenv(r->password_env))
        return diag_fail("replay: the environment variable %s is not set", r->password_env);
      break;
    default:
      if(!strcmp(p.value, "none"))
        r->mode = MODE_NONE;
      else if(!strcmp(p.value, "once"))
        r->mode = MODE_ONCE;
      else if(!strcmp(p.value, "new_episodes"))
        r->mode = MODE_NEW_EPISODES;
      else if(!strcmp(p.value, "all"))
        r->mode = MODE_ALL;
      else
        return diag_fail("replay: unknown mode '%s' (none, once, new_episodes, all)", p.value);
      break;
    }
  }
  if(p.saw_dashdash) {
    r->command = (const char *const *)argv + p.i;
    r->n_command = (size_t)(argc - p.i);
  }
  return -1;
}

/* Load the recording, refuse a command it may not hold, and set up the
 * normalizer its report is compared through. */
static int load_recording(struct replay_run *r)
{
  char err[1024];
  size_t i;

  if(diag_recording_load(r->file, diag_data_path("schema/recording.xsd"), &r->rec, err,
                         sizeof(err)))
    return diag_fail("%s", err);
  /* a recording is shared data: run only what one may hold */
  if(r->rec->argc > DIAG_REC_MAX_ARGS ||
     diag_recording_check_command(r->rec, (const char *const *)r->rec->argv, r->rec->argc, r->words,
                                  &r->n_words, err, sizeof(err)))
    return diag_fail("replay: %s: refused: %s", r->file,
                     r->rec->argc > DIAG_REC_MAX_ARGS ? "too many command words" : err);
  r->rp.rec = r->rec;
  r->rp.mode = r->mode;
  r->rp.transport = diag_transport(r->ctx);
  r->rp.norm = exs_normalizer_new();
  if(!r->rp.norm)
    return diag_fail("out of memory");
  exs_normalizer_set_anonymize(r->rp.norm, r->rec->anonymize);
  if(r->password_env)
    exs_normalizer_add_secret(r->rp.norm, getenv(r->password_env));
  for(i = 0; i < r->rec->n_rules; i++)
    if(exs_normalizer_add_rule(r->rp.norm, r->rec->rules[i], err, sizeof(err)))
      return diag_fail("%s: %s", r->file, err);
  return 0;
}

/* The endpoints the command talked to, and the TLS host names the replay
 * server answers for. */
static int collect_endpoints(struct replay_run *r)
{
  size_t i, j;

  for(i = 0; i < r->rec->n_x; i++) {
    struct endpoint ep;
    bool seen = false;
    if(parse_url(r->rec->x[i].url, &ep, NULL, 0))
      return diag_fail("%s:%d: not a usable URL", r->file, r->rec->x[i].line);
    for(j = 0; j < r->neps; j++)
      if(!strcasecmp(r->eps[j].host, ep.host) && r->eps[j].port == ep.port &&
         r->eps[j].tls == ep.tls)
        seen = true;
    if(seen)
      continue;
    if(r->neps >= MAX_HOSTS)
      return diag_fail("%s: more than %d endpoints", r->file, MAX_HOSTS);
    r->eps[r->neps++] = ep;
    if(ep.tls) {
      bool dup = false;
      for(j = 0; j < r->ntls; j++)
        if(!strcasecmp(r->tls_hosts[j], ep.host))
          dup = true;
      if(!dup)
        r->tls_hosts[r->ntls++] = r->eps[r->neps - 1].host;
    }
  }
  if(!r->ntls)
    r->tls_hosts[r->ntls++] = "localhost"; /* an HTTPS listener for unrecorded https hosts */
  return 0;
}

/* The private directory holding the recording's files and the password. */
static int make_private_dir(struct replay_run *r)
{
  char fpath[4200];
  size_t i;

  snprintf(r->dir, sizeof(r->dir), "%s", "/tmp/exsync-replay-XXXXXX");
  if(!mkdtemp(r->dir))
    return diag_fail("cannot create a temporary directory: %s", strerror(errno));
  r->have_dir = true;
  for(i = 0; i < r->rec->n_files; i++) {
    char *content = r->password_env
                        ? with_password(r->rec->files[i].content, getenv(r->password_env))
                        : strdup(r->rec->files[i].content);
    int wrc;
    if(!content)
      return diag_fail("out of memory");
    snprintf(fpath, sizeof(fpath), "%s/%s", r->dir, r->rec->files[i].name);
    wrc = write_file(fpath, content) || chmod(fpath, 0600);
    free(content);
    if(wrc)
      return diag_fail("cannot write %s", fpath);
  }
  snprintf(fpath, sizeof(fpath), "%s/password", r->dir);
  if(write_file(fpath, r->password_env ? getenv(r->password_env) : "{{secret:password}}\n"))
    return diag_fail("cannot write %s", fpath);
  chmod(fpath, 0600);
  return 0;
}

/* Start the replay server and write its CA into the private directory. */
static int start_server(struct replay_run *r)
{
  char err[1024];

  /* the password a recorded --password-env names comes from a variable of
   * replay's own, never from one the recording chose; set before the
   * server's thread starts (setenv is not safe beside a thread's getenv) */
  setenv(REPLAY_PW_VAR, r->password_env ? getenv(r->password_env) : "{{secret:password}}", 1);
  r->srv = emu_replay_new(answer, &r->rp, r->tls_hosts, r->ntls);
  if(!r->srv || emu_replay_start(r->srv, &r->plain_port, &r->tls_port, err, sizeof(err)))
    return diag_fail("replay server: %s", r->srv ? err : "out of memory");
  snprintf(r->ca, sizeof(r->ca), "%s/replay-ca.pem", r->dir);
  if(emu_replay_write_ca(r->srv, r->ca, err, sizeof(err)))
    return diag_fail("%s", err);
  return 0;
}

/* The settings the command runs with: every host pointed at the replay
 * server, its CA, the recorded format, replay's own trace. */
static int build_ctx(struct replay_run *r)
{
  struct diag_ctx *c = &r->run_ctx;
  int format = r->rec->format ? diag_format_parse(r->rec->format) : -1;
  size_t i;

  *c = *r->ctx;
  c->transport.n_connect_to = 0;
  c->transport.n_resolve = 0;
  if(r->neps + 2 > DIAG_MAX_OVERRIDES)
    return diag_fail("%s: more than %d endpoints", r->file, DIAG_MAX_OVERRIDES - 2);
  /* every recorded endpoint, then everything else, goes to the replay
   * server: offline means no byte leaves this machine */
  for(i = 0; i < r->neps; i++) {
    snprintf(r->connect[i], sizeof(r->connect[i]), "%s:%d:127.0.0.1:%d", r->eps[i].host,
             r->eps[i].port, r->eps[i].tls ? r->tls_port : r->plain_port);
    c->connect_to[c->transport.n_connect_to++] = r->connect[i];
  }
  snprintf(r->connect[r->neps], sizeof(r->connect[0]), ":443:127.0.0.1:%d", r->tls_port);
  snprintf(r->connect[r->neps + 1], sizeof(r->connect[0]), "::127.0.0.1:%d", r->plain_port);
  c->connect_to[c->transport.n_connect_to++] = r->connect[r->neps];
  c->connect_to[c->transport.n_connect_to++] = r->connect[r->neps + 1];
  c->transport.cacert = r->ca;
  c->format = format < 0 ? DIAG_FORMAT_TEXT : (enum diag_format)format;
  return 0;
}

/* The recorded command's words, with its files in the private directory. */
static int build_args(struct replay_run *r)
{
  size_t i;

  for(i = 0; i < r->n_words; i++) {
    if(i > 0 && !strcmp(r->words[i - 1], "--password-env"))
      r->args[r->nargs] = strdup(REPLAY_PW_VAR);
    else
      r->args[r->nargs] = substitute(r->words[i], r->dir);
    if(!r->args[r->nargs])
      return diag_fail("out of memory");
    r->nargs++;
  }
  return 0;
}

/* Run the recorded command in the private directory with the recorded
 * time frozen, then stop the replay server. */
static int run_command(struct replay_run *r)
{
  int cwd_fd, rc, result = 2;

  cwd_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if(cwd_fd < 0 || chdir(r->dir)) {
    result = diag_fail("cannot enter %s: %s", r->dir, strerror(errno));
    goto out;
  }
  if(r->rec->frozen)
    exs_clock_freeze(r->rec->frozen);
  rc = diag_run_captured(&r->run_ctx, (const char *const *)r->args, r->nargs, &r->report,
                         &r->exit_code);
  exs_clock_freeze(0);
  if(fchdir(cwd_fd)) {
    result = diag_fail("cannot return to the working directory: %s", strerror(errno));
    goto out;
  }
  if(rc)
    goto out;
  emu_replay_free(r->srv);
  r->srv = NULL;
  unsetenv(REPLAY_PW_VAR); /* the server's thread has ended */
  result = 0;
out:
  if(cwd_fd >= 0)
    close(cwd_fd);
  return result;
}

/* --update / new_episodes: write the recording back. -1 to go on and
 * compare, else the exit code. */
static int save_updates(struct replay_run *r, struct exs_buf *nrep)
{
  char err[1024];

  if(!r->update && !r->rp.added)
    return -1;
  if(r->update) {
    free(r->rec->report);
    r->rec->report = exs_buf_steal(nrep);
    r->rec->exit_code = r->exit_code;
    if(!r->rec->report)
      return diag_fail("out of memory");
  }
  if((r->rp.added ? diag_recording_save(r->rec, r->file, err, sizeof(err))
                  : diag_recording_save_expect(r->rec, r->file, err, sizeof(err))))
    return diag_fail("%s", err);
  fprintf(stderr, "exsync: %s updated (%s%zu new exchanges)\n", r->file,
          r->update ? "expected report, " : "", r->rp.added);
  return r->update ? 0 : -1;
}

/* Write the verdict (same report and exit code, or a diff) as text; 0
 * same, 1 different. */
static int judge(struct replay_run *r, FILE *verdict, struct exs_buf *want, struct exs_buf *got)
{
  const struct diag_recording *rec = r->rec;
  char *w = want->data ? want->data : (char *)"";
  char *g = got->data ? got->data : (char *)"";

  if(!strcmp(w, g) && r->exit_code == rec->exit_code && r->rp.unmatched == 0) {
    fprintf(verdict, "replay: %s: same report, exit %d (%zu exchanges)\n", r->file, r->exit_code,
            rec->n_x);
    return 0;
  }
  if(r->exit_code != rec->exit_code)
    fprintf(verdict, "replay: exit code %d, recorded %d\n", r->exit_code, rec->exit_code);
  if(strcmp(w, g))
    print_diff(verdict, r->file, w, g);
  fprintf(verdict, "replay: %s: the replayed run differs from the recording\n", r->file);
  return 1;
}

/* Compare the replayed report with the recorded one and write the verdict
 * in --format. */
static int compare_and_report(struct replay_run *r)
{
  struct diag_recording *rec = r->rec;
  struct diag_replay_verdict v;
  FILE *verdict = NULL;
  char *verdict_text = NULL;
  size_t verdict_len = 0, i;
  struct exs_buf want, got, nrep;
  int result = 2;

  exs_buf_init(&want, DIAG_REC_MAX_BODY);
  exs_buf_init(&got, DIAG_REC_MAX_BODY);
  exs_buf_init(&nrep, DIAG_REC_MAX_BODY);
  if(exs_normalize_text(r->rp.norm, r->report, strlen(r->report), &nrep) ||
     diag_report_mask(nrep.data ? nrep.data : "", &got) ||
     diag_report_mask(rec->report ? rec->report : "", &want)) {
    result = diag_fail("out of memory");
    goto out;
  }
  /* the verdict is written as text here, then rendered in --format */
  verdict = open_memstream(&verdict_text, &verdict_len);
  if(!verdict) {
    result = diag_fail("out of memory");
    goto out;
  }
  for(i = 0; i < r->rp.n_problems; i++)
    fprintf(verdict, "replay: %s\n", r->rp.problems[i]);
  for(i = 0; i < rec->n_x; i++)
    if(!rec->x[i].uses && rec->x[i].status != 401 && rec->x[i].status != 0)
      fprintf(stderr, "exsync: note: exchange %zu (line %d, %s %s) was not asked for\n", i + 1,
              rec->x[i].line, rec->x[i].method, rec->x[i].url);
  result = save_updates(r, &nrep);
  if(result >= 0)
    goto out;
  result = judge(r, verdict, &want, &got);
  fclose(verdict);
  verdict = NULL;
  memset(&v, 0, sizeof(v));
  v.file = r->file;
  v.same = result == 0;
  v.exit_code = r->exit_code;
  v.recorded_exit_code = rec->exit_code;
  v.exchanges = rec->n_x;
  v.unmatched = r->rp.unmatched;
  v.text = verdict_text;
  v.elapsed_ms = (long)(exs_monotonic_ms() - r->started);
  diag_replay_write(stdout, r->ctx->format, &v);
out:
  if(verdict)
    fclose(verdict);
  free(verdict_text);
  exs_buf_free(&want);
  exs_buf_free(&got);
  exs_buf_free(&nrep);
  return result;
}

/* Remove the private directory and free what the run holds. */
static void run_cleanup(struct replay_run *r)
{
  char fpath[4200];
  size_t i;

  emu_replay_free(r->srv);
  unsetenv(REPLAY_PW_VAR);
  exs_clock_freeze(0);
  for(i = 0; i < r->nargs; i++)
    free(r->args[i]);
  if(r->have_dir) {
    for(i = 0; r->rec && i < r->rec->n_files; i++) {
      snprintf(fpath, sizeof(fpath), "%s/%s", r->dir, r->rec->files[i].name);
      unlink(fpath);
    }
    snprintf(fpath, sizeof(fpath), "%s/password", r->dir);
    unlink(fpath);
    if(r->ca[0])
      unlink(r->ca);
    rmdir(r->dir);
  }
  free(r->report);
  free(r->rp.scratch_body);
  exs_normalizer_free(r->rp.norm);
  diag_recording_free(r->rec);
  pthread_mutex_destroy(&r->rp.lock);
}

int diag_cmd_replay(struct diag_ctx *ctx, int argc, char **argv)
{
  struct replay_run run;
  struct replay_run *r = &run;
  int result;

  memset(r, 0, sizeof(*r));
  r->ctx = ctx;
  r->mode = MODE_NONE;
  r->exit_code = 2;
  r->started = exs_monotonic_ms();
  result = parse_options(r, argc, argv);
  if(result >= 0)
    return result;
  if(!r->file)
    return diag_fail("replay needs a recording FILE");
  if(diag_formats(ctx, "replay", DIAG_F_REPORT))
    return 2;
  /* once / all: (re)record the command given after "--" */
  if(r->mode == MODE_ALL || (r->mode == MODE_ONCE && access(r->file, F_OK) != 0)) {
    struct diag_record_options ro;
    if(!r->n_command)
      return diag_fail("replay --mode %s needs the command to record after '--'",
                       r->mode == MODE_ALL ? "all" : "once");
    memset(&ro, 0, sizeof(ro));
    ro.out = r->file;
    return diag_record(ctx, &ro, r->command, r->n_command);
  }
  pthread_mutex_init(&r->rp.lock, NULL);
  if((result = load_recording(r)) || (result = collect_endpoints(r)) ||
     (result = make_private_dir(r)) || (result = start_server(r)) || (result = build_ctx(r)) ||
     (result = build_args(r)) || (result = run_command(r)))
    goto out;
  result = compare_and_report(r);
out:
  run_cleanup(r);
  return result;
}

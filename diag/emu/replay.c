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
  const struct diag_ctx *ctx; /* new_episodes: its --connect-to, --resolve, --cacert */
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

/* The response header block of the forwarded request, through the
 * transport's exchange hook (the replayed client is blocked waiting for
 * this answer, so it performs nothing meanwhile). */
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

/* new_episodes: send the request to the real server, answer with what it
 * said and append the exchange (normalised) to the recording. */
static int forward(struct replayer *rp, const struct emu_replay_request *rq, const char *op,
                   const char *keys, struct emu_replay_answer *ans)
{
  static const char *const skip[] = {"host",      "content-length",  "content-type",
                                     "expect",    "accept-encoding", "connection",
                                     "user-agent"};
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
  size_t nhd = 0;
  char *p, *save = NULL;
  int rc, result = -1;

  memset(&o, 0, sizeof(o));
  memset(&req, 0, sizeof(req));
  exs_error_clear(&err);
  exs_buf_init(&nb, DIAG_REC_MAX_BODY);
  exs_buf_init(&nh, 64 * 1024);
  exs_http_response_init(&resp);
  o.allow_non_ssl = true;
  o.connect_to = rp->ctx->connect_to;
  o.n_connect_to = rp->ctx->n_connect_to;
  o.resolve = rp->ctx->resolve;
  o.n_resolve = rp->ctx->n_resolve;
  o.cacert = rp->ctx->cacert;
  h = exs_http_new(&o);
  if(!h || !copy)
    goto out;
  for(p = strtok_r(copy, "\n", &save); p && nhd < 64; p = strtok_r(NULL, "\n", &save)) {
    size_t k;
    bool drop = false;
    for(k = 0; k < sizeof(skip) / sizeof(skip[0]); k++)
      if(!strncasecmp(p, skip[k], strlen(skip[k])) && p[strlen(skip[k])] == ':')
        drop = true;
    if(!drop)
      hdrs[nhd++] = p;
  }
  snprintf(url, sizeof(url), "%s://%s%s", rq->tls ? "https" : "http", rq->host, rq->uri);
  req.method = rq->method;
  req.url = url;
  req.body = rq->body;
  req.body_len = rq->body_len;
  req.headers = hdrs;
  req.n_headers = nhd;
  req.anonymous = true;
  memset(&e, 0, sizeof(e));
  e.method = (char *)rq->method;
  e.url = url;
  e.operation = (char *)op;
  e.keys = (char *)keys;
  e.line = 0;
  if(exs_normalize_text(rp->norm, rq->body, rq->body_len, &nb))
    goto out;
  e.req_body = nb.len ? nb.data : NULL;
  e.req_body_len = nb.len;
  rp->scratch_headers[0] = '\0';
  exs_http_set_exchange_hook(capture_headers, rp);
  rc = exs_http_perform(h, &req, &resp, &err);
  exs_http_set_exchange_hook(NULL, NULL);
  if(rc) {
    e.failure = (char *)exs_category_name(err.category);
    ans->status = 0;
  }
  else {
    e.status = (int)resp.status;
    if(exs_normalize_headers(rp->norm, rp->scratch_headers, strlen(rp->scratch_headers), &nh))
      goto out;
    e.resp_headers = nh.data ? nh.data : "";
    free(rp->scratch_body);
    rp->scratch_body = malloc(resp.body.len + 1);
    if(!rp->scratch_body)
      goto out;
    memcpy(rp->scratch_body, resp.body.data ? resp.body.data : "", resp.body.len);
    rp->scratch_body[resp.body.len] = '\0';
    e.resp_body = rp->scratch_body;
    e.resp_body_len = resp.body.len;
    ans->status = e.status;
    ans->headers = rp->scratch_headers;
    ans->body = rp->scratch_body;
    ans->body_len = resp.body.len;
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

static void answer(void *ud, const struct emu_replay_request *rq, struct emu_replay_answer *ans)
{
  struct replayer *rp = ud;
  struct diag_recording *rec = rp->rec;
  struct exs_buf nb, keys;
  char path[1024], op[64], xpath[1024];
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
  for(i = 0; i < rec->n_x; i++) {
    struct diag_rec_exchange *x = &rec->x[i];
    struct endpoint ep;
    const char *diff = NULL;
    int score = 0;
    if(parse_url(x->url, &ep, xpath, sizeof(xpath)))
      continue;
    if(strcasecmp(x->method, rq->method))
      diff = "method";
    else
      score++;
    if(ep.tls != rq->tls || strcasecmp(ep.host, rq->host))
      diff = diff ? diff : "host";
    else
      score++;
    if(strcasecmp(xpath, path))
      diff = diff ? diff : "path";
    else
      score++;
    if(strcmp(x->operation ? x->operation : "", op))
      diff = diff ? diff : "operation";
    else
      score++;
    if(!diag_keys_subset(x->keys, keys.data ? keys.data : ""))
      diff = diff ? diff : "body elements";
    else
      score++;
    if(!diff) {
      if(x->uses == 0) {
        pick = (long)i;
        break;
      }
      repeat = (long)i;
    }
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
  else if(rp->mode == MODE_NEW_EPISODES &&
          forward(rp, rq, op, keys.data ? keys.data : "", ans) == 0) {
    /* answered by the real server */
  }
  else {
    rp->unmatched++;
    if(nearest >= 0)
      add_problem(rp,
                  "no recorded answer for %s %s://%s%s%s%s [%s]; nearest: exchange %ld "
                  "(line %d, %s %s %s [%s]) differs in %s",
                  rq->method, rq->tls ? "https" : "http", rq->host, path, *op ? " " : "", op,
                  keys.data ? keys.data : "", nearest + 1, rec->x[nearest].line,
                  rec->x[nearest].method, rec->x[nearest].url, rec->x[nearest].operation,
                  rec->x[nearest].keys, nearest_diff);
    else
      add_problem(rp, "no recorded answer for %s %s://%s%s%s%s (the recording has none)",
                  rq->method, rq->tls ? "https" : "http", rq->host, path, *op ? " " : "", op);
    ans->status = 500;
    ans->headers = "Content-Type: text/plain\n";
    ans->body = "exsync replay: no recorded answer for this request\n";
    ans->body_len = strlen(ans->body);
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

int diag_cmd_replay(struct diag_ctx *ctx, int argc, char **argv)
{
  static const char *const fmt_flags[] = {"text", "json", "junit", "html"};
  static const struct diag_opt opts[] = {
      {"--update", false, 1}, {"--password-env", true, 2}, {"--mode", true, 3}, {NULL, false, 0}};
  struct diag_optp p;
  FILE *verdict = NULL;
  char *verdict_text = NULL;
  size_t verdict_len = 0;
  int64_t started = exs_monotonic_ms();
  int id;
  struct replayer rp;
  struct diag_recording *rec = NULL;
  struct emu_replay *srv = NULL;
  struct endpoint eps[MAX_HOSTS];
  const char *tls_hosts[MAX_HOSTS];
  const char *globals[3 * MAX_HOSTS + 16];
  char *args[DIAG_REC_MAX_ARGS];
  const char *words[DIAG_REC_MAX_ARGS];
  size_t n_words = 0;
  char trace_abs[4200];
  int cwd_fd = -1, rc;
  char connect[MAX_HOSTS + 3][320];
  char dir[] = "/tmp/exsync-replay-XXXXXX";
  char err[1024], ca[4200] = "", fpath[4200];
  const char *file = NULL;
  const char *const *command = NULL;
  size_t n_command = 0, neps = 0, ntls = 0, ng = 0, nargs = 0, i, j;
  enum mode mode = MODE_NONE;
  bool update = false, have_dir = false;
  const char *password_env = NULL;
  int plain_port = 0, tls_port = 0, exit_code = 2, result = 2;
  char *report = NULL;
  struct exs_buf want, got, nrep;

  memset(&rp, 0, sizeof(rp));
  pthread_mutex_init(&rp.lock, NULL);
  exs_buf_init(&want, DIAG_REC_MAX_BODY);
  exs_buf_init(&got, DIAG_REC_MAX_BODY);
  exs_buf_init(&nrep, DIAG_REC_MAX_BODY);
  diag_opt_init(&p, "replay", opts, NULL, argc, argv, 1);
  p.stop_at_dashdash = true;
  while((id = diag_opt_next(&p)) != DIAG_OPT_END) {
    switch(id) {
    case DIAG_OPT_HELP:
      return help();
    case DIAG_OPT_ERR:
      return 2;
    case DIAG_OPT_ARG:
      if(file)
        return diag_opt_unexpected(&p);
      file = p.value;
      break;
    case 1:
      update = true;
      break;
    case 2:
      password_env = p.value;
      if(!getenv(password_env))
        return diag_fail("replay: the environment variable %s is not set", password_env);
      break;
    default:
      if(!strcmp(p.value, "none"))
        mode = MODE_NONE;
      else if(!strcmp(p.value, "once"))
        mode = MODE_ONCE;
      else if(!strcmp(p.value, "new_episodes"))
        mode = MODE_NEW_EPISODES;
      else if(!strcmp(p.value, "all"))
        mode = MODE_ALL;
      else
        return diag_fail("replay: unknown mode '%s' (none, once, new_episodes, all)", p.value);
      break;
    }
  }
  if(p.saw_dashdash) {
    command = (const char *const *)argv + p.i;
    n_command = (size_t)(argc - p.i);
  }
  if(!file)
    return diag_fail("replay needs a recording FILE");
  if(diag_formats(ctx, "replay", DIAG_F_REPORT))
    return 2;
  /* once / all: (re)record the command given after "--" */
  if(mode == MODE_ALL || (mode == MODE_ONCE && access(file, F_OK) != 0)) {
    struct diag_record_options ro;
    if(!n_command)
      return diag_fail("replay --mode %s needs the command to record after '--'",
                       mode == MODE_ALL ? "all" : "once");
    memset(&ro, 0, sizeof(ro));
    ro.out = file;
    return diag_record(ctx, &ro, command, n_command);
  }
  if(diag_recording_load(file, diag_data_path("schema/recording.xsd"), &rec, err, sizeof(err))) {
    result = diag_fail("%s", err);
    goto out;
  }
  /* a recording is shared data: run only what one may hold */
  if(rec->argc > DIAG_REC_MAX_ARGS ||
     diag_recording_check_command(rec, (const char *const *)rec->argv, rec->argc, words, &n_words,
                                  err, sizeof(err))) {
    result = diag_fail("replay: %s: refused: %s", file,
                       rec->argc > DIAG_REC_MAX_ARGS ? "too many command words" : err);
    goto out;
  }
  rp.rec = rec;
  rp.mode = mode;
  rp.ctx = ctx;
  rp.norm = exs_normalizer_new();
  if(!rp.norm) {
    result = diag_fail("out of memory");
    goto out;
  }
  exs_normalizer_set_anonymize(rp.norm, rec->anonymize);
  if(password_env)
    exs_normalizer_add_secret(rp.norm, getenv(password_env));
  for(i = 0; i < rec->n_rules; i++)
    if(exs_normalizer_add_rule(rp.norm, rec->rules[i], err, sizeof(err))) {
      result = diag_fail("%s: %s", file, err);
      goto out;
    }
  /* the endpoints the command talked to */
  for(i = 0; i < rec->n_x; i++) {
    struct endpoint ep;
    bool seen = false;
    if(parse_url(rec->x[i].url, &ep, NULL, 0)) {
      result = diag_fail("%s:%d: not a usable URL", file, rec->x[i].line);
      goto out;
    }
    for(j = 0; j < neps; j++)
      if(!strcasecmp(eps[j].host, ep.host) && eps[j].port == ep.port && eps[j].tls == ep.tls)
        seen = true;
    if(seen)
      continue;
    if(neps >= MAX_HOSTS) {
      result = diag_fail("%s: more than %d endpoints", file, MAX_HOSTS);
      goto out;
    }
    eps[neps++] = ep;
    if(ep.tls) {
      bool dup = false;
      for(j = 0; j < ntls; j++)
        if(!strcasecmp(tls_hosts[j], ep.host))
          dup = true;
      if(!dup)
        tls_hosts[ntls++] = eps[neps - 1].host;
    }
  }
  if(!ntls)
    tls_hosts[ntls++] = "localhost"; /* an HTTPS listener for unrecorded https hosts */
  if(!mkdtemp(dir)) {
    result = diag_fail("cannot create a temporary directory: %s", strerror(errno));
    goto out;
  }
  have_dir = true;
  for(i = 0; i < rec->n_files; i++) {
    char *content = password_env ? with_password(rec->files[i].content, getenv(password_env))
                                 : strdup(rec->files[i].content);
    int wrc;
    if(!content) {
      result = diag_fail("out of memory");
      goto out;
    }
    snprintf(fpath, sizeof(fpath), "%s/%s", dir, rec->files[i].name);
    wrc = write_file(fpath, content) || chmod(fpath, 0600);
    free(content);
    if(wrc) {
      result = diag_fail("cannot write %s", fpath);
      goto out;
    }
  }
  snprintf(fpath, sizeof(fpath), "%s/password", dir);
  if(write_file(fpath, password_env ? getenv(password_env) : "{{secret:password}}\n")) {
    result = diag_fail("cannot write %s", fpath);
    goto out;
  }
  chmod(fpath, 0600);
  /* the password a recorded --password-env names comes from a variable of
   * replay's own, never from one the recording chose; set before the
   * server's thread starts (setenv is not safe beside a thread's getenv) */
  setenv(REPLAY_PW_VAR, password_env ? getenv(password_env) : "{{secret:password}}", 1);
  srv = emu_replay_new(answer, &rp, tls_hosts, ntls);
  if(!srv || emu_replay_start(srv, &plain_port, &tls_port, err, sizeof(err))) {
    result = diag_fail("replay server: %s", srv ? err : "out of memory");
    goto out;
  }
  snprintf(ca, sizeof(ca), "%s/replay-ca.pem", dir);
  if(emu_replay_write_ca(srv, ca, err, sizeof(err))) {
    result = diag_fail("%s", err);
    goto out;
  }
  /* every recorded endpoint, then everything else, goes to the replay
   * server: offline means no byte leaves this machine */
  for(i = 0; i < neps; i++) {
    snprintf(connect[i], sizeof(connect[i]), "%s:%d:127.0.0.1:%d", eps[i].host, eps[i].port,
             eps[i].tls ? tls_port : plain_port);
    globals[ng++] = "--connect-to";
    globals[ng++] = connect[i];
  }
  snprintf(connect[neps], sizeof(connect[0]), ":443:127.0.0.1:%d", tls_port);
  snprintf(connect[neps + 1], sizeof(connect[0]), "::127.0.0.1:%d", plain_port);
  globals[ng++] = "--connect-to";
  globals[ng++] = connect[neps];
  globals[ng++] = "--connect-to";
  globals[ng++] = connect[neps + 1];
  globals[ng++] = "--cacert";
  globals[ng++] = ca;
  globals[ng++] = "--format";
  globals[ng] = "text";
  for(i = 0; i < sizeof(fmt_flags) / sizeof(fmt_flags[0]); i++)
    if(rec->format && !strcmp(rec->format, fmt_flags[i]))
      globals[ng] = fmt_flags[i];
  ng++;
  globals[ng++] = "--trace";
  globals[ng++] = ctx->trace_path ? ctx->trace_path : "/dev/null";
  for(i = 0; i < n_words; i++) {
    if(i > 0 && !strcmp(words[i - 1], "--password-env"))
      args[nargs] = strdup(REPLAY_PW_VAR);
    else
      args[nargs] = substitute(words[i], dir);
    if(!args[nargs]) {
      result = diag_fail("out of memory");
      goto out;
    }
    nargs++;
  }
  /* the run's working directory is the private one: a relative path the
   * command might still open lands there */
  if(ctx->trace_path && ctx->trace_path[0] != '/') {
    char cwd[3000];
    if(!getcwd(cwd, sizeof(cwd))) {
      result = diag_fail("cannot read the working directory: %s", strerror(errno));
      goto out;
    }
    snprintf(trace_abs, sizeof(trace_abs), "%s/%s", cwd, ctx->trace_path);
    globals[ng - 1] = trace_abs;
  }
  cwd_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if(cwd_fd < 0 || chdir(dir)) {
    result = diag_fail("cannot enter %s: %s", dir, strerror(errno));
    goto out;
  }
  if(rec->frozen)
    exs_clock_freeze(rec->frozen);
  rc = diag_run_captured(ctx->argv0, globals, ng, (const char *const *)args, nargs, &report,
                         &exit_code);
  exs_clock_freeze(0);
  if(fchdir(cwd_fd)) {
    result = diag_fail("cannot return to the working directory: %s", strerror(errno));
    goto out;
  }
  if(rc)
    goto out;
  emu_replay_free(srv);
  srv = NULL;
  unsetenv(REPLAY_PW_VAR); /* the server's thread has ended */

  /* compare */
  if(exs_normalize_text(rp.norm, report, strlen(report), &nrep) ||
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
  for(i = 0; i < rp.n_problems; i++)
    fprintf(verdict, "replay: %s\n", rp.problems[i]);
  for(i = 0; i < rec->n_x; i++)
    if(!rec->x[i].uses && rec->x[i].status != 401 && rec->x[i].status != 0)
      fprintf(stderr, "exsync: note: exchange %zu (line %d, %s %s) was not asked for\n", i + 1,
              rec->x[i].line, rec->x[i].method, rec->x[i].url);
  if(update || rp.added) {
    if(update) {
      free(rec->report);
      rec->report = exs_buf_steal(&nrep);
      rec->exit_code = exit_code;
      if(!rec->report) {
        result = diag_fail("out of memory");
        goto out;
      }
    }
    if((rp.added ? diag_recording_save(rec, file, err, sizeof(err))
                 : diag_recording_save_expect(rec, file, err, sizeof(err)))) {
      result = diag_fail("%s", err);
      goto out;
    }
    fprintf(stderr, "exsync: %s updated (%s%zu new exchanges)\n", file,
            update ? "expected report, " : "", rp.added);
    if(update) {
      result = 0;
      goto out;
    }
  }
  if(!strcmp(want.data ? want.data : "", got.data ? got.data : "") && exit_code == rec->exit_code &&
     rp.unmatched == 0) {
    fprintf(verdict, "replay: %s: same report, exit %d (%zu exchanges)\n", file, exit_code,
            rec->n_x);
    result = 0;
  }
  else {
    if(exit_code != rec->exit_code)
      fprintf(verdict, "replay: exit code %d, recorded %d\n", exit_code, rec->exit_code);
    if(strcmp(want.data ? want.data : "", got.data ? got.data : ""))
      print_diff(verdict, file, want.data ? want.data : (char *)"",
                 got.data ? got.data : (char *)"");
    fprintf(verdict, "replay: %s: the replayed run differs from the recording\n", file);
    result = 1;
  }
  fclose(verdict);
  verdict = NULL;
  {
    struct diag_replay_verdict v;
    memset(&v, 0, sizeof(v));
    v.file = file;
    v.same = result == 0;
    v.exit_code = exit_code;
    v.recorded_exit_code = rec->exit_code;
    v.exchanges = rec->n_x;
    v.unmatched = rp.unmatched;
    v.text = verdict_text;
    v.elapsed_ms = (long)(exs_monotonic_ms() - started);
    diag_replay_write(stdout, ctx->format, &v);
  }
out:
  if(verdict)
    fclose(verdict);
  free(verdict_text);
  if(cwd_fd >= 0)
    close(cwd_fd);
  emu_replay_free(srv);
  unsetenv(REPLAY_PW_VAR);
  exs_clock_freeze(0);
  for(i = 0; i < nargs; i++)
    free(args[i]);
  if(have_dir) {
    for(i = 0; rec && i < rec->n_files; i++) {
      snprintf(fpath, sizeof(fpath), "%s/%s", dir, rec->files[i].name);
      unlink(fpath);
    }
    snprintf(fpath, sizeof(fpath), "%s/password", dir);
    unlink(fpath);
    if(ca[0])
      unlink(ca);
    rmdir(dir);
  }
  free(report);
  free(rp.scratch_body);
  exs_buf_free(&want);
  exs_buf_free(&got);
  exs_buf_free(&nrep);
  exs_normalizer_free(rp.norm);
  diag_recording_free(rec);
  pthread_mutex_destroy(&rp.lock);
  return result;
}

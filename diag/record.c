/* record.c - `exsync record --out FILE -- COMMAND...`: run an exsync command
 * in-process (its function called with a context of its own, the report
 * written to memory), capture every HTTP exchange through the exchange hook
 * of the run's transport settings, scrub it with the normaliser and write one recording file. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "opt.h"
#include "exsync/clock.h"
#include "exsync/http.h"
#include "exsync/normalize.h"
#include "recplay.h"

#define MAX_BODY DIAG_REC_MAX_BODY
#define PW_PLACEHOLDER "{{secret:password}}"

/* ---- running a recordable command in this process ---- */

int diag_run_captured(const struct diag_ctx *base, const char *const *args, size_t n_args,
                      char **out, int *exit_code)
{
  struct diag_ctx ctx = *base;
  char **argv = calloc(n_args + 1, sizeof(char *));
  char *text = NULL;
  size_t text_len = 0;
  FILE *null_trace = NULL;
  bool color = diag_report_color(), failures_only = diag_report_failures_only();
  int (*run)(struct diag_ctx *, int, char **) = NULL;
  int argc = 0, i, result = -1;

  *out = NULL;
  ctx.out = NULL;
  if(!argv) {
    diag_fail("out of memory");
    goto out;
  }
  /* global options anywhere among the words, on top of base's */
  for(i = 0; i < (int)n_args; i++) {
    int t = diag_take_global(&ctx, (int)n_args, (char **)args, &i);
    if(t < 0)
      goto out;
    if(t == 0)
      argv[argc++] = (char *)args[i];
  }
  if(argc && !strcmp(argv[0], "test-enable"))
    run = diag_cmd_test_enable;
  else if(argc && !strcmp(argv[0], "autodiscover"))
    run = diag_cmd_autodiscover;
  if(!run) {
    diag_fail("'%s': only test-enable and autodiscover run recorded", argc ? argv[0] : "");
    goto out;
  }
  /* a trace makes the batch use one worker: the conversation is then in a
   * deterministic order, which replay relies on */
  if(!ctx.trace && !(ctx.trace = null_trace = fopen("/dev/null", "w"))) {
    diag_fail("cannot open /dev/null: %s", strerror(errno));
    goto out;
  }
  ctx.out = open_memstream(&text, &text_len);
  if(!ctx.out) {
    diag_fail("out of memory");
    goto out;
  }
  ctx.command = argv[0];
  ctx.output = NULL;
  ctx.color = false; /* a report kept in a file never holds escape codes */
  diag_report_configure(false, ctx.failures_only);
  diag_report_reset_emitted();
  diag_clear_last_error();
  *exit_code = run(&ctx, argc, argv);
  diag_report_error_if_silent(ctx.out, ctx.format, ctx.command, *exit_code);
  diag_report_clear_traces();
  diag_report_configure(color, failures_only);
  if(fclose(ctx.out) || text_len > MAX_BODY) {
    ctx.out = NULL;
    diag_fail("the report is larger than %u bytes", MAX_BODY);
    goto out;
  }
  ctx.out = NULL;
  *out = text;
  text = NULL;
  result = 0;
out:
  if(ctx.out)
    fclose(ctx.out);
  if(null_trace)
    fclose(null_trace);
  free(text);
  free(argv);
  return result;
}

int diag_report_mask(const char *s, struct exs_buf *out)
{
  static const char *const keys[] = {"\"ms\": ", "\"elapsed_ms\": ", " time=\""};
  size_t i = 0, len = strlen(s);

  while(i < len) {
    size_t k;
    bool hit = false;
    for(k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
      size_t kl = strlen(keys[k]);
      if(len - i > kl && !strncmp(s + i, keys[k], kl)) {
        size_t j = i + kl;
        while(j < len && ((s[j] >= '0' && s[j] <= '9') || s[j] == '.'))
          j++;
        if(j > i + kl) {
          if(exs_buf_add(out, s + i, kl) || exs_buf_adds(out, "0"))
            return -1;
          i = j;
          hit = true;
        }
        break;
      }
    }
    /* step timings of the autodiscover tree: "(12 ms)", "(HTTP 200, 12 ms)" */
    if(!hit && (s[i] == '(' || s[i] == ' ') && i + 1 < len && s[i + 1] >= '0' && s[i + 1] <= '9') {
      size_t j = i + 1;
      while(j < len && s[j] >= '0' && s[j] <= '9')
        j++;
      if(!strncmp(s + j, " ms)", 4)) {
        if(exs_buf_add(out, s + i, 1) || exs_buf_adds(out, "0 ms)"))
          return -1;
        i = j + 4;
        hit = true;
      }
    }
    /* column padding depends on the longest address, which anonymising
     * changes: a run of spaces inside a line compares as two */
    if(!hit && s[i] == ' ' && i + 1 < len && s[i + 1] == ' ' && i > 0 && s[i - 1] != ' ' &&
       s[i - 1] != '\n') {
      size_t j = i;
      while(j < len && s[j] == ' ')
        j++;
      if(exs_buf_adds(out, "  "))
        return -1;
      i = j;
      hit = true;
    }
    if(!hit) {
      if(exs_buf_add(out, s + i, 1))
        return -1;
      i++;
    }
  }
  return 0;
}

/* ---- the recorder ---- */

struct recorder {
  pthread_mutex_t lock;
  struct exs_normalizer *norm;
  struct diag_recording *rec;
  bool failed;
};

static int host_port(const char *url, char *host, size_t hlen)
{
  const char *p = strstr(url, "://");
  size_t n;

  if(!p)
    return -1;
  p += 3;
  n = strcspn(p, ":/?#");
  if(n >= hlen)
    return -1;
  memcpy(host, p, n);
  host[n] = '\0';
  return 0;
}

/* Header block without the request/status line and blank lines, LF ends. */
static int header_lines(const char *in, size_t len, struct exs_buf *out)
{
  const char *p = in, *end = in + len;
  bool first = true;

  while(p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    size_t n = eol ? (size_t)(eol - p) : (size_t)(end - p);
    size_t vl = n;
    if(vl && p[vl - 1] == '\r')
      vl--;
    if(!first && vl && memchr(p, ':', vl)) {
      if(exs_buf_add(out, p, vl) || exs_buf_add(out, "\n", 1))
        return -1;
    }
    if(vl && !strncmp(p, "HTTP/", 5))
      first = false;
    else if(first && vl)
      first = false;
    p += n + (eol ? 1 : 0);
  }
  return 0;
}

static void on_exchange(void *ud, const struct exs_http_exchange *x)
{
  struct recorder *rc = ud;
  struct diag_rec_exchange e;
  struct exs_buf rh, rb, sh, sb, tmp, keys;
  char host[256], op[64];

  exs_buf_init(&rh, 256 * 1024);
  exs_buf_init(&rb, MAX_BODY);
  exs_buf_init(&sh, 256 * 1024);
  exs_buf_init(&sb, MAX_BODY);
  exs_buf_init(&tmp, 256 * 1024);
  exs_buf_init(&keys, 8192);
  memset(&e, 0, sizeof(e));
  pthread_mutex_lock(&rc->lock);
  if(x->password)
    exs_normalizer_add_secret(rc->norm, x->password);
  if(!host_port(x->url, host, sizeof(host)))
    exs_normalizer_learn_host(rc->norm, host);
  if(header_lines(x->req_headers, x->req_headers_len, &tmp) ||
     exs_normalize_headers(rc->norm, tmp.data ? tmp.data : "", tmp.len, &rh))
    goto fail;
  exs_buf_reset(&tmp);
  if(header_lines(x->resp_headers, x->resp_headers_len, &tmp) ||
     exs_normalize_headers(rc->norm, tmp.data ? tmp.data : "", tmp.len, &sh))
    goto fail;
  if(exs_normalize_text(rc->norm, x->req_body, x->req_body_len, &rb) ||
     exs_normalize_text(rc->norm, x->resp_body, x->resp_body_len, &sb))
    goto fail;
  exs_buf_reset(&tmp);
  if(exs_normalize_text(rc->norm, x->url, strlen(x->url), &tmp))
    goto fail;
  diag_request_keys(rb.data ? rb.data : "", rb.len, op, sizeof(op), &keys);
  e.method = (char *)x->method;
  e.url = tmp.data;
  e.operation = diag_operation_known(op) ? op : "";
  e.keys = keys.data ? keys.data : "";
  e.req_headers = rh.data ? rh.data : "";
  e.req_body = rb.len ? rb.data : NULL;
  e.req_body_len = rb.len;
  e.status = x->error ? 0 : (int)x->status;
  e.failure = x->error ? (char *)exs_category_name(x->error->category) : NULL;
  e.resp_headers = x->error ? NULL : (sh.data ? sh.data : "");
  e.resp_body = x->error || !sb.len ? NULL : sb.data;
  e.resp_body_len = x->error ? 0 : sb.len;
  e.elapsed_ms = x->elapsed_ms;
  e.legs = x->legs;
  if(diag_recording_add(rc->rec, &e))
    goto fail;
  goto out;
fail:
  rc->failed = true;
out:
  pthread_mutex_unlock(&rc->lock);
  exs_buf_free(&rh);
  exs_buf_free(&rb);
  exs_buf_free(&sh);
  exs_buf_free(&sb);
  exs_buf_free(&tmp);
  exs_buf_free(&keys);
}

static char *read_small_file(const char *path, size_t max)
{
  FILE *f = fopen(path, "rb");
  struct exs_buf b;
  char chunk[4096];
  size_t n;

  if(!f)
    return NULL;
  exs_buf_init(&b, max);
  while((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    if(exs_buf_add(&b, chunk, n)) {
      fclose(f);
      exs_buf_free(&b);
      return NULL;
    }
  fclose(f);
  return exs_buf_steal(&b);
}

/* Value of attribute at p (p points at the opening quote); copies it. */
static char *attr_value(const char *p, const char **end)
{
  char q = *p;
  const char *e = strchr(p + 1, q);

  if(!e)
    return NULL;
  *end = e + 1;
  return strndup(p + 1, (size_t)(e - p - 1));
}

/* Org file: learn its passwords as secrets, and replace every password
 * source with a literal placeholder so the copy replays anywhere. */
static int prepare_org_file(struct exs_normalizer *norm, const char *text, struct exs_buf *out)
{
  static const char *const attrs[] = {" password-env=", " password-file=", " password="};
  const char *p = text;

  while(*p) {
    size_t k;
    bool hit = false;
    for(k = 0; k < 3; k++) {
      size_t al = strlen(attrs[k]);
      if(!strncmp(p, attrs[k], al) && (p[al] == '"' || p[al] == '\'')) {
        const char *end;
        char *v = attr_value(p + al, &end);
        if(!v)
          break;
        if(k == 0 && getenv(v))
          exs_normalizer_add_secret(norm, getenv(v));
        else if(k == 1) {
          char *pw = read_small_file(v, 4096);
          if(pw) {
            pw[strcspn(pw, "\r\n")] = '\0';
            exs_normalizer_add_secret(norm, pw);
            free(pw);
          }
        }
        else if(k == 2) {
          exs_normalizer_add_secret(norm, v);
        }
        free(v);
        if(exs_buf_adds(out, " password=\"" PW_PLACEHOLDER "\""))
          return -1;
        p = end;
        hit = true;
        break;
      }
    }
    if(!hit) {
      if(exs_buf_add(out, p, 1))
        return -1;
      p++;
    }
  }
  return 0;
}

/* Teach the anonymiser every URL host of a text (org files name the EWS
 * and Autodiscover hosts). */
static void learn_url_hosts(struct exs_normalizer *norm, const char *text)
{
  const char *p = text;

  while((p = strstr(p, "://")) != NULL) {
    char host[256];
    size_t n;
    p += 3;
    n = strcspn(p, ":/?#\"' <");
    if(n && n < sizeof(host)) {
      memcpy(host, p, n);
      host[n] = '\0';
      exs_normalizer_learn_host(norm, host);
    }
  }
}

static const char *base_name(const char *path, char *buf, size_t len)
{
  const char *b = strrchr(path, '/');
  size_t i;

  snprintf(buf, len, "%s", b ? b + 1 : path);
  for(i = 0; buf[i]; i++)
    if(!((buf[i] >= 'a' && buf[i] <= 'z') || (buf[i] >= 'A' && buf[i] <= 'Z') ||
         (buf[i] >= '0' && buf[i] <= '9') || buf[i] == '.' || buf[i] == '_' || buf[i] == '-'))
      buf[i] = '_';
  if(!buf[0] || !strcmp(buf, ".") || !strcmp(buf, ".."))
    snprintf(buf, len, "file%zu", len);
  return buf;
}

/* The recording's normaliser rules, name and format; non-zero after an
 * error. */
static int recorder_setup(struct recorder *rc, const struct diag_ctx *ctx,
                          const struct diag_record_options *opt)
{
  static const char *const fmt_names[] = {"text", "json", "junit", "html"};
  char err[1024];
  size_t i;

  exs_normalizer_set_anonymize(rc->norm, opt->anonymize);
  rc->rec->anonymize = opt->anonymize;
  if(opt->n_rules) {
    rc->rec->rules = calloc(opt->n_rules, sizeof(char *));
    if(!rc->rec->rules)
      return diag_fail("out of memory");
  }
  for(i = 0; i < opt->n_rules; i++) {
    if(exs_normalizer_add_rule(rc->norm, opt->rules[i], err, sizeof(err)))
      return diag_fail("record: %s", err);
    if(!(rc->rec->rules[rc->rec->n_rules++] = strdup(opt->rules[i])))
      return diag_fail("out of memory");
  }
  if(opt->name && !(rc->rec->name = strdup(opt->name)))
    return diag_fail("out of memory");
  free(rc->rec->format);
  if(!(rc->rec->format = strdup(fmt_names[ctx->format])))
    return diag_fail("out of memory");
  return 0;
}

/* Embed a file the command reads (--config, --body-file), scrubbed; the
 * command word becomes {{file:NAME}}. Non-zero after an error. */
static int embed_file(struct recorder *rc, const char *word, struct exs_buf *tmp)
{
  char *text = read_small_file(word, MAX_BODY);
  struct exs_buf prepared;
  struct diag_rec_file *f;
  char name[80], ref[128];

  if(!text)
    return diag_fail("record: cannot read %s: %s", word, strerror(errno));
  if(rc->rec->n_files >= DIAG_REC_MAX_FILES) {
    free(text);
    return diag_fail("record: more than %d files", DIAG_REC_MAX_FILES);
  }
  exs_buf_init(&prepared, MAX_BODY);
  learn_url_hosts(rc->norm, text);
  if(prepare_org_file(rc->norm, text, &prepared) ||
     exs_normalize_text(rc->norm, prepared.data ? prepared.data : "", prepared.len, tmp)) {
    free(text);
    exs_buf_free(&prepared);
    return diag_fail("out of memory");
  }
  free(text);
  exs_buf_free(&prepared);
  f = &rc->rec->files[rc->rec->n_files];
  f->name = strdup(base_name(word, name, sizeof(name)));
  f->content = exs_buf_steal(tmp);
  if(!f->name || !f->content) {
    free(f->name);
    free(f->content);
    return diag_fail("out of memory");
  }
  rc->rec->n_files++;
  snprintf(ref, sizeof(ref), "{{file:%s}}", f->name);
  rc->rec->argv[rc->rec->argc] = strdup(ref);
  return 0;
}

/* The command, with the files it reads embedded and their passwords
 * replaced; a password given on the command line is a secret too.
 * Non-zero after an error. */
static int record_words(struct recorder *rc, const char *const *args, size_t n_args)
{
  struct exs_buf tmp;
  size_t i;
  int result = -1;

  exs_buf_init(&tmp, MAX_BODY);
  for(i = 0; i < n_args; i++) {
    const char *word = args[i];
    exs_buf_reset(&tmp);
    if(i > 0 && (!strcmp(args[i - 1], "--config") || !strcmp(args[i - 1], "--body-file"))) {
      if(embed_file(rc, word, &tmp))
        goto out;
    }
    else if(i > 0 && !strcmp(args[i - 1], "--password-file")) {
      char *pw = read_small_file(word, 4096);
      if(pw) {
        pw[strcspn(pw, "\r\n")] = '\0';
        exs_normalizer_add_secret(rc->norm, pw);
        free(pw);
      }
      rc->rec->argv[rc->rec->argc] = strdup("{{file:password}}");
    }
    else {
      if(i > 0 && !strcmp(args[i - 1], "--password-env") && getenv(word))
        exs_normalizer_add_secret(rc->norm, getenv(word));
      if(exs_normalize_text(rc->norm, word, strlen(word), &tmp)) {
        diag_fail("out of memory");
        goto out;
      }
      rc->rec->argv[rc->rec->argc] = exs_buf_steal(&tmp);
    }
    if(!rc->rec->argv[rc->rec->argc]) {
      diag_fail("out of memory");
      goto out;
    }
    rc->rec->argc++;
  }
  result = 0;
out:
  exs_buf_free(&tmp);
  return result;
}

/* Run the command with its exchanges captured and one frozen "now" (as the
 * replay will see), then keep its scrubbed report; non-zero after an error. */
static int run_recorded(struct recorder *rc, struct diag_ctx *ctx,
                        const struct diag_record_options *opt, const char *const *args,
                        size_t n_args, int *exit_code)
{
  struct diag_ctx recorded = *ctx; /* the run's settings with the recorder's hook */
  char *report = NULL;
  struct exs_buf tmp;
  time_t t0 = exs_now();
  int rcode, result = -1;

  exs_buf_init(&tmp, MAX_BODY);
  rc->rec->frozen = t0;
  recorded.transport.exchange = on_exchange;
  recorded.transport.exchange_ctx = rc;
  exs_clock_freeze(t0);
  rcode = diag_run_captured(&recorded, args, n_args, &report, exit_code);
  exs_clock_freeze(0);
  if(rcode)
    goto out;
  if(rc->failed) {
    diag_fail("record: an exchange could not be stored (too large, or out of memory)");
    goto out;
  }
  if(!opt->quiet)
    fputs(report, stdout);
  if(exs_normalize_text(rc->norm, report, strlen(report), &tmp)) {
    diag_fail("out of memory");
    goto out;
  }
  rc->rec->report = exs_buf_steal(&tmp);
  rc->rec->exit_code = *exit_code;
  if(!rc->rec->report) {
    diag_fail("out of memory");
    goto out;
  }
  result = 0;
out:
  free(report);
  exs_buf_free(&tmp);
  return result;
}

int diag_record(struct diag_ctx *ctx, const struct diag_record_options *opt,
                const char *const *args, size_t n_args)
{
  struct recorder rc;
  char err[1024];
  int exit_code = 2, result = 2;

  memset(&rc, 0, sizeof(rc));
  pthread_mutex_init(&rc.lock, NULL);
  rc.norm = exs_normalizer_new();
  rc.rec = diag_recording_new();
  if(!rc.norm || !rc.rec) {
    diag_fail("out of memory");
    goto out;
  }
  if(recorder_setup(&rc, ctx, opt))
    goto out;
  if(n_args > DIAG_REC_MAX_ARGS) {
    diag_fail("record: more than %d command words", DIAG_REC_MAX_ARGS);
    goto out;
  }
  /* record only what replay will run */
  if(diag_recording_check_command(NULL, args, n_args, NULL, NULL, err, sizeof(err))) {
    diag_fail("record: %s", err);
    goto out;
  }
  if(record_words(&rc, args, n_args) || run_recorded(&rc, ctx, opt, args, n_args, &exit_code))
    goto out;
  if(diag_recording_save(rc.rec, opt->out, err, sizeof(err))) {
    diag_fail("record: %s", err);
    goto out;
  }
  fprintf(stderr, "exsync: recorded %zu exchanges to %s (exit %d)\n", rc.rec->n_x, opt->out,
          exit_code);
  result = exit_code;
out:
  diag_recording_free(rc.rec);
  exs_normalizer_free(rc.norm);
  pthread_mutex_destroy(&rc.lock);
  return result;
}

static int help(void)
{
  printf("usage: exsync record --out FILE [--scrub REGEX=REPLACEMENT]... [--anonymize]\n"
         "                     [--name NAME] -- COMMAND [ARGS...]\n\n"
         "Run a store-less exsync command (test-enable --config, autodiscover) and write every\n"
         "HTTP exchange it made, the files it read, its report and exit code into one\n"
         "recording (schema/recording.xsd of the data directory) that `exsync replay` reruns.\n"
         "Secrets are scrubbed before anything is written: Authorization values, NTLM and\n"
         "Negotiate blobs, cookies, the run's passwords (plain, base64, hex, URL-encoded).\n\n"
         "  --out FILE                the recording to write\n"
         "  --scrub REGEX=REPLACEMENT also replace matches of REGEX (POSIX extended)\n"
         "  --anonymize               replace addresses and host names with placeholders,\n"
         "                            the same input always giving the same placeholder\n"
         "  --name NAME               a name for the case\n\n"
         "The command may carry --format, --cacert, --connect-to and --resolve (replay\n"
         "points every host at its own server); --db, --key-file and --trace are refused.\n\n"
         "Exit code: the command's (0 or 1), 2 when nothing could be recorded.\n");
  return 0;
}

int diag_cmd_record(struct diag_ctx *ctx, int argc, char **argv)
{
  static const struct diag_opt opts[] = {{"--anonymize", false, 1},
                                         {"--out", true, 2},
                                         {"--name", true, 3},
                                         {"--scrub", true, 4},
                                         {NULL, false, 0}};
  struct diag_record_options opt;
  struct diag_optp p;
  const char *rules[64];
  int i, id;

  memset(&opt, 0, sizeof(opt));
  opt.rules = rules;
  diag_opt_init(&p, "record", opts, NULL, argc, argv, 1);
  p.stop_at_dashdash = true;
  while((id = diag_opt_next(&p)) != DIAG_OPT_END) {
    switch(id) {
    case DIAG_OPT_HELP:
      return help();
    case DIAG_OPT_ERR:
      return 2;
    case DIAG_OPT_ARG:
      return diag_opt_unexpected(&p);
    case 1:
      opt.anonymize = true;
      break;
    case 2:
      opt.out = p.value;
      break;
    case 3:
      opt.name = p.value;
      break;
    default:
      if(opt.n_rules >= sizeof(rules) / sizeof(rules[0]))
        return diag_fail("record: too many --scrub rules");
      rules[opt.n_rules++] = p.value;
      break;
    }
  }
  i = p.i;
  if(!opt.out)
    return diag_fail("record needs --out FILE");
  if(i >= argc)
    return diag_fail("record needs the command to run after '--'");
  return diag_record(ctx, &opt, (const char *const *)argv + i, (size_t)(argc - i));
}

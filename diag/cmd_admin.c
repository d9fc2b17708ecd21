/* cmd_admin.c - the administrator's steps: import, org, profile, mailbox,
 * alerts and jobs, on the store. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "cli.h"
#include "json.h"
#include "opt.h"
#include "exsync/clock.h"
#include "exsync/fields.h"
#include "exsync/orgfile.h"
#include "exsync/store.h"
#include "progress.h"
#include "run.h"

/* ---- small helpers ---- */

/* Collect the arguments of a command that takes no options but -h. Returns
 * the number collected into args, -1 on error (printed), -2 for help. */
static int plain_args(const char *cmd, int argc, char **argv, int first, char **args)
{
  struct diag_optp p;
  int id, n = 0;

  diag_opt_init(&p, cmd, NULL, NULL, argc, argv, first);
  while((id = diag_opt_next(&p)) != DIAG_OPT_END) {
    if(id == DIAG_OPT_HELP)
      return -2;
    if(id == DIAG_OPT_ERR)
      return -1;
    args[n++] = (char *)p.value;
  }
  return n;
}

/* Read a password from --password-env, --password-file, or the terminal
 * without echo. Returns 1 when one was read, 0 when no source was given, -1
 * on error (printed). */
static int read_password(const char *env, const char *file, bool prompt, char *out, size_t len)
{
  if(env) {
    const char *v = getenv(env);
    if(!v || !*v) {
      diag_fail("the environment variable %s is not set", env);
      return -1;
    }
    if(strlen(v) >= len) {
      diag_fail("the password in %s is longer than %zu characters", env, len - 1);
      return -1;
    }
    snprintf(out, len, "%s", v);
    return 1;
  }
  if(file) {
    FILE *f = fopen(file, "r");
    if(!f) {
      diag_fail("cannot read the password file %s: %s", file, strerror(errno));
      return -1;
    }
    if(!fgets(out, (int)len, f))
      out[0] = '\0';
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    if(!out[0]) {
      diag_fail("the password file %s is empty", file);
      return -1;
    }
    return 1;
  }
  if(prompt) {
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    fputs("Password: ", stderr);
    fflush(stderr);
    if(tty) {
      quiet = old;
      quiet.c_lflag &= ~(tcflag_t)ECHO;
      tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    if(!fgets(out, (int)len, stdin))
      out[0] = '\0';
    if(tty)
      tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', stderr);
    out[strcspn(out, "\r\n")] = '\0';
    if(!out[0]) {
      diag_fail("no password given");
      return -1;
    }
    return 1;
  }
  return 0;
}

struct pw_opts {
  const char *env;
  const char *file;
  bool prompt;
};

enum { PW_ENV = 50, PW_FILE, PW_PROMPT, PW_LITERAL };

/* The password options of the commands that take one. */
static const struct diag_opt pw_opts[] = {
    {"--password-env", true, PW_ENV},
    {"--password-file", true, PW_FILE},
    {"--password-prompt", false, PW_PROMPT},
    {NULL, false, 0},
};

/* Passwords never on the command line, in any spelling. */
static int refuse_literal_password(int argc, char **argv, int from)
{
  int i;

  for(i = from; i < argc; i++)
    if(!strcmp(argv[i], "--password") || !strncmp(argv[i], "--password=", 11) ||
       !strncmp(argv[i], "password=", 9))
      return diag_fail("passwords are never taken on the command line: use --password-env VAR, "
                       "--password-file FILE or --password-prompt");
  return 0;
}

static int take_pw(struct pw_opts *pw, const struct diag_optp *p, int id)
{
  switch(id) {
  case PW_ENV:
    pw->env = p->value;
    return 1;
  case PW_FILE:
    pw->file = p->value;
    return 1;
  case PW_PROMPT:
    pw->prompt = true;
    return 1;
  default:
    return 0;
  }
}

/* Print a job as JSON. */
static void print_job_json(FILE *f, const struct exs_job *j)
{
  char t[32];

  fprintf(f, "{\"id\": %lld, \"kind\": ", (long long)j->id);
  diag_json_str(f, j->kind);
  fputs(", \"profile\": ", f);
  diag_json_str(f, j->profile);
  fprintf(f, ", \"state\": \"%s\", \"done\": %d, \"total\": %d, \"created\": ",
          exs_job_state_name(j->state), j->done, j->total);
  if(j->created)
    diag_json_str(f, exs_time_iso(j->created, t, sizeof(t)));
  else
    fputs("null", f);
  fputs(", \"summary\": ", f);
  diag_json_str_or_null(f, j->summary);
  fputs("}", f);
}

/* A stored mailbox as JSON: its org-file attributes, then its state
 * (runtime: all of it, as mailbox show prints it). */
static void print_mailbox_json(FILE *f, const struct exs_mailbox *m, bool runtime)
{
  fputs("{", f);
  diag_json_fields(f, &exs_mailbox_desc, m, runtime);
  fputs("}", f);
}

static void print_alert_json(FILE *f, const struct exs_alert *a, bool first)
{
  char when[32];

  fprintf(f, "%s\n    {\"time\": \"%s\", \"mailbox\": ", first ? "" : ",",
          exs_time_iso(a->time, when, sizeof(when)));
  diag_json_str_or_null(f, a->mailbox);
  fputs(", \"profile\": ", f);
  diag_json_str_or_null(f, a->profile);
  fprintf(f, ", \"severity\": \"%s\", \"category\": \"%s\", \"transient\": %s, \"message\": ",
          exs_severity_name(a->severity), exs_category_name(a->category),
          a->transient ? "true" : "false");
  diag_json_str(f, a->message);
  fputs(", \"hint\": ", f);
  diag_json_str_or_null(f, a->hint);
  fputs("}", f);
}

/* ---- import ---- */

static int import_help(FILE *f)
{
  fprintf(f, "usage: exsync import ORG.xml\n\nImport org settings, profiles and mailboxes from an "
             "org file (urn:exsync:org:1) into the store,\nin one transaction (the store is "
             "created when missing). Existing entries are updated\nby name / address.\n");
  return f == stdout ? 0 : 2;
}

static int cmd_import(struct diag_ctx *ctx, int argc, char **argv)
{
  struct exs_orgfile *f;
  struct exs_store *st;
  struct exs_error err;
  char *args[2];
  int result = 2, n;

  n = argc <= 3 ? plain_args("import", argc, argv, 1, args) : 2;
  if(n == -2)
    return import_help(stdout);
  if(n == -1)
    return 2;
  if(n != 1)
    return import_help(stderr);
  if(diag_formats(ctx, "import", DIAG_F_TEXT))
    return 2;
  exs_error_clear(&err);
  f = diag_load_orgfile(args[0], EXS_ORGFILE_EXTERNAL_PROFILES);
  if(!f)
    return 2;
  st = diag_open_store(ctx, true);
  if(st && diag_import_org(st, f, &err) == 0) {
    printf("imported %s: org settings, %zu profile%s, %zu mailbox%s\n", args[0], f->n_profiles,
           f->n_profiles == 1 ? "" : "s", f->n_mailboxes, f->n_mailboxes == 1 ? "" : "es");
    result = 0;
  }
  else if(st) {
    diag_fail("%s", err.message);
  }
  exs_store_close(st);
  exs_orgfile_free(f);
  return result;
}

/* ---- org ---- */

static int org_help(FILE *f)
{
  fprintf(f, "usage: exsync org show\n       exsync org set KEY=VALUE...   (keys as in the org "
             "file's <settings>, and id)\n\nshow prints text or, with --format json, an object "
             "of the settings (docs/json/org.md).\n");
  return f == stdout ? 0 : 2;
}

/* org set KEY=VALUE...: org changed, checked and saved. 0, or 2 (printed). */
static int org_set(struct exs_store *st, struct exs_org *org, char **args, int n)
{
  struct exs_error err;
  struct exs_invalid inv;
  int i;

  exs_error_clear(&err);
  if(n < 2)
    return diag_fail("org set needs KEY=VALUE");
  for(i = 1; i < n; i++) {
    char key[64];
    const char *eq = strchr(args[i], '=');
    if(!eq || eq == args[i] || (size_t)(eq - args[i]) >= sizeof(key))
      return diag_fail("org set: '%s' is not KEY=VALUE", args[i]);
    snprintf(key, sizeof(key), "%.*s", (int)(eq - args[i]), args[i]);
    if(exs_orgfile_set_org(org, key, eq + 1, &err))
      return diag_fail("%s", err.message);
  }
  if(exs_org_validate(org, &inv))
    return diag_fail("org setting '%s': %s", inv.field, inv.rule);
  if(org->default_profile[0]) {
    /* the default profile must exist (docs/test-enable.md) */
    struct exs_profile dp;
    int rc = exs_store_profile_get(st, org->default_profile, &dp, &err);
    exs_profile_wipe(&dp);
    if(rc)
      return diag_fail(rc < 0 ? "%s"
                              : "org setting 'default-profile': no profile named '%s' (create it "
                                "first: exsync profile create)",
                       rc < 0 ? err.message : org->default_profile);
  }
  if(exs_store_org_put(st, org, &err))
    return diag_fail("%s", err.message);
  return 0;
}

static int cmd_org(struct diag_ctx *ctx, int argc, char **argv)
{
  struct exs_store *st;
  struct exs_error err;
  struct exs_org org;
  char **args = calloc((size_t)argc + 1, sizeof(char *));
  bool show;
  int result = 2, n;

  if(!args)
    return diag_fail("out of memory");
  n = plain_args("org", argc, argv, 1, args);
  if(n == -2 || n == -1 || n == 0) {
    free(args);
    return n == -2 ? org_help(stdout) : n == -1 ? 2 : org_help(stderr);
  }
  if(strcmp(args[0], "show") && strcmp(args[0], "set")) {
    diag_fail("org: unknown subcommand '%s' (show or set)", args[0]);
    free(args);
    return 2;
  }
  show = !strcmp(args[0], "show");
  if(diag_formats(ctx, show ? "org show" : "org set",
                  show ? DIAG_F_TEXT | DIAG_F_JSON : DIAG_F_TEXT)) {
    free(args);
    return 2;
  }
  exs_error_clear(&err);
  st = diag_open_store(ctx, false);
  if(!st) {
    free(args);
    return 2;
  }
  if(exs_store_org_get(st, &org, &err) < 0) {
    diag_fail("%s", err.message);
    goto out;
  }
  if(show) {
    if(n > 1) {
      diag_fail("org show: unexpected argument '%s'", args[1]);
      goto out;
    }
    if(ctx->format == DIAG_FORMAT_JSON) {
      fputs("{", stdout);
      diag_json_fields(stdout, &exs_org_desc, &org, true);
      fputs("}\n", stdout);
    }
    else {
      exs_orgfile_print_org(stdout, &org);
    }
    result = 0;
    goto out;
  }
  result = org_set(st, &org, args, n);
out:
  free(args);
  exs_store_close(st);
  return result;
}

/* ---- test-enable on stored mailboxes (shared by mailbox and profile) ---- */

struct job_progress {
  struct exs_store *st;
  int64_t job;
  struct diag_progress bar;
  size_t last;
};

static int run_stored(struct diag_ctx *ctx, struct exs_store *st, struct exs_mailbox *m, size_t n,
                      const struct diag_te_flags *flags, int64_t job)
{
  struct exs_org org;
  struct exs_profile *profiles = NULL;
  struct exs_te_result *results = NULL;
  struct exs_error err;
  struct diag_summary sum;
  size_t np = 0, i;
  long elapsed = 0;
  int result = 2;
  char summary[256];

  exs_error_clear(&err);
  if(exs_store_org_get(st, &org, &err) < 0 || diag_load_profiles(st, &profiles, &np, &err)) {
    diag_fail("%s", err.message);
    goto out;
  }
  struct diag_te_flags jf = *flags;
  if(job > 0) {
    exs_store_job_progress(st, job, 0, &err);
    jf.job_store = st;
    jf.job_id = job;
  }
  if(diag_run_batch(ctx, &org, profiles, np, m, n, &jf, &results, &elapsed)) {
    diag_fail("test-enable could not run: out of memory");
    if(job > 0) /* the job ends as failed, never left running */
      exs_store_job_finish(st, job, false, "test-enable could not run: out of memory", &err);
    goto out;
  }
  if(diag_save_results(st, &org, m, results, n, &err)) {
    diag_fail("%s", err.message);
    goto out;
  }
  diag_summarize(results, n, elapsed, &sum);
  if(job > 0) {
    snprintf(summary, sizeof(summary), "%zu mailboxes: %zu success, %zu failure, %zu not run",
             sum.mailboxes, sum.success, sum.failure, sum.not_run);
    exs_store_job_progress(st, job, (int)n, &err);
    exs_store_job_finish(st, job, sum.failure == 0, summary, &err);
  }
  diag_report_write(stdout, ctx->format, results, n, elapsed);
  result = diag_report_exit_code(results, n);
out:
  for(i = 0; profiles && i < np; i++)
    exs_profile_wipe(&profiles[i]);
  free(profiles);
  free(results);
  return result;
}

/* ---- profile ---- */

static int profile_help(FILE *f)
{
  fprintf(f,
          "usage: exsync profile create NAME [KEY=VALUE...] [PASSWORD]\n"
          "       exsync profile set NAME KEY=VALUE... [PASSWORD]\n"
          "       exsync profile show NAME | list | delete NAME [--force]\n"
          "       exsync profile test-enable NAME [--detach] [options]\n\n"
          "KEY is an attribute of the org file's <profile>: autodiscover, incoming-url,\n"
          "outgoing-url, same-outgoing, authenticate-using, impersonation, protocol, user,\n"
          "process-from, poll-minutes, max-connections, move-undeliverable, timeout-ms, owner...\n"
          "PASSWORD: --password-env VAR | --password-file FILE | --password-prompt\n\n"
          "Outgoing: outgoing-url defaults to incoming-url. With same-outgoing=no the\n"
          "profile has its own outgoing-authenticate-using, outgoing-user,\n"
          "outgoing-impersonation and outgoing-protocol (each starting as its incoming\n"
          "counterpart) and outgoing password: --outgoing-password-env VAR |\n"
          "--outgoing-password-file FILE | --outgoing-password-prompt.\n\n"
          "set re-opens the verdicts a change affects: a new location, credential,\n"
          "impersonation or protocol sets the workloads using it to Not Run, disabled.\n"
          "delete refuses a profile that mailboxes use (exit 2) unless --force, which\n"
          "leaves them without a profile, Not Run and disabled.\n\n"
          "create makes the store when missing; the others need one. show and list print\n"
          "text or --format json (docs/json/profile.md).\n\n"
          "test-enable runs a background job over every mailbox of the profile (see\n"
          "exsync job); it waits and prints the report (--format text, json, junit, html)\n"
          "unless --detach.\n%s",
          diag_te_flags_help);
  return f == stdout ? 0 : 2;
}

static int apply_pairs(char **args, int n, int from, void *obj, bool profile)
{
  struct exs_error err;
  int i;

  exs_error_clear(&err);
  for(i = from; i < n; i++) {
    char key[64];
    const char *eq = strchr(args[i], '=');
    if(!eq || eq == args[i] || (size_t)(eq - args[i]) >= sizeof(key)) {
      diag_fail("'%s' is not KEY=VALUE", args[i]);
      return -1;
    }
    snprintf(key, sizeof(key), "%.*s", (int)(eq - args[i]), args[i]);
    if(profile ? exs_orgfile_set_profile(obj, key, eq + 1, &err)
               : exs_orgfile_set_mailbox(obj, key, eq + 1, &err)) {
      diag_fail("%s", err.message);
      return -1;
    }
  }
  return 0;
}

enum {
  OPT_DETACH = 1,
  OPT_PROFILE,
  OPT_ALL,
  OPT_NO_TEST,
  OPT_TIMEOUT,
  OPT_FORCE,
  OPT_OUT_PW_ENV,
  OPT_OUT_PW_FILE,
  OPT_OUT_PW_PROMPT
};

static const struct diag_opt detach_opts[] = {
    {"--detach", false, OPT_DETACH},
    {NULL, false, 0},
};

static const struct diag_opt force_opts[] = {
    {"--force", false, OPT_FORCE},
    {NULL, false, 0},
};

/* The outgoing password of a profile with same-outgoing=no. */
static const struct diag_opt out_pw_opts[] = {
    {"--outgoing-password-env", true, OPT_OUT_PW_ENV},
    {"--outgoing-password-file", true, OPT_OUT_PW_FILE},
    {"--outgoing-password-prompt", false, OPT_OUT_PW_PROMPT},
    {NULL, false, 0},
};

/* Re-open the verdicts of every mailbox of profile name that mask names
 * (docs/test-enable.md, Alerts, retry and disable); with detach, also take
 * the mailboxes off the profile (a forced delete). Joins the caller's
 * transaction. Returns the number of mailboxes changed, -1 on error. */
static long reopen_profile_mailboxes(struct exs_store *st, const char *name, unsigned mask,
                                     bool detach, struct exs_error *err)
{
  struct exs_mailbox *m = NULL;
  size_t n = 0, i;
  long changed = 0;

  if(!mask && !detach)
    return 0;
  if(exs_store_mailbox_list(st, name, EXS_STORE_WITH_SECRETS, &m, &n, err))
    return -1;
  for(i = 0; i < n; i++) {
    if(detach)
      m[i].profile[0] = '\0';
    exs_mailbox_reset(&m[i], mask);
    if(exs_store_mailbox_put(st, &m[i], err)) {
      changed = -1;
      break;
    }
    changed++;
  }
  for(i = 0; i < n; i++)
    exs_mailbox_wipe(&m[i]);
  free(m);
  return changed;
}

/* Outgoing settings (fields.h: EXS_FIELD_OUTGOING) given while
 * same-outgoing is yes, among KEY=VALUE pairs already applied (so every key
 * is a setting): the first one's pair, else NULL. */
static const char *outgoing_given(char **args, int n, bool out_pw)
{
  const struct exs_field *f;
  char key[64];
  int i;

  for(i = 1; i < n; i++) {
    snprintf(key, sizeof(key), "%.*s", (int)strcspn(args[i], "="), args[i]);
    f = exs_desc_attr(&exs_profile_desc, key);
    if(f && (f->flags & EXS_FIELD_OUTGOING))
      return args[i];
  }
  return out_pw ? "--outgoing-password-*" : NULL;
}

/* One profile subcommand's command line, parsed, and the store it works on. */
struct profile_run {
  struct diag_ctx *ctx;
  struct exs_store *st;
  const char *sub;
  char **args;
  int n;
  struct pw_opts pw, out_pw;
  struct diag_te_flags flags;
  bool detach, force;
};

static int profile_list(struct profile_run *r)
{
  struct exs_error err;
  struct exs_profile *all = NULL;
  bool json = r->ctx->format == DIAG_FORMAT_JSON;
  size_t np = 0, i;

  exs_error_clear(&err);
  if(exs_store_profile_list(r->st, &all, &np, &err))
    return diag_fail("%s", err.message);
  if(json)
    fputs("{\"profiles\": [", stdout);
  else
    printf("%-24s %-11s %-6s %s\n", "Name", "Auth", "MaxCon", "Server location");
  for(i = 0; i < np; i++) {
    if(json) {
      fputs(i ? ",\n  {" : "\n  {", stdout);
      diag_json_fields(stdout, &exs_profile_desc, &all[i], true);
      fputs("}", stdout);
    }
    else {
      printf("%-24s %-11s %-6d %s\n", all[i].name, exs_retrieval_name(all[i].retrieval),
             all[i].max_connections, all[i].autodiscover ? "(Autodiscover)" : all[i].incoming_url);
    }
    exs_profile_wipe(&all[i]);
  }
  if(json)
    fputs(np ? "\n]}\n" : "]}\n", stdout);
  free(all);
  return 0;
}

static int profile_show(struct profile_run *r)
{
  struct exs_error err;
  struct exs_profile p;
  int rc, result = 2;

  memset(&p, 0, sizeof(p));
  exs_error_clear(&err);
  rc = exs_store_profile_get(r->st, r->args[0], &p, &err);
  if(rc) {
    diag_fail(rc < 0 ? "%s" : "no profile '%s'", rc < 0 ? err.message : r->args[0]);
    goto out;
  }
  if(r->ctx->format == DIAG_FORMAT_JSON) {
    fputs("{", stdout);
    diag_json_fields(stdout, &exs_profile_desc, &p, true);
    fputs("}\n", stdout);
  }
  else {
    exs_orgfile_print_profile(stdout, &p);
  }
  result = 0;
out:
  exs_profile_wipe(&p);
  return result;
}

/* The KEY=VALUE pairs and passwords of create and set into p (old: as
 * stored before), then checked. 0, or -1 with the error printed. */
static int profile_edit(struct profile_run *r, struct exs_profile *p, const struct exs_profile *old,
                        bool create)
{
  struct exs_invalid inv;
  const struct pw_opts *pw = &r->pw, *out_pw = &r->out_pw;
  const char *stray;

  if(apply_pairs(r->args, r->n, 1, p, true))
    return -1;
  /* the outgoing location follows the incoming one it defaulted to */
  if(!create && !strcmp(old->outgoing_url, old->incoming_url) &&
     !strcmp(p->outgoing_url, old->outgoing_url))
    snprintf(p->outgoing_url, sizeof(p->outgoing_url), "%s", p->incoming_url);
  if(p->same_outgoing &&
     (stray = outgoing_given(r->args, r->n, out_pw->env || out_pw->file || out_pw->prompt))) {
    diag_fail("profile '%s': %.*s: only with same-outgoing=no (same-outgoing=yes uses the "
              "incoming settings for outgoing)",
              p->name, (int)strcspn(stray, "="), stray);
    return -1;
  }
  if(read_password(pw->env, pw->file, pw->prompt, p->password, sizeof(p->password)) < 0 ||
     read_password(out_pw->env, out_pw->file, out_pw->prompt, p->out_password,
                   sizeof(p->out_password)) < 0)
    return -1;
  if(p->retrieval == EXS_RETRIEVAL_PROFILE && p->user[0] && !p->password[0] &&
     isatty(STDIN_FILENO) && read_password(NULL, NULL, true, p->password, sizeof(p->password)) < 0)
    return -1;
  if(!create && old->same_outgoing && !p->same_outgoing) {
    /* each outgoing setting not given starts as its incoming counterpart */
    if(!p->out_password[0])
      memcpy(p->out_password, p->password, sizeof(p->out_password));
  }
  if(exs_profile_validate(p, &inv)) {
    diag_fail("profile '%s': %s %s", p->name, inv.field, inv.rule);
    return -1;
  }
  return 0;
}

/* Store p (create, or set over old) and re-open the mailboxes the change
 * affects. */
static int profile_put(struct profile_run *r, struct exs_profile *p, struct exs_profile *old,
                       bool create)
{
  struct exs_error err;
  struct exs_invalid inv;
  long reopened = 0;

  exs_error_clear(&err);
  if(!create)
    exs_profile_validate(old, &inv); /* compare like with like */
  if(exs_store_begin(r->st, &err) || exs_store_profile_put(r->st, p, &err) ||
     (!create && (reopened = reopen_profile_mailboxes(r->st, p->name, exs_profile_reopens(old, p),
                                                      false, &err)) < 0) ||
     exs_store_commit(r->st, &err)) {
    exs_store_rollback(r->st, NULL);
    return diag_fail("%s", err.message);
  }
  printf("profile '%s' %s\n", p->name, create ? "created" : "updated");
  if(reopened > 0)
    printf("%ld mailbox%s of profile '%s' set to Not Run and disabled until tested again\n",
           reopened, reopened == 1 ? "" : "es", p->name);
  return 0;
}

/* create and set */
static int profile_write(struct profile_run *r)
{
  struct exs_error err;
  struct exs_profile p, old;
  bool create = !strcmp(r->sub, "create");
  int rc, result = 2;

  memset(&p, 0, sizeof(p));
  memset(&old, 0, sizeof(old));
  exs_error_clear(&err);
  rc = exs_store_profile_get(r->st, r->args[0], &p, &err);
  if(rc < 0 || (create && rc == 0) || (!create && rc == EXS_STORE_NOT_FOUND)) {
    diag_fail(rc < 0   ? "%s"
              : create ? "profile '%s' exists (use profile set)"
                       : "no profile '%s' (use profile create)",
              rc < 0 ? err.message : r->args[0]);
    goto out;
  }
  if(create) {
    exs_profile_defaults(&p);
    if(exs_orgfile_set_profile(&p, "name", r->args[0], &err)) {
      diag_fail("%s", err.message);
      goto out;
    }
  }
  old = p;
  if(profile_edit(r, &p, &old, create))
    goto out;
  result = profile_put(r, &p, &old, create);
out:
  exs_profile_wipe(&old);
  exs_profile_wipe(&p);
  return result;
}

static int profile_delete(struct profile_run *r)
{
  struct exs_error err;
  struct exs_mailbox *used = NULL;
  const char *name = r->args[0];
  size_t nu = 0;
  long detached = 0;
  int rc;

  exs_error_clear(&err);
  if(exs_store_mailbox_list(r->st, name, 0, &used, &nu, &err))
    return diag_fail("%s", err.message);
  free(used);
  if(nu && !r->force)
    return diag_fail("profile '%s' is used by %zu mailbox%s: move them to another profile, or "
                     "--force to delete it and leave them without a profile (Not Run, disabled)",
                     name, nu, nu == 1 ? "" : "es");
  if(exs_store_begin(r->st, &err))
    return diag_fail("%s", err.message);
  detached = nu ? reopen_profile_mailboxes(r->st, name, EXS_WL_ALL, true, &err) : 0;
  rc = detached < 0 ? -1 : exs_store_profile_delete(r->st, name, &err);
  if(rc || exs_store_commit(r->st, &err)) {
    exs_store_rollback(r->st, NULL);
    return diag_fail(rc < 0 ? "%s" : "no profile '%s'", rc < 0 ? err.message : name);
  }
  printf("profile '%s' deleted\n", name);
  if(detached)
    printf("%ld mailbox%s left without a profile: Not Run and disabled\n", detached,
           detached == 1 ? "" : "es");
  return 0;
}

/* test-enable --detach: job runs in a child process with a fresh store
 * handle and no terminal; the parent says which job and returns. */
static int profile_detach(struct profile_run *r, struct exs_mailbox *m, size_t nm, int64_t job)
{
  pid_t pid;
  int rc;

  fflush(NULL);
  pid = fork();
  if(pid < 0)
    return diag_fail("cannot start the background job: %s", strerror(errno));
  if(pid > 0) {
    printf("job %lld started: %zu mailboxes of profile '%s' (exsync job wait %lld)\n",
           (long long)job, nm, r->args[0], (long long)job);
    return 0;
  }
  setsid();
  if(!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
    _exit(2);
  exs_store_close(r->st);
  r->st = diag_open_store(r->ctx, false);
  if(!r->st)
    _exit(2);
  rc = run_stored(r->ctx, r->st, m, nm, &r->flags, job);
  exs_store_close(r->st);
  _exit(rc);
}

static int profile_test_enable(struct profile_run *r)
{
  struct exs_error err;
  struct exs_profile p;
  struct exs_mailbox *m = NULL;
  size_t nm = 0, i;
  int64_t job = 0;
  int rc, result = 2;

  memset(&p, 0, sizeof(p));
  exs_error_clear(&err);
  rc = exs_store_profile_get(r->st, r->args[0], &p, &err);
  if(rc) {
    diag_fail(rc < 0 ? "%s" : "no profile '%s'", rc < 0 ? err.message : r->args[0]);
    goto out;
  }
  if(exs_store_mailbox_list(r->st, r->args[0], EXS_STORE_WITH_SECRETS, &m, &nm, &err) ||
     exs_store_job_create(r->st, "test-enable", r->args[0], (int)nm, &job, &err)) {
    diag_fail("%s", err.message);
    goto out;
  }
  if(r->detach)
    result = profile_detach(r, m, nm, job);
  else
    result = run_stored(r->ctx, r->st, m, nm, &r->flags, job);
out:
  for(i = 0; m && i < nm; i++)
    exs_mailbox_wipe(&m[i]);
  free(m);
  exs_profile_wipe(&p);
  return result;
}

/* The profile subcommands and their options and formats. */
/* The entry of a subcommand table (n entries of size bytes, each starting
 * with its name) that argv[1] names. NULL with *result: no subcommand
 * (usage on stderr, 2), -h (usage, 0) or an unknown one (2). */
static const void *find_sub(const char *cmd, int (*help)(FILE *), const void *table, size_t n,
                            size_t size, int argc, char **argv, int *result)
{
  size_t i;

  if(argc < 2) {
    *result = help(stderr);
    return NULL;
  }
  if(!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
    *result = help(stdout);
    return NULL;
  }
  for(i = 0; i < n; i++) {
    const void *entry = (const char *)table + i * size;
    if(!strcmp(argv[1], *(const char *const *)entry))
      return entry;
  }
  *result = diag_fail("%s: unknown subcommand '%s' (see exsync help %s)", cmd, argv[1], cmd);
  return NULL;
}

static const struct profile_sub {
  const char *name;
  int (*run)(struct profile_run *r);
  const struct diag_opt *opts, *extra;
  unsigned formats;
} profile_subs[] = {
    {"create", profile_write, pw_opts, out_pw_opts, DIAG_F_TEXT},
    {"set", profile_write, pw_opts, out_pw_opts, DIAG_F_TEXT},
    {"show", profile_show, NULL, NULL, DIAG_F_TEXT | DIAG_F_JSON},
    {"list", profile_list, NULL, NULL, DIAG_F_TEXT | DIAG_F_JSON},
    {"delete", profile_delete, force_opts, NULL, DIAG_F_TEXT},
    {"test-enable", profile_test_enable, detach_opts, diag_te_opts, DIAG_F_REPORT},
};

/* Parse the options and arguments of subcommand s into r. Returns -1 to go
 * on, else the exit status (help printed, or an error). */
static int profile_parse(struct profile_run *r, const struct profile_sub *s, const char *cmd,
                         int argc, char **argv)
{
  struct diag_optp op;
  bool list = !strcmp(r->sub, "list");
  int id;

  diag_opt_init(&op, cmd, s->opts, s->extra, argc, argv, 2);
  while((id = diag_opt_next(&op)) != DIAG_OPT_END) {
    if(id == DIAG_OPT_HELP)
      return profile_help(stdout);
    if(id == DIAG_OPT_ERR)
      return 2;
    if(id == DIAG_OPT_ARG)
      r->args[r->n++] = (char *)op.value;
    else if(id == OPT_DETACH)
      r->detach = true;
    else if(id == OPT_FORCE)
      r->force = true;
    else if(id == OPT_OUT_PW_ENV)
      r->out_pw.env = op.value;
    else if(id == OPT_OUT_PW_FILE)
      r->out_pw.file = op.value;
    else if(id == OPT_OUT_PW_PROMPT)
      r->out_pw.prompt = true;
    else if(take_pw(&r->pw, &op, id) == 0 && diag_te_apply(&r->flags, &op, id) < 0)
      return 2;
  }
  if(diag_formats(r->ctx, cmd, s->formats))
    return 2;
  if(list ? r->n > 0 : r->n < 1)
    return diag_fail(list ? "profile list: unexpected argument '%s'"
                          : "profile %s needs a profile NAME",
                     list ? r->args[0] : r->sub);
  if(s->run != profile_write && !list && r->n > 1)
    return diag_fail("%s: unexpected argument '%s' (see exsync help profile)", cmd, r->args[1]);
  return -1;
}

static int cmd_profile(struct diag_ctx *ctx, int argc, char **argv)
{
  const struct profile_sub *s;
  struct profile_run r;
  char cmd[64];
  int result;

  s = find_sub("profile", profile_help, profile_subs,
               sizeof(profile_subs) / sizeof(profile_subs[0]), sizeof(profile_subs[0]), argc, argv,
               &result);
  if(!s)
    return result;
  snprintf(cmd, sizeof(cmd), "profile %s", argv[1]);
  if(refuse_literal_password(argc, argv, 2))
    return 2;
  memset(&r, 0, sizeof(r));
  r.ctx = ctx;
  r.sub = argv[1];
  r.args = calloc((size_t)argc + 1, sizeof(char *));
  if(!r.args)
    return diag_fail("out of memory");
  result = profile_parse(&r, s, cmd, argc, argv);
  if(result < 0) {
    r.st = diag_open_store(ctx, !strcmp(r.sub, "create"));
    result = r.st ? s->run(&r) : 2;
  }
  free(r.args);
  exs_store_close(r.st);
  return result;
}

/* ---- mailbox ---- */

static int mailbox_help(FILE *f)
{
  fprintf(f,
          "usage: exsync mailbox add ADDRESS [KEY=VALUE...] [PASSWORD]\n"
          "       exsync mailbox import FILE.csv\n"
          "       exsync mailbox list [--profile NAME]\n"
          "       exsync mailbox show ADDRESS\n"
          "       exsync mailbox set ADDRESS... KEY=VALUE... [PASSWORD]\n"
          "       exsync mailbox apply-defaults (ADDRESS...|--all) [--no-test] [options]\n"
          "       exsync mailbox approve (ADDRESS...|--all) | reject ADDRESS...\n"
          "       exsync mailbox test-enable (ADDRESS...|--all) [options]\n\n"
          "KEY is an attribute of the org file's <mailbox>: name, kind, profile, incoming,\n"
          "outgoing, act, approval, allow-credentials, user, sync-org-only, track, process-from.\n"
          "PASSWORD: --password-env VAR | --password-file FILE | --password-prompt\n\n"
          "set changes one or several mailboxes (all or none). A change re-opens what it\n"
          "affects: a new profile or credentials set every workload to Not Run, disabled;\n"
          "a new delivery method that workload. reject (or approval other than approved)\n"
          "disables incoming and outgoing email at once.\n\n"
          "add and import create the store when missing; the others need one. list and\n"
          "show print text or --format json (docs/json/mailbox.md); test-enable and\n"
          "apply-defaults print the report (--format text, json, junit, html).\n\n"
          "apply-defaults copies the org's default profile and delivery methods, then runs\n"
          "Test & Enable on those mailboxes (unless --no-test), as the product does.\n\n"
          "Options of test-enable and apply-defaults:\n%s",
          diag_te_flags_help);
  return f == stdout ? 0 : 2;
}

/* The mailboxes named in args (or every one with all). */
static int select_mailboxes(struct exs_store *st, char **args, int n_args, bool all,
                            struct exs_mailbox **out, size_t *n)
{
  struct exs_error err;
  int i;
  size_t cap = 0;

  exs_error_clear(&err);
  *out = NULL;
  *n = 0;
  if(all) {
    if(n_args) {
      diag_fail("give mailbox addresses or --all, not both");
      return -1;
    }
    if(exs_store_mailbox_list(st, NULL, EXS_STORE_WITH_SECRETS, out, n, &err)) {
      diag_fail("%s", err.message);
      return -1;
    }
    return 0;
  }
  if(!n_args) {
    diag_fail("name at least one mailbox ADDRESS, or --all");
    return -1;
  }
  for(i = 0; i < n_args; i++) {
    int rc;
    if(*n == cap) {
      struct exs_mailbox *p = realloc(*out, (cap = cap ? cap * 2 : 8) * sizeof(*p));
      if(!p) {
        diag_fail("out of memory");
        return -1;
      }
      *out = p;
    }
    rc = exs_store_mailbox_get(st, args[i], &(*out)[*n], &err);
    if(rc) {
      diag_fail(rc < 0 ? "%s" : "no mailbox %s in the store", rc < 0 ? err.message : args[i]);
      return -1;
    }
    ++*n;
  }
  return 0;
}

static void free_mailboxes(struct exs_mailbox *m, size_t n)
{
  size_t i;

  for(i = 0; m && i < n; i++)
    exs_mailbox_wipe(&m[i]);
  free(m);
}

static const struct diag_opt mailbox_list_opts[] = {
    {"--profile", true, OPT_PROFILE},
    {NULL, false, 0},
};

static const struct diag_opt mailbox_all_opts[] = {
    {"--all", false, OPT_ALL},
    {NULL, false, 0},
};

static const struct diag_opt mailbox_te_opts[] = {
    {"--all", false, OPT_ALL},
    {"--no-test", false, OPT_NO_TEST},
    {NULL, false, 0},
};

static void print_mailbox_text(const struct exs_mailbox *m)
{
  char t1[32], t2[32];

  exs_orgfile_print_mailbox(stdout, m);
  printf("%-29s %s / %s / %s\n", "status (in/out/act)", exs_status_name(m->status[0]),
         exs_status_name(m->status[1]), exs_status_name(m->status[2]));
  printf("%-29s %s / %s / %s\n", "enabled (in/out/act)", m->enabled[0] ? "yes" : "no",
         m->enabled[1] ? "yes" : "no", m->enabled[2] ? "yes" : "no");
  printf("%-29s %s\n", "ews-url", m->ews_url);
  printf("%-29s %s\n", "test-completed-on",
         m->test_completed_on ? exs_time_iso(m->test_completed_on, t1, sizeof(t1)) : "");
  printf("%-29s %d\n", "test-retry-count", m->retry_count);
  printf("%-29s %d\n", "transient-failures", m->transient_failures);
  printf("%-29s %s\n", "retry-at", m->retry_at ? exs_time_iso(m->retry_at, t2, sizeof(t2)) : "");
  printf("%-29s %s %s\n", "last-error", m->last_error_code, m->last_error);
  printf("%-29s %d\n", "last-error-count", m->last_error_count);
  /* sync runtime fields (sync engine) */
  printf("%-29s %s\n", "last-sync-start",
         m->last_sync_start ? exs_time_iso(m->last_sync_start, t1, sizeof(t1)) : "");
  printf("%-29s %s\n", "last-sync-success",
         m->last_sync_success ? exs_time_iso(m->last_sync_success, t2, sizeof(t2)) : "");
  printf("%-29s %d\n", "items-processed", m->items_processed);
  printf("%-29s %d\n", "items-failed", m->items_failed);
  printf("%-29s %s\n", "postponed-until",
         m->postponed_until ? exs_time_iso(m->postponed_until, t1, sizeof(t1)) : "");
  printf("%-29s %s\n", "processing-host", m->processing_host);
}

/* One mailbox subcommand's command line, parsed, and the store it works on. */
struct mailbox_run {
  struct diag_ctx *ctx;
  struct exs_store *st;
  const char *sub;
  char **args;
  int na;
  const char *profile;
  struct pw_opts pw;
  struct diag_te_flags flags;
  bool all, no_test;
};

static int mailbox_list(struct mailbox_run *r)
{
  struct exs_error err;
  struct exs_mailbox *list = NULL;
  size_t n = 0, i;
  int result = 2;

  exs_error_clear(&err);
  if(exs_store_mailbox_list(r->st, r->profile, 0, &list, &n, &err)) {
    diag_fail("%s", err.message);
    goto out;
  }
  if(r->ctx->format == DIAG_FORMAT_JSON) {
    fputs("{\"mailboxes\": [", stdout);
    for(i = 0; i < n; i++) {
      fputs(i ? ",\n  " : "\n  ", stdout);
      print_mailbox_json(stdout, &list[i], false);
    }
    fputs(n ? "\n]}\n" : "]}\n", stdout);
    result = 0;
    goto out;
  }
  printf("%-32s %-16s %-9s %-8s %-8s %-8s %s\n", "Address", "Profile", "Approval", "Incoming",
         "Outgoing", "ACT", "Enabled (in/out/act)");
  for(i = 0; i < n; i++)
    printf("%-32s %-16s %-9s %-8s %-8s %-8s %s/%s/%s\n", list[i].address, list[i].profile,
           exs_approval_name(list[i].approval), exs_status_name(list[i].status[0]),
           exs_status_name(list[i].status[1]), exs_status_name(list[i].status[2]),
           list[i].enabled[0] ? "yes" : "no", list[i].enabled[1] ? "yes" : "no",
           list[i].enabled[2] ? "yes" : "no");
  result = 0;
out:
  free_mailboxes(list, n);
  return result;
}

static int mailbox_import(struct mailbox_run *r)
{
  struct exs_error err;
  struct exs_org org;
  struct exs_mailbox *list = NULL;
  size_t n = 0;
  int result = 2;

  exs_error_clear(&err);
  if(exs_store_org_get(r->st, &org, &err) < 0 ||
     exs_csv_load_mailboxes(r->args[0], &org, &list, &n, &err) ||
     exs_store_import(r->st, NULL, NULL, 0, list, n, &err)) {
    diag_fail("%s", err.message);
    goto out;
  }
  printf("imported %zu mailbox%s from %s\n", n, n == 1 ? "" : "es", r->args[0]);
  result = 0;
out:
  free_mailboxes(list, n);
  return result;
}

static int mailbox_show(struct mailbox_run *r)
{
  struct exs_error err;
  struct exs_mailbox m;
  int rc, result = 2;

  memset(&m, 0, sizeof(m));
  exs_error_clear(&err);
  rc = exs_store_mailbox_get(r->st, r->args[0], &m, &err);
  if(rc) {
    diag_fail(rc < 0 ? "%s" : "no mailbox %s in the store", rc < 0 ? err.message : r->args[0]);
    goto out;
  }
  if(r->ctx->format == DIAG_FORMAT_JSON) {
    print_mailbox_json(stdout, &m, true);
    fputc('\n', stdout);
  }
  else {
    print_mailbox_text(&m);
  }
  result = 0;
out:
  exs_mailbox_wipe(&m);
  return result;
}

/* The end of add and set: the KEY=VALUE pairs and the password into m,
 * checked, stored. */
static int mailbox_save(struct mailbox_run *r, struct exs_mailbox *m, bool add)
{
  struct exs_error err;
  struct exs_invalid inv;
  struct exs_mailbox before = *m;

  exs_error_clear(&err);
  if(apply_pairs(r->args, r->na, 1, m, false) ||
     read_password(r->pw.env, r->pw.file, r->pw.prompt, m->password, sizeof(m->password)) < 0) {
    exs_mailbox_wipe(&before);
    return 2;
  }
  if(!add)
    exs_mailbox_reopen(&before, m); /* a change re-opens what it affects */
  exs_mailbox_wipe(&before);
  if(exs_mailbox_validate(m, &inv))
    return diag_fail("mailbox %s: %s %s", m->address, inv.field, inv.rule);
  if(exs_store_mailbox_put(r->st, m, &err))
    return diag_fail("%s", err.message);
  printf("mailbox %s %s\n", m->address, add ? "added" : "updated");
  return 0;
}

static int mailbox_add(struct mailbox_run *r)
{
  struct exs_error err;
  struct exs_org org;
  struct exs_mailbox m;
  int rc, result = 2;

  memset(&m, 0, sizeof(m));
  exs_error_clear(&err);
  rc = exs_store_mailbox_get(r->st, r->args[0], &m, &err);
  if(rc <= 0) {
    diag_fail(rc < 0 ? "%s" : "mailbox %s exists (use mailbox set)",
              rc < 0 ? err.message : r->args[0]);
    goto out;
  }
  exs_mailbox_defaults(&m);
  if(exs_store_org_get(r->st, &org, &err) >= 0) {
    snprintf(m.profile, sizeof(m.profile), "%s", org.default_profile);
    m.incoming = org.default_incoming;
    m.outgoing = org.default_outgoing;
    m.act = org.default_act;
  }
  if(exs_orgfile_set_mailbox(&m, "address", r->args[0], &err)) {
    diag_fail("%s", err.message);
    goto out;
  }
  snprintf(m.name, sizeof(m.name), "%s", r->args[0]);
  result = mailbox_save(r, &m, true);
out:
  exs_mailbox_wipe(&m);
  return result;
}

/* set ADDRESS... KEY=VALUE...: every mailbox named, or none ("change
 * multiple records"). */
static int mailbox_set_many(struct mailbox_run *r)
{
  struct exs_error err;
  struct exs_invalid inv;
  struct exs_mailbox m, before;
  char **pairs;
  int k, rc, first_pair = 1, result = 2;

  memset(&m, 0, sizeof(m));
  exs_error_clear(&err);
  while(first_pair < r->na && !strchr(r->args[first_pair], '='))
    first_pair++;
  if(first_pair == r->na) {
    diag_fail("mailbox set needs KEY=VALUE after the addresses");
    goto out;
  }
  pairs = r->args + first_pair - 1; /* apply_pairs skips index 0 */
  if(exs_store_begin(r->st, &err)) {
    diag_fail("%s", err.message);
    goto out;
  }
  for(k = 0; k < first_pair; k++) {
    rc = exs_store_mailbox_get(r->st, r->args[k], &m, &err);
    if(rc) {
      exs_store_rollback(r->st, NULL);
      diag_fail(rc < 0 ? "%s" : "no mailbox %s in the store (nothing changed)",
                rc < 0 ? err.message : r->args[k]);
      goto out;
    }
    before = m;
    if(apply_pairs(pairs, r->na - first_pair + 1, 1, &m, false) ||
       read_password(r->pw.env, r->pw.file, r->pw.prompt, m.password, sizeof(m.password)) < 0) {
      exs_mailbox_wipe(&before);
      exs_store_rollback(r->st, NULL);
      goto out;
    }
    exs_mailbox_reopen(&before, &m);
    exs_mailbox_wipe(&before);
    if(exs_mailbox_validate(&m, &inv)) {
      exs_store_rollback(r->st, NULL);
      diag_fail("mailbox %s: %s %s (nothing changed)", m.address, inv.field, inv.rule);
      goto out;
    }
    if(exs_store_mailbox_put(r->st, &m, &err)) {
      exs_store_rollback(r->st, NULL);
      diag_fail("%s", err.message);
      goto out;
    }
    exs_mailbox_wipe(&m);
  }
  if(exs_store_commit(r->st, &err)) {
    diag_fail("%s", err.message);
    goto out;
  }
  for(k = 0; k < first_pair; k++)
    printf("mailbox %s updated\n", r->args[k]);
  result = 0;
out:
  exs_mailbox_wipe(&m);
  return result;
}

static int mailbox_set(struct mailbox_run *r)
{
  struct exs_error err;
  struct exs_mailbox m;
  int rc, result = 2;

  if(r->na > 1 && !strchr(r->args[1], '='))
    return mailbox_set_many(r);
  memset(&m, 0, sizeof(m));
  exs_error_clear(&err);
  rc = exs_store_mailbox_get(r->st, r->args[0], &m, &err);
  if(rc) {
    diag_fail(rc < 0 ? "%s" : "no mailbox %s in the store (use mailbox add)",
              rc < 0 ? err.message : r->args[0]);
    goto out;
  }
  result = mailbox_save(r, &m, false);
out:
  exs_mailbox_wipe(&m);
  return result;
}

/* approve and reject */
static int mailbox_approval(struct mailbox_run *r)
{
  struct exs_error err;
  struct exs_mailbox *list = NULL;
  bool approve = !strcmp(r->sub, "approve");
  size_t n = 0, i;
  int result = 2;

  exs_error_clear(&err);
  if(select_mailboxes(r->st, r->args, r->na, r->all, &list, &n))
    goto out;
  for(i = 0; i < n; i++) {
    struct exs_mailbox before = list[i];
    list[i].approval = approve ? EXS_APPROVAL_APPROVED : EXS_APPROVAL_REJECTED;
    exs_mailbox_reopen(&before, &list[i]); /* rejecting disables email at once */
    exs_mailbox_wipe(&before);
    if(exs_store_mailbox_put(r->st, &list[i], &err)) {
      diag_fail("%s", err.message);
      goto out;
    }
    printf("%s: email address %s\n", list[i].address, approve ? "approved" : "rejected");
  }
  result = 0;
out:
  free_mailboxes(list, n);
  return result;
}

/* The org's default profile and delivery methods onto each of list. */
static int mailbox_apply_defaults(struct exs_store *st, struct exs_mailbox *list, size_t n)
{
  struct exs_error err;
  struct exs_org org;
  size_t i;

  exs_error_clear(&err);
  if(exs_store_org_get(st, &org, &err) < 0)
    return diag_fail("%s", err.message);
  for(i = 0; i < n; i++) {
    snprintf(list[i].profile, sizeof(list[i].profile), "%s", org.default_profile);
    list[i].incoming = org.default_incoming;
    list[i].outgoing = org.default_outgoing;
    list[i].act = org.default_act;
    if(exs_store_mailbox_put(st, &list[i], &err))
      return diag_fail("%s", err.message);
  }
  fprintf(stderr, "exsync: default email settings applied to %zu mailbox%s\n", n,
          n == 1 ? "" : "es");
  return 0;
}

/* test-enable and apply-defaults */
static int mailbox_test_enable(struct mailbox_run *r)
{
  struct exs_mailbox *list = NULL;
  size_t n = 0;
  int result = 2;

  if(select_mailboxes(r->st, r->args, r->na, r->all, &list, &n))
    goto out;
  if(!strcmp(r->sub, "apply-defaults")) {
    if(mailbox_apply_defaults(r->st, list, n))
      goto out;
    if(r->no_test) {
      result = 0;
      goto out;
    }
  }
  result = run_stored(r->ctx, r->st, list, n, &r->flags, 0);
out:
  free_mailboxes(list, n);
  return result;
}

/* The mailbox subcommands: their options, formats and whether they create
 * the store when missing. */
static const struct mailbox_sub {
  const char *name;
  int (*run)(struct mailbox_run *r);
  const struct diag_opt *opts, *extra;
  unsigned formats;
  bool password, create;
} mailbox_subs[] = {
    {"add", mailbox_add, pw_opts, NULL, DIAG_F_TEXT, true, true},
    {"import", mailbox_import, NULL, NULL, DIAG_F_TEXT, false, true},
    {"list", mailbox_list, mailbox_list_opts, NULL, DIAG_F_TEXT | DIAG_F_JSON, false, false},
    {"show", mailbox_show, NULL, NULL, DIAG_F_TEXT | DIAG_F_JSON, false, false},
    {"set", mailbox_set, pw_opts, NULL, DIAG_F_TEXT, true, false},
    {"apply-defaults", mailbox_test_enable, mailbox_te_opts, diag_te_opts, DIAG_F_REPORT, false,
     false},
    {"approve", mailbox_approval, mailbox_all_opts, NULL, DIAG_F_TEXT, false, false},
    {"reject", mailbox_approval, NULL, NULL, DIAG_F_TEXT, false, false},
    {"test-enable", mailbox_test_enable, mailbox_te_opts, diag_te_opts, DIAG_F_REPORT, false,
     false},
};

/* Parse the options and arguments of subcommand s into r. Returns -1 to go
 * on, else the exit status (help printed, or an error). */
static int mailbox_parse(struct mailbox_run *r, const struct mailbox_sub *s, const char *cmd,
                         int argc, char **argv)
{
  struct diag_optp op;
  int id;

  diag_opt_init(&op, cmd, s->opts, s->extra, argc, argv, 2);
  while((id = diag_opt_next(&op)) != DIAG_OPT_END) {
    if(id == DIAG_OPT_HELP)
      return mailbox_help(stdout);
    if(id == DIAG_OPT_ERR)
      return 2;
    if(id == DIAG_OPT_ARG)
      r->args[r->na++] = (char *)op.value;
    else if(id == OPT_PROFILE)
      r->profile = op.value;
    else if(id == OPT_ALL)
      r->all = true;
    else if(id == OPT_NO_TEST && !strcmp(r->sub, "apply-defaults"))
      r->no_test = true;
    else if(id == OPT_NO_TEST)
      return diag_fail("%s: unknown option '--no-test' (see exsync help mailbox)", cmd);
    else if(take_pw(&r->pw, &op, id) == 0 && diag_te_apply(&r->flags, &op, id) < 0)
      return 2;
  }
  if(diag_formats(r->ctx, cmd, s->formats))
    return 2;
  if(!strcmp(r->sub, "list") && r->na)
    return diag_fail("mailbox list: unexpected argument '%s' (see exsync help mailbox)",
                     r->args[0]);
  if(!strcmp(r->sub, "import") && r->na != 1)
    return diag_fail("usage: exsync mailbox import FILE.csv");
  if((s->password || !strcmp(r->sub, "show")) && r->na < 1)
    return diag_fail("mailbox %s needs an ADDRESS", r->sub);
  if(!strcmp(r->sub, "show") && r->na > 1)
    return diag_fail("mailbox show: unexpected argument '%s' (see exsync help mailbox)",
                     r->args[1]);
  return -1;
}

static int cmd_mailbox(struct diag_ctx *ctx, int argc, char **argv)
{
  const struct mailbox_sub *s;
  struct mailbox_run r;
  char cmd[64];
  int result;

  s = find_sub("mailbox", mailbox_help, mailbox_subs,
               sizeof(mailbox_subs) / sizeof(mailbox_subs[0]), sizeof(mailbox_subs[0]), argc, argv,
               &result);
  if(!s)
    return result;
  snprintf(cmd, sizeof(cmd), "mailbox %s", argv[1]);
  if(s->password && refuse_literal_password(argc, argv, 2))
    return 2;
  memset(&r, 0, sizeof(r));
  r.ctx = ctx;
  r.sub = argv[1];
  r.args = calloc((size_t)argc + 1, sizeof(char *));
  if(!r.args)
    return diag_fail("out of memory");
  result = mailbox_parse(&r, s, cmd, argc, argv);
  if(result < 0) {
    r.st = diag_open_store(ctx, s->create);
    result = r.st ? s->run(&r) : 2;
  }
  free(r.args);
  exs_store_close(r.st);
  return result;
}

/* ---- alerts ---- */

static int alerts_help(FILE *f)
{
  fprintf(f, "usage: exsync alerts [WHO] [--profile NAME]\n\n"
             "An alert wall, oldest first: every alert written (no argument); the wall of\n"
             "WHO, a mailbox address or a person: the mailbox's alerts, the alerts of every\n"
             "profile WHO owns (its mailboxes' errors and warnings, its profile-level\n"
             "alerts), and, when the org's notify-owners is on, the profile-level alerts of\n"
             "the profile of WHO's mailbox; or with --profile the profile's own wall (its\n"
             "profile-level alerts). --format json for an object (docs/json/alerts.md).\n");
  return f == stdout ? 0 : 2;
}

static const struct diag_opt alerts_opts[] = {
    {"--profile", true, OPT_PROFILE},
    {NULL, false, 0},
};

static int cmd_alerts(struct diag_ctx *ctx, int argc, char **argv)
{
  struct exs_store *st;
  struct exs_error err;
  struct exs_alert *a = NULL;
  struct diag_optp op;
  size_t n = 0, i;
  const char *who = NULL, *profile = NULL;
  char when[32];
  int id, rc;

  diag_opt_init(&op, "alerts", alerts_opts, NULL, argc, argv, 1);
  while((id = diag_opt_next(&op)) != DIAG_OPT_END) {
    if(id == DIAG_OPT_HELP)
      return alerts_help(stdout);
    if(id == DIAG_OPT_ERR)
      return 2;
    if(id == OPT_PROFILE)
      profile = op.value;
    else if(!who)
      who = op.value;
    else
      return diag_opt_unexpected(&op);
  }
  if(who && profile)
    return diag_fail("alerts: give WHO or --profile NAME, not both");
  if(diag_formats(ctx, "alerts", DIAG_F_TEXT | DIAG_F_JSON))
    return 2;
  exs_error_clear(&err);
  st = diag_open_store(ctx, false);
  if(!st)
    return 2;
  if(profile) {
    struct exs_profile p;
    rc = exs_store_profile_get(st, profile, &p, &err);
    exs_profile_wipe(&p);
    if(rc) {
      exs_store_close(st);
      return diag_fail(rc < 0 ? "%s" : "no profile '%s'", rc < 0 ? err.message : profile);
    }
    rc = exs_store_alert_profile_wall(st, profile, 0, &a, &n, &err);
  }
  else if(who) {
    rc = exs_store_alert_wall(st, who, 0, &a, &n, &err);
  }
  else {
    rc = exs_store_alert_list(st, NULL, 0, &a, &n, &err);
  }
  if(rc) {
    exs_store_close(st);
    return diag_fail("%s", err.message);
  }
  if(ctx->format == DIAG_FORMAT_JSON) {
    fputs("{\"alerts\": [", stdout);
    for(i = 0; i < n; i++)
      print_alert_json(stdout, &a[i], i == 0);
    fputs("\n]}\n", stdout);
  }
  else {
    for(i = 0; i < n; i++) {
      printf("%s %-11s %-17s %s: %s\n", exs_time_iso(a[i].time, when, sizeof(when)),
             exs_severity_name(a[i].severity), exs_category_name(a[i].category),
             a[i].mailbox[0] ? a[i].mailbox : a[i].profile, a[i].message);
      if(a[i].hint[0] && a[i].severity != EXS_SEV_INFORMATION)
        printf("    fix: %s\n", a[i].hint);
    }
    if(!n)
      printf("no alerts\n");
  }
  free(a);
  exs_store_close(st);
  return 0;
}

/* ---- jobs ---- */

static void print_job(const struct exs_job *j)
{
  char t[32];

  printf("job %lld  %s  profile '%s'  %s  %d/%d", (long long)j->id, j->kind, j->profile,
         exs_job_state_name(j->state), j->done, j->total);
  if(j->created)
    printf("  created %s", exs_time_iso(j->created, t, sizeof(t)));
  printf("\n");
  if(j->summary[0])
    printf("    %s\n", j->summary);
}

static int job_help(FILE *f)
{
  fprintf(f, "usage: exsync job list | job show ID | job wait ID [--timeout SECONDS]\n\n"
             "wait follows a job until it ends (progress on a terminal) and exits 0 when every\n"
             "tested workload succeeded, 1 when some failed. --format json prints the job(s)\n"
             "as objects (docs/json/job.md).\n");
  return f == stdout ? 0 : 2;
}

static const struct diag_opt job_opts[] = {
    {"--timeout", true, OPT_TIMEOUT},
    {NULL, false, 0},
};

static int job_list(struct diag_ctx *ctx, struct exs_store *st)
{
  struct exs_error err;
  struct exs_job *jobs = NULL;
  size_t n = 0, i;

  exs_error_clear(&err);
  if(exs_store_job_list(st, &jobs, &n, &err))
    return diag_fail("%s", err.message);
  if(ctx->format == DIAG_FORMAT_JSON) {
    fputs("{\"jobs\": [", stdout);
    for(i = 0; i < n; i++) {
      fputs(i ? ",\n  " : "\n  ", stdout);
      print_job_json(stdout, &jobs[i]);
    }
    fputs(n ? "\n]}\n" : "]}\n", stdout);
  }
  else {
    for(i = 0; i < n; i++)
      print_job(&jobs[i]);
    if(!n)
      printf("no jobs\n");
  }
  free(jobs);
  return 0;
}

/* show ID, and wait ID: the job once it ended (within timeout_s). */
static int job_show(struct diag_ctx *ctx, struct exs_store *st, const char *arg, bool wait,
                    long timeout_s)
{
  struct exs_error err;
  struct exs_job job;
  struct diag_progress bar;
  char *end;
  long long jid = strtoll(arg, &end, 10);
  int64_t deadline;
  int rc;

  exs_error_clear(&err);
  if(*end || jid <= 0)
    return diag_fail("'%s' is not a job id", arg);
  deadline = exs_monotonic_ms() + timeout_s * 1000;
  diag_progress_init(&bar, "job");
  for(;;) {
    rc = exs_store_job_get(st, jid, &job, &err);
    if(rc) {
      diag_progress_done(&bar);
      return diag_fail(rc < 0 ? "%s" : "no job %s", rc < 0 ? err.message : arg);
    }
    if(!wait || job.state == EXS_JOB_DONE || job.state == EXS_JOB_FAILED)
      break;
    if(exs_monotonic_ms() > deadline) {
      diag_progress_done(&bar);
      return diag_fail("job %lld still %s after %ld s", jid, exs_job_state_name(job.state),
                       timeout_s);
    }
    diag_progress_update(&bar, (size_t)job.done, (size_t)job.total);
    exs_sleep_ms(200); /* polling the store: the job runs in another process */
  }
  diag_progress_done(&bar);
  if(ctx->format == DIAG_FORMAT_JSON) {
    print_job_json(stdout, &job);
    fputc('\n', stdout);
  }
  else {
    print_job(&job);
  }
  return !wait ? 0 : job.state == EXS_JOB_DONE ? 0 : 1;
}

static int cmd_job(struct diag_ctx *ctx, int argc, char **argv)
{
  struct exs_store *st = NULL;
  struct diag_optp op;
  char *args[4] = {NULL, NULL, NULL, NULL};
  char cmd[32];
  const char *sub;
  long timeout_s = 3600;
  int result, id, na = 0;

  if(argc < 2)
    return job_help(stderr);
  sub = argv[1];
  if(!strcmp(sub, "-h") || !strcmp(sub, "--help"))
    return job_help(stdout);
  if(strcmp(sub, "list") && strcmp(sub, "show") && strcmp(sub, "wait"))
    return diag_fail("job: unknown subcommand '%s' (list, show ID, wait ID)", sub);
  snprintf(cmd, sizeof(cmd), "job %s", sub);
  diag_opt_init(&op, cmd, !strcmp(sub, "wait") ? job_opts : NULL, NULL, argc, argv, 2);
  while((id = diag_opt_next(&op)) != DIAG_OPT_END) {
    if(id == DIAG_OPT_HELP)
      return job_help(stdout);
    if(id == DIAG_OPT_ERR)
      return 2;
    if(id == OPT_TIMEOUT) {
      if(diag_opt_long(&op, 1, 86400 * 7, &timeout_s))
        return 2;
      continue;
    }
    if(na >= (!strcmp(sub, "list") ? 0 : 1))
      return diag_opt_unexpected(&op);
    args[na++] = (char *)op.value;
  }
  if(strcmp(sub, "list") && na != 1)
    return diag_fail("%s needs a job ID", cmd);
  if(diag_formats(ctx, cmd, DIAG_F_TEXT | DIAG_F_JSON))
    return 2;
  st = diag_open_store(ctx, false);
  if(!st)
    return 2;
  result = !strcmp(sub, "list") ? job_list(ctx, st)
                                : job_show(ctx, st, args[0], !strcmp(sub, "wait"), timeout_s);
  exs_store_close(st);
  return result;
}

int diag_cmd_admin(struct diag_ctx *ctx, int argc, char **argv)
{
  if(!strcmp(argv[0], "import"))
    return cmd_import(ctx, argc, argv);
  if(!strcmp(argv[0], "org"))
    return cmd_org(ctx, argc, argv);
  if(!strcmp(argv[0], "profile"))
    return cmd_profile(ctx, argc, argv);
  if(!strcmp(argv[0], "mailbox"))
    return cmd_mailbox(ctx, argc, argv);
  if(!strcmp(argv[0], "alerts"))
    return cmd_alerts(ctx, argc, argv);
  return cmd_job(ctx, argc, argv);
}

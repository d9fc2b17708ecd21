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
#include "exsync/clock.h"
#include "exsync/orgfile.h"
#include "exsync/store.h"
#include "progress.h"
#include "run.h"

/* ---- small helpers ---- */

static bool is_help(const char *a)
{
  return !strcmp(a, "--help") || !strcmp(a, "-h");
}

/* --help anywhere after the command ("mailbox test-enable --help"). */
static bool wants_help(int argc, char **argv)
{
  int i;

  for(i = 1; i < argc; i++)
    if(is_help(argv[i]))
      return true;
  return false;
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

/* Take --password-env/--password-file/--password-prompt at argv[*i]. */
static int take_pw(struct pw_opts *pw, int argc, char **argv, int *i)
{
  if(!strcmp(argv[*i], "--password-prompt")) {
    pw->prompt = true;
    return 1;
  }
  if((!strcmp(argv[*i], "--password-env") || !strcmp(argv[*i], "--password-file"))) {
    if(*i + 1 >= argc) {
      diag_fail("%s needs a value", argv[*i]);
      return -1;
    }
    if(argv[*i][11] == 'e')
      pw->env = argv[++*i];
    else
      pw->file = argv[++*i];
    return 1;
  }
  if(!strcmp(argv[*i], "--password") || !strncmp(argv[*i], "--password=", 11) ||
     !strncmp(argv[*i], "password=", 9)) {
    diag_fail("passwords are never taken on the command line: use --password-env VAR, "
              "--password-file FILE or --password-prompt");
    return -1;
  }
  return 0;
}

static void print_alert_json(FILE *f, const struct exs_alert *a, bool first)
{
  char when[32];

  fprintf(f, "%s\n    {\"time\": \"%s\", \"mailbox\": ", first ? "" : ",",
          exs_time_iso(a->time, when, sizeof(when)));
  diag_json_str_or_null(f, a->mailbox);
  fprintf(f, ", \"severity\": \"%s\", \"category\": \"%s\", \"transient\": %s, \"message\": ",
          exs_severity_name(a->severity), exs_category_name(a->category),
          a->transient ? "true" : "false");
  diag_json_str(f, a->message);
  fputs(", \"hint\": ", f);
  diag_json_str_or_null(f, a->hint);
  fputs("}", f);
}

/* ---- import ---- */

static int cmd_import(struct diag_ctx *ctx, int argc, char **argv)
{
  struct exs_orgfile *f;
  struct exs_store *st;
  struct exs_error err;
  int result = 2;

  if(argc != 2 || is_help(argv[1])) {
    printf("usage: exsync import ORG.xml\n\nImport org settings, profiles and mailboxes from an "
           "org file (urn:exsync:org:1) into the store,\nin one transaction. Existing entries "
           "are updated by name / address.\n");
    return argc == 2 ? 0 : 2;
  }
  exs_error_clear(&err);
  f = diag_load_orgfile(argv[1], EXS_ORGFILE_EXTERNAL_PROFILES);
  if(!f)
    return 2;
  st = diag_open_store(ctx);
  if(st && diag_import_org(st, f, &err) == 0) {
    printf("imported %s: org settings, %zu profile%s, %zu mailbox%s\n", argv[1], f->n_profiles,
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

static int cmd_org(struct diag_ctx *ctx, int argc, char **argv)
{
  struct exs_store *st;
  struct exs_error err;
  struct exs_org org;
  struct exs_invalid inv;
  int result = 2, i;

  if(argc < 2 || is_help(argv[1])) {
    printf("usage: exsync org show\n       exsync org set KEY=VALUE...   (keys as in the org "
           "file's <settings>, and id)\n");
    return argc >= 2 ? 0 : 2;
  }
  if(strcmp(argv[1], "show") && strcmp(argv[1], "set"))
    return diag_fail("org: unknown subcommand '%s' (show or set)", argv[1]);
  exs_error_clear(&err);
  st = diag_open_store(ctx);
  if(!st)
    return 2;
  if(exs_store_org_get(st, &org, &err) < 0) {
    diag_fail("%s", err.message);
    goto out;
  }
  if(!strcmp(argv[1], "show")) {
    exs_orgfile_print_org(stdout, &org);
    result = 0;
    goto out;
  }
  if(argc < 3) {
    diag_fail("org set needs KEY=VALUE");
    goto out;
  }
  for(i = 2; i < argc; i++) {
    char key[64];
    const char *eq = strchr(argv[i], '=');
    if(!eq || eq == argv[i] || (size_t)(eq - argv[i]) >= sizeof(key)) {
      diag_fail("org set: '%s' is not KEY=VALUE", argv[i]);
      goto out;
    }
    snprintf(key, sizeof(key), "%.*s", (int)(eq - argv[i]), argv[i]);
    if(!strcmp(key, "id")) {
      snprintf(org.id, sizeof(org.id), "%s", eq + 1);
      continue;
    }
    if(exs_orgfile_set_org(&org, key, eq + 1, &err)) {
      diag_fail("%s", err.message);
      goto out;
    }
  }
  if(exs_org_validate(&org, &inv)) {
    diag_fail("org setting '%s': %s", inv.field, inv.rule);
    goto out;
  }
  if(exs_store_org_put(st, &org, &err)) {
    diag_fail("%s", err.message);
    goto out;
  }
  result = 0;
out:
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
  if(exs_store_org_get(st, &org, &err) < 0 ||
     diag_load_profiles(st, &profiles, &np, &err)) {
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

static int profile_help(void)
{
  printf("usage: exsync profile create NAME [KEY=VALUE...] [PASSWORD]\n"
         "       exsync profile set NAME KEY=VALUE... [PASSWORD]\n"
         "       exsync profile show NAME | list | delete NAME\n"
         "       exsync profile test-enable NAME [--detach] [options]\n\n"
         "KEY is an attribute of the org file's <profile>: autodiscover, incoming-url,\n"
         "outgoing-url, same-outgoing, authenticate-using, impersonation, protocol, user,\n"
         "process-from, poll-minutes, max-connections, move-undeliverable, timeout-ms, owner...\n"
         "PASSWORD: --password-env VAR | --password-file FILE | --password-prompt\n\n"
         "test-enable runs a background job over every mailbox of the profile (see\n"
         "exsync job); it waits and prints the report unless --detach.\n%s",
         diag_te_flags_help);
  return 0;
}

static int apply_pairs(int argc, char **argv, int from, void *obj, bool profile,
                       struct pw_opts *pw)
{
  struct exs_error err;
  int i;

  exs_error_clear(&err);
  for(i = from; i < argc; i++) {
    char key[64];
    const char *eq;
    int t = take_pw(pw, argc, argv, &i);
    if(t < 0)
      return -1;
    if(t > 0)
      continue;
    eq = strchr(argv[i], '=');
    if(!eq || eq == argv[i] || (size_t)(eq - argv[i]) >= sizeof(key)) {
      diag_fail("'%s' is not KEY=VALUE", argv[i]);
      return -1;
    }
    snprintf(key, sizeof(key), "%.*s", (int)(eq - argv[i]), argv[i]);
    if(profile ? exs_orgfile_set_profile(obj, key, eq + 1, &err)
               : exs_orgfile_set_mailbox(obj, key, eq + 1, &err)) {
      diag_fail("%s", err.message);
      return -1;
    }
  }
  return 0;
}

static int cmd_profile(struct diag_ctx *ctx, int argc, char **argv)
{
  struct exs_store *st = NULL;
  struct exs_error err;
  struct exs_profile p;
  struct exs_invalid inv;
  struct pw_opts pw = {NULL, NULL, false};
  const char *sub;
  int result = 2, rc;
  size_t i;

  memset(&p, 0, sizeof(p));
  if(argc < 2 || wants_help(argc, argv))
    return argc < 2 ? (profile_help(), 2) : profile_help();
  sub = argv[1];
  exs_error_clear(&err);
  if(strcmp(sub, "list") && argc < 3)
    return diag_fail("profile %s needs a profile NAME", sub);
  st = diag_open_store(ctx);
  if(!st)
    return 2;

  if(!strcmp(sub, "list")) {
    struct exs_profile *all = NULL;
    size_t n = 0;
    if(exs_store_profile_list(st, &all, &n, &err)) {
      diag_fail("%s", err.message);
      goto out;
    }
    printf("%-24s %-11s %-6s %s\n", "Name", "Auth", "MaxCon", "Server location");
    for(i = 0; i < n; i++) {
      printf("%-24s %-11s %-6d %s\n", all[i].name, exs_retrieval_name(all[i].retrieval),
             all[i].max_connections, all[i].autodiscover ? "(Autodiscover)" : all[i].incoming_url);
      exs_profile_wipe(&all[i]);
    }
    free(all);
    result = 0;
    goto out;
  }
  if(!strcmp(sub, "create") || !strcmp(sub, "set")) {
    bool create = !strcmp(sub, "create");
    rc = exs_store_profile_get(st, argv[2], &p, &err);
    if(rc < 0 || (create && rc == 0) || (!create && rc == EXS_STORE_NOT_FOUND)) {
      diag_fail(rc < 0 ? "%s" : create ? "profile '%s' exists (use profile set)"
                                       : "no profile '%s' (use profile create)",
                rc < 0 ? err.message : argv[2]);
      goto out;
    }
    if(create) {
      exs_profile_defaults(&p);
      if(exs_orgfile_set_profile(&p, "name", argv[2], &err)) {
        diag_fail("%s", err.message);
        goto out;
      }
    }
    if(apply_pairs(argc, argv, 3, &p, true, &pw))
      goto out;
    if(read_password(pw.env, pw.file, pw.prompt, p.password, sizeof(p.password)) < 0)
      goto out;
    if(p.retrieval == EXS_RETRIEVAL_PROFILE && p.user[0] && !p.password[0] &&
       isatty(STDIN_FILENO) && read_password(NULL, NULL, true, p.password, sizeof(p.password)) < 0)
      goto out;
    if(exs_profile_validate(&p, &inv)) {
      diag_fail("profile '%s': %s %s", p.name, inv.field, inv.rule);
      goto out;
    }
    if(exs_store_profile_put(st, &p, &err)) {
      diag_fail("%s", err.message);
      goto out;
    }
    printf("profile '%s' %s\n", p.name, create ? "created" : "updated");
    result = 0;
    goto out;
  }
  if(!strcmp(sub, "show")) {
    rc = exs_store_profile_get(st, argv[2], &p, &err);
    if(rc) {
      diag_fail(rc < 0 ? "%s" : "no profile '%s'", rc < 0 ? err.message : argv[2]);
      goto out;
    }
    exs_orgfile_print_profile(stdout, &p);
    result = 0;
    goto out;
  }
  if(!strcmp(sub, "delete")) {
    rc = exs_store_profile_delete(st, argv[2], &err);
    if(rc) {
      diag_fail(rc < 0 ? "%s" : "no profile '%s'", rc < 0 ? err.message : argv[2]);
      goto out;
    }
    printf("profile '%s' deleted\n", argv[2]);
    result = 0;
    goto out;
  }
  if(!strcmp(sub, "test-enable")) {
    struct diag_te_flags flags;
    struct exs_mailbox *m = NULL;
    bool detach = false;
    size_t n = 0;
    int64_t job = 0;
    int k;
    memset(&flags, 0, sizeof(flags));
    for(k = 3; k < argc; k++) {
      int t = diag_te_flag(&flags, argc, argv, &k);
      if(t < 0)
        goto out;
      if(t > 0)
        continue;
      if(!strcmp(argv[k], "--detach")) {
        detach = true;
        continue;
      }
      diag_fail("profile test-enable: unexpected argument '%s'", argv[k]);
      goto out;
    }
    rc = exs_store_profile_get(st, argv[2], &p, &err);
    if(rc) {
      diag_fail(rc < 0 ? "%s" : "no profile '%s'", rc < 0 ? err.message : argv[2]);
      goto out;
    }
    if(exs_store_mailbox_list(st, argv[2], EXS_STORE_WITH_SECRETS, &m, &n, &err) ||
       exs_store_job_create(st, "test-enable", argv[2], (int)n, &job, &err)) {
      diag_fail("%s", err.message);
      goto out;
    }
    if(detach) {
      pid_t pid;
      fflush(NULL);
      pid = fork();
      if(pid < 0) {
        diag_fail("cannot start the background job: %s", strerror(errno));
        goto out;
      }
      if(pid > 0) {
        printf("job %lld started: %zu mailboxes of profile '%s' (exsync job wait %lld)\n",
               (long long)job, n, argv[2], (long long)job);
        for(i = 0; i < n; i++)
          exs_mailbox_wipe(&m[i]);
        free(m);
        result = 0;
        goto out;
      }
      /* the job: a fresh store handle, no terminal */
      setsid();
      if(!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
        _exit(2);
      exs_store_close(st);
      st = diag_open_store(ctx);
      if(!st)
        _exit(2);
      rc = run_stored(ctx, st, m, n, &flags, job);
      exs_store_close(st);
      _exit(rc);
    }
    result = run_stored(ctx, st, m, n, &flags, job);
    for(i = 0; i < n; i++)
      exs_mailbox_wipe(&m[i]);
    free(m);
    goto out;
  }
  diag_fail("profile: unknown subcommand '%s' (see exsync profile --help)", sub);
out:
  exs_profile_wipe(&p);
  exs_store_close(st);
  return result;
}

/* ---- mailbox ---- */

static int mailbox_help(void)
{
  printf("usage: exsync mailbox add ADDRESS [KEY=VALUE...] [PASSWORD]\n"
         "       exsync mailbox import FILE.csv\n"
         "       exsync mailbox list [--profile NAME]\n"
         "       exsync mailbox show ADDRESS\n"
         "       exsync mailbox set ADDRESS KEY=VALUE... [PASSWORD]\n"
         "       exsync mailbox apply-defaults (ADDRESS...|--all) [--no-test] [options]\n"
         "       exsync mailbox approve (ADDRESS...|--all) | reject ADDRESS...\n"
         "       exsync mailbox test-enable (ADDRESS...|--all) [options]\n\n"
         "KEY is an attribute of the org file's <mailbox>: name, kind, profile, incoming,\n"
         "outgoing, act, approval, allow-credentials, user, sync-org-only, track, process-from.\n"
         "PASSWORD: --password-env VAR | --password-file FILE | --password-prompt\n\n"
         "apply-defaults copies the org's default profile and delivery methods, then runs\n"
         "Test & Enable on those mailboxes (unless --no-test), as the product does.\n\n"
         "Options of test-enable and apply-defaults:\n%s",
         diag_te_flags_help);
  return 0;
}

/* Collect the mailboxes named in argv[from..] (or all with --all). Other
 * options are left to take_opt. */
static int select_mailboxes(struct exs_store *st, int argc, char **argv, int from,
                            struct exs_mailbox **out, size_t *n, struct diag_te_flags *flags,
                            bool *no_test)
{
  struct exs_error err;
  bool all = false;
  int i, named = 0;
  size_t cap = 0;

  exs_error_clear(&err);
  *out = NULL;
  *n = 0;
  for(i = from; i < argc; i++) {
    int t = flags ? diag_te_flag(flags, argc, argv, &i) : 0;
    if(t < 0)
      return -1;
    if(t > 0)
      continue;
    if(!strcmp(argv[i], "--all")) {
      all = true;
    }
    else if(no_test && !strcmp(argv[i], "--no-test")) {
      *no_test = true;
    }
    else if(argv[i][0] == '-') {
      diag_fail("unexpected option '%s'", argv[i]);
      return -1;
    }
    else {
      named++;
    }
  }
  if(all) {
    if(named) {
      diag_fail("give mailbox addresses or --all, not both");
      return -1;
    }
    if(exs_store_mailbox_list(st, NULL, EXS_STORE_WITH_SECRETS, out, n, &err)) {
      diag_fail("%s", err.message);
      return -1;
    }
    return 0;
  }
  if(!named) {
    diag_fail("name at least one mailbox ADDRESS, or --all");
    return -1;
  }
  for(i = from; i < argc; i++) {
    int rc;
    if(argv[i][0] == '-') {
      if(!strcmp(argv[i], "--delivery-timeout") || !strcmp(argv[i], "--retry-interval") ||
         !strcmp(argv[i], "--max-retries"))
        i++;
      continue;
    }
    if(*n == cap) {
      struct exs_mailbox *p = realloc(*out, (cap = cap ? cap * 2 : 8) * sizeof(*p));
      if(!p) {
        diag_fail("out of memory");
        return -1;
      }
      *out = p;
    }
    rc = exs_store_mailbox_get(st, argv[i], &(*out)[*n], &err);
    if(rc) {
      diag_fail(rc < 0 ? "%s" : "no mailbox %s in the store", rc < 0 ? err.message : argv[i]);
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

static int cmd_mailbox(struct diag_ctx *ctx, int argc, char **argv)
{
  struct exs_store *st = NULL;
  struct exs_error err;
  struct exs_mailbox m;
  struct exs_mailbox *list = NULL;
  struct exs_invalid inv;
  struct pw_opts pw = {NULL, NULL, false};
  size_t n = 0, i;
  const char *sub;
  int result = 2, rc;

  memset(&m, 0, sizeof(m));
  if(argc < 2 || wants_help(argc, argv))
    return argc < 2 ? (mailbox_help(), 2) : mailbox_help();
  sub = argv[1];
  exs_error_clear(&err);
  st = diag_open_store(ctx);
  if(!st)
    return 2;

  if(!strcmp(sub, "list")) {
    const char *profile = NULL;
    if(argc == 4 && !strcmp(argv[2], "--profile"))
      profile = argv[3];
    else if(argc != 2) {
      diag_fail("usage: exsync mailbox list [--profile NAME]");
      goto out;
    }
    if(exs_store_mailbox_list(st, profile, 0, &list, &n, &err)) {
      diag_fail("%s", err.message);
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
    goto out;
  }
  if(!strcmp(sub, "import")) {
    struct exs_org org;
    if(argc != 3) {
      diag_fail("usage: exsync mailbox import FILE.csv");
      goto out;
    }
    if(exs_store_org_get(st, &org, &err) < 0 ||
       exs_csv_load_mailboxes(argv[2], &org, &list, &n, &err) ||
       exs_store_import(st, NULL, NULL, 0, list, n, &err)) {
      diag_fail("%s", err.message);
      goto out;
    }
    printf("imported %zu mailbox%s from %s\n", n, n == 1 ? "" : "es", argv[2]);
    result = 0;
    goto out;
  }
  if(!strcmp(sub, "add") || !strcmp(sub, "set") || !strcmp(sub, "show")) {
    if(argc < 3) {
      diag_fail("mailbox %s needs an ADDRESS", sub);
      goto out;
    }
    rc = exs_store_mailbox_get(st, argv[2], &m, &err);
    if(rc < 0) {
      diag_fail("%s", err.message);
      goto out;
    }
    if(!strcmp(sub, "show")) {
      char t1[32], t2[32];
      if(rc) {
        diag_fail("no mailbox %s in the store", argv[2]);
        goto out;
      }
      exs_orgfile_print_mailbox(stdout, &m);
      printf("%-29s %s / %s / %s\n", "status (in/out/act)", exs_status_name(m.status[0]),
             exs_status_name(m.status[1]), exs_status_name(m.status[2]));
      printf("%-29s %s / %s / %s\n", "enabled (in/out/act)", m.enabled[0] ? "yes" : "no",
             m.enabled[1] ? "yes" : "no", m.enabled[2] ? "yes" : "no");
      printf("%-29s %s\n", "ews-url", m.ews_url);
      printf("%-29s %s\n", "test-completed-on",
             m.test_completed_on ? exs_time_iso(m.test_completed_on, t1, sizeof(t1)) : "");
      printf("%-29s %d\n", "test-retry-count", m.retry_count);
      printf("%-29s %d\n", "transient-failures", m.transient_failures);
      printf("%-29s %s\n", "retry-at", m.retry_at ? exs_time_iso(m.retry_at, t2, sizeof(t2)) : "");
      printf("%-29s %s %s\n", "last-error", m.last_error_code, m.last_error);
      printf("%-29s %d\n", "last-error-count", m.last_error_count);
      /* sync runtime fields (sync engine) */
      printf("%-29s %s\n", "last-sync-start",
             m.last_sync_start ? exs_time_iso(m.last_sync_start, t1, sizeof(t1)) : "");
      printf("%-29s %s\n", "last-sync-success",
             m.last_sync_success ? exs_time_iso(m.last_sync_success, t2, sizeof(t2)) : "");
      printf("%-29s %d\n", "items-processed", m.items_processed);
      printf("%-29s %d\n", "items-failed", m.items_failed);
      printf("%-29s %s\n", "postponed-until",
             m.postponed_until ? exs_time_iso(m.postponed_until, t1, sizeof(t1)) : "");
      printf("%-29s %s\n", "processing-host", m.processing_host);
      result = 0;
      goto out;
    }
    if(!strcmp(sub, "add")) {
      struct exs_org org;
      if(rc == 0) {
        diag_fail("mailbox %s exists (use mailbox set)", argv[2]);
        goto out;
      }
      exs_mailbox_defaults(&m);
      if(exs_store_org_get(st, &org, &err) >= 0) {
        snprintf(m.profile, sizeof(m.profile), "%s", org.default_profile);
        m.incoming = org.default_incoming;
        m.outgoing = org.default_outgoing;
        m.act = org.default_act;
      }
      if(exs_orgfile_set_mailbox(&m, "address", argv[2], &err)) {
        diag_fail("%s", err.message);
        goto out;
      }
      snprintf(m.name, sizeof(m.name), "%s", argv[2]);
    }
    else if(rc) {
      diag_fail("no mailbox %s in the store (use mailbox add)", argv[2]);
      goto out;
    }
    if(apply_pairs(argc, argv, 3, &m, false, &pw))
      goto out;
    if(read_password(pw.env, pw.file, pw.prompt, m.password, sizeof(m.password)) < 0)
      goto out;
    if(exs_mailbox_validate(&m, &inv)) {
      diag_fail("mailbox %s: %s %s", m.address, inv.field, inv.rule);
      goto out;
    }
    if(exs_store_mailbox_put(st, &m, &err)) {
      diag_fail("%s", err.message);
      goto out;
    }
    printf("mailbox %s %s\n", m.address, !strcmp(sub, "add") ? "added" : "updated");
    result = 0;
    goto out;
  }
  if(!strcmp(sub, "approve") || !strcmp(sub, "reject")) {
    bool approve = !strcmp(sub, "approve");
    if(select_mailboxes(st, argc, argv, 2, &list, &n, NULL, NULL))
      goto out;
    for(i = 0; i < n; i++) {
      list[i].approval = approve ? EXS_APPROVAL_APPROVED : EXS_APPROVAL_REJECTED;
      if(exs_store_mailbox_put(st, &list[i], &err)) {
        diag_fail("%s", err.message);
        goto out;
      }
      printf("%s: email address %s\n", list[i].address, approve ? "approved" : "rejected");
    }
    result = 0;
    goto out;
  }
  if(!strcmp(sub, "apply-defaults") || !strcmp(sub, "test-enable")) {
    struct diag_te_flags flags;
    bool no_test = false;
    memset(&flags, 0, sizeof(flags));
    if(select_mailboxes(st, argc, argv, 2, &list, &n, &flags,
                        !strcmp(sub, "apply-defaults") ? &no_test : NULL))
      goto out;
    if(!strcmp(sub, "apply-defaults")) {
      struct exs_org org;
      if(exs_store_org_get(st, &org, &err) < 0) {
        diag_fail("%s", err.message);
        goto out;
      }
      for(i = 0; i < n; i++) {
        snprintf(list[i].profile, sizeof(list[i].profile), "%s", org.default_profile);
        list[i].incoming = org.default_incoming;
        list[i].outgoing = org.default_outgoing;
        list[i].act = org.default_act;
        if(exs_store_mailbox_put(st, &list[i], &err)) {
          diag_fail("%s", err.message);
          goto out;
        }
      }
      fprintf(stderr, "exsync: default email settings applied to %zu mailbox%s\n", n,
              n == 1 ? "" : "es");
      if(no_test) {
        result = 0;
        goto out;
      }
    }
    result = run_stored(ctx, st, list, n, &flags, 0);
    goto out;
  }
  diag_fail("mailbox: unknown subcommand '%s' (see exsync mailbox --help)", sub);
out:
  free_mailboxes(list, n);
  exs_mailbox_wipe(&m);
  exs_store_close(st);
  return result;
}

/* ---- alerts ---- */

static int cmd_alerts(struct diag_ctx *ctx, int argc, char **argv)
{
  struct exs_store *st;
  struct exs_error err;
  struct exs_alert *a = NULL;
  size_t n = 0, i;
  const char *mailbox = NULL;
  char when[32];

  if(argc > 2 || (argc == 2 && is_help(argv[1]))) {
    printf("usage: exsync alerts [ADDRESS]\n\nThe alert wall: every alert written, oldest "
           "first (all, or one mailbox's).\n");
    return argc == 2 ? 0 : 2;
  }
  if(argc == 2)
    mailbox = argv[1];
  exs_error_clear(&err);
  st = diag_open_store(ctx);
  if(!st)
    return 2;
  if(exs_store_alert_list(st, mailbox, 0, &a, &n, &err)) {
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

static int cmd_job(struct diag_ctx *ctx, int argc, char **argv)
{
  struct exs_store *st;
  struct exs_error err;
  struct exs_job job;
  int result = 2, rc;

  if(argc < 2 || is_help(argv[1])) {
    printf("usage: exsync job list | job show ID | job wait ID [--timeout SECONDS]\n\n"
           "wait follows a job until it ends (progress on a terminal) and exits 0 when every\n"
           "tested workload succeeded, 1 when some failed.\n");
    return argc < 2 ? 2 : 0;
  }
  exs_error_clear(&err);
  st = diag_open_store(ctx);
  if(!st)
    return 2;
  if(!strcmp(argv[1], "list")) {
    struct exs_job *jobs = NULL;
    size_t n = 0, i;
    if(exs_store_job_list(st, &jobs, &n, &err)) {
      diag_fail("%s", err.message);
      goto out;
    }
    for(i = 0; i < n; i++)
      print_job(&jobs[i]);
    if(!n)
      printf("no jobs\n");
    free(jobs);
    result = 0;
    goto out;
  }
  if((!strcmp(argv[1], "show") || !strcmp(argv[1], "wait")) && argc >= 3) {
    char *end;
    long long id = strtoll(argv[2], &end, 10);
    long timeout_s = 3600;
    int64_t deadline;
    struct diag_progress bar;
    if(*end || id <= 0) {
      diag_fail("'%s' is not a job id", argv[2]);
      goto out;
    }
    if(argc == 5 && !strcmp(argv[3], "--timeout"))
      timeout_s = strtol(argv[4], NULL, 10);
    deadline = exs_monotonic_ms() + timeout_s * 1000;
    diag_progress_init(&bar, "job");
    for(;;) {
      rc = exs_store_job_get(st, id, &job, &err);
      if(rc) {
        diag_fail(rc < 0 ? "%s" : "no job %s", rc < 0 ? err.message : argv[2]);
        goto out;
      }
      if(!strcmp(argv[1], "show") || job.state == EXS_JOB_DONE || job.state == EXS_JOB_FAILED)
        break;
      if(exs_monotonic_ms() > deadline) {
        diag_progress_done(&bar);
        diag_fail("job %lld still %s after %ld s", id, exs_job_state_name(job.state), timeout_s);
        goto out;
      }
      diag_progress_update(&bar, (size_t)job.done, (size_t)job.total);
      exs_sleep_ms(200); /* polling the store: the job runs in another process */
    }
    diag_progress_done(&bar);
    print_job(&job);
    result = !strcmp(argv[1], "show") ? 0 : job.state == EXS_JOB_DONE ? 0 : 1;
    goto out;
  }
  diag_fail("job: unknown subcommand (list, show ID, wait ID)");
out:
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

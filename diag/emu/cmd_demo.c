/* cmd_demo.c - `exsync demo`: the built-in emulator with the "contoso"
 * world, an org imported into a temporary store, approval, Test & Enable of
 * every mailbox, and the status table. Zero configuration. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "exsync-emulator/emulator.h"
#include "exsync/orgfile.h"
#include "exsync/store.h"
#include "opt.h"
#include "run.h"

/* The password of the emulated service account CONTOSO\svc-crm in
 * fixtures/scenarios/contoso.xml; the org file reads it from this variable. */
#define DEMO_PASSWORD_ENV "EXSYNC_PROFILE_PASSWORD"
#define DEMO_PASSWORD "svc-pw"

struct expectation {
  char address[EXS_ADDRESS_MAX + 1];
  char status[EXS_WL_COUNT][16];
  char category[32];
};

static int help(void)
{
  printf("usage: exsync demo [--keep]\n\n"
         "Start the built-in Exchange emulator with the 'contoso' world (healthy mailboxes\n"
         "and one mailbox per failure class), import its org (orgs/contoso.xml) into a\n"
         "temporary store, approve the mailboxes, run Test & Enable for all of them and\n"
         "print the status table with each failure's fix.\n\n"
         "  --keep    keep the temporary directory (store, CA certificate) and print it\n\n"
         "Exits 0 when every mailbox ends as demo/expected.csv says. Those files, the\n"
         "scenario and the schemas are read from the data directory: $EXSYNC_DATA_DIR,\n"
         "else PREFIX/share/exsync beside PREFIX/bin.\n");
  return 0;
}

/* Read fixtures/demo/expected.csv: address,incoming,outgoing,act,category. */
static int load_expectations(const char *path, struct expectation **out, size_t *n)
{
  FILE *f = fopen(path, "r");
  char line[512];
  size_t cap = 0;

  *out = NULL;
  *n = 0;
  if(!f)
    return diag_fail("cannot read %s: %s", path, strerror(errno));
  while(fgets(line, sizeof(line), f)) {
    struct expectation e;
    line[strcspn(line, "\r\n")] = '\0';
    if(!line[0] || line[0] == '#')
      continue;
    memset(&e, 0, sizeof(e));
    if(sscanf(line, "%320[^,],%15[^,],%15[^,],%15[^,],%31s", e.address, e.status[0], e.status[1],
              e.status[2], e.category) != 5) {
      fclose(f);
      free(*out);
      return diag_fail("%s: bad line '%s'", path, line);
    }
    if(*n == cap) {
      struct expectation *p = realloc(*out, (cap = cap ? cap * 2 : 16) * sizeof(*p));
      if(!p) {
        fclose(f);
        free(*out);
        return diag_fail("out of memory");
      }
      *out = p;
    }
    (*out)[(*n)++] = e;
  }
  fclose(f);
  return 0;
}

static const char *first_category(const struct exs_te_result *r)
{
  return r->n_alerts ? exs_category_name(r->alerts[0].error.category) : "NONE";
}

/* Compare results with the expectations; print each mismatch. */
static int check_expectations(const struct expectation *e, size_t ne,
                              const struct exs_te_result *results, size_t n)
{
  size_t i, j;
  int mismatches = 0;

  for(i = 0; i < ne; i++) {
    const struct exs_te_result *r = NULL;
    for(j = 0; j < n; j++)
      if(!strcasecmp(results[j].address, e[i].address))
        r = &results[j];
    if(!r) {
      fprintf(stderr, "demo: %s was not tested\n", e[i].address);
      mismatches++;
      continue;
    }
    for(j = 0; j < EXS_WL_COUNT; j++) {
      if(strcmp(exs_status_name(r->status[j]), e[i].status[j])) {
        fprintf(stderr, "demo: %s %s is %s, expected %s\n", r->address,
                exs_workload_name((enum exs_workload)j), exs_status_name(r->status[j]),
                e[i].status[j]);
        mismatches++;
      }
    }
    if(strcmp(first_category(r), e[i].category)) {
      fprintf(stderr, "demo: %s alert is %s, expected %s\n", r->address, first_category(r),
              e[i].category);
      mismatches++;
    }
  }
  return mismatches;
}

static void remove_tree(const char *dir)
{
  static const char *const files[] = {"exsync.db", "exsync.db-wal", "exsync.db-shm",
                                      "exsync.db.key", "ca.pem"};
  char path[4200];
  size_t i;

  for(i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
    unlink(path);
  }
  rmdir(dir);
}

static const struct diag_opt opts[] = {
    {"--keep", false, 1},
    {NULL, false, 0},
};

/* The contoso world on an in-process emulator (HTTPS, port 0, every EWS
 * request checked against the schema), its CA written to dir: the
 * emulator with *port, or NULL (printed). */
static struct emu *demo_emulator(const char *dir, char *ca, size_t calen, int *port)
{
  struct emu *emu = emu_new();
  char bound[64], emsg[512];

  if(!emu || emu_load_scenario(emu, diag_data_path("scenarios/contoso.xml"), emsg, sizeof(emsg))) {
    diag_fail("emulator: %s", emu ? emsg : "out of memory");
    goto fail;
  }
  /* the emulator checks every request exsync sends against the EWS schema */
  if(emu_set_ews_schema(emu, diag_data_path("schema/ews/ews-validate.xsd"), emsg, sizeof(emsg))) {
    diag_fail("emulator: cannot load the EWS schema: %s (set EXSYNC_DATA_DIR to the "
              "directory holding schema/ews)",
              emsg);
    goto fail;
  }
  *port = emu_listen(emu, "127.0.0.1", 0, true, bound, sizeof(bound), emsg, sizeof(emsg));
  snprintf(ca, calen, "%s/ca.pem", dir);
  if(*port < 0 || emu_write_ca(emu, ca, emsg, sizeof(emsg)) || emu_start(emu, emsg, sizeof(emsg))) {
    diag_fail("emulator: %s", emsg);
    goto fail;
  }
  fprintf(stderr, "demo: emulator listening on https://%s (contoso.com)\n", bound);
  return emu;
fail:
  emu_free(emu);
  return NULL;
}

/* Approve every mailbox awaiting approval (rejected ones stay rejected).
 * 0, or 2 (printed). */
static int demo_approve(struct exs_store *st, struct exs_mailbox *m, size_t n)
{
  struct exs_error err;
  size_t i;

  exs_error_clear(&err);
  for(i = 0; i < n; i++) {
    if(m[i].approval != EXS_APPROVAL_PENDING && m[i].approval != EXS_APPROVAL_EMPTY)
      continue;
    m[i].approval = EXS_APPROVAL_APPROVED;
    if(exs_store_mailbox_put(st, &m[i], &err))
      return diag_fail("approve: %s", err.message);
  }
  return 0;
}

/* The demo's options: -1 to go on, else the exit code (help printed or
 * error reported). */
static int demo_options(int argc, char **argv, bool *keep)
{
  struct diag_optp p;
  int id;

  diag_opt_init(&p, "demo", opts, NULL, argc, argv, 1);
  while((id = diag_opt_next(&p)) != DIAG_OPT_END) {
    if(id == DIAG_OPT_HELP)
      return help();
    if(id == DIAG_OPT_ERR)
      return 2;
    if(id == DIAG_OPT_ARG)
      return diag_opt_unexpected(&p);
    *keep = true;
  }
  return -1;
}

/* Import the contoso org into a fresh store at dir/exsync.db (path is the
 * buffer demo_ctx->db then points at). 0, or 2 (printed). */
static int demo_import(struct diag_ctx *demo_ctx, const char *dir, char *path, size_t pathlen,
                       struct exs_orgfile **f, struct exs_store **st)
{
  struct exs_error err;

  exs_error_clear(&err);
  *f = diag_load_orgfile(diag_data_path("orgs/contoso.xml"), 0);
  if(!*f)
    return 2;
  snprintf(path, pathlen, "%s/exsync.db", dir);
  demo_ctx->db = path;
  demo_ctx->key_file = NULL;
  *st = diag_open_store(demo_ctx, true);
  if(!*st)
    return 2;
  if(diag_import_org(*st, *f, &err))
    return diag_fail("import: %s", err.message);
  return 0;
}

/* Read back what Test & Enable needs: mailboxes (with secrets), profiles and
 * the org. 0, or 2 (printed). */
static int demo_load(struct exs_store *st, struct exs_mailbox **mailboxes, size_t *nm,
                     struct exs_profile **profiles, size_t *np, struct exs_org *org)
{
  struct exs_error err;

  exs_error_clear(&err);
  if(exs_store_mailbox_list(st, NULL, EXS_STORE_WITH_SECRETS, mailboxes, nm, &err) ||
     diag_load_profiles(st, profiles, np, &err) || exs_store_org_get(st, org, &err) < 0)
    return diag_fail("store: %s", err.message);
  return 0;
}

/* Point the contoso hosts at the emulator and trust its CA. The ct_* buffers
 * must outlive demo_ctx's use. 0, or 2 (printed). */
static int demo_point_at_emulator(struct diag_ctx *demo_ctx, int port, char *ca, char *ct_mail,
                                  size_t mail_len, char *ct_auto, size_t auto_len)
{
  snprintf(ct_mail, mail_len, "mail.contoso.com:443:127.0.0.1:%d", port);
  snprintf(ct_auto, auto_len, "autodiscover.contoso.com:443:127.0.0.1:%d", port);
  if(demo_ctx->transport.n_connect_to + 2 > DIAG_MAX_OVERRIDES)
    return diag_fail("demo: more than %d --connect-to", DIAG_MAX_OVERRIDES - 2);
  demo_ctx->connect_to[demo_ctx->transport.n_connect_to++] = ct_mail;
  demo_ctx->connect_to[demo_ctx->transport.n_connect_to++] = ct_auto;
  demo_ctx->transport.cacert = ca;
  return 0;
}

/* Test & Enable every mailbox and save the results. 0, or 2 (printed). */
static int demo_test_enable(struct diag_ctx *demo_ctx, struct exs_store *st,
                            const struct exs_org *org, struct exs_profile *profiles, size_t np,
                            struct exs_mailbox *mailboxes, size_t nm,
                            struct exs_te_result **results, long *elapsed)
{
  struct diag_te_flags flags;
  struct exs_error err;

  exs_error_clear(&err);
  memset(&flags, 0, sizeof(flags));
  flags.delivery_timeout_ms = 10000;
  if(diag_run_batch(demo_ctx, org, profiles, np, mailboxes, nm, &flags, results, elapsed))
    return diag_fail("out of memory");
  if(diag_save_results(st, org, mailboxes, *results, nm, &err))
    return diag_fail("store: %s", err.message);
  return 0;
}

int diag_cmd_demo(struct diag_ctx *ctx, int argc, char **argv)
{
  char dir[] = "/tmp/exsync-demo-XXXXXX";
  char path[4200], ca[4200];
  char ct_mail[128], ct_auto[128];
  struct diag_ctx demo_ctx = *ctx;
  struct emu *emu = NULL;
  struct exs_orgfile *f = NULL;
  struct exs_store *st = NULL;
  struct exs_org org;
  struct exs_profile *profiles = NULL;
  struct exs_mailbox *mailboxes = NULL;
  struct exs_te_result *results = NULL;
  struct expectation *expect = NULL;
  size_t np = 0, nm = 0, ne = 0, i;
  bool keep = false, have_dir = false;
  long elapsed = 0;
  int port, result = 2;

  result = demo_options(argc, argv, &keep);
  if(result >= 0)
    return result;
  result = 2;
  if(diag_formats(ctx, "demo", DIAG_F_REPORT))
    return 2;
  if(load_expectations(diag_data_path("demo/expected.csv"), &expect, &ne))
    return 2;
  if(!mkdtemp(dir)) {
    result = diag_fail("cannot create a temporary directory: %s", strerror(errno));
    goto out;
  }
  have_dir = true;

  /* the org file's password-env; set before the emulator's threads start
   * (setenv is not safe beside another thread's getenv) */
  setenv(DEMO_PASSWORD_ENV, DEMO_PASSWORD, 1);

  /* 1. the emulator, in-process, HTTPS on an ephemeral port */
  if(!(emu = demo_emulator(dir, ca, sizeof(ca), &port)))
    goto out;
  /* 2. import the org into a fresh store */
  if(demo_import(&demo_ctx, dir, path, sizeof(path), &f, &st))
    goto out;
  /* 3. approve every mailbox awaiting approval (rejected ones stay rejected) */
  if(demo_load(st, &mailboxes, &nm, &profiles, &np, &org) || demo_approve(st, mailboxes, nm))
    goto out;
  /* 4. Test & Enable every mailbox, the contoso hosts pointed at the emulator */
  if(demo_point_at_emulator(&demo_ctx, port, ca, ct_mail, sizeof(ct_mail), ct_auto,
                            sizeof(ct_auto)) ||
     demo_test_enable(&demo_ctx, st, &org, profiles, np, mailboxes, nm, &results, &elapsed))
    goto out;

  diag_report_write(stdout, ctx->format, results, nm, elapsed);
  result = check_expectations(expect, ne, results, nm) ? 1 : 0;
  fprintf(stderr, "demo: %s\n",
          result ? "some mailboxes did not end as the contoso world expects"
                 : "every mailbox ended as the contoso world expects");
  if(keep)
    fprintf(stderr, "demo: store and CA kept in %s\n", dir);
out:
  for(i = 0; mailboxes && i < nm; i++)
    exs_mailbox_wipe(&mailboxes[i]);
  for(i = 0; profiles && i < np; i++)
    exs_profile_wipe(&profiles[i]);
  free(mailboxes);
  free(profiles);
  free(results);
  free(expect);
  exs_store_close(st);
  exs_orgfile_free(f);
  if(emu) {
    emu_stop(emu);
    emu_free(emu);
  }
  if(have_dir && !keep)
    remove_tree(dir);
  return result;
}

/* test_interop.c - the emulator driven by real third-party EWS clients.
 *
 * Each case starts an emulator in-process (HTTPS on 127.0.0.1 port 0, a
 * throwaway CA the client trusts), runs one client script from
 * suites/interop/ as a child process with a deadline, and checks
 *   - the script's "STEP name ok|FAIL|skip detail" lines, step by step,
 *   - through the emulator's journal and mailstore, that the requests really
 *     happened (operation, authenticated user, impersonated mailbox).
 *
 * Clients: exchangelib (python3-exchangelib from Debian, run with
 * EXSYNC_INTEROP_PYTHON or /usr/bin/python3) and ews-javascript-api (npm,
 * suites/interop/node_modules, run with node), each with Basic and NTLM.
 * A client that is not installed fails the case with a message saying how
 * to install it; scripts/test.sh installs both.
 *
 * DavMail (Debian davmail-server, a Java IMAP/SMTP/CalDAV/CardDAV gateway
 * to EWS) is driven by suites/interop/davmail_steps.py: it starts DavMail
 * with a generated properties file on free loopback ports, then uses
 * imaplib, smtplib and curl as a mail and calendar client would. DavMail
 * talks plain HTTP to the emulator (its Java trust store is not ours), which
 * answers as two hosts (fixtures/scenarios/interop-hosts.xml): 127.0.0.1
 * offers Basic only and localhost NTLM only, so each case gets the scheme
 * it tests. Its requests and the emulator's answers are validated against
 * the EWS schema. The DavMail
 * cases are skipped, with a message, only when davmail-server is not
 * installed (scripts/deps.sh --test installs it).
 *
 * KNOWN_GAPS lists the steps that fail today because the emulator lacks
 * something. The scripts run every step (--keep-going); a step in
 * KNOWN_GAPS must still FAIL (when it passes, the case fails and asks for
 * the entry to be removed), every other step must pass. With
 * EXSYNC_INTEROP_STRICT=1 the list is ignored and every step must pass.
 * EXSYNC_INTEROP_VERBOSE=1 prints every client's output.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exsync-emulator/emulator.h"
#include "exsync-emulator/tlscert.h"
#include "testutil.h"

extern char **environ;

#define DOMAIN "example.com"
#define OWNER "alice"
#define OWNER_PW "Alice-pw1"
#define PEER "bob"
#define PEER_PW "Bob-pw2"
#define SVC "svc"
#define SVC_PW "Svc-pw3"
#define SEED_SUBJECT "interop seed"
#define CLIENT_DEADLINE_MS 150000
#define OUT_CAP (512 * 1024)

enum client { CL_EXCHANGELIB, CL_EWSJS, CL_DAVMAIL };
static const char *const client_names[] = {"exchangelib", "ewsjs", "davmail"};

/* Steps the EWS client scripts run, in order. */
static const char *const ews_steps[] = {
    "autodiscover",  "server_version", "getfolder_inbox",  "finditem",     "getitem",
    "send",          "sent_items",     "recipient_inbox",  "calendar",     "contact",
    "task",          "sync_initial",   "sync_incremental", "createfolder", "moveitem",
    "impersonation",
};
/* Steps of davmail_steps.py: what a Thunderbird user does through DavMail. */
static const char *const davmail_steps[] = {
    "imap_login",   "imap_search_inbox", "imap_fetch",  "smtp_send", "imap_search_sent",
    "caldav_event", "carddav_contact",   "caldav_task", "imap_move",
};
#define NSTEPS_MAX 16
static const char *const *steps = ews_steps;
static size_t NSTEPS = sizeof(ews_steps) / sizeof(ews_steps[0]);

/* Steps that fail today because of an emulator gap. client/auth NULL: any;
 * step "*": every step. Each entry names the gap (see the interop report). */
static const struct {
  const char *client, *auth, *step, *gap;
} KNOWN_GAPS[] = {
    /* none left: every step passes with both clients and both schemes. The
     * list stays so a future emulator gap is named, not hidden. */
    {"", "", "", ""},
};
#define NGAPS (sizeof(KNOWN_GAPS) / sizeof(KNOWN_GAPS[0]))

/* What each passing step must leave in the journal: an answered (HTTP 200)
 * request for operation by the given user. who: 0 owner, 1 peer, 2 the
 * service account impersonating the peer. */
static const struct {
  const char *step, *operation;
  int who;
} evidence[] = {
    {"autodiscover", "autodiscover", 0},
    {"getfolder_inbox", "GetFolder", 0},
    {"finditem", "FindItem", 0},
    {"getitem", "GetItem", 0},
    {"send", "CreateItem", 0},
    {"sent_items", "FindItem", 0},
    {"recipient_inbox", "FindItem", 1},
    {"calendar", "CreateItem", 0},
    {"calendar", "GetItem", 0},
    {"contact", "CreateItem", 0},
    {"contact", "GetItem", 0},
    {"task", "GetItem", 0},
    {"task", "CreateItem", 0},
    {"sync_initial", "SyncFolderItems", 0},
    {"sync_incremental", "SyncFolderItems", 0},
    {"createfolder", "CreateFolder", 0},
    {"moveitem", "MoveItem", 0},
    {"impersonation", "FindItem", 2},
    /* DavMail */
    {"imap_search_inbox", "FindItem", 0},
    {"imap_fetch", "GetItem", 0},
    {"smtp_send", "CreateItem", 0},
    {"caldav_event", "CreateItem", 0},
    {"caldav_event", "GetUserConfiguration", 0},
    {"carddav_contact", "CreateItem", 0},
    {"caldav_task", "CreateItem", 0},
    {"imap_move", "CreateFolder", 0},
    {"imap_move", "MoveItem", 0},
};

static struct emu *emu;
static char base_url[128];
static char basedir[128]; /* per run, made and removed by the parent */
static char tmpdir[256];  /* per case, inside basedir */
static char ca_file[300];

/* ---- TLS material ----
 * The emulator is to generate a throwaway CA at its first TLS listen
 * (emu_write_ca then writes it). Until it does (gap: "TLS listener needs a
 * certificate"), the suite makes one with the emulator's own PKI module and
 * hands it over with emu_set_certificate. */
static void write_file(const char *path, const char *data, size_t len)
{
  FILE *f = fopen(path, "wb");

  ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
  ck_assert_uint_eq(fwrite(data, 1, len, f), len);
  ck_assert_int_eq(fclose(f), 0);
}

static void make_certificate(void)
{
  static const char *const names[] = {"localhost", "127.0.0.1"};
  struct emu_tls_ca *ca;
  struct emu_tls_leaf *leaf;
  struct exs_buf pem;
  char cert[300], key[300], err[512];
  const char *k;
  int r = -1;

  ca = emu_tls_ca_new("exsync interop test CA", &r);
  ck_assert_msg(ca != NULL, "CA: %s", emu_tls_strerror(r));
  leaf = emu_tls_leaf_new(ca, EMU_TLS_LEAF_VALID, names, 2, &r);
  ck_assert_msg(leaf != NULL, "leaf: %s", emu_tls_strerror(r));
  exs_buf_init(&pem, 64 * 1024);
  ck_assert_int_eq(emu_tls_leaf_pem(leaf, &pem), 0);
  ck_assert_int_eq(emu_tls_ca_pem(ca, &pem), 0);
  k = strstr(pem.data, "-----BEGIN PRIVATE KEY-----");
  ck_assert_ptr_nonnull(k);
  snprintf(cert, sizeof(cert), "%s/server.pem", tmpdir);
  snprintf(key, sizeof(key), "%s/server.key", tmpdir);
  {
    /* server.pem: leaf then CA (the part after the key); server.key: the key */
    const char *kend = strstr(k, "-----END PRIVATE KEY-----");
    ck_assert_ptr_nonnull(kend);
    kend += strlen("-----END PRIVATE KEY-----\n");
    FILE *f = fopen(cert, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(pem.data, 1, (size_t)(k - pem.data), f);
    fputs(kend, f);
    ck_assert_int_eq(fclose(f), 0);
    write_file(key, k, (size_t)(kend - k));
  }
  memset(pem.data, 0, pem.len);
  exs_buf_free(&pem);
  ck_assert_int_eq(emu_tls_ca_write_pem(ca, ca_file), 0);
  ck_assert_msg(emu_set_certificate(emu, cert, key, err, sizeof(err)) == 0, "%s", err);
  emu_tls_leaf_free(leaf);
  emu_tls_ca_free(ca);
}

static void setup(void)
{
  char err[512], bound[64];
  int port;

  snprintf(tmpdir, sizeof(tmpdir), "%s/case-XXXXXX", basedir);
  ck_assert_msg(basedir[0] && mkdtemp(tmpdir), "mkdtemp %s: %s", tmpdir, strerror(errno));
  snprintf(ca_file, sizeof(ca_file), "%s/ca.pem", tmpdir);
  emu = emu_new();
  ck_assert_ptr_nonnull(emu);
  ck_assert_msg(emu_add_user(emu, OWNER, OWNER_PW, DOMAIN, err, sizeof(err)) == 0, "%s", err);
  ck_assert_msg(emu_add_user(emu, PEER, PEER_PW, DOMAIN, err, sizeof(err)) == 0, "%s", err);
  ck_assert_msg(emu_add_user(emu, SVC, SVC_PW, DOMAIN, err, sizeof(err)) == 0, "%s", err);
  ck_assert_msg(emu_add_impersonator(emu, SVC, err, sizeof(err)) == 0, "%s", err);
  port = emu_listen(emu, "127.0.0.1", 0, true, bound, sizeof(bound), err, sizeof(err));
  if(port > 0) {
    ck_assert_msg(emu_write_ca(emu, ca_file, err, sizeof(err)) == 0, "emu_write_ca: %s", err);
  }
  else {
    fprintf(stderr, "interop: emulator has no generated certificate (%s); using the suite's\n",
            err);
    make_certificate();
    port = emu_listen(emu, "127.0.0.1", 0, true, bound, sizeof(bound), err, sizeof(err));
    ck_assert_msg(port > 0, "TLS listen: %s", err);
  }
  ck_assert_int_eq(emu_start(emu, err, sizeof(err)), 0);
  snprintf(base_url, sizeof(base_url), "https://127.0.0.1:%d", port);
  ck_assert_msg(emu_deliver_message(emu, "carol@example.org", OWNER "@" DOMAIN, SEED_SUBJECT,
                                    "seeded by test_interop", err, sizeof(err)) == 0,
                "%s", err);
  ck_assert_msg(emu_deliver_message(emu, "carol@example.org", PEER "@" DOMAIN,
                                    "interop seed for impersonation", "seeded", err,
                                    sizeof(err)) == 0,
                "%s", err);
}

static void teardown(void)
{
  emu_free(emu);
  emu = NULL;
}

/* The per-run directory lives in the parent (unchecked fixture), so it is
 * removed even when a case fails and its forked child exits early. */
static void run_setup(void)
{
  snprintf(basedir, sizeof(basedir), "/tmp/exsync-interop-XXXXXX");
  if(!mkdtemp(basedir)) {
    fprintf(stderr, "interop: mkdtemp %s: %s\n", basedir, strerror(errno));
    basedir[0] = '\0';
  }
}

static void run_teardown(void)
{
  char cmd[200];

  /* only the directory mkdtemp made above */
  if(strncmp(basedir, "/tmp/exsync-interop-", 20) != 0 || strchr(basedir, '\''))
    return;
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", basedir);
  if(system(cmd) != 0)
    fprintf(stderr, "interop: could not remove %s\n", basedir);
}

/* ---- child processes ---- */

struct child_out {
  char *out, *err;
  size_t outlen, errlen;
  int status; /* waitpid status */
  bool timed_out;
};

static int64_t now_ms(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
  if(*len + n + 1 > OUT_CAP)
    n = *len + 1 < OUT_CAP ? OUT_CAP - *len - 1 : 0;
  if(!*buf) {
    *buf = malloc(OUT_CAP);
    ck_assert_ptr_nonnull(*buf);
  }
  memcpy(*buf + *len, data, n);
  *len += n;
  (*buf)[*len] = '\0';
}

/* Run argv with extra "NAME=value" entries added to the environment, the
 * output captured; killed (SIGKILL, its whole process group) at the
 * deadline. */
static void run_child(char *const argv[], char *const extra_env[], struct child_out *co)
{
  int outp[2], errp[2];
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  pid_t pid;
  size_t nenv = 0, nextra = 0;
  char **envp;
  int64_t deadline = now_ms() + CLIENT_DEADLINE_MS;
  bool out_open = true, err_open = true;
  int rc;

  memset(co, 0, sizeof(*co));
  append(&co->out, &co->outlen, "", 0);
  append(&co->err, &co->errlen, "", 0);
  while(environ[nenv])
    nenv++;
  while(extra_env[nextra])
    nextra++;
  envp = calloc(nenv + nextra + 1, sizeof(*envp));
  ck_assert_ptr_nonnull(envp);
  for(size_t i = 0; i < nextra; i++)
    envp[i] = extra_env[i];
  for(size_t i = 0, j = nextra; i < nenv; i++) {
    /* the extra entries win over inherited ones of the same name */
    const char *eq = strchr(environ[i], '=');
    size_t nl = eq ? (size_t)(eq - environ[i]) + 1 : strlen(environ[i]);
    bool dup = false;
    for(size_t k = 0; k < nextra; k++)
      if(strncmp(extra_env[k], environ[i], nl) == 0)
        dup = true;
    if(!dup)
      envp[j++] = environ[i];
  }
  ck_assert_int_eq(pipe(outp), 0);
  ck_assert_int_eq(pipe(errp), 0);
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, outp[1], 1);
  posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
  posix_spawn_file_actions_addclose(&fa, outp[0]);
  posix_spawn_file_actions_addclose(&fa, errp[0]);
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, envp);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  free(envp);
  close(outp[1]);
  close(errp[1]);
  ck_assert_msg(rc == 0, "cannot start %s: %s", argv[0], strerror(rc));

  while(out_open || err_open) {
    struct pollfd pf[2] = {{out_open ? outp[0] : -1, POLLIN, 0},
                           {err_open ? errp[0] : -1, POLLIN, 0}};
    int64_t left = deadline - now_ms();
    char buf[8192];

    if(left <= 0) {
      co->timed_out = true;
      kill(-pid, SIGKILL);
      break;
    }
    if(poll(pf, 2, (int)(left > 1000 ? 1000 : left)) < 0 && errno != EINTR)
      break;
    for(int i = 0; i < 2; i++) {
      ssize_t n;
      if(pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      n = read(pf[i].fd, buf, sizeof(buf));
      if(n > 0) {
        if(i == 0)
          append(&co->out, &co->outlen, buf, (size_t)n);
        else
          append(&co->err, &co->errlen, buf, (size_t)n);
      }
      else if(n == 0 || errno != EINTR) {
        if(i == 0)
          out_open = false;
        else
          err_open = false;
      }
    }
  }
  close(outp[0]);
  close(errp[0]);
  /* the pipes are closed: the child has exited or is exiting; poll for it */
  for(;;) {
    pid_t w = waitpid(pid, &co->status, WNOHANG);
    if(w == pid)
      break;
    if(w < 0 && errno != EINTR)
      ck_abort_msg("waitpid: %s", strerror(errno));
    if(now_ms() > deadline) {
      co->timed_out = true;
      kill(-pid, SIGKILL);
      deadline = now_ms() + 10000;
    }
    poll(NULL, 0, 20);
  }
}

static void child_free(struct child_out *co)
{
  free(co->out);
  free(co->err);
}

/* ---- expectations ---- */

static const char *gap_for(enum client cl, const char *auth, const char *step)
{
  const char *strict = getenv("EXSYNC_INTEROP_STRICT");

  if(strict && *strict && strcmp(strict, "0") != 0)
    return NULL;
  for(size_t i = 0; i < NGAPS; i++) {
    if(!KNOWN_GAPS[i].step[0])
      continue; /* the empty placeholder */
    if(KNOWN_GAPS[i].client && strcmp(KNOWN_GAPS[i].client, client_names[cl]) != 0)
      continue;
    if(KNOWN_GAPS[i].auth && strcmp(KNOWN_GAPS[i].auth, auth) != 0)
      continue;
    if(strcmp(KNOWN_GAPS[i].step, "*") == 0 || strcmp(KNOWN_GAPS[i].step, step) == 0)
      return KNOWN_GAPS[i].gap;
  }
  return NULL;
}

/* The status word of "STEP step WORD ..." in out, copied into word; the
 * detail (rest of the line) into detail. false when there is no such line. */
static bool step_line(const char *out, const char *step, char *word, size_t wlen, char *detail,
                      size_t dlen)
{
  char prefix[80];
  const char *p = out;
  size_t pl;

  snprintf(prefix, sizeof(prefix), "STEP %s ", step);
  pl = strlen(prefix);
  while(p && *p) {
    const char *eol = strchr(p, '\n');
    size_t ll = eol ? (size_t)(eol - p) : strlen(p);
    if(ll >= pl && strncmp(p, prefix, pl) == 0) {
      const char *w = p + pl, *sp = memchr(w, ' ', ll - pl);
      size_t wl = sp ? (size_t)(sp - w) : ll - pl;
      snprintf(word, wlen, "%.*s", (int)wl, w);
      if(sp)
        snprintf(detail, dlen, "%.*s", (int)(ll - pl - wl - 1), sp + 1);
      else
        detail[0] = '\0';
      return true;
    }
    p = eol ? eol + 1 : NULL;
  }
  return false;
}

static bool journal_has(const struct emu_journal_entry *j, size_t n, const char *op,
                        const char *user, const char *impersonated)
{
  for(size_t i = 0; i < n; i++) {
    if(strcmp(j[i].operation, op) != 0 || j[i].status != 200)
      continue;
    if(strcasecmp(j[i].auth_user, user) != 0)
      continue;
    if(impersonated && strcasecmp(j[i].impersonated, impersonated) != 0)
      continue;
    return true;
  }
  return false;
}

static void check_journal(enum client cl, const char *auth, bool passed[NSTEPS_MAX])
{
  size_t n = emu_journal_count(emu), got;
  struct emu_journal_entry *j = calloc(n ? n : 1, sizeof(*j));

  ck_assert_ptr_nonnull(j);
  got = emu_journal_get(emu, 0, j, n);
  for(size_t i = 0; i < got; i++) {
    /* every answered EWS request was authenticated, by a known user */
    if(j[i].status == 200 && strcasecmp(j[i].path, "/EWS/Exchange.asmx") == 0 &&
       strcmp(j[i].method, "POST") == 0)
      ck_assert_msg(cl != CL_DAVMAIL ||
                        strcmp(j[i].host, strcmp(auth, "ntlm") == 0 ? "localhost" : "127.0.0.1") ==
                            0,
                    "davmail/%s: journal entry %zu (%s) came to host %s, which offers another "
                    "scheme",
                    auth, i, j[i].operation, j[i].host);
    if(j[i].status == 200 && strcasecmp(j[i].path, "/EWS/Exchange.asmx") == 0 &&
       strcmp(j[i].method, "POST") == 0)
      ck_assert_msg(strcmp(j[i].auth_user, OWNER) == 0 || strcmp(j[i].auth_user, PEER) == 0 ||
                        strcmp(j[i].auth_user, SVC) == 0,
                    "%s/%s: journal entry %zu (%s) answered 200 with auth user '%s'",
                    client_names[cl], auth, i, j[i].operation, j[i].auth_user);
  }
  for(size_t e = 0; e < sizeof(evidence) / sizeof(evidence[0]); e++) {
    size_t s;
    const char *user = evidence[e].who == 0 ? OWNER : evidence[e].who == 1 ? PEER : SVC;
    const char *imp = evidence[e].who == 2 ? PEER "@" DOMAIN : NULL;
    for(s = 0; s < NSTEPS && strcmp(steps[s], evidence[e].step) != 0; s++)
      ;
    if(s == NSTEPS || !passed[s])
      continue;
    ck_assert_msg(journal_has(j, got, evidence[e].operation, user, imp),
                  "%s/%s: step %s passed but the journal has no answered %s by %s%s%s",
                  client_names[cl], auth, evidence[e].step, evidence[e].operation, user,
                  imp ? " impersonating " : "", imp ? imp : "");
  }
  for(size_t s = 0; s < NSTEPS; s++) {
    /* the EWS cases seeded one message for the peer, the DavMail ones none */
    if((strcmp(steps[s], "send") == 0 || strcmp(steps[s], "smtp_send") == 0) && passed[s])
      ck_assert_msg(emu_folder_count(emu, PEER "@" DOMAIN, "inbox") >= (cl == CL_DAVMAIL ? 1 : 2),
                    "%s/%s: send passed but %s's inbox holds %ld items", client_names[cl], auth,
                    PEER "@" DOMAIN, emu_folder_count(emu, PEER "@" DOMAIN, "inbox"));
  }
  free(j);
}

/* ---- running a client ---- */

static const char *python_path(void)
{
  const char *p = getenv("EXSYNC_INTEROP_PYTHON");

  if(p && *p)
    return p;
  /* Debian's interpreter: python3-exchangelib is installed for it */
  return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

/* The client's STEP lines against the steps and KNOWN_GAPS, then the
 * journal's evidence; frees co. */
static void check_output(enum client cl, const char *auth, struct child_out *co_)
{
  struct child_out co = *co_;
  char word[16], detail[1024];
  bool passed[NSTEPS_MAX] = {false};
  const char *verbose = getenv("EXSYNC_INTEROP_VERBOSE");
  int missing = 0, unexpected = 0, closed = 0;
  char report[8192] = "";
  size_t rl = 0;

  if(verbose && *verbose)
    fprintf(stderr, "---- %s %s stdout:\n%s---- stderr:\n%s----\n", client_names[cl], auth, co.out,
            co.err);
  ck_assert_msg(!co.timed_out, "%s/%s: client killed after %d s; output:\n%s\n%s", client_names[cl],
                auth, CLIENT_DEADLINE_MS / 1000, co.out, co.err);
  ck_assert_msg(WIFEXITED(co.status), "%s/%s: client died (status %d); output:\n%s\n%s",
                client_names[cl], auth, co.status, co.out, co.err);
  if(WEXITSTATUS(co.status) == 2 || WEXITSTATUS(co.status) == 127)
    ck_abort_msg("%s is not installed or cannot start (exit %d): %s%s -- install it: %s",
                 client_names[cl], WEXITSTATUS(co.status), co.out, co.err,
                 cl == CL_EXCHANGELIB ? "apt-get install python3-exchangelib python3-requests-ntlm "
                                        "(scripts/deps.sh)"
                 : cl == CL_DAVMAIL   ? "apt-get install davmail-server (scripts/deps.sh --test)"
                                      : "npm ci in suites/interop (scripts/test.sh)");

  for(size_t s = 0; s < NSTEPS; s++) {
    const char *gap = gap_for(cl, auth, steps[s]);
    if(!step_line(co.out, steps[s], word, sizeof(word), detail, sizeof(detail))) {
      missing++;
      rl += (size_t)snprintf(report + rl, sizeof(report) - rl > 0 ? sizeof(report) - rl : 0,
                             "  %s: no STEP line\n", steps[s]);
    }
    else if(strcmp(word, "ok") == 0) {
      passed[s] = true;
      if(gap) {
        closed++;
        rl +=
            (size_t)snprintf(report + rl, sizeof(report) - rl,
                             "  %s: passes now: remove its KNOWN_GAPS entry (%s)\n", steps[s], gap);
      }
    }
    else if(gap) {
      /* one line per gap (a "*" gap covers every step) */
      if(s == 0 || gap != gap_for(cl, auth, steps[s - 1]))
        fprintf(stderr, "interop %s/%s: KNOWN GAP %s: %s -- client said: %s %.300s\n",
                client_names[cl], auth, steps[s], gap, word, detail);
    }
    else {
      unexpected++;
      rl += (size_t)snprintf(report + rl, sizeof(report) - rl, "  %s: %s %.200s\n", steps[s], word,
                             detail);
    }
    if(rl >= sizeof(report))
      rl = sizeof(report) - 1;
  }
  if(missing || unexpected || closed) {
    /* the whole output on stderr; Check's message stays short (it travels
     * through a bounded pipe from the forked case) */
    fprintf(stderr, "---- %s/%s client exit %d; stdout:\n%s---- stderr (tail):\n%s\n----\n",
            client_names[cl], auth, WEXITSTATUS(co.status), co.out,
            co.errlen > 4000 ? co.err + co.errlen - 4000 : co.err);
    ck_abort_msg("%s/%s: %d unexpected failures, %d missing steps, %d closed gaps:\n%.3000s",
                 client_names[cl], auth, unexpected, missing, closed, report);
  }
  check_journal(cl, auth, passed);
  child_free(&co);
  (void)co_;
}

static void run_davmail(const char *auth);

static void run_client(enum client cl, const char *auth)
{
  char script[512], nodemods[512], tmpenv[300], caenv[320];
  const char *argv[32];
  char *envv[8];
  int ac = 0, ne = 0;
  struct child_out co;

  if(cl == CL_DAVMAIL) {
    run_davmail(auth);
    return;
  }
  steps = ews_steps;
  NSTEPS = sizeof(ews_steps) / sizeof(ews_steps[0]);
  if(cl == CL_EXCHANGELIB) {
    snprintf(script, sizeof(script), "%s", tu_path("suites/interop/exchangelib_steps.py"));
    argv[ac++] = python_path();
  }
  else {
    snprintf(script, sizeof(script), "%s", tu_path("suites/interop/ewsjs_steps.js"));
    snprintf(nodemods, sizeof(nodemods), "%s",
             tu_path("suites/interop/node_modules/ews-javascript-api/package.json"));
    ck_assert_msg(access(nodemods, R_OK) == 0,
                  "ews-javascript-api is not installed (%s missing): run `npm ci` in "
                  "suites/interop (scripts/test.sh does, with nodejs and npm from scripts/deps.sh)",
                  nodemods);
    argv[ac++] = "node";
  }
  argv[ac++] = script;
  argv[ac++] = "--url";
  argv[ac++] = base_url;
  argv[ac++] = "--ca";
  argv[ac++] = ca_file;
  argv[ac++] = "--user";
  argv[ac++] = OWNER;
  argv[ac++] = "--password";
  argv[ac++] = OWNER_PW;
  argv[ac++] = "--domain";
  argv[ac++] = DOMAIN;
  argv[ac++] = "--auth";
  argv[ac++] = auth;
  argv[ac++] = "--peer-user";
  argv[ac++] = PEER;
  argv[ac++] = "--peer-password";
  argv[ac++] = PEER_PW;
  argv[ac++] = "--peer-email";
  argv[ac++] = PEER "@" DOMAIN;
  argv[ac++] = "--svc-user";
  argv[ac++] = SVC;
  argv[ac++] = "--svc-password";
  argv[ac++] = SVC_PW;
  argv[ac++] = "--target";
  argv[ac++] = PEER "@" DOMAIN;
  argv[ac++] = "--seed-subject";
  argv[ac++] = SEED_SUBJECT;
  argv[ac++] = "--keep-going";
  argv[ac] = NULL;
  snprintf(tmpenv, sizeof(tmpenv), "TMPDIR=%s", tmpdir);
  snprintf(caenv, sizeof(caenv), "NODE_EXTRA_CA_CERTS=%s", ca_file);
  envv[ne++] = tmpenv;
  envv[ne++] = caenv;
  envv[ne++] = "PYTHONDONTWRITEBYTECODE=1";
  envv[ne] = NULL;

  run_child((char *const *)argv, envv, &co);
  check_output(cl, auth, &co);
}

/* ---- DavMail ---- */

static char http_port[16]; /* the plain listener of the DavMail cases */

/* davmail-server on PATH, or NULL. */
static const char *davmail_path(void)
{
  static char found[512];
  const char *path = getenv("PATH");
  char *copy, *save = NULL;

  if(!path)
    return NULL;
  copy = strdup(path);
  ck_assert_ptr_nonnull(copy);
  found[0] = '\0';
  for(char *d = strtok_r(copy, ":", &save); d && !found[0]; d = strtok_r(NULL, ":", &save)) {
    snprintf(found, sizeof(found), "%s/davmail-server", d);
    if(access(found, X_OK) != 0)
      found[0] = '\0';
  }
  free(copy);
  return found[0] ? found : NULL;
}

/* An emulator on plain HTTP answering as the two hosts of interop-hosts.xml,
 * validating every request against the EWS schema, with a message in the
 * owner's inbox. */
static void davmail_setup(void)
{
  char err[512], bound[64];
  int port;

  snprintf(tmpdir, sizeof(tmpdir), "%s/case-XXXXXX", basedir);
  ck_assert_msg(basedir[0] && mkdtemp(tmpdir), "mkdtemp %s: %s", tmpdir, strerror(errno));
  emu = emu_new();
  ck_assert_ptr_nonnull(emu);
  ck_assert_msg(emu_load_scenario(emu, tu_path("fixtures/scenarios/interop-hosts.xml"), err,
                                  sizeof(err)) == 0,
                "%s", err);
  ck_assert_msg(emu_set_ews_schema(emu, tu_path("fixtures/schema/ews/ews-validate.xsd"), err,
                                   sizeof(err)) == 0,
                "%s", err);
  emu_check_answers(emu, true);
  ck_assert_msg(emu_add_user(emu, OWNER, OWNER_PW, DOMAIN, err, sizeof(err)) == 0, "%s", err);
  ck_assert_msg(emu_add_user(emu, PEER, PEER_PW, DOMAIN, err, sizeof(err)) == 0, "%s", err);
  port = emu_listen(emu, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(port > 0, "listen: %s", err);
  snprintf(http_port, sizeof(http_port), "%d", port);
  ck_assert_int_eq(emu_start(emu, err, sizeof(err)), 0);
  ck_assert_msg(emu_deliver_message(emu, "carol@example.org", OWNER "@" DOMAIN, SEED_SUBJECT,
                                    "seeded by test_interop", err, sizeof(err)) == 0,
                "%s", err);
}

static void run_davmail(const char *auth)
{
  char script[512], url[160], tmpenv[300];
  const char *argv[32], *dm = davmail_path();
  char *envv[4];
  int ac = 0;
  struct child_out co;
  bool ntlm = strcmp(auth, "ntlm") == 0;

  if(!dm) {
    fprintf(stderr,
            "interop davmail/%s: SKIPPED: davmail-server is not installed "
            "(apt-get install davmail-server, or scripts/deps.sh --test)\n",
            auth);
    return;
  }
  steps = davmail_steps;
  NSTEPS = sizeof(davmail_steps) / sizeof(davmail_steps[0]);
  snprintf(script, sizeof(script), "%s", tu_path("suites/interop/davmail_steps.py"));
  /* the host name picks the scheme (interop-hosts.xml) */
  snprintf(url, sizeof(url), "http://%s:%s/EWS/Exchange.asmx", ntlm ? "localhost" : "127.0.0.1",
           http_port);
  argv[ac++] = python_path();
  argv[ac++] = script;
  argv[ac++] = "--ews-url";
  argv[ac++] = url;
  argv[ac++] = "--login";
  /* NTLM: a bare login in DavMail's default domain; Basic: the address */
  argv[ac++] = ntlm ? OWNER : OWNER "@" DOMAIN;
  if(ntlm) {
    argv[ac++] = "--domain";
    argv[ac++] = "EXAMPLE";
  }
  argv[ac++] = "--password";
  argv[ac++] = OWNER_PW;
  argv[ac++] = "--email";
  argv[ac++] = OWNER "@" DOMAIN;
  argv[ac++] = "--peer-email";
  argv[ac++] = PEER "@" DOMAIN;
  argv[ac++] = "--seed-subject";
  argv[ac++] = SEED_SUBJECT;
  argv[ac++] = "--workdir";
  argv[ac++] = tmpdir;
  argv[ac++] = "--davmail";
  argv[ac++] = dm;
  argv[ac++] = "--keep-going";
  argv[ac] = NULL;
  snprintf(tmpenv, sizeof(tmpenv), "TMPDIR=%s", tmpdir);
  envv[0] = tmpenv;
  envv[1] = "PYTHONDONTWRITEBYTECODE=1";
  envv[2] = NULL;
  run_child((char *const *)argv, envv, &co);
  check_output(CL_DAVMAIL, auth, &co);
  {
    char first[512];
    size_t bad = emu_invalid_answers(emu, first, sizeof(first));
    ck_assert_msg(bad == 0, "davmail/%s: %zu emulator answers failed the EWS schema; first: %s",
                  auth, bad, first);
  }
}

START_TEST(davmail_basic)
{
  run_client(CL_DAVMAIL, "basic");
}
END_TEST

START_TEST(davmail_ntlm)
{
  run_client(CL_DAVMAIL, "ntlm");
}
END_TEST

START_TEST(exchangelib_basic)
{
  run_client(CL_EXCHANGELIB, "basic");
}
END_TEST

START_TEST(exchangelib_ntlm)
{
  run_client(CL_EXCHANGELIB, "ntlm");
}
END_TEST

START_TEST(ewsjs_basic)
{
  run_client(CL_EWSJS, "basic");
}
END_TEST

START_TEST(ewsjs_ntlm)
{
  run_client(CL_EWSJS, "ntlm");
}
END_TEST

static Suite *interop_suite(void)
{
  Suite *s = suite_create("interop");
  TCase *tc = tcase_create("clients");

  tcase_add_unchecked_fixture(tc, run_setup, run_teardown);
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 200);
  tcase_add_test(tc, exchangelib_basic);
  tcase_add_test(tc, exchangelib_ntlm);
  tcase_add_test(tc, ewsjs_basic);
  tcase_add_test(tc, ewsjs_ntlm);
  suite_add_tcase(s, tc);

  tc = tcase_create("davmail");
  tcase_add_unchecked_fixture(tc, run_setup, run_teardown);
  tcase_add_checked_fixture(tc, davmail_setup, teardown);
  tcase_set_timeout(tc, 200);
  tcase_add_test(tc, davmail_basic);
  tcase_add_test(tc, davmail_ntlm);
  suite_add_tcase(s, tc);
  return s;
}

int main(void)
{
  return tu_run(interop_suite());
}

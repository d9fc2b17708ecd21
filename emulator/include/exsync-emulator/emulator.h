/* exsync-emulator/emulator.h - a fake Exchange (EWS + Autodiscover) on libevent.
 *
 * One struct emu is one emulated Exchange organisation: users, mailboxes,
 * virtual hosts, faults and a request journal, served on any number of HTTP
 * and HTTPS listeners by one or more event loops (emu_set_threads). The
 * suites and `exsync demo` run it in-process (emu_start runs the loops on
 * background threads); the exsync-emulator daemon runs it in the foreground
 * (emu_run).
 *
 * Threading: every function here may be called from any thread; they take
 * the emulator's locks. Only the loop threads do network I/O.
 * Ownership: strings passed in are copied; strings returned in caller
 * buffers are the caller's.
 */
#ifndef EXSYNC_EMULATOR_H
#define EXSYNC_EMULATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct emu;

/* Create an empty emulator (no users, no listeners). NULL on no memory. */
struct emu *emu_new(void);
/* Stop (if running) and free everything. NULL is a no-op. */
void emu_free(struct emu *emu);

/* Load a scenario file (XML, urn:exsync:scenario:1, validated against
 * fixtures/schema/scenario.xsd) into the emulator, replacing its world.
 * Returns 0, or -1 with "FILE:LINE: message" in err. */
int emu_load_scenario(struct emu *emu, const char *path, char *err, size_t errlen);

/* Add a user LOGIN with PASSWORD whose mailbox is LOGIN@DOMAIN, with the
 * standard folders; the command line's --user. Returns 0 or -1 with err. */
int emu_add_user(struct emu *emu, const char *login, const char *password, const char *domain,
                 char *err, size_t errlen);
/* Grant LOGIN impersonation of every mailbox (--impersonator). */
int emu_add_impersonator(struct emu *emu, const char *login, char *err, size_t errlen);

/* Trust material for HTTPS listeners. With neither call, a throwaway CA and
 * server certificates are generated at the first TLS listen. */
int emu_set_certificate(struct emu *emu, const char *cert_pem_file, const char *key_pem_file,
                        char *err, size_t errlen);
/* Write the CA certificate (PEM) that signed the generated server
 * certificates to path, so clients can trust it (--ca-out). */
int emu_write_ca(struct emu *emu, const char *path, char *err, size_t errlen);

/* Listen on addr:port (port 0: ephemeral), plain HTTP or TLS. On success the
 * bound "ADDR:PORT" is written to bound and the port is returned; -1 with
 * err on failure. May be called before or after emu_start. */
int emu_listen(struct emu *emu, const char *addr, int port, bool tls, char *bound, size_t boundlen,
               char *err, size_t errlen);

/* Serve with n event loop threads (0: emu_default_threads()). Each has an
 * event base of its own and accepts on every listener (one socket per thread
 * and listener, SO_REUSEPORT); a connection stays on the thread that
 * accepted it. The mailstore, journal, fault counters and connection limits
 * are shared. Must be called before the first emu_listen. 0, or -1 with err. */
int emu_set_threads(struct emu *emu, unsigned n, char *err, size_t errlen);
/* The number of event loop threads. */
unsigned emu_threads(struct emu *emu);
/* What emu_new starts with: EXSYNC_EMU_THREADS when set (1..256), else the
 * number of online cores. */
unsigned emu_default_threads(void);

/* Run the event loops on background threads; returns once they run. */
int emu_start(struct emu *emu, char *err, size_t errlen);
/* Run the first event loop in this thread (the others on threads of their
 * own) until emu_stop (or SIGINT/SIGTERM when
 * handle_signals is true; they are then unblocked, so a caller may block them
 * before announcing its listeners and lose none). Returns 0 on a clean stop. */
int emu_run(struct emu *emu, bool handle_signals);
/* Ask the loops to stop and wait for the background threads if any. Safe
 * from any thread; sticky: a stop while emu_run (or emu_start) is still
 * setting up its loops, or before emu_run is called, makes it return as soon
 * as its loops started (emu_start clears an earlier stop). */
void emu_stop(struct emu *emu);

/* ---- journal: one entry per HTTP request answered ---- */
struct emu_journal_entry {
  uint64_t seq;
  int64_t time_ms;  /* wall clock, ms since the epoch, when answered */
  int64_t start_ms; /* the same when the request arrived */
  char host[128];   /* Host header, without port */
  char client[128]; /* User-Agent header ("" if none): which client, e.g. which
                       exsync worker ("exsync/V (worker HOST:PID)") */
  char method[8];
  char path[256];
  char operation[64];     /* SOAP operation or "autodiscover", "" if none */
  char auth_user[128];    /* authenticated login, "" if none */
  char auth_scheme[24];   /* basic, ntlm, negotiate-kerberos, negotiate-ntlm; "" if none */
  char mailbox[256];      /* mailbox acted on */
  char impersonated[256]; /* ExchangeImpersonation address, "" if none */
  char response_code[64]; /* first EWS ResponseCode / fault code, "" if none */
  int status;             /* HTTP status sent */
  int in_flight;   /* requests of this auth user in flight when it arrived, itself included */
  int auth_failed; /* 1: a credential was presented and refused (a failed logon, as
                      Active Directory counts them toward lockout) */
};

/* Number of entries recorded since the last reset (bounded by the journal's
 * capacity; older entries are dropped first). */
size_t emu_journal_count(struct emu *emu);
/* Copy up to max entries, oldest first, starting at index from. Returns the
 * number copied. */
size_t emu_journal_get(struct emu *emu, size_t from, struct emu_journal_entry *out, size_t max);
/* Forget all entries and the in-flight maxima. */
void emu_journal_clear(struct emu *emu);
/* The largest in_flight seen for auth user login ("" or NULL: any user). */
int emu_journal_max_in_flight(struct emu *emu, const char *login);

/* ---- faults (shared description with scenario files and the admin API) ----
 * spec is the text form, e.g.
 *   "operation=GetFolder mailbox=bob@contoso.com ews-code=ErrorServerBusy backoff-ms=50 times=2"
 *   "host=mail.contoso.com http-status=503 every=3"
 * Returns a fault id (> 0) or -1 with err. */
int emu_add_fault(struct emu *emu, const char *spec, char *err, size_t errlen);
void emu_clear_faults(struct emu *emu);

/* Concurrency tests without clocks: a delay fault long enough to hold the
 * answers ("delay-ms=600000"), emu_delayed() polled (with a deadline) until
 * the client has the requests wanted in flight together, then
 * emu_release_delayed(). Both are thread-safe.
 * The number of answers a delay fault is holding now. */
size_t emu_delayed(struct emu *emu);
/* Answer now every answer a delay fault is holding. */
void emu_release_delayed(struct emu *emu);

/* ---- mailbox inspection for tests ---- */
/* Number of items in a mailbox's folder (distinguished name such as
 * "inbox"), or -1 when the mailbox or folder does not exist. */
long emu_folder_count(struct emu *emu, const char *smtp, const char *folder);

/* ---- more of the world: mail from outside, folder properties, per-host
 * certificates, schema checks ---- */

/* Deliver a message to the inbox of the emulated mailbox to (as if received
 * from the outside): from defaults to "sender@example.com", subject to "".
 * body is the plain-text body. Returns 0 or -1 with err (unknown mailbox). */
int emu_deliver_message(struct emu *emu, const char *from, const char *to, const char *subject,
                        const char *body, char *err, size_t errlen);

/* Read a String extended property (DistinguishedPropertySetId PublicStrings,
 * PropertyName name) of a mailbox folder (distinguished name such as
 * "msgfolderroot"), e.g. exsync.OrgId, into out. Returns 0, 1 when absent
 * (out ""), -1 when the mailbox or folder does not exist. */
int emu_get_folder_property(struct emu *emu, const char *smtp, const char *folder, const char *name,
                            char *out, size_t outlen);

/* Serve a different certificate to TLS clients asking for host (SNI), e.g.
 * an expired or wrong-name one for a failure scenario. The default
 * certificate (emu_set_certificate or generated) still serves every other
 * name and must exist for a TLS listener. Returns 0 or -1 with err. */
int emu_set_host_certificate(struct emu *emu, const char *host, const char *cert_pem_file,
                             const char *key_pem_file, char *err, size_t errlen);

/* Check every EWS answer as well (for test suites driving real clients):
 * the element inside soap:Body (faults excepted) is validated against the
 * schema set with emu_set_ews_schema; failures are counted and the first is
 * kept. Off by default (it costs a parse per answer). */
void emu_check_answers(struct emu *emu, bool on);
/* Number of answers that failed the check; the first failure (operation and
 * violation) into err. */
size_t emu_invalid_answers(struct emu *emu, char *err, size_t errlen);

/* Accept Kerberos under Negotiate (SPNEGO) with the keys of keytab (the
 * HTTP/<host> principals of a test KDC): hosts whose auth includes
 * negotiate then take Kerberos tokens, map the client principal
 * user@REALM to the scenario user, and keep taking NTLM inside Negotiate.
 * Returns 0 or -1 with err. */
int emu_set_keytab(struct emu *emu, const char *keytab, char *err, size_t errlen);

/* Validate every EWS request against the official schema, as Exchange does:
 * xsd_path is fixtures/schema/ews/ews-validate.xsd; the operation element and
 * the SOAP header elements are checked, and a request that fails gets an
 * ErrorSchemaValidation fault (HTTP 500) naming the violation. The WSDL and
 * XSDs in the same directory are then served (authenticated) at
 * /EWS/Services.wsdl, /EWS/messages.xsd and /EWS/types.xsd. The compiled
 * schema is cached per process (compiling takes a fraction of a second).
 * NULL turns validation off. Returns 0 or -1 with err. */
int emu_set_ews_schema(struct emu *emu, const char *xsd_path, char *err, size_t errlen);

/* Reload the last scenario loaded (if any), clear faults and journal. */
int emu_reset(struct emu *emu, char *err, size_t errlen);

/* ---- connection limits (a server that holds under abuse) ----
 * A connection waiting for a request is closed after idle_timeout_ms; once
 * bytes of a request arrived, the whole request (headers and body) must
 * be in within request_timeout_ms (slowloris). Request headers over
 * max_header_bytes are refused. Beyond max_connections open connections,
 * the oldest one not inside a request (of any thread) is closed for each
 * new one. When accept() fails (the fd limit), the oldest idle connections
 * (up to 16) of the thread that could not accept are closed and its accepts
 * pause until the loop has closed them (when it has none idle: one of
 * another thread's is closed, and the pause is accept_pause_ms); one line
 * goes to stderr per episode (then at most one a minute). A zero field keeps the default: idle 120
 * s, request 30 s, headers 64 KiB, connections 1024 (and never more than the fd limit minus 32
 * unless set explicitly), pause 100 ms. */
struct emu_limits {
  long idle_timeout_ms;
  long request_timeout_ms;
  long max_header_bytes;
  long max_connections;
  long accept_pause_ms;
};
/* Takes effect for connections accepted afterwards. */
void emu_set_limits(struct emu *emu, const struct emu_limits *limits);

struct emu_conn_stats {
  size_t open;          /* connections open now */
  size_t accepted;      /* since emu_new */
  size_t timed_out;     /* closed by the idle or request timeout */
  size_t evicted;       /* closed for the connection cap or the fd limit */
  size_t accept_pauses; /* accept() failures (fd limit) */
};
void emu_conn_stats(struct emu *emu, struct emu_conn_stats *out);

/* Let POST /_emulator/load read scenario files from dir only (the daemon's
 * --scenario-dir); without it the admin API loads nothing. 0 or -1 with err
 * (dir not a directory). */
int emu_set_scenario_dir(struct emu *emu, const char *dir, char *err, size_t errlen);

#endif

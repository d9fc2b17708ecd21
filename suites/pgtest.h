/* pgtest.h - a throwaway PostgreSQL cluster for the suites.
 *
 * pgtest_start runs initdb into a fresh temporary directory and starts the
 * server there with pg_ctl -w: a unix socket in that directory and a free
 * TCP port on 127.0.0.1, never the system's service or its port. The server
 * refuses to run as root: under root the cluster belongs to the `postgres`
 * user Debian's package creates (initdb and pg_ctl run through runuser);
 * otherwise to the calling user. The binaries come from
 * /usr/lib/postgresql/<newest>/bin (or EXSYNC_PG_BINDIR).
 *
 * The superuser is "exsync". Connections on the socket are trusted; TCP
 * connections need its password (scram-sha-256), which libpq finds in the
 * cluster's own password file: PGPASSFILE is pointed at it for this process
 * and its children, so URIs never carry a password.
 *
 * Cleanup does not depend on the test ending well: a guard process started
 * with the cluster stops it (pg_ctl -m immediate) and removes the directory
 * as soon as the process that started it is gone, whatever killed it.
 */
#ifndef EXSYNC_PGTEST_H
#define EXSYNC_PGTEST_H

#include <stddef.h>

struct pgtest;

/* Settings for a cluster. All zero: the test defaults (no fsync). */
struct pgtest_options {
  /* keep fsync and synchronous commit on (benchmarks) */
  int durable;
  /* max_connections (0: 100) */
  int max_connections;
};

/* NULL with err when the cluster cannot be made or started. opts may be NULL. */
struct pgtest *pgtest_start(const struct pgtest_options *opts, char *err, size_t errlen);
/* Stop the server, remove the directory. NULL: no-op. */
void pgtest_stop(struct pgtest *p);

/* A fresh, empty database (named tPID_N: unique also when forked test
 * processes make them) and its URI, postgresql://exsync@127.0.0.1:PORT/NAME,
 * in uri. Returns 0 or -1 with err. */
int pgtest_createdb(struct pgtest *p, char *uri, size_t urilen, char *err, size_t errlen);
/* The same database reached through the unix socket:
 * postgresql://exsync@/NAME?host=DIR&port=PORT */
int pgtest_socket_uri(const struct pgtest *p, const char *tcp_uri, char *uri, size_t urilen);

/* The cluster's directory (socket, log, password file); its TCP port. */
const char *pgtest_dir(const struct pgtest *p);
int pgtest_port(const struct pgtest *p);
/* The server's log file (for a failing test's message). */
const char *pgtest_log(const struct pgtest *p);

#endif

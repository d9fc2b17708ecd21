/* cli.h - the exsync command line: global options and command dispatch. */
#ifndef EXSYNC_DIAG_CLI_H
#define EXSYNC_DIAG_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "exsync-diag/diag.h"
#include "report.h"

#define DIAG_MAX_OVERRIDES 32

/* Global options, accepted before or after the command. */
struct diag_ctx {
  const char *db;          /* --db PATH; default ./exsync.db or $EXSYNC_DB */
  const char *key_file;    /* --key-file PATH; default DB + ".key" */
  enum diag_format format; /* --format */
  const char *trace_path;  /* --trace FILE ("-": stderr) */
  /* --cacert, --proxy ("" none: ignore the environment), --noproxy, and
   * the counts of --resolve and --connect-to; read through diag_transport */
  struct exs_transport transport;
  const char *resolve[DIAG_MAX_OVERRIDES];
  const char *connect_to[DIAG_MAX_OVERRIDES];
  const char *output; /* -o FILE: the report, written atomically */
  bool failures_only; /* --failures-only: reports list failing mailboxes only */
  bool no_progress;   /* --no-progress */
  bool color;         /* stdout is a terminal that takes colour */
  FILE *trace;        /* open trace file, NULL when none */
  FILE *out;          /* where test-enable and autodiscover write their report: stdout,
                         or the memory stream of record and replay */
  const char *argv0;
  const char *command; /* the command run ("mailbox test-enable") */
};

/* Take the global option at argv[*i] into ctx if it is one (its value may
 * be argv[*i + 1]: *i then moves past it). Returns 1 taken, 0 not a global
 * option, -1 error (message printed). diag/globals.c. */
int diag_take_global(struct diag_ctx *ctx, int argc, char **argv, int *i);

/* The run's transport settings (exsync/http.h): the global options of ctx,
 * its trace (diag_trace_cb, when --trace is given) and record's exchange
 * hook. Points into ctx: valid while ctx is, fetched again after ctx was
 * copied. */
const struct exs_transport *diag_transport(struct diag_ctx *ctx);

/* Formats a command takes (diag_formats). */
#define DIAG_F_TEXT (1u << DIAG_FORMAT_TEXT)
#define DIAG_F_JSON (1u << DIAG_FORMAT_JSON)
#define DIAG_F_JUNIT (1u << DIAG_FORMAT_JUNIT)
#define DIAG_F_HTML (1u << DIAG_FORMAT_HTML)
#define DIAG_F_REPORT (DIAG_F_TEXT | DIAG_F_JSON | DIAG_F_JUNIT | DIAG_F_HTML)

/* A command implemented outside this library (diag/emu: demo, replay). */
struct diag_command {
  const char *name;
  int (*run)(struct diag_ctx *ctx, int argc, char **argv);
};

/* diag_main (exsync-diag/diag.h) with the commands extra[0..n_extra-1] on
 * top of the built-in ones; a command listed in --help but in neither is
 * "not built into this program" (exit 2). */
int diag_main_with(int argc, char **argv, const struct diag_command *extra, size_t n_extra);
/* Lines --version adds for libraries linked outside exsync_diag ("libevent
 * 2.1.12-stable\n", from diag/emu). */
void diag_set_extra_versions(const char *lines);

/* Print "exsync: " + message to stderr; returns 2 (usage/configuration).
 * The last message is kept for the error report (diag_last_error). */
int diag_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last diag_fail message ("" when none); cleared by diag_main. */
const char *diag_last_error(void);
void diag_clear_last_error(void);

/* 0 when ctx->format is one of mask, else 2 with "CMD: --format F is not
 * supported here (text, json)" printed. */
int diag_formats(const struct diag_ctx *ctx, const char *cmd, unsigned mask);

/* The trace hook writing the redacted conversation to ctx->trace, each line
 * after a time stamp. */
void diag_trace_cb(void *ctx, enum exs_trace_kind kind, const char *data, size_t len);
/* A separator line in the trace ("=== alice@contoso.com: Failure ==="). */
void diag_trace_mark(struct diag_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Path of a shipped data file ("schema/org.xsd") in the data directory
 * (exsync/datadir.h). Static ring buffer: copy to keep. */
const char *diag_data_path(const char *relative);

/* Commands: argc/argv start at the command name. demo and replay start the
 * emulator and live in diag/emu (library exsync_diag_emu). */
int diag_cmd_demo(struct diag_ctx *ctx, int argc, char **argv);
int diag_cmd_test_enable(struct diag_ctx *ctx, int argc, char **argv);
int diag_cmd_autodiscover(struct diag_ctx *ctx, int argc, char **argv);
/* record --out FILE -- COMMAND... / replay FILE (diag/record.c, diag/replay.c) */
int diag_cmd_record(struct diag_ctx *ctx, int argc, char **argv);
int diag_cmd_replay(struct diag_ctx *ctx, int argc, char **argv);
/* import, org, profile, mailbox, alerts, job */
int diag_cmd_admin(struct diag_ctx *ctx, int argc, char **argv);
/* sync, status, activity, email, act (cmd_sync.c) */
int diag_cmd_sync(struct diag_ctx *ctx, int argc, char **argv);

#endif

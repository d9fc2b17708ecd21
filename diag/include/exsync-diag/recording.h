/* recording.h - recording files of exsync record / exsync replay.
 *
 * One XML file per case (urn:exsync:recording:1, fixtures/schema/
 * recording.xsd): the command, the files it reads, the HTTP exchanges in
 * order, the expected report and exit code. Everything in a recording has
 * been through the normaliser (exsync/normalize.h): secrets appear only as
 * {{secret:KIND}} placeholders.
 *
 * Loading never crashes on bad input: a truncated or malformed file, a
 * schema violation, an unknown operation or a body over DIAG_REC_MAX_BODY
 * gives -1 with "FILE:LINE: message" in err.
 *
 * Matching (replay): a live request matches a recorded exchange when the
 * method, the host, the path (case-insensitive), the operation (first
 * child of soap:Body, or the POX root) and the recorded match keys agree;
 * the keys are drawn from the normalised body: the ExchangeImpersonation
 * address, DistinguishedFolderId ids (with their mailbox), ItemShape and
 * FolderShape base shapes, the field a Restriction is on, the paging
 * offset, the Autodiscover mailbox, message disposition, delete type and
 * traversal. Every recorded key must be present in the live request
 * (hand-written cases may give fewer keys). The first unused exchange in
 * recorded order that matches wins (order-aware: repeated requests get
 * the answers in the order they were recorded).
 */
#ifndef EXSYNC_DIAG_RECORDING_H
#define EXSYNC_DIAG_RECORDING_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "exsync/buf.h"

#define DIAG_REC_MAX_BODY (16u * 1024u * 1024u)
#define DIAG_REC_MAX_FILES 8
#define DIAG_REC_MAX_ARGS 64

struct diag_rec_exchange {
  char *method; /* "GET" / "POST" */
  char *url;
  char *operation;   /* "" when none */
  char *keys;        /* match keys, "k=v;k=v" ("" none) */
  char *req_headers; /* NULL when not recorded */
  char *req_body;    /* NULL when not recorded */
  size_t req_body_len;
  int status;         /* 0: no answer (failure) */
  char *failure;      /* category of a failure, else NULL */
  char *resp_headers; /* "Name: value\n" lines, no status line; may be NULL */
  char *resp_body;    /* may be NULL */
  size_t resp_body_len;
  long elapsed_ms;
  int legs;
  int line; /* line in the file, for messages */
  int uses; /* replay: times served */
};

struct diag_rec_file {
  char *name;
  char *content;
};

struct diag_recording {
  char *name; /* info/name, may be NULL */
  char *argv[DIAG_REC_MAX_ARGS];
  size_t argc;
  char *format;  /* "text", "json", "junit" */
  time_t frozen; /* 0: not frozen */
  bool anonymize;
  char **rules; /* --scrub rules */
  size_t n_rules;
  struct diag_rec_file files[DIAG_REC_MAX_FILES];
  size_t n_files;
  struct diag_rec_exchange *x;
  size_t n_x;
  size_t cap_x;
  char *report; /* expected report */
  int exit_code;
};

/* A new empty recording (format "text"). NULL on no memory. */
struct diag_recording *diag_recording_new(void);
/* Free it and everything it owns. NULL is a no-op. */
void diag_recording_free(struct diag_recording *r);

/* Load a recording from path (or from memory: data/len, name for
 * messages), validated against xsd_path (NULL: no schema check). Returns
 * 0 with *out (caller frees with diag_recording_free) or -1 with err. */
int diag_recording_load(const char *path, const char *xsd_path, struct diag_recording **out,
                        char *err, size_t errlen);
int diag_recording_load_mem(const char *data, size_t len, const char *name, const char *xsd_path,
                            struct diag_recording **out, char *err, size_t errlen);

/* Serialise r into out (XML). 0 or -1 (no memory / cap). */
int diag_recording_write(const struct diag_recording *r, struct exs_buf *out);
/* Write r to path atomically (path.tmp then rename). 0 or -1 with err. */
int diag_recording_save(const struct diag_recording *r, const char *path, char *err, size_t errlen);

/* Rewrite only the <expect> element of the file at path with r's report
 * and exit code, keeping everything else (comments, layout) as it is; a
 * file without one is written whole. 0 or -1 with err. */
int diag_recording_save_expect(const struct diag_recording *r, const char *path, char *err,
                               size_t errlen);

/* Append a copy of x (strings duplicated) to r. 0 or -1 (no memory). */
int diag_recording_add(struct diag_recording *r, const struct diag_rec_exchange *x);

/* The operation and match keys of a request body (already normalised):
 * op receives the operation ("" when the body is empty or not XML), keys
 * gets "k=v;..." appended. Returns 0, or -1 when the body is XML but not
 * parseable (op then "?"). */
int diag_request_keys(const char *body, size_t len, char *op, size_t oplen, struct exs_buf *keys);

/* True when op is an operation the recorder knows ("" is allowed). */
bool diag_operation_known(const char *op);

/* True when every "k=v" of want is in have. */
bool diag_keys_subset(const char *want, const char *have);

/* What a recording may hold (recordings are shared with support, so a
 * replay must not be a way to run anything): the store-less commands
 * `test-enable --config {{file:NAME}}` and `autodiscover ADDRESS`, with
 * their own options, and the globals --format, --cacert, --connect-to and
 * --resolve (the last three are dropped: replay points every host at its
 * own server). --db, --key-file, --trace, a second "--", any other command
 * or option, and a file reference that is not one of the recording's
 * files ({{file:NAME}}, NAME a plain name of r's files, or "password" for
 * --password-file) are refused. argv is checked as diag_main would parse
 * it (a global option is taken wherever it stands).
 *
 * r NULL checks a command about to be recorded: file values are then real
 * paths (the recorder embeds them). On success returns 0 and, when kept is
 * not NULL, puts the words to run (argv minus the dropped globals,
 * borrowed) into kept[0..*n_kept-1] (room for argc). On refusal returns -1
 * with a message naming the offending argument in err. */
int diag_recording_check_command(const struct diag_recording *r, const char *const *argv,
                                 size_t argc, const char **kept, size_t *n_kept, char *err,
                                 size_t errlen);

#endif

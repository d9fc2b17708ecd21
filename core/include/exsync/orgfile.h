/* exsync/orgfile.h - the org configuration file (docs/org-file.md) and CSV
 * mailbox lists.
 *
 * The org file is XML in namespace urn:exsync:org:1:
 *   <org id=GUID> <settings .../>? (<profile .../> | <mailbox .../>)* </org>
 * It is parsed safely (xml.h), validated against fixtures/schema/org.xsd
 * (structure, attribute names, enumerations), then every value goes through
 * the model's rules (model.h). Attributes beyond the product's:
 *   settings: notify-owners, ignore-internal, tracking-prefix,
 *             default-incoming, default-outgoing, default-act
 *   profile:  description, password-file, password, timeout-enabled
 *   mailbox:  active, track, process-from, user, password-env,
 *             password-file, password, kind (user|queue)
 * A mailbox without incoming/outgoing/act/profile takes the org defaults
 * (settings default-*). A mailbox's profile must be defined in the same file
 * unless EXS_ORGFILE_EXTERNAL_PROFILES is given.
 *
 * Every error is one line, "FILE:LINE: attribute 'NAME': rule" (or
 * "FILE:LINE: element 'NAME': rule" for structure), in err->message with
 * category CONFIG; LINE is the line of the attribute itself when it can be
 * found, else of its element. Passwords:
 * - password-env="VAR": the value of the environment variable (missing or
 *   empty: an error naming the variable);
 * - password-file="F": the first line of F (relative to the org file's
 *   directory), without its line end; warned about when F is readable by
 *   group or others;
 * - password="literal": accepted, with a warning when the org file is
 *   readable by group or others.
 * At most one of the three per element. No message ever contains a password.
 */
#ifndef EXSYNC_ORGFILE_H
#define EXSYNC_ORGFILE_H

#include <stddef.h>
#include <stdio.h>

#include "exsync/error.h"
#include "exsync/model.h"

/* Let mailboxes and default-profile name profiles not defined in the file
 * (for "exsync import" into a store that has them). */
#define EXS_ORGFILE_EXTERNAL_PROFILES 1u

/* A loaded org file. Plain data: arrays owned by the struct. */
struct exs_orgfile {
  struct exs_org org;
  struct exs_profile *profiles; /* n_profiles, in file order */
  size_t n_profiles;
  struct exs_mailbox *mailboxes; /* n_mailboxes, in file order */
  size_t n_mailboxes;
  int *mailbox_lines; /* the line of each <mailbox> element */
  char **warnings;    /* n_warnings lines "FILE:LINE: attribute 'NAME': ..." */
  size_t n_warnings;
};

/* Where the shipped org.xsd is: schema/org.xsd in the data directory
 * (exsync/datadir.h: $EXSYNC_DATA_DIR, else found from the program's path).
 * Writes into buf and returns it. */
const char *exs_orgfile_schema_path(char *buf, size_t len);

/* Load path, validating against the XSD at schema_path (NULL: the default
 * above). flags: EXS_ORGFILE_*. On success *out receives the result (free
 * with exs_orgfile_free) and 0 is returned; on error -1 with err set, *out
 * NULL. */
int exs_orgfile_load(const char *path, const char *schema_path, unsigned flags,
                     struct exs_orgfile **out, struct exs_error *err);
/* The same from memory: data (len bytes, borrowed) stands for a file named
 * name (used in messages; relative password-file paths resolve against its
 * directory; no literal-password warning is made since there is no file
 * mode). For fuzzing and tests. */
int exs_orgfile_load_buffer(const char *data, size_t len, const char *name, const char *schema_path,
                            unsigned flags, struct exs_orgfile **out, struct exs_error *err);
/* Wipe every password and free. NULL is a no-op. */
void exs_orgfile_free(struct exs_orgfile *f);

/* Load a CSV mailbox list. The first line is a header naming the columns, in
 * any order, among: address (required), name, kind, active, profile,
 * incoming, outgoing, act, approval, allow-credentials, sync-org-only, track,
 * process-from, user, password-env, password-file (the values are spelled as
 * in the org file; no literal passwords in CSV). Fields may be quoted with
 * "..." ("" for a quote); blank lines and lines starting with '#' are
 * skipped. An empty cell takes the default: defaults (may be NULL: the
 * product's defaults) for the delivery methods and the default profile.
 * Errors are "FILE:LINE:COLUMN: column 'NAME': rule" (COLUMN counts from 1).
 * On success *out is a malloc'd array of *n mailboxes (wipe each, then
 * free()). */
int exs_csv_load_mailboxes(const char *path, const struct exs_org *defaults,
                           struct exs_mailbox **out, size_t *n, struct exs_error *err);

/* Set one setting by its org-file attribute name ("max-connections",
 * "approve-users", ...; for the org also its id) from text, with the org
 * file's value rules (the
 * model's cross-field rules are checked by exs_*_validate afterwards).
 * Passwords cannot be set this way. Returns 0 or -1 with a CONFIG error
 * naming the setting and the rule. */
int exs_orgfile_set_org(struct exs_org *org, const char *name, const char *value,
                        struct exs_error *err);
int exs_orgfile_set_profile(struct exs_profile *p, const char *name, const char *value,
                            struct exs_error *err);
int exs_orgfile_set_mailbox(struct exs_mailbox *m, const char *name, const char *value,
                            struct exs_error *err);

/* Print every setting as "name value" lines, spelled as in the org file;
 * passwords only as "(set, encrypted)" / "(not set)". */
void exs_orgfile_print_org(FILE *f, const struct exs_org *org);
void exs_orgfile_print_profile(FILE *f, const struct exs_profile *p);
void exs_orgfile_print_mailbox(FILE *f, const struct exs_mailbox *m);

#endif

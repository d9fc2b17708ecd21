/* exsync/fields.h - one field descriptor per model entity (org settings,
 * profile, mailbox): every member of the struct listed once, with its C
 * type and place, its store column, its org-file attribute and its JSON
 * member. The store binds its columns from it (core/store.c), the org file
 * reads and lists its attributes from it (core/orgfile.c), the JSON output
 * prints from it (diag). A new field is one line in core/model_fields.c,
 * plus its column in a store migration (core/store.c) and, for an
 * attribute, fixtures/schema/org.xsd and docs/org-file.md (suite fields
 * checks the descriptors against the struct's layout and the schema).
 *
 * Secrets (EXS_FIELD_SECRET) are the passwords: the store keeps them sealed
 * (secret.h) in their column, the org file reads them from ATTR, ATTR-env or
 * ATTR-file, and no printed form ever holds them: exs_field_text gives
 * "(set, encrypted)" or "(not set)".
 */
#ifndef EXSYNC_FIELDS_H
#define EXSYNC_FIELDS_H

#include <stdbool.h>
#include <stddef.h>

#include "exsync/model.h"

enum exs_ftype {
  EXS_FT_TEXT,  /* char[size], NUL-terminated */
  EXS_FT_INT,   /* int */
  EXS_FT_BOOL,  /* bool */
  EXS_FT_TIME,  /* time_t, 0: not set */
  EXS_FT_ENUM,  /* int, one of the codes of f->codes */
  EXS_FT_ROWID, /* int64_t, the store's row id (column "id"), 0: not stored */
  /* kinds only the store's own tables use (activities, ACT items) */
  EXS_FT_STR,   /* char *, owned; NULL and "" are stored as NULL */
  EXS_FT_SECS,  /* time_t stored as a number, 0 too */
  EXS_FT_NAMED, /* int stored as its name, names[code] (n_names of them) */
};

/* the entity's key: required, unique */
#define EXS_FIELD_KEY 0x01u
/* a password (see above) */
#define EXS_FIELD_SECRET 0x02u
/* written by Test & Enable (exs_store_save_test_result) */
#define EXS_FIELD_RESULT 0x04u
/* written by the sync engine (exs_store_mailbox_save_runtime) */
#define EXS_FIELD_RUNTIME 0x08u
/* a profile's outgoing setting: only with same-outgoing="no"; its incoming
 * counterpart is the attribute without "outgoing-" */
#define EXS_FIELD_OUTGOING 0x10u
/* an attribute of <org> itself, not of <settings> */
#define EXS_FIELD_ROOT 0x20u
/* JSON: only in the detailed object (mailbox show) */
#define EXS_FIELD_DETAIL 0x40u

/* The names of a code (EXS_FT_ENUM) or of a yes/no spelled otherwise. */
struct exs_codes {
  const char *(*name)(int code); /* "unknown" for an unknown code */
  int (*parse)(const char *s);   /* -1 when unknown */
  const char *choices;           /* for messages: "none, outlook or ssync" */
};

struct exs_field {
  const char *member; /* the C member: "user", "status[EXS_WL_ACT]" */
  enum exs_ftype type;
  size_t off, size; /* its place and size in the struct (TEXT: the buffer) */
  const char *col;  /* the store column (SECRET: the sealed column) */
  const char *attr; /* the org-file attribute; NULL: not in the org file */
  /* The JSON member, NULL: never printed. "group.name" is member name of
   * the object "group" (consecutive fields). A field with an org-file
   * attribute prints its org-file spelling as a string; the others their
   * JSON value: text (null when empty), number, true/false, time (null when
   * not set), code name. A group is null when its first member, a text, is
   * empty. */
  const char *json;
  size_t max;                    /* TEXT: the longest value the model takes */
  const struct exs_codes *codes; /* ENUM; BOOL not spelled yes/no (NULL: yes/no) */
  unsigned flags;                /* EXS_FIELD_* */
  const char *const *names;      /* NAMED */
  size_t n_names;
};

struct exs_desc {
  const char *entity;             /* "org", "profile", "mailbox" */
  const char *table;              /* the store table */
  size_t size;                    /* of the struct */
  const struct exs_field *fields; /* in the order they are listed and printed */
  size_t n;
  /* Whether f is left out of obj's listing and JSON (a profile's outgoing
   * settings with same-outgoing="yes"); NULL: never. */
  bool (*hidden)(const struct exs_field *f, const void *obj);
};

extern const struct exs_desc exs_org_desc;     /* struct exs_org */
extern const struct exs_desc exs_profile_desc; /* struct exs_profile */
extern const struct exs_desc exs_mailbox_desc; /* struct exs_mailbox */

/* A buffer that holds any exs_field_text. */
#define EXS_FIELD_TEXT_MAX (EXS_URL_MAX + 1)

/* The key field (EXS_FIELD_KEY), NULL when the entity has none (org). */
const struct exs_field *exs_desc_key(const struct exs_desc *d);
/* The field of an org-file attribute, NULL when none. */
const struct exs_field *exs_desc_attr(const struct exs_desc *d, const char *attr);
/* Whether f of obj is listed and printed (d->hidden). */
bool exs_field_shown(const struct exs_desc *d, const struct exs_field *f, const void *obj);
/* f's value in obj as the org file spells it ("yes", "10", "ssync",
 * "2026-01-01T00:00:00Z", "" for an unset time); a secret only as
 * "(set, encrypted)" or "(not set)". Written into buf (truncated to len),
 * which is returned. */
const char *exs_field_text(const struct exs_field *f, const void *obj, char *buf, size_t len);
/* Copy the fields having any flag of mask from src to dst (both d->size). */
void exs_desc_copy(const struct exs_desc *d, void *dst, const void *src, unsigned mask);

#endif

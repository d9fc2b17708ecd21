/* json.h - the JSON writer every report of diag shares. */
#ifndef EXSYNC_DIAG_JSON_H
#define EXSYNC_DIAG_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "exsync/fields.h"

/* Write s as a JSON string literal (quotes, escapes, control characters as
 * \u00XX; bytes >= 0x80 pass through, the input is UTF-8). NULL writes "". */
void diag_json_str(FILE *f, const char *s);
/* The same, or null when s is NULL or empty. */
void diag_json_str_or_null(FILE *f, const char *s);

/* Write ', "name": ' and s as diag_json_str_or_null does: one member after
 * another. */
void diag_json_member(FILE *f, const char *name, const char *s);

/* Write the JSON members of obj (a d->size struct) as its field descriptor
 * says (fields.h: the org file's attributes as strings spelled as there,
 * then the state; detail: the EXS_FIELD_DETAIL members too), comma-
 * separated, without braces. Passwords only as "(set, encrypted)" or
 * "(not set)". Returns how many members were written. */
size_t diag_json_fields(FILE *f, const struct exs_desc *d, const void *obj, bool detail);

#endif

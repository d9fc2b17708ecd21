/* json.h - the JSON string writer every report of diag shares. */
#ifndef EXSYNC_DIAG_JSON_H
#define EXSYNC_DIAG_JSON_H

#include <stdio.h>

/* Write s as a JSON string literal (quotes, escapes, control characters as
 * \u00XX; bytes >= 0x80 pass through, the input is UTF-8). NULL writes "". */
void diag_json_str(FILE *f, const char *s);
/* The same, or null when s is NULL or empty. */
void diag_json_str_or_null(FILE *f, const char *s);

/* Write the "name value" lines of exs_orgfile_print_* (name padded with
 * spaces) as JSON members "name": "value", comma-separated, without braces.
 * Returns how many members were written. */
size_t diag_json_attrs(FILE *f, const char *lines);

#endif

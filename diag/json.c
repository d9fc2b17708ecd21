/* json.c - JSON string literals, and the members of an entity from its field
 * descriptor (fields.h). */
#include "json.h"

#include <stdbool.h>
#include <string.h>

void diag_json_str(FILE *f, const char *s)
{
  fputc('"', f);
  for(; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    switch(c) {
    case '"':
      fputs("\\\"", f);
      break;
    case '\\':
      fputs("\\\\", f);
      break;
    case '\n':
      fputs("\\n", f);
      break;
    case '\r':
      fputs("\\r", f);
      break;
    case '\t':
      fputs("\\t", f);
      break;
    default:
      if(c < 0x20)
        fprintf(f, "\\u%04x", c);
      else
        fputc(c, f);
    }
  }
  fputc('"', f);
}

void diag_json_str_or_null(FILE *f, const char *s)
{
  if(s && *s)
    diag_json_str(f, s);
  else
    fputs("null", f);
}

/* One member's value (fields.h: the org file's spelling for an attribute,
 * and always for a password, never in clear; else the JSON type; in_group:
 * text as it is, never null). */
static void field_value(FILE *f, const struct exs_field *fd, const void *obj, bool in_group)
{
  const char *p = (const char *)obj + fd->off;
  char buf[EXS_FIELD_TEXT_MAX];

  exs_field_text(fd, obj, buf, sizeof(buf));
  if(fd->attr || (fd->flags & EXS_FIELD_SECRET) || fd->type == EXS_FT_ENUM ||
     (fd->type == EXS_FT_TEXT && in_group))
    diag_json_str(f, buf);
  else if(fd->type == EXS_FT_INT)
    fprintf(f, "%d", *(const int *)p);
  else if(fd->type == EXS_FT_BOOL)
    fputs(*(const bool *)p ? "true" : "false", f);
  else
    diag_json_str_or_null(f, buf); /* text, time: null when empty / not set */
}

size_t diag_json_fields(FILE *f, const struct exs_desc *d, const void *obj, bool detail)
{
  const char *group = NULL; /* the open group object, "name." */
  size_t glen = 0, n = 0, in_group = 0, i;
  bool null_group = false;

  for(i = 0; i < d->n; i++) {
    const struct exs_field *fd = &d->fields[i];
    const char *dot;
    size_t len;
    if(!fd->json || ((fd->flags & EXS_FIELD_DETAIL) && !detail) || !exs_field_shown(d, fd, obj))
      continue;
    dot = strchr(fd->json, '.');
    len = dot ? (size_t)(dot - fd->json) + 1 : 0;
    if(group && (len != glen || strncmp(group, fd->json, glen))) {
      if(!null_group)
        fputc('}', f);
      group = NULL;
    }
    if(dot && !group) {
      fprintf(f, "%s\"%.*s\": ", n++ ? ", " : "", (int)(len - 1), fd->json);
      group = fd->json;
      glen = len;
      in_group = 0;
      /* a group led by an empty text is null */
      null_group = fd->type == EXS_FT_TEXT && !((const char *)obj + fd->off)[0];
      fputs(null_group ? "null" : "{", f);
    }
    if(group && null_group)
      continue;
    if(group)
      fprintf(f, "%s\"%s\": ", in_group++ ? ", " : "", dot + 1);
    else
      fprintf(f, "%s\"%s\": ", n++ ? ", " : "", fd->json);
    field_value(f, fd, obj, group != NULL);
  }
  if(group && !null_group)
    fputc('}', f);
  return n;
}

void diag_json_member(FILE *f, const char *name, const char *s)
{
  fprintf(f, ", \"%s\": ", name);
  diag_json_str_or_null(f, s);
}

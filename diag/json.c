/* json.c - JSON string literals. */
#include "json.h"

void diag_json_str(FILE *f, const char *s)
{
  fputc('"', f);
  for(; s && *s; s++) {
    unsigned char c = (unsigned char)*s;
    switch(c) {
    case '"': fputs("\\\"", f); break;
    case '\\': fputs("\\\\", f); break;
    case '\n': fputs("\\n", f); break;
    case '\r': fputs("\\r", f); break;
    case '\t': fputs("\\t", f); break;
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

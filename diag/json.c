/* json.c - JSON string literals. */
#include "json.h"

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

size_t diag_json_attrs(FILE *f, const char *lines)
{
  size_t n = 0;
  char name[64], value[1024];

  while(lines && *lines) {
    size_t len = strcspn(lines, "\n");
    size_t k = strcspn(lines, " \n");
    size_t v = k;
    if(k > 0 && k < sizeof(name)) {
      while(v < len && lines[v] == ' ')
        v++;
      snprintf(name, sizeof(name), "%.*s", (int)k, lines);
      snprintf(value, sizeof(value), "%.*s", (int)(len - v), lines + v);
      fputs(n++ ? ", " : "", f);
      diag_json_str(f, name);
      fputs(": ", f);
      diag_json_str(f, value);
    }
    lines += len;
    if(*lines == '\n')
      lines++;
  }
  return n;
}

/* buf.c - capped growable buffer and base64. */
#include "exsync/buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void exs_buf_init(struct exs_buf *b, size_t max)
{
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

void exs_buf_free(struct exs_buf *b)
{
  if(!b)
    return;
  free(b->data);
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

void exs_buf_reset(struct exs_buf *b)
{
  b->len = 0;
  if(b->data)
    b->data[0] = '\0';
}

static int buf_reserve(struct exs_buf *b, size_t extra)
{
  size_t need;
  size_t cap;
  char *p;

  if(extra > b->max || b->len > b->max - extra)
    return -1;
  need = b->len + extra + 1;
  if(need <= b->cap)
    return 0;
  cap = b->cap ? b->cap : 256;
  while(cap < need)
    cap *= 2;
  if(cap > b->max + 1)
    cap = b->max + 1;
  p = realloc(b->data, cap);
  if(!p)
    return -1;
  b->data = p;
  b->cap = cap;
  return 0;
}

int exs_buf_add(struct exs_buf *b, const void *p, size_t n)
{
  if(buf_reserve(b, n))
    return -1;
  if(n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int exs_buf_adds(struct exs_buf *b, const char *s)
{
  return exs_buf_add(b, s, strlen(s));
}

int exs_buf_vaddf(struct exs_buf *b, const char *fmt, va_list ap)
{
  va_list copy;
  int n;

  va_copy(copy, ap);
  n = vsnprintf(NULL, 0, fmt, copy);
  va_end(copy);
  if(n < 0 || buf_reserve(b, (size_t)n))
    return -1;
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
  return 0;
}

int exs_buf_addf(struct exs_buf *b, const char *fmt, ...)
{
  va_list ap;
  int result;

  va_start(ap, fmt);
  result = exs_buf_vaddf(b, fmt, ap);
  va_end(ap);
  return result;
}

int exs_buf_add_xml(struct exs_buf *b, const char *s)
{
  const char *run;

  if(!s)
    return 0;
  run = s;
  for(; *s; s++) {
    const char *rep = NULL;
    switch(*s) {
    case '&':
      rep = "&amp;";
      break;
    case '<':
      rep = "&lt;";
      break;
    case '>':
      rep = "&gt;";
      break;
    case '"':
      rep = "&quot;";
      break;
    case '\'':
      rep = "&apos;";
      break;
    default:
      break;
    }
    if(rep) {
      if(exs_buf_add(b, run, (size_t)(s - run)) || exs_buf_adds(b, rep))
        return -1;
      run = s + 1;
    }
  }
  return exs_buf_add(b, run, (size_t)(s - run));
}

char *exs_buf_steal(struct exs_buf *b)
{
  char *p = b->data;

  if(!p)
    p = strdup("");
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  return p;
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int exs_base64_encode(struct exs_buf *out, const unsigned char *in, size_t n)
{
  size_t i;

  for(i = 0; i + 2 < n; i += 3) {
    char q[4] = {b64chars[in[i] >> 2], b64chars[((in[i] & 3) << 4) | (in[i + 1] >> 4)],
                 b64chars[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)], b64chars[in[i + 2] & 63]};
    if(exs_buf_add(out, q, 4))
      return -1;
  }
  if(n - i == 1) {
    char q[4] = {b64chars[in[i] >> 2], b64chars[(in[i] & 3) << 4], '=', '='};
    return exs_buf_add(out, q, 4);
  }
  if(n - i == 2) {
    char q[4] = {b64chars[in[i] >> 2], b64chars[((in[i] & 3) << 4) | (in[i + 1] >> 4)],
                 b64chars[(in[i + 1] & 15) << 2], '='};
    return exs_buf_add(out, q, 4);
  }
  return 0;
}

static int b64val(int c)
{
  if(c >= 'A' && c <= 'Z')
    return c - 'A';
  if(c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if(c >= '0' && c <= '9')
    return c - '0' + 52;
  if(c == '+')
    return 62;
  if(c == '/')
    return 63;
  return -1;
}

int exs_base64_decode(struct exs_buf *out, const char *in, size_t n)
{
  unsigned int acc = 0;
  int bits = 0;
  size_t i;
  size_t pad = 0;

  for(i = 0; i < n; i++) {
    int v;
    if(in[i] == '=') {
      pad++;
      continue;
    }
    if(pad)
      return -1; /* data after padding */
    v = b64val((unsigned char)in[i]);
    if(v < 0)
      return -1;
    acc = (acc << 6) | (unsigned int)v;
    bits += 6;
    if(bits >= 8) {
      unsigned char c;
      bits -= 8;
      c = (unsigned char)((acc >> bits) & 0xff);
      if(exs_buf_add(out, &c, 1))
        return -1;
    }
  }
  if(pad > 2)
    return -1;
  return 0;
}

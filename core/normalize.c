/* normalize.c - the secret normaliser of record and replay (normalize.h). */
#include "exsync/normalize.h"

#include <ctype.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#define MAX_FORMS 16 /* encodings per secret */
#define MAX_SECRETS 32
#define MAX_RULES 64
#define MAX_MAP 4096

struct pattern {
  char *text;        /* a form of a secret */
  const char *label; /* placeholder kind */
};

struct rule {
  char *spec;
  regex_t re;
  char *replacement;
};

struct mapping {
  char *from; /* lower case */
  char *to;
};

struct exs_normalizer {
  pthread_mutex_t lock;
  struct pattern forms[MAX_SECRETS * MAX_FORMS];
  size_t n_forms;
  char *secrets[MAX_SECRETS];
  size_t n_secrets;
  struct rule rules[MAX_RULES];
  size_t n_rules;
  bool anonymize;
  struct mapping domains[MAX_MAP]; /* registrable domain -> anonN.invalid */
  size_t n_domains;
  struct mapping addresses[MAX_MAP]; /* local@domain -> userN@anonM.invalid */
  size_t n_addresses;
};

struct exs_normalizer *exs_normalizer_new(void)
{
  struct exs_normalizer *n = calloc(1, sizeof(*n));

  if(n)
    pthread_mutex_init(&n->lock, NULL);
  return n;
}

static void wipe_free(char *s)
{
  if(s) {
    OPENSSL_cleanse(s, strlen(s));
    free(s);
  }
}

void exs_normalizer_free(struct exs_normalizer *n)
{
  size_t i;

  if(!n)
    return;
  for(i = 0; i < n->n_forms; i++)
    wipe_free(n->forms[i].text);
  for(i = 0; i < n->n_secrets; i++)
    wipe_free(n->secrets[i]);
  for(i = 0; i < n->n_rules; i++) {
    regfree(&n->rules[i].re);
    free(n->rules[i].spec);
    free(n->rules[i].replacement);
  }
  for(i = 0; i < n->n_domains; i++) {
    free(n->domains[i].from);
    free(n->domains[i].to);
  }
  for(i = 0; i < n->n_addresses; i++) {
    free(n->addresses[i].from);
    free(n->addresses[i].to);
  }
  pthread_mutex_destroy(&n->lock);
  free(n);
}

static int add_form(struct exs_normalizer *n, const char *text, size_t len, const char *label)
{
  size_t i;
  char *copy;

  if(len < 3) /* too short to scrub without destroying unrelated text */
    return 0;
  for(i = 0; i < n->n_forms; i++)
    if(strlen(n->forms[i].text) == len && !memcmp(n->forms[i].text, text, len))
      return 0;
  if(n->n_forms >= sizeof(n->forms) / sizeof(n->forms[0]))
    return 0;
  copy = malloc(len + 1);
  if(!copy)
    return -1;
  memcpy(copy, text, len);
  copy[len] = '\0';
  n->forms[n->n_forms].text = copy;
  n->forms[n->n_forms].label = label;
  n->n_forms++;
  return 0;
}

/* Base64 of the secret at byte alignment k (0..2) within a longer string:
 * only the characters that depend on the secret's bytes alone. */
static int add_base64_forms(struct exs_normalizer *n, const char *s)
{
  size_t len = strlen(s);
  int k;

  for(k = 0; k < 3; k++) {
    struct exs_buf raw, enc;
    size_t start = ((size_t)k * 8 + 5) / 6;
    size_t end = ((size_t)k + len) * 8 / 6;
    int rc = 0;

    exs_buf_init(&raw, len + 4);
    exs_buf_init(&enc, len * 2 + 16);
    if(exs_buf_add(&raw, "\0\0", (size_t)k) || exs_buf_add(&raw, s, len) ||
       exs_base64_encode(&enc, (const unsigned char *)raw.data, raw.len))
      rc = -1;
    if(!rc && end > start + 3 && end <= enc.len)
      rc = add_form(n, enc.data + start, end - start, "password");
    if(raw.data)
      OPENSSL_cleanse(raw.data, raw.len);
    if(enc.data)
      OPENSSL_cleanse(enc.data, enc.len);
    exs_buf_free(&raw);
    exs_buf_free(&enc);
    if(rc)
      return -1;
  }
  return 0;
}

int exs_normalizer_add_secret(struct exs_normalizer *n, const char *secret)
{
  size_t len, i;
  char *hex = NULL, *url = NULL;
  int result = -1;

  if(!secret || !*secret)
    return 0;
  pthread_mutex_lock(&n->lock);
  for(i = 0; i < n->n_secrets; i++)
    if(!strcmp(n->secrets[i], secret)) {
      result = 0;
      goto out;
    }
  if(n->n_secrets >= MAX_SECRETS) {
    result = 0;
    goto out;
  }
  n->secrets[n->n_secrets] = strdup(secret);
  if(!n->secrets[n->n_secrets])
    goto out;
  n->n_secrets++;
  len = strlen(secret);
  hex = calloc(1, len * 3 + 1);
  url = calloc(1, len * 3 + 1);
  if(!hex || !url)
    goto out;
  if(add_form(n, secret, len, "password"))
    goto out;
  for(i = 0; i < len; i++)
    snprintf(hex + 2 * i, 3, "%02x", (unsigned char)secret[i]);
  if(add_form(n, hex, len * 2, "password"))
    goto out;
  for(i = 0; i < len * 2; i++)
    hex[i] = (char)toupper((unsigned char)hex[i]);
  if(add_form(n, hex, len * 2, "password"))
    goto out;
  {
    size_t o = 0;
    for(i = 0; i < len; i++) {
      unsigned char c = (unsigned char)secret[i];
      if(isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~')
        url[o++] = (char)c;
      else
        o += (size_t)snprintf(url + o, 4, "%%%02X", c);
    }
    if(o != len && add_form(n, url, o, "password"))
      goto out;
    /* some encoders escape everything but letters and digits */
    o = 0;
    for(i = 0; i < len; i++) {
      unsigned char c = (unsigned char)secret[i];
      if(isalnum(c))
        url[o++] = (char)c;
      else
        o += (size_t)snprintf(url + o, 4, "%%%02X", c);
    }
    if(o != len && add_form(n, url, o, "password"))
      goto out;
    for(i = 0; i < o; i++)
      url[i] = (char)tolower((unsigned char)url[i]);
    if(o != len && add_form(n, url, o, "password"))
      goto out;
  }
  if(add_base64_forms(n, secret))
    goto out;
  result = 0;
out:
  wipe_free(hex);
  wipe_free(url);
  pthread_mutex_unlock(&n->lock);
  return result;
}

int exs_normalizer_add_rule(struct exs_normalizer *n, const char *spec, char *err, size_t errlen)
{
  const char *eq = spec ? strrchr(spec, '=') : NULL;
  struct rule *r;
  char *re = NULL;
  int rc;

  if(!eq || eq == spec) {
    snprintf(err, errlen, "scrub rule '%s': expected REGEX=REPLACEMENT", spec ? spec : "");
    return -1;
  }
  if(n->n_rules >= MAX_RULES) {
    snprintf(err, errlen, "too many scrub rules (at most %d)", MAX_RULES);
    return -1;
  }
  r = &n->rules[n->n_rules];
  re = strndup(spec, (size_t)(eq - spec));
  r->spec = strdup(spec);
  r->replacement = strdup(eq + 1);
  if(!re || !r->spec || !r->replacement) {
    snprintf(err, errlen, "out of memory");
    goto fail;
  }
  rc = regcomp(&r->re, re, REG_EXTENDED);
  if(rc) {
    char msg[128];
    regerror(rc, &r->re, msg, sizeof(msg));
    snprintf(err, errlen, "scrub rule '%s': %s", spec, msg);
    goto fail;
  }
  free(re);
  n->n_rules++;
  return 0;
fail:
  free(re);
  free(r->spec);
  free(r->replacement);
  r->spec = r->replacement = NULL;
  return -1;
}

size_t exs_normalizer_rule_count(const struct exs_normalizer *n)
{
  return n->n_rules;
}

void exs_normalizer_set_anonymize(struct exs_normalizer *n, bool on)
{
  n->anonymize = on;
}

bool exs_normalizer_anonymize(const struct exs_normalizer *n)
{
  return n->anonymize;
}

/* ---- anonymisation (lock held) ---- */

static bool is_placeholder_domain(const char *d, size_t len)
{
  return len >= 8 && !strncasecmp(d + len - 8, ".invalid", 8);
}

/* Start of the registrable part (last two labels) of host[0..len). */
static size_t registrable_start(const char *host, size_t len)
{
  size_t dots = 0, i = len;

  while(i > 0) {
    if(host[i - 1] == '.' && ++dots == 2)
      return i;
    i--;
  }
  return 0;
}

static const char *map_get(struct mapping *m, size_t nm, const char *key, size_t len)
{
  size_t i;

  for(i = 0; i < nm; i++)
    if(strlen(m[i].from) == len && !strncasecmp(m[i].from, key, len))
      return m[i].to;
  return NULL;
}

static const char *learn_domain(struct exs_normalizer *n, const char *d, size_t len)
{
  const char *to = map_get(n->domains, n->n_domains, d, len);
  char buf[64];
  size_t i;

  if(to || is_placeholder_domain(d, len) || n->n_domains >= MAX_MAP)
    return to;
  if(!memchr(d, '.', len))
    return NULL;
  snprintf(buf, sizeof(buf), "anon%zu.invalid", n->n_domains + 1);
  n->domains[n->n_domains].from = strndup(d, len);
  n->domains[n->n_domains].to = strdup(buf);
  if(!n->domains[n->n_domains].from || !n->domains[n->n_domains].to) {
    free(n->domains[n->n_domains].from);
    free(n->domains[n->n_domains].to);
    return NULL;
  }
  for(i = 0; n->domains[n->n_domains].from[i]; i++)
    n->domains[n->n_domains].from[i] =
        (char)tolower((unsigned char)n->domains[n->n_domains].from[i]);
  return n->domains[n->n_domains++].to;
}

int exs_normalizer_learn_host(struct exs_normalizer *n, const char *host)
{
  size_t len, s;

  if(!n->anonymize || !host)
    return 0;
  len = strlen(host);
  s = registrable_start(host, len);
  pthread_mutex_lock(&n->lock);
  learn_domain(n, host + s, len - s);
  pthread_mutex_unlock(&n->lock);
  return 0;
}

static bool tok_char(unsigned char c)
{
  return isalnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-' || c == '@';
}

static int anonymize_token(struct exs_normalizer *n, const char *t, size_t len, bool learn,
                           struct exs_buf *out)
{
  const char *at = memchr(t, '@', len);

  /* trailing dots belong to the sentence, not the name */
  while(len > 0 && t[len - 1] == '.') {
    if(out && anonymize_token(n, t, len - 1, learn, out))
      return -1;
    if(out)
      return exs_buf_add(out, ".", 1);
    len--;
  }
  if(at && at > t && memchr(at + 1, '.', (size_t)(t + len - at - 1)) &&
     !memchr(at + 1, '@', (size_t)(t + len - at - 1))) {
    const char *d = at + 1;
    size_t dl = (size_t)(t + len - d);
    size_t rs = registrable_start(d, dl);
    const char *to;

    if(is_placeholder_domain(d, dl))
      return out ? exs_buf_add(out, t, len) : 0;
    to = learn_domain(n, d + rs, dl - rs);
    if(!out)
      return 0;
    if(!to)
      return exs_buf_add(out, t, len);
    {
      const char *addr = map_get(n->addresses, n->n_addresses, t, len);
      if(!addr && n->n_addresses < MAX_MAP) {
        struct exs_buf b;
        exs_buf_init(&b, 1024);
        if(exs_buf_addf(&b, "user%zu@", n->n_addresses + 1) || exs_buf_add(&b, d, rs) ||
           exs_buf_adds(&b, to)) {
          exs_buf_free(&b);
          return -1;
        }
        n->addresses[n->n_addresses].from = strndup(t, len);
        n->addresses[n->n_addresses].to = exs_buf_steal(&b);
        if(!n->addresses[n->n_addresses].from || !n->addresses[n->n_addresses].to)
          return -1;
        addr = n->addresses[n->n_addresses++].to;
      }
      return exs_buf_adds(out, addr ? addr : "{{anon:address}}");
    }
  }
  (void)learn;
  if(!out)
    return 0;
  if(!at) {
    size_t rs = registrable_start(t, len);
    const char *to = map_get(n->domains, n->n_domains, t + rs, len - rs);
    if(to) {
      if(exs_buf_add(out, t, rs))
        return -1;
      return exs_buf_adds(out, to);
    }
  }
  return exs_buf_add(out, t, len);
}

static int anonymize(struct exs_normalizer *n, const char *in, size_t len, struct exs_buf *out)
{
  size_t i = 0;
  int pass;

  for(pass = 0; pass < 2; pass++) {
    i = 0;
    while(i < len) {
      size_t j = i;
      while(j < len && tok_char((unsigned char)in[j]))
        j++;
      if(j > i) {
        if(anonymize_token(n, in + i, j - i, pass == 0, pass ? out : NULL))
          return -1;
        i = j;
        continue;
      }
      if(pass && exs_buf_add(out, in + i, 1))
        return -1;
      i++;
    }
  }
  return 0;
}

/* ---- text ---- */

static int replace_forms(struct exs_normalizer *n, const char *in, size_t len, struct exs_buf *out)
{
  size_t i = 0;

  while(i < len) {
    size_t k;
    bool hit = false;
    for(k = 0; k < n->n_forms; k++) {
      size_t fl = strlen(n->forms[k].text);
      if(fl <= len - i && !memcmp(in + i, n->forms[k].text, fl)) {
        if(exs_buf_addf(out, "{{secret:%s}}", n->forms[k].label))
          return -1;
        i += fl;
        hit = true;
        break;
      }
    }
    if(!hit) {
      size_t j = i + 1;
      /* copy runs quickly when no form can start there */
      if(exs_buf_add(out, in + i, j - i))
        return -1;
      i = j;
    }
  }
  return 0;
}

static int apply_rule(const struct rule *r, const char *in, struct exs_buf *out)
{
  const char *p = in;
  regmatch_t m;
  int flags = 0;

  while(*p && regexec(&r->re, p, 1, &m, flags) == 0) {
    if(exs_buf_add(out, p, (size_t)m.rm_so) || exs_buf_adds(out, r->replacement))
      return -1;
    if(m.rm_eo == m.rm_so) { /* empty match: move on one byte */
      if(exs_buf_add(out, p + m.rm_eo, 1))
        return -1;
      p += m.rm_eo + 1;
    }
    else {
      p += m.rm_eo;
    }
    flags = REG_NOTBOL;
  }
  return exs_buf_adds(out, p);
}

int exs_normalize_text(struct exs_normalizer *n, const char *in, size_t len, struct exs_buf *out)
{
  struct exs_buf a, b;
  size_t i;
  int result = -1;

  exs_buf_init(&a, out->max);
  exs_buf_init(&b, out->max);
  pthread_mutex_lock(&n->lock);
  if(replace_forms(n, in, len, &a))
    goto out;
  for(i = 0; i < n->n_rules; i++) {
    exs_buf_reset(&b);
    if(apply_rule(&n->rules[i], a.data ? a.data : "", &b))
      goto out;
    exs_buf_reset(&a);
    if(b.len && exs_buf_add(&a, b.data, b.len))
      goto out;
  }
  if(n->anonymize) {
    if(anonymize(n, a.data ? a.data : "", a.len, out))
      goto out;
  }
  else if(a.len && exs_buf_add(out, a.data, a.len)) {
    goto out;
  }
  result = 0;
out:
  pthread_mutex_unlock(&n->lock);
  if(a.data)
    OPENSSL_cleanse(a.data, a.len);
  if(b.data)
    OPENSSL_cleanse(b.data, b.len);
  exs_buf_free(&a);
  exs_buf_free(&b);
  return result;
}

/* ---- headers ---- */

static bool header_is(const char *line, size_t len, const char *name)
{
  size_t nl = strlen(name);
  return len > nl && !strncasecmp(line, name, nl) && line[nl] == ':';
}

int exs_normalize_headers(struct exs_normalizer *n, const char *in, size_t len, struct exs_buf *out)
{
  struct exs_buf tmp;
  const char *p = in, *end = in + len;
  int result = -1;

  exs_buf_init(&tmp, out->max);
  while(p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    size_t n_line = eol ? (size_t)(eol - p) : (size_t)(end - p);
    size_t vlen = n_line;
    const char *colon, *v, *vend;
    bool cr;

    cr = vlen > 0 && p[vlen - 1] == '\r';
    if(cr)
      vlen--;
    colon = memchr(p, ':', vlen);
    v = colon ? colon + 1 : NULL;
    vend = p + vlen;
    while(v && v < vend && *v == ' ')
      v++;
    if(v && (header_is(p, vlen, "authorization") || header_is(p, vlen, "proxy-authorization"))) {
      const char *se = v;
      while(se < vend && *se != ' ')
        se++;
      if(exs_buf_add(&tmp, p, (size_t)(se - p)) || exs_buf_adds(&tmp, " {{secret:authorization}}"))
        goto out;
    }
    else if(v &&
            (header_is(p, vlen, "www-authenticate") || header_is(p, vlen, "proxy-authenticate"))) {
      const char *se = v;
      while(se < vend && *se != ' ' && *se != ',')
        se++;
      if((size_t)(se - v) == 4 && !strncasecmp(v, "NTLM", 4) && se < vend && *se == ' ') {
        if(exs_buf_add(&tmp, p, (size_t)(se - p)) || exs_buf_adds(&tmp, " {{secret:ntlm}}"))
          goto out;
      }
      else if((size_t)(se - v) == 9 && !strncasecmp(v, "Negotiate", 9) && se < vend && *se == ' ') {
        if(exs_buf_add(&tmp, p, (size_t)(se - p)) || exs_buf_adds(&tmp, " {{secret:negotiate}}"))
          goto out;
      }
      else if(exs_buf_add(&tmp, p, vlen)) {
        goto out;
      }
    }
    else if(v && (header_is(p, vlen, "cookie") || header_is(p, vlen, "set-cookie"))) {
      if(exs_buf_add(&tmp, p, (size_t)(v - p)) || exs_buf_adds(&tmp, "{{secret:cookie}}"))
        goto out;
    }
    else if(exs_buf_add(&tmp, p, vlen)) {
      goto out;
    }
    if(cr && exs_buf_add(&tmp, "\r", 1))
      goto out;
    if(eol && exs_buf_add(&tmp, "\n", 1))
      goto out;
    p += n_line + (eol ? 1 : 0);
  }
  result = exs_normalize_text(n, tmp.data ? tmp.data : "", tmp.len, out);
out:
  if(tmp.data)
    OPENSSL_cleanse(tmp.data, tmp.len);
  exs_buf_free(&tmp);
  return result;
}

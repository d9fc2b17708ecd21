/* cmd_autodiscover.c - `exsync autodiscover ADDRESS`: every candidate tried,
 * what came back and why the search moved on, as a tree of steps in the
 * style of the Remote Connectivity Analyzer. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"
#include "json.h"
#include "opt.h"
#include "exsync/autodiscover.h"
#include "exsync/model.h"

static int help(FILE *f)
{
  fprintf(f,
          "usage: exsync autodiscover ADDRESS [--user USER] [PASSWORD] [--protocol P]\n"
          "                           [--allow-non-ssl] [--ldap URI [--site NAME]]\n\n"
          "Find the EWS URL of ADDRESS the way Exchange clients do: with --ldap, the\n"
          "service connection points in Active Directory first; then https://DOMAIN/autodiscover, "
          "https://autodiscover.DOMAIN/autodiscover, the HTTP\n"
          "redirect on port 80, DNS SRV; POX and SOAP; redirectAddr and redirectUrl up to 10\n"
          "hops. Prints every step with what came back and why the search moved on.\n\n"
          "  --user USER            credentials for the Autodiscover endpoints\n"
          "  --password-env VAR | --password-file FILE | --password-prompt\n"
          "  --protocol P           autodetect (default), negotiate, ntlm or basic\n"
          "  --allow-non-ssl        allow plain-HTTP endpoints (deployment property)\n"
          "  --ldap URI             domain-joined: the Autodiscover service connection points\n"
          "                         of this directory first (ldap://dc.contoso.com)\n"
          "  --site NAME            this machine's AD site: its SCP entries come first\n"
          "  --ldap-user DN         bind as DN (or user@domain); anonymous without it\n"
          "  --ldap-password-env VAR  the bind password, from the environment\n"
          "With --protocol negotiate, --trace shows the Kerberos exchange (principals,\n"
          "realm, KDC, enctype; never a key or ticket).\n\n"
          "Exit codes: 0 an EWS URL was found, 1 not found, 2 usage error.\n");
  return 0;
}

static const char *mark(enum exs_ad_outcome o)
{
  switch(o) {
  case EXS_AD_SUCCESS:
    return "[ok]  ";
  case EXS_AD_WARNING:
    return "[warn]";
  case EXS_AD_ERROR:
    return "[fail]";
  default:
    return "[skip]";
  }
}

static void print_text(FILE *f, const char *address, const struct exs_autodiscover_result *r,
                       bool ok, const struct exs_error *err)
{
  size_t i;
  int hop = -1;

  fprintf(f, "Autodiscover for %s\n", address);
  for(i = 0; i < r->n_steps; i++) {
    const struct exs_autodiscover_step *s = &r->steps[i];
    if(s->hop != hop) {
      hop = s->hop;
      fprintf(f, "%s hop %d: searching for %s\n", hop ? "|" : "+", hop, s->address);
    }
    fprintf(f, "|   %s %-8s %s", mark(s->outcome), exs_ad_method_name(s->method), s->url);
    if(s->http_status)
      fprintf(f, "  (HTTP %ld, %ld ms)", s->http_status, s->elapsed_ms);
    else
      fprintf(f, "  (%ld ms)", s->elapsed_ms);
    fprintf(f, "\n");
    if(s->got[0])
      fprintf(f, "|            got: %s\n", s->got);
    if(s->why[0])
      fprintf(f, "|            %s\n", s->why);
  }
  if(ok) {
    fprintf(f, "Result: success - EWS URL %s\n", r->ews_url);
    fprintf(f, "        found by %s at %s", exs_ad_method_name(r->method), r->endpoint);
    if(r->hops)
      fprintf(f, " after %d redirect%s", r->hops, r->hops == 1 ? "" : "s");
    fprintf(f, "\n");
    if(strcasecmp(r->address, address))
      fprintf(f, "        redirected to %s: EWS calls use that address\n", r->address);
  }
  else {
    fprintf(f, "Result: failure - %s %s\n", exs_category_name(err->category), err->message);
    if(err->hint[0])
      fprintf(f, "        fix: %s\n", err->hint);
  }
}

static void print_json(FILE *f, const char *address, const struct exs_autodiscover_result *r,
                       bool ok, const struct exs_error *err)
{
  size_t i;

  fputs("{\"address\": ", f);
  diag_json_str(f, address);
  fprintf(f, ", \"result\": \"%s\", \"ews_url\": ", ok ? "success" : "failure");
  if(ok)
    diag_json_str(f, r->ews_url);
  else
    fputs("null", f);
  fputs(", \"final_address\": ", f);
  diag_json_str(f, ok ? r->address : address);
  fprintf(f, ", \"hops\": %d, \"error\": ", r->hops);
  if(ok) {
    fputs("null", f);
  }
  else {
    fprintf(f, "{\"category\": \"%s\", \"message\": ", exs_category_name(err->category));
    diag_json_str(f, err->message);
    fprintf(f, ", \"http_status\": %ld, \"ews_code\": ", err->http_status);
    diag_json_str(f, err->ews_code);
    fputs("}", f);
  }
  fputs(", \"steps\": [", f);
  for(i = 0; i < r->n_steps; i++) {
    const struct exs_autodiscover_step *s = &r->steps[i];
    fprintf(f,
            "%s\n  {\"hop\": %d, \"method\": \"%s\", \"outcome\": \"%s\", \"url\": ", i ? "," : "",
            s->hop, exs_ad_method_name(s->method), exs_ad_outcome_name(s->outcome));
    diag_json_str(f, s->url);
    fprintf(f, ", \"http_status\": %ld, \"ms\": %ld, \"got\": ", s->http_status, s->elapsed_ms);
    diag_json_str(f, s->got);
    fputs(", \"why\": ", f);
    diag_json_str(f, s->why);
    fputs("}", f);
  }
  fputs("\n]}\n", f);
}

/* ids: letters, as getopt's */
static const struct diag_opt opts[] = {
    {"--allow-non-ssl", false, 'n'},
    {"--password-prompt", false, 'P'},
    {"--user", true, 'u'},
    {"--password-env", true, 'e'},
    {"--password-file", true, 'f'},
    {"--protocol", true, 'p'},
    {"--ldap", true, 'l'},
    {"--site", true, 's'},
    {"--ldap-user", true, 'U'},
    {"--ldap-password-env", true, 'E'},
    {NULL, false, 0},
};

/* The password of --password-env VAR, --password-file FILE (its first
 * line) or --password-prompt into pw. 0, or 2 with the message printed. */
static int read_password(const char *pw_env, const char *pw_file, bool prompt, char *pw, size_t len)
{
  const char *v = pw_env ? getenv(pw_env) : NULL;

  if(pw_env && (!v || !*v))
    return diag_fail("the environment variable %s is not set", pw_env);
  if(v)
    snprintf(pw, len, "%s", v);
  if(pw_file) {
    FILE *f = fopen(pw_file, "r");
    if(!f || !fgets(pw, (int)len, f)) {
      if(f)
        fclose(f);
      return diag_fail("cannot read the password file %s", pw_file);
    }
    fclose(f);
  }
  if(prompt) {
    fputs("Password: ", stderr);
    if(!fgets(pw, (int)len, stdin))
      pw[0] = '\0';
  }
  pw[strcspn(pw, "\r\n")] = '\0';
  return 0;
}

/* Search for address and write the step tree in ctx's format: 0 found, 1
 * not found, 2 out of memory. */
static int search_and_print(struct diag_ctx *ctx, const struct exs_autodiscover_options *ao,
                            const char *address)
{
  struct exs_autodiscover_result res;
  struct exs_autodiscover *ad = exs_autodiscover_new(ao);
  struct exs_error err;
  int rc;

  if(!ad)
    return diag_fail("out of memory");
  exs_error_clear(&err);
  rc = exs_autodiscover_run(ad, address, &res, &err);
  if(ctx->format == DIAG_FORMAT_JSON)
    print_json(ctx->out, address, &res, rc == 0, &err);
  else if(ctx->format == DIAG_FORMAT_HTML)
    diag_ad_write_html(ctx->out, address, &res, rc == 0, &err);
  else
    print_text(ctx->out, address, &res, rc == 0, &err);
  diag_report_mark_emitted();
  exs_autodiscover_result_free(&res);
  exs_autodiscover_free(ad);
  return rc == 0 ? 0 : 1;
}

int diag_cmd_autodiscover(struct diag_ctx *ctx, int argc, char **argv)
{
  struct diag_optp p;
  struct exs_autodiscover_options ao;
  const char *address = NULL, *user = NULL, *pw_env = NULL, *pw_file = NULL;
  struct exs_scp_options scp;
  char password[EXS_PASSWORD_MAX + 1] = "";
  bool prompt = false;
  int result, id;

  memset(&ao, 0, sizeof(ao));
  memset(&scp, 0, sizeof(scp));
  diag_opt_init(&p, "autodiscover", opts, NULL, argc, argv, 1);
  while((id = diag_opt_next(&p)) != DIAG_OPT_END) {
    switch(id) {
    case DIAG_OPT_HELP:
      return help(ctx->out);
    case DIAG_OPT_ERR:
      return 2;
    case DIAG_OPT_ARG:
      if(address)
        return diag_opt_unexpected(&p);
      address = p.value;
      break;
    case 'n':
      ao.http.allow_non_ssl = true;
      ao.http.allow_credentials_non_secure = true;
      break;
    case 'P':
      prompt = true;
      break;
    case 'u':
      user = p.value;
      break;
    case 'e':
      pw_env = p.value;
      break;
    case 'f':
      pw_file = p.value;
      break;
    case 'p': {
      int pr = exs_protocol_parse(p.value);
      if(pr < 0)
        return diag_fail("--protocol: '%s' is not autodetect, negotiate, ntlm or basic", p.value);
      ao.http.auth = (enum exs_auth_protocol)pr;
      break;
    }
    case 'l':
      scp.uri = p.value;
      ao.scp = &scp;
      break;
    case 's':
      scp.site = p.value;
      break;
    case 'U':
      scp.user = p.value;
      break;
    case 'E':
      scp.password = getenv(p.value);
      if(!scp.password)
        return diag_fail("the environment variable %s is not set", p.value);
      break;
    default:
      break;
    }
  }
  if(diag_formats(ctx, "autodiscover", DIAG_F_TEXT | DIAG_F_JSON | DIAG_F_HTML))
    return 2;
  if(!address || !exs_address_valid(address))
    return diag_fail(address ? "autodiscover: '%s' is not an email address"
                             : "autodiscover needs an email ADDRESS%s",
                     address ? address : "");
  if((pw_env || pw_file || prompt) &&
     read_password(pw_env, pw_file, prompt, password, sizeof(password)))
    return 2;
  ao.http.transport = diag_transport(ctx);
  if(user && exs_http_options_set_credentials(&ao.http, user, password)) {
    memset(password, 0, sizeof(password));
    return diag_fail("autodiscover: --user or the password is longer than %d characters",
                     EXS_HTTP_USER_MAX);
  }
  result = search_and_print(ctx, &ao, address);
  memset(password, 0, sizeof(password));
  exs_http_options_wipe(&ao.http);
  return result;
}

/* world.c - the contoso world of the core integration suites (world.h). */
#include "world.h"

#include <stdio.h>

#include "exsync-emulator/emulator.h"

int tw_start(struct emu **emu, char *url, char *connect_to)
{
  char err[512], bound[64];
  int port;

  *emu = emu_new();
  ck_assert_ptr_nonnull(*emu);
  ck_assert_msg(
      emu_load_scenario(*emu, tu_path("fixtures/scenarios/contoso.xml"), err, sizeof(err)) == 0,
      "%s", err);
  port = emu_listen(*emu, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(port > 0, "%s", err);
  ck_assert_msg(emu_start(*emu, err, sizeof(err)) == 0, "%s", err);
  /* the profile names the real host; --connect-to sends it to the emulator */
  snprintf(url, 256, "http://mail.contoso.com:%d/EWS/Exchange.asmx", port);
  snprintf(connect_to, 128, "mail.contoso.com:%d:127.0.0.1:%d", port, port);
  return port;
}

void tw_org(struct exs_org *org, const char *org_id)
{
  exs_org_defaults(org);
  snprintf(org->id, sizeof(org->id), "%s", org_id);
  org->allow_non_ssl = true;
  org->allow_credentials_non_secure = true;
  org->allow_basic_non_secure = true;
}

void tw_profile(struct exs_profile *p, const char *url)
{
  exs_profile_defaults(p);
  snprintf(p->name, sizeof(p->name), "Exchange");
  snprintf(p->incoming_url, sizeof(p->incoming_url), "%s", url);
  p->retrieval = EXS_RETRIEVAL_PROFILE;
  p->impersonation = true;
  p->protocol = EXS_AUTH_BASIC;
  snprintf(p->user, sizeof(p->user), "CONTOSO\\svc-crm");
  snprintf(p->password, sizeof(p->password), "svc-pw");
}

void tw_mailbox(struct exs_mailbox *m, const char *address)
{
  exs_mailbox_defaults(m);
  snprintf(m->address, sizeof(m->address), "%s", address);
  snprintf(m->name, sizeof(m->name), "%s", address);
  snprintf(m->profile, sizeof(m->profile), "Exchange");
  m->incoming = EXS_IN_SSYNC;
  m->outgoing = EXS_OUT_SSYNC;
  m->act = EXS_ACT_SSYNC;
  m->approval = EXS_APPROVAL_APPROVED;
}

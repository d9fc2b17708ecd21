/* test_emu_threads.c - the emulator on several event loop threads
 * (emu_set_threads 4) under parallel clients: 8 client threads, two per
 * mailbox, each on a new connection per request (so the kernel spreads them
 * over the loops), creating, finding, syncing and sending across mailboxes.
 * Afterwards the mailstore must hold exactly what was created (no item lost
 * or doubled), each client's SyncFolderItems chain must have seen every item
 * of its folder exactly once, and the journal must be in order: sequence
 * numbers strictly increasing, times never going back, and every client's
 * requests in the order it sent them. And fault counters ("every=N",
 * "times=N") count the requests of all threads.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_client.h"

#define NMBX 4
#define NCLIENTS 8 /* client c works on mailbox c % NMBX */
#define ROUNDS 40
#define MAXOPS (ROUNDS * 3)

static char url[256];

struct client {
  int index;
  char login[32], mailbox[64], next_mailbox[64];
  char state[1024]; /* its SyncFolderItems chain */
  size_t sync_creates;
  char ops[MAXOPS][24]; /* operations in the order sent */
  size_t nops;
  size_t failures;
  char first_failure[512];
};

/* One request on a new connection, no Check asserts (this runs on client
 * threads); the answer body into out (caller frees). Returns the HTTP status
 * or -1. */
static long post(struct client *c, const char *op, const char *opname, struct exs_buf *out)
{
  CURL *h = curl_easy_init();
  struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: text/xml; charset=utf-8");
  struct exs_buf body;
  char userpwd[64];
  long status = -1;

  exs_buf_init(&body, 1u << 20);
  exs_buf_init(out, 16u << 20);
  exs_buf_addf(&body,
               "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
               "<soap:Envelope xmlns:soap=\"" EC_NS_SOAP "\" xmlns:m=\"" EC_NS_M
               "\" xmlns:t=\"" EC_NS_T "\"><soap:Header>"
               "<t:RequestServerVersion Version=\"Exchange2013_SP1\"/>"
               "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>%s"
               "</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>"
               "</soap:Header><soap:Body>%s</soap:Body></soap:Envelope>",
               c->mailbox, op);
  snprintf(userpwd, sizeof(userpwd), "%s:pw", c->login);
  if(h && hdr && body.data) {
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body.data);
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(h, CURLOPT_USERPWD, userpwd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ec_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if(curl_easy_perform(h) == CURLE_OK)
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  }
  if(c->nops < MAXOPS)
    snprintf(c->ops[c->nops++], sizeof(c->ops[0]), "%s", opname);
  curl_slist_free_all(hdr);
  curl_easy_cleanup(h);
  exs_buf_free(&body);
  return status;
}

static void note_failure(struct client *c, const char *what, const struct exs_buf *answer)
{
  if(!c->failures++)
    snprintf(c->first_failure, sizeof(c->first_failure), "client %d: %s: %.300s", c->index, what,
             answer && answer->data ? answer->data : "(no answer)");
}

/* Every ResponseMessage says NoError. */
static bool all_ok(const struct exs_buf *b)
{
  return b->data && strstr(b->data, "NoError") && !strstr(b->data, "ResponseClass=\"Error\"");
}

static size_t count_of(const char *s, const char *needle)
{
  size_t n = 0;

  for(const char *p = s ? strstr(s, needle) : NULL; p; p = strstr(p + 1, needle))
    n++;
  return n;
}

/* One SyncFolderItems step of c's chain on its inbox; creates counted.
 * Returns 1 when the chain is at the end, 0 when more, -1 on failure. */
static int sync_step(struct client *c)
{
  char op[2048];
  struct exs_buf out;
  const char *s, *e;
  int result = -1;

  snprintf(op, sizeof(op),
           "<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>"
           "<m:SyncFolderId><t:DistinguishedFolderId Id=\"inbox\"/></m:SyncFolderId>%s%s%s"
           "<m:MaxChangesReturned>25</m:MaxChangesReturned>"
           "<m:SyncScope>NormalItems</m:SyncScope></m:SyncFolderItems>",
           c->state[0] ? "<m:SyncState>" : "", c->state, c->state[0] ? "</m:SyncState>" : "");
  if(post(c, op, "SyncFolderItems", &out) != 200 || !all_ok(&out)) {
    note_failure(c, "SyncFolderItems", &out);
    goto out;
  }
  c->sync_creates += count_of(out.data, "<t:Create>");
  if(count_of(out.data, "<t:Delete>") || count_of(out.data, "<t:Update>"))
    note_failure(c, "SyncFolderItems: an update or delete where only creates were made", &out);
  s = strstr(out.data, "<m:SyncState>");
  e = s ? strstr(s, "</m:SyncState>") : NULL;
  if(!e || (size_t)(e - s - 13) >= sizeof(c->state)) {
    note_failure(c, "SyncFolderItems: no SyncState", &out);
    goto out;
  }
  memcpy(c->state, s + 13, (size_t)(e - s - 13));
  c->state[e - s - 13] = '\0';
  result = strstr(out.data, "<m:IncludesLastItemInRange>true") ? 1 : 0;
out:
  exs_buf_free(&out);
  return result;
}

static void *client_main(void *arg)
{
  struct client *c = arg;
  char op[2048];
  struct exs_buf out;

  for(int i = 0; i < ROUNDS; i++) {
    snprintf(op, sizeof(op),
             "<m:CreateItem MessageDisposition=\"SaveOnly\"><m:SavedItemFolderId>"
             "<t:DistinguishedFolderId Id=\"inbox\"/></m:SavedItemFolderId><m:Items><t:Message>"
             "<t:Subject>c%d-%03d</t:Subject><t:Body BodyType=\"Text\">x</t:Body>"
             "</t:Message></m:Items></m:CreateItem>",
             c->index, i);
    if(post(c, op, "CreateItem", &out) != 200 || !all_ok(&out))
      note_failure(c, "CreateItem", &out);
    exs_buf_free(&out);
    if(i % 10 == 9) {
      /* mail to the next mailbox: its inbox, our sent items */
      snprintf(op, sizeof(op),
               "<m:CreateItem MessageDisposition=\"SendAndSaveCopy\"><m:SavedItemFolderId>"
               "<t:DistinguishedFolderId Id=\"sentitems\"/></m:SavedItemFolderId><m:Items>"
               "<t:Message><t:Subject>mail c%d-%03d</t:Subject>"
               "<t:Body BodyType=\"Text\">x</t:Body><t:ToRecipients><t:Mailbox>"
               "<t:EmailAddress>%s</t:EmailAddress></t:Mailbox></t:ToRecipients>"
               "</t:Message></m:Items></m:CreateItem>",
               c->index, i, c->next_mailbox);
      if(post(c, op, "CreateItem", &out) != 200 || !all_ok(&out))
        note_failure(c, "CreateItem (send)", &out);
      exs_buf_free(&out);
    }
    if(i % 5 == 4) {
      snprintf(op, sizeof(op),
               "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly"
               "</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned=\"20\" "
               "Offset=\"0\" BasePoint=\"Beginning\"/><m:ParentFolderIds>"
               "<t:DistinguishedFolderId Id=\"inbox\"/></m:ParentFolderIds></m:FindItem>");
      if(post(c, op, "FindItem", &out) != 200 || !all_ok(&out))
        note_failure(c, "FindItem", &out);
      exs_buf_free(&out);
      sync_step(c);
    }
  }
  return NULL;
}

START_TEST(parallel_clients_keep_the_store_and_journal_consistent)
{
  static struct client clients[NCLIENTS];
  pthread_t th[NCLIENTS];
  char err[512], bound[64], login[32], smtp[64];
  struct emu *emu = emu_new();
  struct emu_journal_entry *j;
  size_t n, sent = 0;
  int port;

  ck_assert_ptr_nonnull(emu);
  ck_assert_msg(emu_set_threads(emu, 4, err, sizeof(err)) == 0, "%s", err);
  ck_assert_uint_eq(emu_threads(emu), 4);
  for(int m = 0; m < NMBX; m++) {
    snprintf(login, sizeof(login), "m%d", m);
    ck_assert_msg(emu_add_user(emu, login, "pw", "threads.test", err, sizeof(err)) == 0, "%s", err);
  }
  for(int i = 0; i < NCLIENTS; i++) {
    snprintf(login, sizeof(login), "c%d", i);
    ck_assert_msg(emu_add_user(emu, login, "pw", "threads.test", err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(emu_add_impersonator(emu, login, err, sizeof(err)) == 0, "%s", err);
  }
  port = emu_listen(emu, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(port > 0, "%s", err);
  ck_assert_msg(emu_set_threads(emu, 2, err, sizeof(err)) != 0, "threads changed after listen");
  ck_assert_int_eq(emu_start(emu, err, sizeof(err)), 0);
  snprintf(url, sizeof(url), "http://%s/EWS/Exchange.asmx", bound);

  for(int i = 0; i < NCLIENTS; i++) {
    struct client *c = &clients[i];
    memset(c, 0, sizeof(*c));
    c->index = i;
    snprintf(c->login, sizeof(c->login), "c%d", i);
    snprintf(c->mailbox, sizeof(c->mailbox), "m%d@threads.test", i % NMBX);
    snprintf(c->next_mailbox, sizeof(c->next_mailbox), "m%d@threads.test", (i + 1) % NMBX);
    ck_assert_int_eq(pthread_create(&th[i], NULL, client_main, c), 0);
  }
  for(int i = 0; i < NCLIENTS; i++)
    pthread_join(th[i], NULL);
  for(int i = 0; i < NCLIENTS; i++)
    ck_assert_msg(clients[i].failures == 0, "%zu failures, first: %s", clients[i].failures,
                  clients[i].first_failure);

  /* exact counts: each mailbox got ROUNDS items from each of its two
   * clients, and ROUNDS / 10 mails from each client of the mailbox before */
  for(int m = 0; m < NMBX; m++) {
    snprintf(smtp, sizeof(smtp), "m%d@threads.test", m);
    ck_assert_int_eq(emu_folder_count(emu, smtp, "inbox"), 2 * ROUNDS + 2 * (ROUNDS / 10));
    ck_assert_int_eq(emu_folder_count(emu, smtp, "sentitems"), 2 * (ROUNDS / 10));
  }
  /* each client's sync chain, continued to its end, saw every item once */
  for(int i = 0; i < NCLIENTS; i++) {
    int r, guard = 0;
    while((r = sync_step(&clients[i])) == 0 && guard++ < 100)
      ;
    ck_assert_msg(r == 1, "%s", clients[i].first_failure);
    ck_assert_uint_eq(clients[i].sync_creates, 2 * ROUNDS + 2 * (ROUNDS / 10));
    sent += clients[i].nops;
  }

  /* the journal: every request, in order */
  n = emu_journal_count(emu);
  ck_assert_uint_eq(n, sent);
  j = calloc(n, sizeof(*j));
  ck_assert_ptr_nonnull(j);
  ck_assert_uint_eq(emu_journal_get(emu, 0, j, n), n);
  for(size_t k = 1; k < n; k++) {
    ck_assert_msg(j[k].seq > j[k - 1].seq, "seq %llu after %llu", (unsigned long long)j[k].seq,
                  (unsigned long long)j[k - 1].seq);
    ck_assert_msg(j[k].time_ms >= j[k - 1].time_ms, "journal time goes back at %zu", k);
  }
  for(int i = 0; i < NCLIENTS; i++) {
    size_t next = 0;
    for(size_t k = 0; k < n; k++) {
      if(strcmp(j[k].auth_user, clients[i].login) != 0)
        continue;
      ck_assert_int_eq(j[k].status, 200);
      ck_assert_str_eq(j[k].mailbox, clients[i].mailbox);
      ck_assert_uint_lt(next, clients[i].nops);
      ck_assert_msg(strcmp(j[k].operation, clients[i].ops[next]) == 0,
                    "client %d: request %zu is %s in the journal, %s as sent", i, next,
                    j[k].operation, clients[i].ops[next]);
      next++;
    }
    ck_assert_uint_eq(next, clients[i].nops);
  }
  free(j);
  emu_free(emu);
}
END_TEST

/* Fault counters are the emulator's, not a thread's: "every=3" fires on
 * exactly a third of the matching requests, "times=5" exactly five times,
 * however the requests spread over the loops. */
struct fault_client {
  struct client c;
  size_t busy, unavailable, ok;
};

static void *fault_client_main(void *arg)
{
  struct fault_client *f = arg;
  struct exs_buf out;

  for(int i = 0; i < 30; i++) {
    long st = post(&f->c,
                   "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape>"
                   "</m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/>"
                   "</m:FolderIds></m:GetFolder>",
                   "GetFolder", &out);
    if(st == 500 && out.data && strstr(out.data, "ErrorServerBusy"))
      f->busy++;
    else if(st == 200 && all_ok(&out))
      f->ok++;
    else
      note_failure(&f->c, "GetFolder", &out);
    exs_buf_free(&out);
    st = post(&f->c,
              "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>IdOnly"
              "</t:BaseShape></m:ItemShape><m:ParentFolderIds>"
              "<t:DistinguishedFolderId Id=\"inbox\"/></m:ParentFolderIds></m:FindItem>",
              "FindItem", &out);
    if(st == 503)
      f->unavailable++;
    else if(st != 200 || !all_ok(&out))
      note_failure(&f->c, "FindItem", &out);
    exs_buf_free(&out);
  }
  return NULL;
}

START_TEST(fault_counts_are_global_across_threads)
{
  static struct fault_client fc[NCLIENTS];
  pthread_t th[NCLIENTS];
  char err[512], bound[64], login[32];
  struct emu *emu = emu_new();
  size_t busy = 0, unavailable = 0, ok = 0;
  int port;

  ck_assert_ptr_nonnull(emu);
  ck_assert_msg(emu_set_threads(emu, 4, err, sizeof(err)) == 0, "%s", err);
  ck_assert_msg(emu_add_user(emu, "m0", "pw", "threads.test", err, sizeof(err)) == 0, "%s", err);
  for(int i = 0; i < NCLIENTS; i++) {
    snprintf(login, sizeof(login), "c%d", i);
    ck_assert_msg(emu_add_user(emu, login, "pw", "threads.test", err, sizeof(err)) == 0, "%s", err);
    ck_assert_msg(emu_add_impersonator(emu, login, err, sizeof(err)) == 0, "%s", err);
  }
  ck_assert_int_gt(
      emu_add_fault(emu, "operation=GetFolder ews-code=ErrorServerBusy every=3", err, sizeof(err)),
      0);
  ck_assert_int_gt(
      emu_add_fault(emu, "operation=FindItem http-status=503 times=5", err, sizeof(err)), 0);
  port = emu_listen(emu, "127.0.0.1", 0, false, bound, sizeof(bound), err, sizeof(err));
  ck_assert_msg(port > 0, "%s", err);
  ck_assert_int_eq(emu_start(emu, err, sizeof(err)), 0);
  snprintf(url, sizeof(url), "http://%s/EWS/Exchange.asmx", bound);
  for(int i = 0; i < NCLIENTS; i++) {
    memset(&fc[i], 0, sizeof(fc[i]));
    fc[i].c.index = i;
    snprintf(fc[i].c.login, sizeof(fc[i].c.login), "c%d", i);
    snprintf(fc[i].c.mailbox, sizeof(fc[i].c.mailbox), "m0@threads.test");
    ck_assert_int_eq(pthread_create(&th[i], NULL, fault_client_main, &fc[i]), 0);
  }
  for(int i = 0; i < NCLIENTS; i++)
    pthread_join(th[i], NULL);
  for(int i = 0; i < NCLIENTS; i++) {
    ck_assert_msg(fc[i].c.failures == 0, "%s", fc[i].c.first_failure);
    busy += fc[i].busy;
    unavailable += fc[i].unavailable;
    ok += fc[i].ok;
  }
  ck_assert_uint_eq(busy, NCLIENTS * 30 / 3);
  ck_assert_uint_eq(ok, NCLIENTS * 30 - NCLIENTS * 30 / 3);
  ck_assert_uint_eq(unavailable, 5);
  ck_assert_uint_eq(emu_journal_count(emu), NCLIENTS * 30 * 2);
  emu_free(emu);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("emu_threads");
  TCase *tc = tcase_create("threads");

  curl_global_init(CURL_GLOBAL_ALL);
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, parallel_clients_keep_the_store_and_journal_consistent);
  tcase_add_test(tc, fault_counts_are_global_across_threads);
  suite_add_tcase(s, tc);
  return tu_run(s);
}

/* test_emu_races.c - the emulator's public API called while its event loop
 * threads run (emu_set_threads 4): a stop right after the start is never
 * lost; a certificate swapped while 8 clients connect over TLS is never
 * used after it was freed; an answer held by a delay fault across a reset
 * or scenario load (which free its user) is still sent; emu_set_limits
 * while clients connect. Every case repeats the racy step; a
 * lost race shows as a hang (the suite's timeout) or, under -fsanitize=thread, as a report.
 */
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdatomic.h>
#include <unistd.h>

#include "emu_client.h"
#include "exsync-emulator/tlscert.h"
#include "exsync/clock.h"

#define THREADS 4
#define NCLIENTS 8

static struct emu *new_emu(char *bound, size_t blen, bool tls)
{
  char err[256];
  struct emu *e = emu_new();

  ck_assert_ptr_nonnull(e);
  ck_assert_msg(emu_set_threads(e, THREADS, err, sizeof(err)) == 0, "%s", err);
  ck_assert_msg(emu_listen(e, "127.0.0.1", 0, tls, bound, blen, err, sizeof(err)) > 0, "%s", err);
  return e;
}

static void *run_main(void *arg)
{
  return (void *)(intptr_t)emu_run(arg, false);
}

/* emu_stop while emu_run is still setting up its loops (or before it got
 * there): emu_run must return, every time. */
START_TEST(stop_right_after_run_always_returns)
{
  char bound[64];

  for(int i = 0; i < 200; i++) {
    struct emu *e = new_emu(bound, sizeof(bound), false);
    pthread_t th;
    void *rc;

    ck_assert_int_eq(pthread_create(&th, NULL, run_main, e), 0);
    emu_stop(e);
    pthread_join(th, &rc);
    ck_assert_int_eq((int)(intptr_t)rc, 0);
    emu_free(e);
  }
}
END_TEST

/* The same with emu_start's threads: a stop right after the start joins them. */
START_TEST(stop_right_after_start_always_returns)
{
  char bound[64], err[256];

  for(int i = 0; i < 200; i++) {
    struct emu *e = new_emu(bound, sizeof(bound), false);

    ck_assert_msg(emu_start(e, err, sizeof(err)) == 0, "%s", err);
    emu_stop(e);
    emu_free(e);
  }
}
END_TEST

/* A certificate + key file (one PEM) for localhost from a throwaway CA. */
static void write_cert(const char *path)
{
  static const char *const names[] = {"localhost"};
  struct emu_tls_ca *ca = emu_tls_ca_new("races test CA", NULL);
  struct emu_tls_leaf *leaf = ca ? emu_tls_leaf_new(ca, EMU_TLS_LEAF_VALID, names, 1, NULL) : NULL;
  struct exs_buf pem;
  FILE *f;

  ck_assert_ptr_nonnull(leaf);
  exs_buf_init(&pem, 1u << 20);
  ck_assert_int_eq(emu_tls_leaf_pem(leaf, &pem), 0);
  f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(pem.data, 1, pem.len, f), pem.len);
  ck_assert_int_eq(fclose(f), 0);
  exs_buf_free(&pem);
  emu_tls_leaf_free(leaf);
  emu_tls_ca_free(ca);
}

struct tls_client {
  const char *url;
  int requests, failures;
  char first_failure[256];
};

static atomic_int clients_done;

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
  (void)p;
  (void)arg;
  return size * n;
}

/* HTTPS requests, each on a new connection (a new SSL from the listeners'
 * context); no Check asserts on this thread. */
static void *tls_client_main(void *arg)
{
  struct tls_client *c = arg;

  for(int i = 0; i < c->requests; i++) {
    CURL *h = curl_easy_init();
    CURLcode rc;
    long status = 0;

    if(!h) {
      c->failures++;
      continue;
    }
    curl_easy_setopt(h, CURLOPT_URL, c->url);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if(rc != CURLE_OK || status != 401) {
      if(!c->failures++)
        snprintf(c->first_failure, sizeof(c->first_failure), "request %d: %s, status %ld", i,
                 curl_easy_strerror(rc), status);
    }
    curl_easy_cleanup(h);
  }
  atomic_fetch_add(&clients_done, 1);
  return NULL;
}

/* emu_set_certificate while clients connect: each swap frees the old
 * context, which handshakes being set up must not use any more (they hold
 * references of their own), and every connection still works. */
START_TEST(certificate_swaps_while_clients_connect_over_tls)
{
  char bound[64], dir[64], cert[2][128], url[128], err[256];
  struct tls_client cl[NCLIENTS];
  pthread_t th[NCLIENTS];
  struct emu *e;
  int swaps = 0;

  snprintf(dir, sizeof(dir), "/tmp/exsync-races-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  for(int i = 0; i < 2; i++) {
    snprintf(cert[i], sizeof(cert[i]), "%s/cert%d.pem", dir, i);
    write_cert(cert[i]);
  }
  e = emu_new();
  ck_assert_ptr_nonnull(e);
  ck_assert_msg(emu_set_threads(e, THREADS, err, sizeof(err)) == 0, "%s", err);
  ck_assert_msg(emu_set_certificate(e, cert[0], cert[0], err, sizeof(err)) == 0, "%s", err);
  ck_assert_msg(emu_listen(e, "127.0.0.1", 0, true, bound, sizeof(bound), err, sizeof(err)) > 0,
                "%s", err);
  ck_assert_msg(emu_start(e, err, sizeof(err)) == 0, "%s", err);
  snprintf(url, sizeof(url), "https://%s/EWS/Exchange.asmx", bound);
  atomic_store(&clients_done, 0);
  for(int i = 0; i < NCLIENTS; i++) {
    memset(&cl[i], 0, sizeof(cl[i]));
    cl[i].url = url;
    cl[i].requests = 25;
    ck_assert_int_eq(pthread_create(&th[i], NULL, tls_client_main, &cl[i]), 0);
  }
  /* swap for as long as the clients run (they end: a fixed number each) */
  while(atomic_load(&clients_done) < NCLIENTS) {
    ck_assert_msg(emu_set_certificate(e, cert[swaps % 2], cert[swaps % 2], err, sizeof(err)) == 0,
                  "%s", err);
    swaps++;
  }
  for(int i = 0; i < NCLIENTS; i++) {
    pthread_join(th[i], NULL);
    ck_assert_msg(cl[i].failures == 0, "client %d: %d failures, first: %s", i, cl[i].failures,
                  cl[i].first_failure);
  }
  ck_assert_int_gt(swaps, 0);
  emu_free(e);
  for(int i = 0; i < 2; i++)
    unlink(cert[i]);
  rmdir(dir);
}
END_TEST

#define SVC "CONTOSO\\svc-crm:svc-pw"

struct held_client {
  const char *url, *body;
  CURLcode rc;
  long status;
};

static void *held_client_main(void *arg)
{
  struct held_client *c = arg;
  struct ec_resp r;

  c->rc = ec_request("POST", c->url, SVC, NULL, c->body, &r);
  c->status = r.status;
  ec_free(&r);
  return NULL;
}

/* Poll (with a deadline) until n answers are held by delay faults. */
static void wait_delayed(struct emu *e, size_t n)
{
  int64_t deadline = exs_monotonic_ms() + 30000;

  while(emu_delayed(e) < n && exs_monotonic_ms() < deadline)
    poll(NULL, 0, 5);
  ck_assert_uint_eq(emu_delayed(e), n);
}

/* A GetFolder held by "delay-ms=600000" while the world is replaced (reset,
 * then a scenario load): the answer keeps no pointer to the freed user, is
 * sent when released, and the new world answers. */
START_TEST(answer_held_across_reset_and_load)
{
  const char *scenario = tu_path("fixtures/scenarios/contoso.xml");
  char bound[64], url[128], err[512];
  struct emu *e = new_emu(bound, sizeof(bound), false);
  char *body = strdup(ec_soap("Exchange2016", "bob@contoso.com",
                              "<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape>"
                              "</m:FolderShape><m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/>"
                              "</m:FolderIds></m:GetFolder>"));
  struct ec_resp r;

  ck_assert_ptr_nonnull(body);
  ck_assert_msg(emu_load_scenario(e, scenario, err, sizeof(err)) == 0, "%s", err);
  ck_assert_msg(emu_start(e, err, sizeof(err)) == 0, "%s", err);
  snprintf(url, sizeof(url), "http://%s/EWS/Exchange.asmx", bound);
  for(int round = 0; round < 2; round++) {
    struct held_client c = {url, body, CURLE_OK, 0};
    pthread_t th;

    ck_assert_int_gt(
        emu_add_fault(e, "operation=GetFolder delay-ms=600000 times=1", err, sizeof(err)), 0);
    ck_assert_int_eq(pthread_create(&th, NULL, held_client_main, &c), 0);
    wait_delayed(e, 1);
    if(round == 0)
      ck_assert_msg(emu_reset(e, err, sizeof(err)) == 0, "%s", err);
    else
      ck_assert_msg(emu_load_scenario(e, scenario, err, sizeof(err)) == 0, "%s", err);
    emu_release_delayed(e);
    pthread_join(th, NULL);
    ck_assert_msg(c.rc == CURLE_OK, "%s", curl_easy_strerror(c.rc));
    ck_assert_int_eq(c.status, 200);
    ck_assert_uint_eq(emu_delayed(e), 0);
    ck_assert_int_eq(ec_request("POST", url, SVC, NULL, body, &r), CURLE_OK);
    ck_assert_int_eq(r.status, 200);
    ec_free(&r);
    /* the new svc-crm's count started at 0 and was not touched by the
     * answer of the old one */
    ck_assert_int_eq(emu_journal_max_in_flight(e, "svc-crm"), 1);
  }
  free(body);
  emu_free(e);
}
END_TEST

/* emu_set_limits while 8 clients connect: the threads read the limits
 * (atomics) and each applies them to its evhttps on its own thread; every
 * request is answered. */
START_TEST(set_limits_while_clients_connect)
{
  char bound[64], url[128], err[256];
  struct tls_client cl[NCLIENTS];
  pthread_t th[NCLIENTS];
  struct emu *e = new_emu(bound, sizeof(bound), false);
  int sets = 0;

  ck_assert_msg(emu_start(e, err, sizeof(err)) == 0, "%s", err);
  snprintf(url, sizeof(url), "http://%s/EWS/Exchange.asmx", bound);
  atomic_store(&clients_done, 0);
  for(int i = 0; i < NCLIENTS; i++) {
    memset(&cl[i], 0, sizeof(cl[i]));
    cl[i].url = url;
    cl[i].requests = 25;
    ck_assert_int_eq(pthread_create(&th[i], NULL, tls_client_main, &cl[i]), 0);
  }
  while(atomic_load(&clients_done) < NCLIENTS) {
    struct emu_limits l = {0};
    l.idle_timeout_ms = 20000 + sets % 2;
    l.request_timeout_ms = 30000 + sets % 2;
    l.max_header_bytes = 65536 + sets % 2;
    l.max_connections = 1000 + sets % 2;
    emu_set_limits(e, &l);
    sets++;
  }
  for(int i = 0; i < NCLIENTS; i++) {
    pthread_join(th[i], NULL);
    ck_assert_msg(cl[i].failures == 0, "client %d: %d failures, first: %s", i, cl[i].failures,
                  cl[i].first_failure);
  }
  ck_assert_int_gt(sets, 0);
  emu_free(e);
}
END_TEST

int main(void)
{
  Suite *s = suite_create("emu_races");
  TCase *tc = tcase_create("races");

  curl_global_init(CURL_GLOBAL_ALL);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, stop_right_after_run_always_returns);
  tcase_add_test(tc, stop_right_after_start_always_returns);
  tcase_add_test(tc, certificate_swaps_while_clients_connect_over_tls);
  tcase_add_test(tc, answer_held_across_reset_and_load);
  tcase_add_test(tc, set_limits_while_clients_connect);
  suite_add_tcase(s, tc);
  return tu_run(s);
}

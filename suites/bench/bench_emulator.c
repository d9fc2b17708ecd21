/* bench_emulator.c - throughput, latency and memory of the emulator (issue 3).
 *
 *   bench_emulator [--emulator PATH] [--wrk PATH] [--nginx PATH]
 *                  [--seconds N] [--rounds N] [--connections N] [--mailboxes N]
 *                  [--items N] [--threads N[,N...]]
 *                  [--skip-memory] [--skip-throughput]
 *
 * Starts the exsync-emulator daemon (child process, HTTP and HTTPS listeners
 * on 127.0.0.1 port 0, a self-signed certificate made with openssl) and, as
 * the static baseline of the same run, nginx (as many workers as the
 * emulator has event loop threads) serving the very answer bytes the
 * emulator produced, from files. The throughput runs are repeated for each
 * thread count of --threads (default 1 and the number of cores), each with a
 * fresh daemon. wrk drives both with the
 * same POST body and Authorization: Basic header over keep-alive.
 *
 * Figures, each with its target from issue 3 (printed, never asserted):
 *   GetFolder / FindItem (20 items) req/s, HTTP and HTTPS, as a ratio of
 *   nginx's; HTTPS as a ratio of the emulator's own HTTP; p99 latency at N
 *   connections; median latency of a ~20 KB answer on one connection; peak
 *   RSS and load time of a scenario of 10,000 mailboxes x 100 items, with
 *   the per-mailbox and per-item cost from worlds of 0 and of 10,000 empty
 *   mailboxes loaded the same way.
 * Exit 0 when every figure was measured, 1 when some could not be.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_load.h"
#include "bench_scenario.h"
#include "bench_store.h"
#include "bench_util.h"

#ifndef BENCH_EMULATOR_PATH
#define BENCH_EMULATOR_PATH "exsync-emulator"
#endif

#define LOGIN "svc"
#define PASSWORD "svc-bench-pw"
#define DOMAIN "bench.example"

#define MAX_THREAD_COUNTS 8

struct opts {
  const char *emulator, *wrk, *nginx;
  int seconds, connections, rounds;
  int threads[MAX_THREAD_COUNTS]; /* --threads: daemon threads = nginx workers */
  int nthreads;
  size_t mailboxes, items;
  bool skip_memory, skip_throughput;
};

struct emud {
  struct bench_child child;
  char http[64], https[64]; /* "127.0.0.1:PORT", "" when absent */
  double ready_ms;          /* spawn to the last "listening" line */
};

static const char SOAP_HEAD[] =
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
    "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" "
    "xmlns:m=\"http://schemas.microsoft.com/exchange/services/2006/messages\" "
    "xmlns:t=\"http://schemas.microsoft.com/exchange/services/2006/types\"><soap:Header>"
    "<t:RequestServerVersion Version=\"Exchange2013_SP1\"/></soap:Header><soap:Body>";
static const char SOAP_TAIL[] = "</soap:Body></soap:Envelope>";

static void soap(char *out, size_t len, const char *op)
{
  snprintf(out, len, "%s%s%s", SOAP_HEAD, op, SOAP_TAIL);
}

static void get_folder_body(char *out, size_t len)
{
  soap(out, len,
       "<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape>"
       "<m:FolderIds><t:DistinguishedFolderId Id=\"inbox\"/></m:FolderIds></m:GetFolder>");
}

static void find_item_body(char *out, size_t len, int n)
{
  char op[1024];

  snprintf(op, sizeof(op),
           "<m:FindItem Traversal=\"Shallow\"><m:ItemShape><t:BaseShape>Default</t:BaseShape>"
           "</m:ItemShape><m:IndexedPageItemView MaxEntriesReturned=\"%d\" Offset=\"0\" "
           "BasePoint=\"Beginning\"/><m:ParentFolderIds><t:DistinguishedFolderId Id=\"inbox\"/>"
           "</m:ParentFolderIds></m:FindItem>",
           n);
  soap(out, len, op);
}

/* ---- the daemon ---- */

/* threads 0: the daemon's default */
static int emud_start(struct emud *d, const struct opts *o, const char *scenario, const char *dir,
                      bool tls, int threads, char *err, size_t errlen)
{
  char cert[4096], key[4096], line[256], nthreads[16];
  char *argv[16];
  int n = 0, want = tls ? 2 : 1;
  double t0;

  memset(d, 0, sizeof(*d));
  snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
  snprintf(key, sizeof(key), "%s/key.pem", dir);
  argv[n++] = (char *)o->emulator;
  argv[n++] = "--listen";
  argv[n++] = "127.0.0.1:0";
  if(tls) {
    argv[n++] = "--tls-listen";
    argv[n++] = "127.0.0.1:0";
    argv[n++] = "--cert";
    argv[n++] = cert;
    argv[n++] = "--key";
    argv[n++] = key;
  }
  argv[n++] = "--scenario";
  argv[n++] = (char *)scenario;
  if(threads > 0) {
    snprintf(nthreads, sizeof(nthreads), "%d", threads);
    argv[n++] = "--threads";
    argv[n++] = nthreads;
  }
  argv[n] = NULL;
  t0 = bench_now_ms();
  if(bench_spawn(&d->child, argv, false, err, errlen) != 0)
    return -1;
  for(int i = 0; i < want; i++) {
    if(bench_child_line(&d->child, line, sizeof(line), 300000) != 0) {
      int st = bench_child_stop(&d->child, 2000);
      snprintf(err, errlen, "the emulator printed no 'listening' line (%s %d)",
               st >= 0 && WIFSIGNALED(st) ? "killed by signal" : "exit status",
               st >= 0 && WIFSIGNALED(st) ? WTERMSIG(st) : (st >= 0 ? WEXITSTATUS(st) : -1));
      return -1;
    }
    if(sscanf(line, "listening https %63s", d->https) == 1)
      continue;
    if(sscanf(line, "listening http %63s", d->http) != 1)
      i--; /* some other line: keep reading (bounded by the deadline) */
  }
  d->ready_ms = bench_now_ms() - t0;
  return 0;
}

/* ---- one POST with libcurl, to check and capture an answer ---- */

struct grow {
  char *data;
  size_t len, cap;
};

static size_t grow_write(char *p, size_t size, size_t n, void *arg)
{
  struct grow *g = arg;
  size_t add = size * n;

  if(g->len + add + 1 > g->cap) {
    size_t nc = (g->len + add + 1) * 2;
    char *nd = realloc(g->data, nc);
    if(!nd)
      return 0;
    g->data = nd;
    g->cap = nc;
  }
  memcpy(g->data + g->len, p, add);
  g->len += add;
  g->data[g->len] = '\0';
  return add;
}

static int post(const char *url, const char *body, struct grow *out, char *err, size_t errlen)
{
  CURL *c = curl_easy_init();
  struct curl_slist *h = NULL;
  long status = 0;
  CURLcode rc;

  memset(out, 0, sizeof(*out));
  if(!c)
    return -1;
  h = curl_slist_append(h, "Content-Type: text/xml; charset=utf-8");
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
  curl_easy_setopt(c, CURLOPT_USERPWD, LOGIN ":" PASSWORD);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, grow_write);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  if(rc != CURLE_OK || status != 200 || !out->data ||
     !strstr(out->data, "ResponseClass=\"Success\"")) {
    snprintf(err, errlen, "POST %s: %s, HTTP %ld: %.300s", url, curl_easy_strerror(rc), status,
             out->data ? out->data : "");
    free(out->data);
    out->data = NULL;
    return -1;
  }
  return 0;
}

/* ---- throughput ---- */

struct load_case {
  const char *name; /* "GetFolder", "FindItem (20 items)", ... */
  const char *file; /* answer file name under the nginx root */
  char body[4096];  /* request body */
  size_t answer_len;
  char script[4096]; /* wrk Lua script */
};

/* One target measured over several rounds; the figure is the round with
 * the median rate (the machine is shared: rounds of the baseline and of the
 * emulator are interleaved so background load hits both alike). */
#define MAX_ROUNDS 20
struct run {
  bool ok;
  struct bench_wrk_result r; /* the median round */
  struct bench_wrk_result rounds[MAX_ROUNDS];
  int n;
};

static void wrk_one(const struct opts *o, const char *url, const char *script, int conns,
                    struct run *out)
{
  char err[1024];
  struct bench_wrk_result r;

  if(bench_wrk_run(o->wrk, url, script, 1, conns, o->seconds, &r, err, sizeof(err)) != 0) {
    fprintf(stderr, "bench_emulator: %s\n", err);
    return;
  }
  if(r.non2xx || r.socket_errors)
    fprintf(stderr, "bench_emulator: %s: %ld non-2xx answers, %ld socket errors\n", url, r.non2xx,
            r.socket_errors);
  if(out->n < MAX_ROUNDS)
    out->rounds[out->n++] = r;
}

static int by_rps(const void *a, const void *b)
{
  double x = ((const struct bench_wrk_result *)a)->rps,
         y = ((const struct bench_wrk_result *)b)->rps;
  return x < y ? -1 : x > y;
}

/* Pick the median round. */
static void settle(struct run *x)
{
  struct bench_wrk_result s[MAX_ROUNDS];

  if(x->n == 0)
    return;
  memcpy(s, x->rounds, sizeof(s[0]) * (size_t)x->n);
  qsort(s, (size_t)x->n, sizeof(s[0]), by_rps);
  x->r = s[x->n / 2];
  x->ok = true;
}

static void print_ratio(const char *what, const struct run *emu, const struct run *base,
                        const char *base_name, double target)
{
  if(!emu->ok) {
    printf("%-40s not measured\n", what);
    return;
  }
  if(!base->ok) {
    printf("%-40s %9.0f req/s (no %s baseline; target >= %.1fx)\n", what, emu->r.rps, base_name,
           target);
    return;
  }
  printf("%-40s %9.0f req/s = %.2fx %s (%.0f req/s) (target >= %.1fx) %s\n", what, emu->r.rps,
         emu->r.rps / base->r.rps, base_name, base->r.rps, target,
         emu->r.rps / base->r.rps >= target ? "met" : "NOT met");
}

/* requests/s per thread count (GetFolder, FindItem), for the summary */
struct per_threads {
  int threads;
  double getfolder, finditem, getfolder_ng, finditem_ng, https_getfolder, https_finditem;
};

static int throughput(const struct opts *o, const char *dir, int threads, struct per_threads *pt,
                      bool *all_ok)
{
  char scen[4096], err[1024], auth[256], url[512], path[4096];
  struct bench_world w = {0, 100, DOMAIN, "mb", LOGIN, PASSWORD};
  struct emud d;
  struct bench_nginx ng;
  struct load_case cases[3];
  struct run emu_http[3], emu_https[3], ng_http[3], ng_https[3];
  bool have_tls, have_nginx = false;
  char cert[4096], key[4096];
  long hwm = 0, rss = 0;
  int result = -1;

  memset(&d, 0, sizeof(d));
  d.child.pid = -1;
  memset(cases, 0, sizeof(cases));
  memset(emu_http, 0, sizeof(emu_http));
  memset(emu_https, 0, sizeof(emu_https));
  memset(ng_http, 0, sizeof(ng_http));
  memset(ng_https, 0, sizeof(ng_https));
  snprintf(scen, sizeof(scen), "%s/small.xml", dir);
  snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
  snprintf(key, sizeof(key), "%s/key.pem", dir);
  if(bench_scenario_write(scen, &w) < 0) {
    fprintf(stderr, "bench_emulator: cannot write %s\n", scen);
    return -1;
  }
  have_tls = bench_make_cert(dir, err, sizeof(err)) == 0;
  if(!have_tls)
    fprintf(stderr, "bench_emulator: no certificate (%s): HTTPS not available\n", err);
  if(have_tls && emud_start(&d, o, scen, dir, true, threads, err, sizeof(err)) != 0) {
    fprintf(stderr, "bench_emulator: emulator with HTTPS: %s; trying HTTP only\n", err);
    have_tls = false;
  }
  if(!have_tls && emud_start(&d, o, scen, dir, false, threads, err, sizeof(err)) != 0) {
    fprintf(stderr, "bench_emulator: %s\n", err);
    return -1;
  }
  have_tls = have_tls && d.https[0];
  bench_basic_auth(LOGIN, PASSWORD, auth, sizeof(auth));

  /* the three requests; the 20 KB one grows FindItem until its answer is >= 20 KB */
  cases[0].name = "GetFolder";
  cases[0].file = "getfolder.xml";
  get_folder_body(cases[0].body, sizeof(cases[0].body));
  cases[1].name = "FindItem (20 items)";
  cases[1].file = "finditem20.xml";
  find_item_body(cases[1].body, sizeof(cases[1].body), 20);
  cases[2].name = "20 KB answer";
  cases[2].file = "answer20k.xml";
  snprintf(url, sizeof(url), "http://%s/EWS/Exchange.asmx", d.http);
  for(int i = 0; i < 3; i++) {
    struct grow g;
    if(i == 2) {
      int n;
      for(n = 20; n <= 100; n++) {
        find_item_body(cases[2].body, sizeof(cases[2].body), n);
        if(post(url, cases[2].body, &g, err, sizeof(err)) != 0)
          break;
        if(g.len >= 20 * 1024 || n == 100)
          break;
        free(g.data);
      }
      if(!g.data) {
        fprintf(stderr, "bench_emulator: %s\n", err);
        goto out;
      }
    }
    else if(post(url, cases[i].body, &g, err, sizeof(err)) != 0) {
      fprintf(stderr, "bench_emulator: %s\n", err);
      goto out;
    }
    cases[i].answer_len = g.len;
    snprintf(cases[i].script, sizeof(cases[i].script), "%s/case%d.lua", dir, i);
    if(bench_wrk_script(cases[i].script, cases[i].body, auth) != 0) {
      free(g.data);
      goto out;
    }
    /* nginx serves these very bytes: written after nginx made its root */
    free(g.data);
  }

  if(bench_nginx_start(&ng, o->nginx, dir, threads, have_tls ? cert : NULL, have_tls ? key : NULL,
                       err, sizeof(err)) == 0) {
    have_nginx = true;
    for(int i = 0; i < 3; i++) {
      struct grow g;
      if(post(url, cases[i].body, &g, err, sizeof(err)) != 0)
        goto out;
      snprintf(path, sizeof(path), "%s/%s", ng.root, cases[i].file);
      bench_write_file(path, g.data, g.len);
      free(g.data);
    }
  }
  else {
    fprintf(stderr, "bench_emulator: no nginx baseline: %s\n", err);
  }

  printf("load generator: wrk (1 thread, keep-alive, POST body and Authorization: Basic from "
         "a Lua script), %d s per run, %d interleaved rounds, median round reported\n",
         o->seconds, o->rounds);
  printf("baseline: nginx, %d worker process%s, serving the same answer bytes from files\n",
         threads, threads > 1 ? "es (reuseport)" : "");
  printf("answers: GetFolder %zu bytes, FindItem (20 items) %zu bytes, large FindItem %zu "
         "bytes\n\n",
         cases[0].answer_len, cases[1].answer_len, cases[2].answer_len);

  for(int round = 0; round < o->rounds; round++) {
    for(int i = 0; i < 2; i++) {
      char nurl[512], surl[512];
      if(have_nginx) {
        snprintf(nurl, sizeof(nurl), "http://127.0.0.1:%d/%s", ng.http_port, cases[i].file);
        wrk_one(o, nurl, cases[i].script, o->connections, &ng_http[i]);
      }
      wrk_one(o, url, cases[i].script, o->connections, &emu_http[i]);
      if(have_tls) {
        snprintf(surl, sizeof(surl), "https://%s/EWS/Exchange.asmx", d.https);
        wrk_one(o, surl, cases[i].script, o->connections, &emu_https[i]);
        if(have_nginx) {
          snprintf(nurl, sizeof(nurl), "https://127.0.0.1:%d/%s", ng.https_port, cases[i].file);
          wrk_one(o, nurl, cases[i].script, o->connections, &ng_https[i]);
        }
      }
    }
    /* one connection, the ~20 KB answer: the median latency is the figure */
    {
      char nurl[512];
      wrk_one(o, url, cases[2].script, 1, &emu_http[2]);
      if(have_nginx) {
        snprintf(nurl, sizeof(nurl), "http://127.0.0.1:%d/%s", ng.http_port, cases[2].file);
        wrk_one(o, nurl, cases[2].script, 1, &ng_http[2]);
      }
    }
  }
  for(int i = 0; i < 3; i++) {
    settle(&emu_http[i]);
    settle(&emu_https[i]);
    settle(&ng_http[i]);
    settle(&ng_https[i]);
  }
  bench_proc_mem(d.child.pid, &hwm, &rss);

  printf("== requests per second, %d connections, emulator --threads %d ==\n", o->connections,
         threads);
  pt->threads = threads;
  pt->getfolder = emu_http[0].ok ? emu_http[0].r.rps : 0;
  pt->finditem = emu_http[1].ok ? emu_http[1].r.rps : 0;
  pt->getfolder_ng = ng_http[0].ok ? ng_http[0].r.rps : 0;
  pt->finditem_ng = ng_http[1].ok ? ng_http[1].r.rps : 0;
  pt->https_getfolder = emu_https[0].ok ? emu_https[0].r.rps : 0;
  pt->https_finditem = emu_https[1].ok ? emu_https[1].r.rps : 0;
  for(int i = 0; i < 2; i++) {
    char what[128];
    double target = i == 0 ? 0.4 : 0.2;
    snprintf(what, sizeof(what), "%s http:", cases[i].name);
    print_ratio(what, &emu_http[i], &ng_http[i], "nginx", target);
    snprintf(what, sizeof(what), "%s https:", cases[i].name);
    if(!have_tls) {
      printf("%-40s not available (no HTTPS listener)\n", what);
      continue;
    }
    print_ratio(what, &emu_https[i], &ng_https[i], "nginx https", target);
    snprintf(what, sizeof(what), "%s https vs own http:", cases[i].name);
    print_ratio(what, &emu_https[i], &emu_http[i], "emulator http", 0.8);
  }
  printf("\n== latency ==\n");
  for(int i = 0; i < 2; i++) {
    if(emu_http[i].ok)
      printf("%s http p99 at %d connections: %.2f ms (nginx %.2f ms) (target <= 5 ms) %s\n",
             cases[i].name, o->connections, emu_http[i].r.p99_ms, ng_http[i].r.p99_ms,
             emu_http[i].r.p99_ms <= 5.0 ? "met" : "NOT met");
    if(emu_https[i].ok)
      printf("%s https p99 at %d connections: %.2f ms (nginx %.2f ms) (target <= 5 ms) %s\n",
             cases[i].name, o->connections, emu_https[i].r.p99_ms, ng_https[i].r.p99_ms,
             emu_https[i].r.p99_ms <= 5.0 ? "met" : "NOT met");
  }
  if(emu_http[2].ok)
    printf("%zu-byte answer, one connection: median %.3f ms, p99 %.3f ms, %.0f req/s "
           "(nginx median %.3f ms) (target < 2 ms) %s\n",
           cases[2].answer_len, emu_http[2].r.p50_ms, emu_http[2].r.p99_ms, emu_http[2].r.rps,
           ng_http[2].r.p50_ms, emu_http[2].r.p50_ms < 2.0 ? "met" : "NOT met");
  {
    char a[32], b[32];
    printf("emulator RSS after the load runs: peak %s, now %s\n", bench_kib(hwm, a, sizeof(a)),
           bench_kib(rss, b, sizeof(b)));
  }
  result = 0;
  for(int i = 0; i < 3; i++)
    if(!emu_http[i].ok || (have_nginx && !ng_http[i].ok))
      result = -1;
  if(!have_tls || !have_nginx)
    *all_ok = false;
out:
  if(have_nginx)
    bench_nginx_stop(&ng);
  bench_child_stop(&d.child, 5000);
  return result;
}

/* ---- memory and load time ---- */

struct world_figures {
  bool ok;
  long file_bytes;
  double ready_ms;
  long hwm_kb, rss_kb;
  bool store_ok; /* the same world loaded in-process + malloc_trim */
  double store_load_ms;
  long store_rss_kb;
};

static void load_world(const struct opts *o, const char *dir, size_t mailboxes, size_t items,
                       struct world_figures *out)
{
  struct bench_world w = {mailboxes, items, DOMAIN, "mb", LOGIN, PASSWORD};
  char scen[4096], err[1024];
  struct emud d;

  memset(out, 0, sizeof(*out));
  snprintf(scen, sizeof(scen), "%s/world-%zu-%zu.xml", dir, mailboxes, items);
  out->file_bytes = bench_scenario_write(scen, &w);
  if(out->file_bytes < 0) {
    fprintf(stderr, "bench_emulator: cannot write %s\n", scen);
    return;
  }
  if(emud_start(&d, o, scen, dir, false, 0, err, sizeof(err)) != 0) {
    /* seen once on the loaded machine, not reproduced: say so, try once more */
    fprintf(stderr, "bench_emulator: %zu x %zu world: %s; retrying once\n", mailboxes, items, err);
    if(emud_start(&d, o, scen, dir, false, 0, err, sizeof(err)) != 0) {
      fprintf(stderr, "bench_emulator: %zu x %zu world: %s\n", mailboxes, items, err);
      unlink(scen);
      return;
    }
  }
  out->ready_ms = d.ready_ms;
  out->ok = bench_proc_mem(d.child.pid, &out->hwm_kb, &out->rss_kb) == 0 && d.http[0];
  bench_child_stop(&d.child, 10000);
  out->store_ok = bench_store_measure(scen, 300000, &out->store_load_ms, &out->store_rss_kb) == 0;
  unlink(scen);
}

static int memory(const struct opts *o, const char *dir)
{
  struct world_figures base, empty, full;
  char a[32], b[32];
  double per_mb_kb, per_item_b;

  printf("\n== memory and load time (exsync-emulator --scenario, separate process) ==\n");
  load_world(o, dir, 0, 0, &base);
  load_world(o, dir, o->mailboxes, 0, &empty);
  load_world(o, dir, o->mailboxes, o->items, &full);
  if(!base.ok || !empty.ok || !full.ok) {
    printf("memory figures not measured (a world failed to load)\n");
    return -1;
  }
  printf("%zu mailboxes x %zu items (%.1f MB of scenario XML): loaded and listening in "
         "%.0f ms (an empty world: %.0f ms)\n",
         o->mailboxes, o->items, (double)full.file_bytes / 1e6, full.ready_ms, base.ready_ms);
  printf("peak RSS (VmHWM) with %zu x %zu loaded: %s; resident now (VmRSS): %s\n", o->mailboxes,
         o->items, bench_kib(full.hwm_kb, a, sizeof(a)), bench_kib(full.rss_kb, b, sizeof(b)));
  printf("peak RSS: empty world %s, %zu empty mailboxes %s\n", bench_kib(base.hwm_kb, a, sizeof(a)),
         o->mailboxes, bench_kib(empty.hwm_kb, b, sizeof(b)));
  per_mb_kb = (double)(empty.rss_kb - base.rss_kb) / (double)o->mailboxes;
  per_item_b = o->items ? (double)(full.rss_kb - empty.rss_kb) * 1024.0 /
                              (double)(o->mailboxes * o->items + o->items)
                        : 0;
  printf("per empty mailbox (VmRSS difference): %.1f KB (target <= 16 KB) %s\n", per_mb_kb,
         per_mb_kb <= 16.0 ? "met" : "NOT met");
  printf("per stored item (VmRSS difference): %.0f bytes = %.2f KB (target <= 1.5 KB) %s\n",
         per_item_b, per_item_b / 1024.0, per_item_b <= 1.5 * 1024 ? "met" : "NOT met");
  if(full.store_ok && empty.store_ok && base.store_ok) {
    double smb = (double)(empty.store_rss_kb - base.store_rss_kb) / (double)o->mailboxes;
    double sit = o->items ? (double)(full.store_rss_kb - empty.store_rss_kb) * 1024.0 /
                                (double)(o->mailboxes * o->items + o->items)
                          : 0;
    printf("store only (emu_load_scenario in a forked process, then malloc_trim): %s "
           "resident with %zu x %zu, emu_load_scenario took %.0f ms\n",
           bench_kib(full.store_rss_kb, a, sizeof(a)), o->mailboxes, o->items, full.store_load_ms);
    printf("store only: per empty mailbox %.1f KB (target <= 16 KB) %s, per stored item %.0f "
           "bytes = %.2f KB (target <= 1.5 KB) %s\n",
           smb, smb <= 16.0 ? "met" : "NOT met", sit, sit / 1024.0,
           sit <= 1.5 * 1024 ? "met" : "NOT met");
  }
  else {
    printf("store only: not measured\n");
  }
  return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
  static char wrk[4096], nginx[4096];

  o->emulator = BENCH_EMULATOR_PATH;
  o->wrk = bench_which("wrk", wrk, sizeof(wrk)) ? wrk : NULL;
  o->nginx = bench_which("nginx", nginx, sizeof(nginx)) ? nginx : NULL;
  o->seconds = 3;
  o->rounds = 3;
  o->connections = 50;
  o->mailboxes = 10000;
  o->items = 100;
  /* one event loop thread, and one per core (issue 15: requests/s per
   * thread count in one run) */
  o->threads[0] = 1;
  o->nthreads = 1;
  if(sysconf(_SC_NPROCESSORS_ONLN) > 1)
    o->threads[o->nthreads++] =
        (int)sysconf(_SC_NPROCESSORS_ONLN) > 256 ? 256 : (int)sysconf(_SC_NPROCESSORS_ONLN);
  for(int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if(!strcmp(a, "--skip-memory")) {
      o->skip_memory = true;
      continue;
    }
    if(!strcmp(a, "--skip-throughput")) {
      o->skip_throughput = true;
      continue;
    }
    if(!v)
      return -1;
    if(!strcmp(a, "--emulator"))
      o->emulator = v;
    else if(!strcmp(a, "--wrk"))
      o->wrk = v;
    else if(!strcmp(a, "--nginx"))
      o->nginx = v;
    else if(!strcmp(a, "--seconds"))
      o->seconds = atoi(v);
    else if(!strcmp(a, "--rounds"))
      o->rounds = atoi(v);
    else if(!strcmp(a, "--connections"))
      o->connections = atoi(v);
    else if(!strcmp(a, "--mailboxes"))
      o->mailboxes = (size_t)strtoul(v, NULL, 10);
    else if(!strcmp(a, "--items"))
      o->items = (size_t)strtoul(v, NULL, 10);
    else if(!strcmp(a, "--threads")) {
      char *end;
      const char *p = v;
      o->nthreads = 0;
      do {
        long t = strtol(p, &end, 10);
        if(end == p || t < 1 || t > 256 || o->nthreads == MAX_THREAD_COUNTS)
          return -1;
        o->threads[o->nthreads++] = (int)t;
        p = end + 1;
      } while(*end == ',');
      if(*end)
        return -1;
    }
    else
      return -1;
    i++;
  }
  if(o->seconds < 1 || o->seconds > 120 || o->connections < 1 || o->connections > 1000 ||
     o->rounds < 1 || o->rounds > 20 || o->mailboxes < 1 || o->mailboxes > 100000 ||
     o->items > 1000)
    return -1;
  return 0;
}

int main(int argc, char **argv)
{
  struct opts o;
  char dir[4096];
  bool all_ok = true;
  int result = 1;

  memset(&o, 0, sizeof(o));
  setvbuf(stdout, NULL, _IOLBF, 0);
  if(parse_args(argc, argv, &o) != 0) {
    fprintf(stderr,
            "usage: bench_emulator [--emulator PATH] [--wrk PATH] [--nginx PATH] "
            "[--seconds 1..120] [--rounds 1..20] [--connections N] [--mailboxes N] [--items N] "
            "[--threads N[,N...]] [--skip-memory] [--skip-throughput]\n");
    return 2;
  }
  if(!o.wrk) {
    fprintf(stderr, "bench_emulator: wrk not found (apt-get install wrk)\n");
    return 1;
  }
  if(!o.nginx)
    fprintf(stderr, "bench_emulator: nginx not found (apt-get install nginx-light): no "
                    "baseline\n");
  if(bench_tmpdir(dir, sizeof(dir)) != 0) {
    perror("bench_emulator: mkdtemp");
    return 1;
  }
  bench_signals_install();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  printf("# bench_emulator: %s, %ld online CPUs\n", o.emulator, sysconf(_SC_NPROCESSORS_ONLN));
  if(!o.skip_throughput) {
    struct per_threads pt[MAX_THREAD_COUNTS];
    memset(pt, 0, sizeof(pt));
    for(int i = 0; i < o.nthreads; i++) {
      if(i)
        printf("\n");
      if(throughput(&o, dir, o.threads[i], &pt[i], &all_ok) != 0)
        all_ok = false;
    }
    /* issue 15: the emulator's requests/s per thread count, side by side */
    printf("\n== emulator requests/s per thread count (http, %d connections; nginx with as many "
           "workers) ==\n",
           o.connections);
    for(int i = 0; i < o.nthreads; i++)
      printf("--threads %d: GetFolder %.0f req/s (%.2fx nginx), FindItem (20 items) %.0f req/s "
             "(%.2fx nginx); https GetFolder %.0f, FindItem %.0f req/s\n",
             pt[i].threads, pt[i].getfolder,
             pt[i].getfolder_ng > 0 ? pt[i].getfolder / pt[i].getfolder_ng : 0, pt[i].finditem,
             pt[i].finditem_ng > 0 ? pt[i].finditem / pt[i].finditem_ng : 0, pt[i].https_getfolder,
             pt[i].https_finditem);
  }
  if(!o.skip_memory && memory(&o, dir) != 0)
    all_ok = false;
  result = all_ok ? 0 : 1;
  curl_global_cleanup();
  bench_rmdir(dir);
  return result;
}

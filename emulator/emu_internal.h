/* emu_internal.h - private state of the emulator, shared by its modules.
 *
 * Ownership: struct emu owns everything reachable from it (users, mailboxes,
 * folders, items, hosts, faults, journal). Strings in these structs are
 * malloc'd and owned by their struct.
 *
 * Locks (several event loop threads answer requests at once):
 * - emu->world (rwlock): the shape of the world: users, hosts, the mailbox
 *   table, scenario, schema, Kerberos keys. A request holds it for reading
 *   from routing to its journal entry; the public API and the admin API
 *   (scenario load, reset, inspection, delivery) take it for writing, which
 *   also gives them every mailbox.
 * - m->lock (a rwlock per mailbox): its folders, items, tombstones and
 *   change sequences. An EWS request locks the mailboxes it can touch (the
 *   acting one, every mailbox named by an id or address in it), in table
 *   order, before its operation runs, and keeps them until its journal entry
 *   is written, so per mailbox the journal order is the order of the
 *   changes. Operations that only read (GetFolder, FindItem, GetItem, the
 *   Sync operations...) share them, the others hold them alone. Answers are
 *   built under these locks only.
 * - emu->store_lock: item and folder numbers, the item and folder indexes and
 *   item->folder (so an id can be mapped to its mailbox before locking it).
 * - emu->fault_lock: fault counters and generators (emu_fault_match), so
 *   "every=N" and "times=N" count across threads.
 * - emu->journal_lock: the journal ring and sequence numbers.
 * - emu->lock: everything else (connections' counters and auth state,
 *   pending delayed answers, certificates, settings; in-flight counts and
 *   the answer check switch are atomics).
 * Order: world, then mailboxes by index, then a worker's conn_lock, then one
 * of store_lock / fault_lock / journal_lock / emu->lock (never two of those).
 *
 * Module map (one file each): server.c (listeners, loop, routing), hosts.c
 * (virtual hosts), auth.c + ntlm.c (Basic, NTLM/Negotiate), tlscert.c
 * (throwaway PKI), ews.c (SOAP checks and dispatch) + ews_folder.c +
 * ews_item.c + ews_sync.c (operations, ews_ops.h) + ews_write.c (streaming
 * answer helpers), item_types.c, mailstore.c + index.c, scenario.c,
 * faults.c, journal.c, autodiscover.c, admin.c, replay.c.
 */
#ifndef EMU_INTERNAL_H
#define EMU_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>

#include "exsync-emulator/emulator.h"
#include "exsync/buf.h"

#define EMU_NS_SOAP "http://schemas.xmlsoap.org/soap/envelope/"
#define EMU_NS_M "http://schemas.microsoft.com/exchange/services/2006/messages"
#define EMU_NS_T "http://schemas.microsoft.com/exchange/services/2006/types"
#define EMU_NS_E "http://schemas.microsoft.com/exchange/services/2006/errors"

#define EMU_MAX_BODY (16u * 1024u * 1024u) /* request and answer cap */
#define EMU_JOURNAL_CAP 4096
#define EMU_MAX_THREADS 256 /* event loop threads (emu_set_threads) */

/* ---- mailstore ---- */

/* An extended property: the URI attributes as given, plus the value. The
 * key (set/name/id/tag, case-folded) identifies it; type is echoed. */
struct emu_prop {
  char *dset; /* DistinguishedPropertySetId or NULL */
  char *pset; /* PropertySetId or NULL */
  char *tag;  /* PropertyTag or NULL */
  char *name; /* PropertyName or NULL */
  char *pid;  /* PropertyId or NULL */
  char *type; /* PropertyType */
  char *value;
  struct emu_prop *next;
};

struct emu_folder;
struct emu;

/* index.c: number (or address hash) -> object. */
struct emu_index {
  uint64_t *keys; /* 0: empty slot */
  void **vals;
  size_t cap, n;
  bool strings; /* keys are address hashes: several entries may share one */
};

enum { EMU_KIND_MESSAGE, EMU_KIND_CALENDAR, EMU_KIND_CONTACT, EMU_KIND_TASK, EMU_KIND_ITEM };

/* A field kept verbatim from a request (serialized with the t: prefix),
 * answered at its schema position. */
struct emu_frag {
  char *name; /* local name, e.g. "Start" */
  int order;  /* emu_field_order */
  char *xml;
  struct emu_frag *next;
};

struct emu_item {
  uint64_t num; /* unique in the emulator; the Id encodes it */
  unsigned ck;  /* change counter, the ChangeKey encodes it */
  struct emu_folder *folder;
  char *item_class; /* "IPM.Note" */
  char *subject;
  char *body;
  bool body_html;
  char *mime; /* raw RFC 822 bytes or NULL */
  size_t mime_len;
  char *from; /* smtp */
  char **to;
  size_t nto;
  char **cc;
  size_t ncc;
  char **categories;
  size_t ncat;
  char *message_id;
  time_t received, sent, created;
  bool is_read;
  bool is_draft;
  struct emu_prop *props;
  int kind;               /* EMU_KIND_* */
  struct emu_frag *frags; /* type-specific fields, in schema order */
  uint64_t created_seq;   /* mailbox change sequence when it entered its folder */
  uint64_t mod_seq;       /* ... when it last changed */
  uint32_t art;           /* PR_INTERNET_ARTICLE_NUMBER: its number in its folder */
  int64_t mtime_ms;       /* last change (PR_LAST_MODIFICATION_TIME), strictly increasing */
};

/* An item that left a folder, for SyncFolderItems deletes. */
struct emu_tombstone {
  uint64_t num;
  unsigned ck;
  uint64_t created_seq, seq;
};

struct emu_folder {
  uint64_t num;
  unsigned ck;
  struct emu_mailbox *mbx;
  struct emu_folder *parent; /* NULL for root */
  char *distinguished;       /* "inbox" or NULL */
  char *name;
  char *folder_class; /* "IPF.Note" */
  bool access_denied; /* every access answers ErrorAccessDenied */
  struct emu_prop *props;
  struct emu_item **items;
  size_t nitems, capitems;
  struct emu_tombstone *tombs;
  size_t ntombs, captombs;
  uint32_t next_art;     /* next article number: grows with every arrival, never reused */
  uint64_t created_hseq; /* mailbox hierarchy sequence when it was created */
  uint64_t hseq;         /* ... when it last changed (name, properties, parent) */
  int64_t mtime_ms;      /* last change of its contents (the ctag DavMail polls) */
};

struct emu_mailbox {
  struct emu *emu;
  pthread_rwlock_t lock; /* its contents (see the top of this file) */
  size_t index;          /* position in emu->mailboxes */
  char *smtp;
  char *display;
  char *owner;      /* login of the owning user or NULL */
  char **delegates; /* logins with delegate access */
  size_t ndelegates;
  struct emu_folder **folders;
  size_t nfolders, capfolders;
  uint64_t change_seq;          /* bumped by every item change in the mailbox */
  uint64_t hier_seq;            /* bumped by every folder creation, change or removal */
  struct emu_tombstone *ftombs; /* removed folders, for SyncFolderHierarchy deletes */
  size_t nftombs, capftombs;
};

struct emu_user {
  char *login;
  char *password;
  char *domain;
  char *smtp; /* own mailbox address, or NULL */
  bool impersonate_all;
  char **impersonate; /* smtp addresses it may impersonate */
  size_t nimpersonate;
  atomic_int in_flight; /* requests answering now (every thread's) */
};

/* ---- virtual hosts ---- */
enum emu_ad_action { EMU_AD_SETTINGS, EMU_AD_REDIRECT_ADDR, EMU_AD_REDIRECT_URL, EMU_AD_ERROR };

struct emu_host {
  char *name; /* lower case, no port; "*" = any other host */
  bool ews;
  bool pox;
  bool soap;
  bool basic, ntlm, negotiate;
  int redirect_status; /* 0 or 301/302/307 for GET autodiscover.xml */
  char *redirect_location;
  char *ews_url;  /* advertised EwsUrl, NULL: derived */
  char *ews_host; /* host name for the derived EwsUrl, NULL: the request's */
  enum emu_ad_action ad_action;
  char *ad_target;   /* redirect address / url */
  char *tls_variant; /* "expired", "wrong-name", "untrusted" or NULL (for tlscert) */
};

/* ---- faults ---- */
enum emu_fault_kind {
  EMU_FAULT_EWS,
  EMU_FAULT_HTTP,
  EMU_FAULT_DELAY,
  EMU_FAULT_RESET,
  EMU_FAULT_TRUNCATED,
  EMU_FAULT_MALFORMED,
  EMU_FAULT_SERVER_ERROR,
  EMU_FAULT_CUT, /* the answer's first cut_after body bytes, then the connection closes */
  EMU_FAULT_DRIP /* the answer drip_bytes at a time, one piece per drip_ms */
};

struct emu_fault {
  int id;
  char *host, *mailbox, *operation, *user; /* scope, NULL = any */
  enum emu_fault_kind kind;
  char *ews_code;
  long backoff_ms; /* -1: none */
  int http_status;
  long delay_ms;
  long delay_max_ms;  /* random delay in [delay_ms, delay_max_ms] when > delay_ms */
  long times;         /* 0: unlimited */
  long every;         /* 0: every request */
  double probability; /* 1.0: always */
  long seen;          /* matching requests so far */
  long fired;
  uint64_t rng;             /* the fault's own generator (seed=N) */
  long cur_delay_ms;        /* delay chosen at the last firing */
  long cut_after;           /* EMU_FAULT_CUT */
  long drip_bytes, drip_ms; /* EMU_FAULT_DRIP */
};

/* ---- journal ---- */
struct emu_journal {
  struct emu_journal_entry *ring;
  size_t cap, start, count;
  uint64_t next_seq;
  char (*max_users)[128]; /* per-user in-flight maxima */
  int *max_values;
  size_t nmax;
  int max_any;
};

struct emu_listener {
  struct evhttp_bound_socket *handle;
  bool tls;
  char bound[64];
};

struct answer;

/* One event loop thread: its base, its evhttps and the connections it
 * accepted. A connection lives on one worker from accept to close; only that
 * worker changes its record (under conn_lock, so other workers can pick a
 * victim for the connection cap). */
struct emu_conn;
struct emu_worker;
struct emu_side {
  struct emu *emu;
  struct emu_worker *worker;
  bool tls;
};
struct emu_worker {
  struct emu *emu;
  unsigned index;
  struct event_base *base;
  struct evhttp *http;  /* plain listeners */
  struct evhttp *https; /* TLS listeners (created at first TLS listen) */
  struct emu_side side_plain, side_tls;
  pthread_mutex_t conn_lock;
  struct emu_conn *oldest, *newest;
  pthread_t thread;
  bool thread_running;
  unsigned limits_gen; /* conns.limits_gen its evhttps have */
};

/* conn.c: limits and counters of every worker's connections. */
struct emu_conns {
  /* emu_set_limits may change them while the threads read them: atomics,
   * and limits_gen tells each worker to apply them to its evhttps on its
   * own thread (its next accept) */
  struct {
    atomic_long idle_timeout_ms, request_timeout_ms, max_header_bytes, max_connections,
        accept_pause_ms;
  } limits;                 /* defaults filled in */
  atomic_bool explicit_max; /* max_connections set by the caller */
  atomic_uint limits_gen;
  uint64_t next_id;
  struct emu_conn_stats stats;
  size_t remote_evictions; /* asked of another worker, not done yet */
  int64_t last_log_ms;
  size_t unlogged_pauses;
  /* per-connection state kept elsewhere (auth.c's NTLM handshakes) */
  void (*on_close)(struct emu *emu, struct evhttp_connection *evcon);
};
void emu_conns_init(struct emu *emu);
/* Body and header size limits and the backstop timeout of one evhttp. */
void emu_conn_http_limits(struct emu *emu, struct evhttp *http);
void emu_conns_destroy(struct emu *emu);
/* The bufferevent a new connection of worker w gets (evhttp's bevcb): tracked. */
struct bufferevent *emu_conn_adopt(struct emu_worker *w, struct bufferevent *bev);
/* A listener of w was added: pause accepts on errors instead of spinning. */
void emu_conn_listener_added(struct emu_worker *w, struct evhttp_bound_socket *h);
/* A request of evcon entered the handler: its timeouts stop. Returns an id
 * for emu_conn_request_done (0 when the connection is not tracked). */
uint64_t emu_conn_request_start(struct emu_worker *w, struct evhttp_connection *evcon);
/* Its answer was handed to evhttp: the idle timeout runs again. */
void emu_conn_request_done(struct emu_worker *w, uint64_t id);
/* True while the connection of id (emu_conn_request_start) is open. */
bool emu_conn_alive(struct emu_worker *w, uint64_t id);
/* True when evcon is tracked (its close is seen). Its worker's thread. */
bool emu_conn_tracked(struct emu *emu, struct evhttp_connection *evcon);
/* The worker whose base is base, NULL when none. */
struct emu_worker *emu_worker_of(struct emu *emu, struct event_base *base);

struct emu {
  pthread_mutex_t lock;
  pthread_rwlock_t world;
  pthread_mutex_t store_lock, fault_lock, journal_lock;
  struct emu_worker **workers; /* [0] runs in emu_run's thread or emu_start's first */
  size_t nworkers;
  bool listening;          /* emu_listen was called: the worker count is fixed */
  struct event_base *base; /* workers[0]->base */
  SSL_CTX *ssl_ctx;
  struct emu_tls_ca *ca; /* the generated throwaway CA (no certificate files given) */
  char *cert_file, *key_file;
  char *scenario_path; /* last scenario loaded, for emu_reset */
  struct emu_host_cert {
    char *host;
    SSL_CTX *ctx;
  } * host_certs; /* per-host certificates chosen by SNI */
  size_t nhost_certs;
  struct emu_conn_auth *conn_auth; /* auth.c */
  struct emu_krb *krb;             /* Kerberos acceptor (--keytab), NULL: none */
  struct exs_schema *ews_schema;   /* request validation (process-wide cache, not owned) */
  char *ews_schema_dir;            /* directory of Services.wsdl, messages.xsd, types.xsd */
  atomic_bool check_answers;       /* validate answers too (emu_check_answers) */
  size_t invalid_answers;
  char first_invalid[512];
  struct event *sigint_ev, *sigterm_ev;
  bool thread_running;  /* emu_start's threads run */
  atomic_bool stopping; /* emu_stop was called: sticky until the loops ended,
                           so a stop during start-up is not lost */
  pthread_cond_t started_cond;
  size_t loops_started;
  struct answer *pending; /* answers waiting for a delay timer (server.c) */

  struct emu_user **users;
  size_t nusers;
  uint64_t users_gen; /* bumped when the users are freed (emu_store_clear):
                         a held answer's user is gone when it changed */
  struct emu_mailbox **mailboxes;
  size_t nmailboxes;
  struct emu_host **hosts;
  size_t nhosts;
  struct emu_fault **faults;
  size_t nfaults;
  int next_fault_id;
  uint64_t rng;                   /* the scenario's seed: the generator of its faults
                                     that give no seed= of their own */
  uint64_t next_num;              /* folder and item numbers */
  struct emu_index item_index;    /* attached items by number */
  struct emu_index folder_index;  /* folders by number */
  struct emu_index mailbox_index; /* mailboxes by address */
  struct emu_journal journal;
  struct emu_listener *listeners; /* grown as needed: no cap on listeners */
  size_t nlisteners, listeners_cap;
  char *scenario_dir;     /* admin /load reads only here (NULL: nothing) */
  struct emu_conns conns; /* conn.c */
};

/* mailstore.c */
void emu_store_clear(struct emu *emu);
struct emu_user *emu_user_find(struct emu *emu, const char *login);
struct emu_user *emu_user_add(struct emu *emu, const char *login, const char *password,
                              const char *domain, const char *smtp);
struct emu_mailbox *emu_mailbox_find(struct emu *emu, const char *smtp);
struct emu_mailbox *emu_mailbox_add(struct emu *emu, const char *smtp, const char *display,
                                    const char *owner);
struct emu_folder *emu_folder_distinguished(struct emu_mailbox *m, const char *name);
struct emu_folder *emu_folder_add(struct emu *emu, struct emu_mailbox *m, struct emu_folder *parent,
                                  const char *distinguished, const char *name, const char *cls);
struct emu_folder *emu_folder_by_num(struct emu *emu, uint64_t num);
/* Remove and free a folder with its items and subfolders. */
void emu_folder_remove(struct emu_folder *f);
/* Record a change of f's own properties (change key, hierarchy sequence). */
void emu_folder_touch(struct emu_folder *f);
struct emu_item *emu_item_new(struct emu *emu, struct emu_folder *f);
void emu_item_free(struct emu_item *it);
void emu_item_detach(struct emu_item *it);
/* Record a change of it (change key and sync sequence). */
void emu_item_touch(struct emu_item *it);
/* A modification time (ms, whole seconds) after prev: strictly increasing. */
int64_t emu_stamp_ms(int64_t prev);
int emu_item_attach(struct emu_folder *f, struct emu_item *it);
struct emu_item *emu_item_by_num(struct emu *emu, uint64_t num);
/* The mailbox holding the item (kind 'I') or folder ('F') numbered num,
 * NULL when none: safe without that mailbox's lock. */
struct emu_mailbox *emu_owner_of(struct emu *emu, char kind, uint64_t num);
/* A new folder or item number (unique in the emulator). */
uint64_t emu_next_num(struct emu *emu);
void emu_world_read(struct emu *emu);
void emu_world_write(struct emu *emu);
void emu_world_unlock(struct emu *emu);
struct emu_item *emu_item_copy(struct emu *emu, const struct emu_item *src, struct emu_folder *f);
bool emu_mailbox_is_delegate(const struct emu_mailbox *m, const char *login);
bool emu_user_may_impersonate(const struct emu_user *u, const char *smtp);
/* Deliver a copy of item to the inbox of every emulated recipient (the
 * caller holds the world lock for writing). */
void emu_deliver(struct emu *emu, const struct emu_item *msg);
struct emu_ews_ctx;
/* The same from an EWS request: the copies are made now and put into the
 * inboxes by emu_deliveries_run, once the request's mailboxes are unlocked
 * (the recipients' mailboxes are locked one at a time then; a MIME message
 * names them only in its headers, too late to lock them in order). */
void emu_deliver_later(struct emu_ews_ctx *ctx, const struct emu_item *msg);
void emu_deliveries_run(struct emu_ews_ctx *ctx);
/* The world lock (the top of this file). */
void emu_world_init(struct emu *emu);
void emu_world_destroy(struct emu *emu);
void emu_prop_free_list(struct emu_prop *p);
struct emu_prop *emu_prop_find(struct emu_prop *list, const struct emu_prop *key);
/* Set (insert or replace) a property in *list; takes a copy of key's fields. */
int emu_prop_set(struct emu_prop **list, const struct emu_prop *key, const char *value);
char *emu_strdup(const char *s);
char *emu_strdup_lower(const char *s);
const char *emu_strcasestr(const char *hay, const char *needle);
int emu_strv_add(char ***v, size_t *n, const char *s);
void emu_strv_free(char **v, size_t n);

void emu_index_free(struct emu_index *ix);
int emu_index_put(struct emu_index *ix, uint64_t num, void *val);
void *emu_index_get(const struct emu_index *ix, uint64_t num);
void emu_index_del(struct emu_index *ix, uint64_t num, const void *val);
int emu_index_put_mailbox(struct emu_index *ix, struct emu_mailbox *m);
struct emu_mailbox *emu_index_get_mailbox(const struct emu_index *ix, const char *smtp);

/* item_types.c: schema position of an item field for a kind, -1 unknown. */
int emu_field_order(int kind, const char *name);
/* Store (replace) a verbatim field; xml NULL removes it. 0 or -1. */
int emu_frag_set(struct emu_item *it, const char *name, int order, const char *xml);
void emu_frag_free_list(struct emu_frag *f);

/* Ids: printable tokens encoding kind + number, and change keys. */
void emu_id_encode(char kind, uint64_t num, char *out, size_t outlen);
int emu_id_decode(const char *id, char *kind, uint64_t *num);
void emu_ck_encode(char kind, unsigned ck, char *out, size_t outlen);

/* hosts.c */
struct emu_host *emu_host_find(struct emu *emu, const char *name);
struct emu_host *emu_host_add(struct emu *emu, const char *name);
void emu_hosts_clear(struct emu *emu);

/* faults.c */
/* Parse spec into a new fault (not added). */
struct emu_fault *emu_fault_parse(const char *spec, char *err, size_t errlen);
void emu_fault_free(struct emu_fault *f);
int emu_fault_add_locked(struct emu *emu, struct emu_fault *f);
void emu_faults_clear_locked(struct emu *emu);
/* First fault matching the request that fires now (counters advance), and
 * the delay it chose (its cur_delay_ms may change under other threads). */
struct emu_fault *emu_fault_match(struct emu *emu, const char *host, const char *mailbox,
                                  const char *operation, const char *user, long *delay_ms);

/* journal.c */
int emu_journal_init(struct emu_journal *j, size_t cap);
void emu_journal_destroy(struct emu_journal *j);
/* Record e (its time and sequence number are set here); takes journal_lock. */
void emu_journal_add(struct emu *emu, struct emu_journal_entry *e);

/* scenario.c */
int emu_scenario_load_locked(struct emu *emu, const char *path, char *err, size_t errlen);

/* One EWS request as the dispatcher sees it. */
struct emu_ews_ctx {
  struct emu *emu;
  struct emu_user *user;       /* authenticated caller */
  struct emu_mailbox *acting;  /* impersonated or own mailbox; may be NULL */
  const char *effective_login; /* whose rights apply (impersonated owner or caller) */
  const char *host;
  char operation[64];
  char mailbox[256]; /* the mailbox acted on (journal) */
  char impersonated[256];
  char response_code[64]; /* first ResponseCode / fault code */
  int status;             /* HTTP status */
  struct exs_buf *out;
  /* transport-level fault chosen for this request (server.c applies it) */
  enum emu_fault_kind fault_kind;
  bool has_fault;
  long delay_ms;                 /* delay before answering, 0: none */
  const struct emu_fault *fault; /* the fault fired (cut/drip parameters), NULL none */
  /* the mailboxes this request may touch, locked (by index) until
   * emu_ews_finish; exclusive: the caller holds the world lock for writing */
  struct emu_mailbox **locked;
  size_t nlocked;
  bool exclusive;
  struct emu_delivery *deliveries; /* emu_deliver_later */
};

/* ews.c: handle one SOAP body; fills out (complete HTTP body) and ctx
 * fields. The caller holds the world lock. */
void emu_ews_handle(struct emu_ews_ctx *ctx, const char *body, size_t len);
/* The same for a request parsed already (outside any lock; NULL with the
 * parser's message in parse_err when it failed). Frees doc. The mailboxes
 * the operation touched stay locked: emu_ews_finish after the journal entry. */
struct _xmlDoc;
void emu_ews_handle_doc(struct emu_ews_ctx *ctx, struct _xmlDoc *doc, const char *parse_err);
/* Unlock the mailboxes of ctx and check its answer (emu_check_answers). */
void emu_ews_finish(struct emu_ews_ctx *ctx);
/* True when ctx holds m's lock (ids resolving elsewhere are not found). */
bool emu_ews_may_touch(const struct emu_ews_ctx *ctx, const struct emu_mailbox *m);
/* ews_write.c: write a SOAP fault with HTTP 500 into ctx. backoff_ms < 0: no MessageXml. */
void emu_ews_fault(struct emu_ews_ctx *ctx, const char *code, const char *text, long backoff_ms,
                   const char *smtp);

/* autodiscover.c: POX (pox=true) or SOAP body -> answer in out; returns HTTP status. */
int emu_autodiscover_handle(struct emu *emu, struct emu_host *host, bool pox, bool tls,
                            const char *hosthdr, const char *body, size_t len, struct exs_buf *out,
                            char *mailbox, size_t mblen, char *code, size_t codelen);

/* autodiscover.c: answer an injected EWS error code the Autodiscover way
 * (POX ErrorCode 500, SOAP ErrorCode ServerBusy/InvalidUser/...). */
void emu_autodiscover_fault(bool is_pox, const char *ews_code, struct exs_buf *out, char *code,
                            size_t codelen);

/* auth.c */
enum emu_auth_result { EMU_AUTH_OK, EMU_AUTH_NONE, EMU_AUTH_BAD, EMU_AUTH_CONTINUE };
/* Check the Authorization header; on OK *user is set and *scheme names how
 * ("basic", "ntlm", "negotiate-kerberos", "negotiate-ntlm"). For CONTINUE
 * the challenge to send back is written to challenge; on OK challenge may
 * hold a WWW-Authenticate value to send with the answer (Kerberos mutual
 * authentication), else it is "". */
enum emu_auth_result emu_auth_check(struct emu *emu, const struct emu_host *host,
                                    const char *authorization, struct evhttp_connection *conn,
                                    struct emu_user **user, const char **scheme, char *challenge,
                                    size_t chlen);
/* Per-connection authentication state (NTLM and Negotiate authenticate the
 * TCP connection, not the request). Created on demand, freed when evhttp
 * closes the connection. Takes emu->lock for the list. */
struct emu_conn_auth {
  struct evhttp_connection *conn;
  char login[128]; /* user authenticated on this connection, "" none */
  void *ntlm;      /* ntlm.c's handshake state (challenge ...) */
  void (*ntlm_free)(void *);
  struct emu_krb_ctx *krb; /* krb.c's context between SPNEGO rounds */
  const char *scheme;      /* how login was authenticated (static string) */
  char refusal[160];       /* why the last token was refused ("kerberos: ..."), "" */
  struct emu_conn_auth *next;
};
struct emu_conn_auth *emu_conn_auth_get(struct emu *emu, struct evhttp_connection *conn,
                                        bool create);
void emu_conn_auth_clear(struct emu *emu);
/* Called (conns.on_close) when evhttp closes conn; takes emu->lock. */
void emu_conn_auth_forget(struct emu *emu, struct evhttp_connection *conn);
/* Add the WWW-Authenticate headers for host to headers. */
void emu_auth_challenge_headers(const struct emu_host *host, const char *hostname,
                                struct evkeyvalq *headers);

/* admin.c: /_emulator/... ; returns HTTP status and fills out. */
int emu_admin_handle(struct emu *emu, const char *method, const char *path, const char *query,
                     const char *body, size_t len, struct exs_buf *out);

#endif

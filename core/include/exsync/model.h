/* exsync/model.h - the CRM-side model: org email settings, deployment
 * properties, email server profiles and mailboxes, with the product's
 * integer codes (docs/org-file.md).
 *
 * Plain value structs: the caller owns them, they hold no pointers, so they
 * can be copied with '='. Password fields hold plaintext only while a struct
 * is in use; call exs_*_wipe before letting it go. The store keeps them
 * encrypted (secret.h).
 */
#ifndef EXSYNC_MODEL_H
#define EXSYNC_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "exsync/http.h" /* enum exs_auth_protocol */

/* Credential retrieval ("authenticate using"). 2 and 5..7 are not used on premises. */
enum exs_retrieval {
  EXS_RETRIEVAL_USER = 0,     /* credentials specified by a user or queue */
  EXS_RETRIEVAL_PROFILE = 1,  /* credentials specified in the profile */
  EXS_RETRIEVAL_WINDOWS = 3,  /* Windows integrated authentication */
  EXS_RETRIEVAL_ANONYMOUS = 4 /* rejected: not a valid setting */
};

enum exs_incoming_delivery {
  EXS_IN_NONE = 0,
  EXS_IN_OUTLOOK = 1,
  EXS_IN_SSYNC = 2,
  EXS_IN_FORWARD = 3
};
enum exs_outgoing_delivery { EXS_OUT_NONE = 0, EXS_OUT_OUTLOOK = 1, EXS_OUT_SSYNC = 2 };
/* ACT delivery has a different order in the product. */
enum exs_act_delivery { EXS_ACT_OUTLOOK = 0, EXS_ACT_SSYNC = 1, EXS_ACT_NONE = 2 };
enum exs_approval {
  EXS_APPROVAL_EMPTY = 0,
  EXS_APPROVAL_APPROVED = 1,
  EXS_APPROVAL_PENDING = 2,
  EXS_APPROVAL_REJECTED = 3
};
enum exs_status { EXS_STATUS_NOT_RUN = 0, EXS_STATUS_SUCCESS = 1, EXS_STATUS_FAILURE = 2 };
enum exs_track { EXS_TRACK_RESPONSES = 0, EXS_TRACK_ALL = 1 };

/* The three workloads of a mailbox. */
enum exs_workload { EXS_WL_INCOMING = 0, EXS_WL_OUTGOING = 1, EXS_WL_ACT = 2, EXS_WL_COUNT = 3 };

#define EXS_NAME_MAX 100
#define EXS_DESCRIPTION_MAX 2000
#define EXS_URL_MAX 2084
#define EXS_USER_MAX 250
#define EXS_PASSWORD_MAX 250
#define EXS_ADDRESS_MAX 320

/* Organization email settings plus the deployment properties. */
struct exs_org {
  char id[64]; /* organization id (GUID) */
  char default_profile[EXS_NAME_MAX + 1];
  int default_incoming;     /* enum exs_incoming_delivery, default SSYNC */
  int default_outgoing;     /* enum exs_outgoing_delivery, default SSYNC */
  int default_act;          /* enum exs_act_delivery, default SSYNC */
  bool approve_users;       /* default true */
  bool approve_queues;      /* default true */
  bool alerts_errors;       /* default true */
  bool alerts_warnings;     /* default false */
  bool alerts_information;  /* default true */
  bool notify_owners;       /* profile-level alerts to mailbox owners; default false */
  bool ignore_internal;     /* default false */
  char tracking_prefix[21]; /* default "CRM:" */
  /* deployment properties (ServerSideSyncEmailSettings), all default false */
  bool allow_credentials_non_secure;
  bool allow_basic_non_secure;
  bool allow_non_ssl;
  /* domain-joined Autodiscover: the directory whose service connection
   * points are asked first ("" none), and this machine's AD site */
  char ldap[EXS_URL_MAX + 1];
  char ldap_site[EXS_NAME_MAX + 1];
};

struct exs_profile {
  int64_t id; /* store row id, 0 when not stored */
  char name[EXS_NAME_MAX + 1];
  char description[EXS_DESCRIPTION_MAX + 1];
  bool autodiscover; /* default false */
  char incoming_url[EXS_URL_MAX + 1];
  char outgoing_url[EXS_URL_MAX + 1]; /* "" defaults to incoming_url */
  bool same_outgoing;                 /* default true: the out_* settings copy incoming's */
  int retrieval;                      /* enum exs_retrieval */
  bool impersonation;                 /* default false (delegation) */
  char user[EXS_USER_MAX + 1];
  char password[EXS_PASSWORD_MAX + 1]; /* plaintext while in use */
  int protocol;                        /* enum exs_auth_protocol, default autodetect */
  time_t process_from;                 /* 0: not set */
  int poll_minutes;                    /* 0..1440 */
  int max_connections;                 /* 1..300, default 10 */
  bool move_undeliverable;             /* default false */
  bool timeout_enabled;                /* default true */
  int timeout_ms;                      /* 0..100000, default 100000 */
  char owner[EXS_ADDRESS_MAX + 1];
  /* The outgoing settings (the product's outgoingcredentialretrieval,
   * outgoingusername, outgoingpassword, outgoinguseimpersonation,
   * outgoingauthenticationprotocol). exs_profile_validate copies the
   * incoming ones here when same_outgoing is true. */
  int out_retrieval; /* enum exs_retrieval */
  bool out_impersonation;
  char out_user[EXS_USER_MAX + 1];
  char out_password[EXS_PASSWORD_MAX + 1]; /* plaintext while in use */
  int out_protocol;                        /* enum exs_auth_protocol */
};

struct exs_mailbox {
  int64_t id;
  char name[256];
  char address[EXS_ADDRESS_MAX + 1];
  bool is_queue;                  /* kind="queue" */
  bool active;                    /* default true */
  char profile[EXS_NAME_MAX + 1]; /* profile name, "" for none */
  int incoming;                   /* enum exs_incoming_delivery */
  int outgoing;                   /* enum exs_outgoing_delivery */
  int act;                        /* enum exs_act_delivery */
  int approval;                   /* enum exs_approval */
  bool allow_credentials;
  char user[EXS_USER_MAX + 1];
  char password[EXS_PASSWORD_MAX + 1]; /* plaintext while in use */
  bool sync_org_only;                  /* "sync with Exchange from this org only" */
  int track;                           /* enum exs_track */
  time_t process_from;                 /* 0: not set */
  /* results of Test & Enable */
  int status[EXS_WL_COUNT]; /* enum exs_status */
  bool enabled[EXS_WL_COUNT];
  char ews_url[EXS_URL_MAX + 1]; /* last Autodiscover answer */
  time_t autodiscovered_on;
  time_t test_completed_on;
  int retry_count;          /* Test & Enable runs */
  int retry_interval_s;     /* the schedule of the test that set retry_at */
  int retry_max;            /* (0: the product's 300 s and 10 tries) */
  int transient_failures;   /* consecutive transient failures (10 x 5 min rule) */
  time_t retry_at;          /* next scheduled retry, 0: none */
  char last_error_code[64]; /* category name */
  char last_error[512];
  int last_error_count;
  time_t last_error_time;
  /* sync runtime (sync engine) */
  time_t postponed_until;
  time_t last_sync_start;
  time_t last_sync_success;
  int items_processed;
  int items_failed;
  char processing_host[128];
};

/* A rejected value: which field and which rule. */
struct exs_invalid {
  char field[48]; /* the org-file attribute name, e.g. "max-connections" */
  char rule[256]; /* e.g. "must be between 1 and 300" */
};

/* Fill with the product's defaults. */
void exs_org_defaults(struct exs_org *org);
void exs_profile_defaults(struct exs_profile *p);
void exs_mailbox_defaults(struct exs_mailbox *m);

/* Validate; an empty outgoing_url becomes incoming_url, and with
 * same_outgoing the out_* settings become copies of the incoming ones.
 * Return 0 or -1 with the first violation in inv. */
int exs_profile_validate(struct exs_profile *p, struct exs_invalid *inv);
int exs_mailbox_validate(const struct exs_mailbox *m, struct exs_invalid *inv);

/* Wipe password fields (OPENSSL_cleanse). */
void exs_profile_wipe(struct exs_profile *p);
void exs_mailbox_wipe(struct exs_mailbox *m);

/* A password the store holds but left sealed (a list read without
 * EXS_STORE_WITH_SECRETS): the buffer stays an empty string, so it is never
 * taken for a value (logon, comparisons), with a mark after its NUL that
 * says one is stored. The store refuses to write a struct so marked: that
 * would replace the stored password. size: the buffer's. */
void exs_password_mark_sealed(char *pw, size_t size);
bool exs_password_is_sealed(const char *pw, size_t size);

/* Names of codes as the org file spells them, and back (-1 when unknown).
 * The _name functions return static strings; an unknown code gives "unknown". */
const char *exs_retrieval_name(int code); /* "user", "profile", "windows", "anonymous" */
int exs_retrieval_parse(const char *s);
const char *exs_protocol_name(int code); /* "autodetect", "negotiate", "ntlm", "basic" */
int exs_protocol_parse(const char *s);
const char *exs_incoming_name(int code); /* "none", "outlook", "ssync", "forward" */
int exs_incoming_parse(const char *s);
const char *exs_outgoing_name(int code); /* "none", "outlook", "ssync" */
int exs_outgoing_parse(const char *s);
const char *exs_act_name(int code); /* "outlook", "ssync", "none" */
int exs_act_parse(const char *s);
const char *exs_approval_name(int code); /* "empty", "approved", "pending", "rejected" */
int exs_approval_parse(const char *s);
const char *exs_status_name(int code);              /* "Not Run", "Success", "Failure" */
const char *exs_workload_name(enum exs_workload w); /* "incoming", "outgoing", "act" */

/* Whether workload w of m uses server-side sync (else it is "Not Run"). */
bool exs_mailbox_uses_ssync(const struct exs_mailbox *m, enum exs_workload w);

/* ---- limits and validation ---- */

/* Mailbox name limit (the product's mailbox name is String(200)). */
#define EXS_MAILBOX_NAME_MAX 200
#define EXS_TRACKING_PREFIX_MAX 20

/* Validate org settings (delivery codes, lengths, default-profile name).
 * Returns 0 or -1 with the first violation in inv (field = org-file
 * attribute name, e.g. "default-profile"). */
int exs_org_validate(const struct exs_org *org, struct exs_invalid *inv);

/* Email address syntax: local@domain, local part of atext and single dots
 * (1..64), domain of letters/digits/hyphen labels (1..63 each, no leading or
 * trailing hyphen), at most EXS_ADDRESS_MAX characters in all. */
bool exs_address_valid(const char *address);

/* A URL acceptable as a server location: "http://" or "https://" (any case)
 * followed by a non-empty host, no spaces or control characters, at most
 * EXS_URL_MAX characters. */
bool exs_url_valid(const char *url);

/* How one workload of a mailbox reaches Exchange: THE decision of whose
 * credentials, which location and which protocol (docs/test-enable.md, steps 2, 3
 * and 7), used by Test & Enable, the profile check and the sync engine.
 * Incoming and ACT use the profile's incoming settings, outgoing its
 * outgoing settings. Strings are borrowed from p and m. */
struct exs_access {
  int retrieval;    /* enum exs_retrieval */
  const char *user; /* "" for the running identity (windows) */
  const char *password;
  bool mailbox_credentials;    /* retrieval user: the mailbox's own */
  bool impersonation;          /* impersonate the mailbox; false with profile or windows
                                  credentials: delegation */
  enum exs_auth_protocol auth; /* windows: Negotiate */
  const char *url;             /* the fixed location; "" with Autodiscover */
};
/* Fill a for workload w of m under p. Returns 0, or -1 with err set (no
 * network is needed to decide): MBX_CREDENTIALS when the mailbox's own
 * credentials are not allowed or missing, CREDENTIALS when the profile has
 * none, CONFIG for an invalid retrieval. err's step is "credentials". */
int exs_access_for(const struct exs_profile *p, const struct exs_mailbox *m, enum exs_workload w,
                   struct exs_access *a, struct exs_error *err);
/* A key naming a's (location, credential) pair, for the profile check:
 * equal keys mean the same request would authenticate the same way. The
 * password is not in the key (a hash of it is). */
void exs_access_key(const struct exs_access *a, const char *url, char *buf, size_t len);
/* The part of the transport settings a's workload decides, into ho (start
 * it with exs_http_options_init and the run's settings): a's protocol and
 * credentials (copied), the org's plain-HTTP rules and the profile's
 * time-outs. */
void exs_access_http_options(const struct exs_access *a, const struct exs_org *org,
                             const struct exs_profile *p, struct exs_http_options *ho);

/* What a change re-opens (docs/test-enable.md, Alerts, retry and disable): a bit per workload (1u
 * << w). */
#define EXS_WL_BIT(w) (1u << (w))
#define EXS_WL_ALL                                                                                 \
  (EXS_WL_BIT(EXS_WL_INCOMING) | EXS_WL_BIT(EXS_WL_OUTGOING) | EXS_WL_BIT(EXS_WL_ACT))
/* The workloads of a mailbox that the change from old to m re-opens: its
 * address, profile or credentials (all), a workload's delivery method
 * (that one). A new address also needs approval again (m->approval is set
 * to empty); rejecting or un-approving the address disables the email
 * workloads at once (their enabled flags, not their statuses). The re-opened
 * ones are reset in m: Not Run, disabled. Returns the mask. */
unsigned exs_mailbox_reopen(const struct exs_mailbox *old, struct exs_mailbox *m);
/* The workloads of every mailbox of a profile that the change from old to
 * p re-opens (both validated): its location, credentials, impersonation or
 * protocol, incoming (incoming and ACT) and outgoing apart. */
unsigned exs_profile_reopens(const struct exs_profile *old, const struct exs_profile *p);
/* Reset the workloads in mask: Not Run, disabled. */
void exs_mailbox_reset(struct exs_mailbox *m, unsigned mask);

/* Names of the remaining codes, as the org file spells them (-1 unknown). */
const char *exs_track_name(int code); /* "responses", "all" */
int exs_track_parse(const char *s);
int exs_status_parse(const char *s); /* "Not Run", "Success", "Failure" */
/* "yes"/"no" (also "true"/"false", "1"/"0"): 1, 0, or -1 when neither. */
int exs_bool_parse(const char *s);

#endif

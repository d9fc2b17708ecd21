/* exsync/ews.h - the EWS client: SOAP envelopes, one function per operation,
 * response-code mapping.
 *
 * Two layers. Builders (exs_ews_build_*) write a request into a buffer and
 * parsers (exs_ews_parse_*) read an answer from bytes: neither does I/O, so
 * both are tested without sockets. The client (struct exs_ews) joins them to
 * an exs_http transport, adds X-AnchorMailbox, retries throttled requests per
 * docs/test-enable.md and maps every failure to an exs_error.
 */
#ifndef EXSYNC_EWS_H
#define EXSYNC_EWS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "exsync/buf.h"
#include "exsync/error.h"
#include "exsync/http.h"

#define EXS_NS_SOAP "http://schemas.xmlsoap.org/soap/envelope/"
#define EXS_NS_MSG "http://schemas.microsoft.com/exchange/services/2006/messages"
#define EXS_NS_TYPES "http://schemas.microsoft.com/exchange/services/2006/types"
#define EXS_NS_ERRORS "http://schemas.microsoft.com/exchange/services/2006/errors"

#define EXS_EWS_DEFAULT_VERSION "Exchange2013_SP1"

/* What goes into the SOAP header of every request. Strings are borrowed. */
struct exs_ews_context {
  const char *server_version; /* RequestServerVersion; NULL: EXS_EWS_DEFAULT_VERSION */
  const char *impersonate;    /* ExchangeImpersonation PrimarySmtpAddress; NULL: none */
};

/* A folder to address: a distinguished name ("inbox") or an id; mailbox
 * names another mailbox for delegate access (distinguished ids only). */
struct exs_ews_folder_ref {
  const char *distinguished;
  const char *id;
  const char *mailbox;
};

/* An extended MAPI property: named (set_id + name) or tagged (tag). All
 * strings borrowed. type is the EWS PropertyType ("String", "SystemTime",
 * "Integer", "Boolean"); NULL means "String". */
struct exs_ews_extprop {
  const char *set_id; /* DistinguishedPropertySetId, e.g. "PublicStrings" */
  const char *name;   /* PropertyName (with set_id) */
  const char *tag;    /* PropertyTag "0x1042" (instead of set_id + name) */
  const char *type;
};

/* An extended property and a value to write (value borrowed). */
struct exs_ews_extprop_set {
  struct exs_ews_extprop prop;
  const char *value;
};

#define EXS_EWS_MAX_EXT 8
#define EXS_EWS_EXT_VALUE_MAX 1024

/* An extended property read back from Exchange (copied, truncated). */
struct exs_ews_extvalue {
  char set_id[40];
  char name[128];
  char tag[16];
  char type[24];
  char value[EXS_EWS_EXT_VALUE_MAX];
};

/* Find an extended property by set_id+name or tag in v[0..n-1]; NULL if absent. */
const struct exs_ews_extvalue *exs_ews_extvalue_find(const struct exs_ews_extvalue *v, size_t n,
                                                     const struct exs_ews_extprop *p);

/* One GetFolder answer. */
struct exs_ews_folder {
  bool ok;                /* ResponseClass Success */
  char response_code[64]; /* NoError or the error code */
  char message[256];
  char kind[32]; /* Folder, CalendarFolder, ContactsFolder, TasksFolder, SearchFolder */
  char id[512];
  char change_key[128];
  char display_name[256];
  char folder_class[64];
  long total_count;  /* -1 when absent */
  long unread_count; /* -1 when absent */
  /* added for FindFolder / SyncFolderHierarchy / extended properties */
  char parent_id[512];                          /* ParentFolderId when asked for, "" otherwise */
  long child_folder_count;                      /* -1 when absent */
  struct exs_ews_extvalue ext[EXS_EWS_MAX_EXT]; /* ExtendedProperty values returned */
  size_t n_ext;
};

/* ---- builders (no I/O). Return 0 or -1 (buffer cap / no memory). ---- */

/* Write the envelope start, header included, up to and including <soap:Body>. */
int exs_ews_envelope_begin(struct exs_buf *b, const struct exs_ews_context *ctx);
/* Close </soap:Body></soap:Envelope>. */
int exs_ews_envelope_end(struct exs_buf *b);
/* Write one folder reference element (t:DistinguishedFolderId or t:FolderId). */
int exs_ews_write_folder_ref(struct exs_buf *b, const struct exs_ews_folder_ref *ref);

/* GetFolder for n folders with IdOnly + DisplayName, FolderClass, TotalCount,
 * UnreadCount. */
int exs_ews_build_get_folder(struct exs_buf *b, const struct exs_ews_context *ctx,
                             const struct exs_ews_folder_ref *refs, size_t n);

/* ---- parsers (no I/O) ---- */

/* Parse an EWS answer, check it is a SOAP envelope, map a SOAP fault or an
 * HTTP error status to err, and return the <m:ResponseMessages> element of
 * the operation op ("GetFolder"). The document is returned in *doc (caller
 * frees with xmlFreeDoc) even on a fault, NULL on a parse failure.
 * Returns 0 or -1. */
struct _xmlDoc;
struct _xmlNode;
int exs_ews_parse_envelope(const char *body, size_t len, long http_status, const char *op,
                           struct _xmlDoc **doc, struct _xmlNode **messages, struct exs_error *err);

/* Fill the error of one ResponseMessage whose ResponseClass is Error: code,
 * message, category, BackOffMilliseconds. Returns 0 when the message is a
 * Success or Warning, -1 when it is an Error. */
int exs_ews_message_status(struct _xmlNode *msg, struct exs_error *err);

/* Parse a GetFolder answer into out[0..n-1] (one per requested folder, in
 * order). Returns 0 when the envelope was usable (check each out[i].ok), or
 * -1 with err for request-level failures (fault, HTTP error, bad XML, fewer
 * answers than folders). */
int exs_ews_parse_get_folder(const char *body, size_t len, long http_status,
                             struct exs_ews_folder *out, size_t n, struct exs_error *err);

/* ---- the client (I/O through exs_http) ---- */

struct exs_ews;

struct exs_ews_options {
  const char *url;            /* EWS endpoint */
  struct exs_ews_context ctx; /* copied */
  const char *anchor_mailbox; /* X-AnchorMailbox; NULL: impersonated address if any */
  bool mailbox_credentials;   /* 401 means MBX_CREDENTIALS rather than CREDENTIALS */
  bool running_identity;      /* Windows integrated: a 401 refused the identity exsync runs as */
  int max_throttle_retries;   /* 0: 3 (docs/test-enable.md) */
  long max_throttle_wait_ms;  /* 0: 30000 */
};

/* Create a client over a borrowed transport (which must outlive it). */
struct exs_ews *exs_ews_new(struct exs_http *http, const struct exs_ews_options *opt);
void exs_ews_free(struct exs_ews *ews);

/* Send a built request for operation op and return the raw answer in resp
 * (caller initialises and frees it). Handles throttling retries. Returns 0 when
 * an HTTP answer that is not an HTTP-level failure came back, or -1 with err
 * (transport errors, 401, 503, 5xx without SOAP, redirects). SOAP faults are
 * left to the parser. */
int exs_ews_call(struct exs_ews *ews, const char *op, const struct exs_buf *request,
                 struct exs_http_response *resp, struct exs_error *err);

/* GetFolder, as exs_ews_build_get_folder + call + exs_ews_parse_get_folder. */
int exs_ews_get_folder(struct exs_ews *ews, const struct exs_ews_folder_ref *refs, size_t n,
                       struct exs_ews_folder *out, struct exs_error *err);

/* ======================================================================
 * More operations (ews_folder.c, ews_item.c, ews_util.c).
 *
 * Conventions:
 *  - Builders write a whole envelope; they return 0 or -1 (buffer cap).
 *    Every string argument is borrowed and XML-escaped.
 *  - Parsers take the raw answer and the HTTP status. Request-level failures
 *    (SOAP fault, HTTP error, not XML, wrong shape) return -1 with err.
 *  - Operations about one thing (FindFolder, FindItem, Sync*, ResolveNames,
 *    CreateFolder, UpdateFolder) also return -1 with err when their single
 *    ResponseMessage is an Error (err.ews_code is the ResponseCode).
 *  - Batch operations (GetItem, CreateItem, UpdateItem, MoveItem, DeleteItem,
 *    ConvertId) return 0 and report each entry in its own result: ok, and
 *    err filled by exs_ews_message_status when it is not.
 *  - Results that own memory have a matching _free / _clear function; every
 *    other result is plain fixed-size data.
 *  - Client functions (exs_ews_<op>) = build + exs_ews_call + parse; on
 *    failure err->url is the EWS URL.
 * ====================================================================== */

/* Common limits of copied strings. */
#define EXS_EWS_ID_MAX 512
#define EXS_EWS_ADDR_MAX 320

/* ---- FindFolder ---- */

/* FindFolder Shallow under parent with IdOnly + DisplayName, FolderClass,
 * ChildFolderCount, TotalCount, an IndexedPageFolderView and, when
 * display_name is not NULL, an IsEqualTo restriction on folder:DisplayName. */
struct exs_ews_find_folder_req {
  struct exs_ews_folder_ref parent;
  const char *display_name;
  int max_entries; /* 0: 100 */
  int offset;
};

/* A page of folders: folders[0..n-1] owned, free with exs_ews_folder_page_free. */
struct exs_ews_folder_page {
  struct exs_ews_folder *folders;
  size_t n;
  long next_offset;   /* IndexedPagingOffset, -1 when absent */
  long total;         /* TotalItemsInView, -1 when absent */
  bool includes_last; /* IncludesLastItemInRange */
};
void exs_ews_folder_page_free(struct exs_ews_folder_page *p);

int exs_ews_build_find_folder(struct exs_buf *b, const struct exs_ews_context *ctx,
                              const struct exs_ews_find_folder_req *req);
int exs_ews_parse_find_folder(const char *body, size_t len, long http_status,
                              struct exs_ews_folder_page *out, struct exs_error *err);
int exs_ews_find_folder(struct exs_ews *ews, const struct exs_ews_find_folder_req *req,
                        struct exs_ews_folder_page *out, struct exs_error *err);

/* ---- CreateFolder (one folder) ---- */

/* folder_class NULL: "IPF.Note". A name clash answers ErrorFolderExists
 * (returned as -1 with err.ews_code "ErrorFolderExists"). out gets the new id. */
int exs_ews_build_create_folder(struct exs_buf *b, const struct exs_ews_context *ctx,
                                const struct exs_ews_folder_ref *parent, const char *display_name,
                                const char *folder_class);
int exs_ews_parse_create_folder(const char *body, size_t len, long http_status,
                                struct exs_ews_folder *out, struct exs_error *err);
int exs_ews_create_folder(struct exs_ews *ews, const struct exs_ews_folder_ref *parent,
                          const char *display_name, const char *folder_class,
                          struct exs_ews_folder *out, struct exs_error *err);

/* ---- UpdateFolder: SetFolderField of extended properties ---- */

/* One FolderChange on folder with a SetFolderField per entry of sets (value
 * NULL: DeleteFolderField). folder_kind is the element used inside
 * SetFolderField: NULL "Folder" (msgfolderroot), or CalendarFolder,
 * ContactsFolder, TasksFolder. out gets the new change key. */
int exs_ews_build_update_folder(struct exs_buf *b, const struct exs_ews_context *ctx,
                                const struct exs_ews_folder_ref *folder, const char *folder_kind,
                                const struct exs_ews_extprop_set *sets, size_t n);
int exs_ews_parse_update_folder(const char *body, size_t len, long http_status,
                                struct exs_ews_folder *out, struct exs_error *err);
int exs_ews_update_folder(struct exs_ews *ews, const struct exs_ews_folder_ref *folder,
                          const char *folder_kind, const struct exs_ews_extprop_set *sets, size_t n,
                          struct exs_ews_folder *out, struct exs_error *err);

/* ---- GetFolder with extended properties ---- */

/* As exs_ews_build_get_folder plus one AdditionalProperties ExtendedFieldURI
 * per props[i]; the values come back in out[i].ext (parsed by
 * exs_ews_parse_get_folder). Used for the org identity of docs/test-enable.md, step 8. */
int exs_ews_build_get_folder_ext(struct exs_buf *b, const struct exs_ews_context *ctx,
                                 const struct exs_ews_folder_ref *refs, size_t n,
                                 const struct exs_ews_extprop *props, size_t n_props);
int exs_ews_get_folder_ext(struct exs_ews *ews, const struct exs_ews_folder_ref *refs, size_t n,
                           const struct exs_ews_extprop *props, size_t n_props,
                           struct exs_ews_folder *out, struct exs_error *err);

/* The org identity properties of docs/test-enable.md, step 8. */
extern const struct exs_ews_extprop exs_ews_prop_org_id; /* PublicStrings exsync.OrgId String */
extern const struct exs_ews_extprop
    exs_ews_prop_last_sync; /* PublicStrings exsync.LastSync SystemTime */

/* ---- SyncFolderHierarchy / SyncFolderItems ---- */

enum exs_ews_change_kind {
  EXS_EWS_CHANGE_CREATE = 0,
  EXS_EWS_CHANGE_UPDATE,
  EXS_EWS_CHANGE_DELETE,
  EXS_EWS_CHANGE_READ_FLAG
};

struct exs_ews_folder_change {
  enum exs_ews_change_kind kind;
  struct exs_ews_folder folder; /* Delete: only id / change_key */
};

/* Owned by the caller after a successful parse; free with
 * exs_ews_folder_sync_free. */
struct exs_ews_folder_sync {
  char *sync_state;   /* new SyncState (malloc'd), "" when none */
  bool includes_last; /* IncludesLastFolderInRange */
  struct exs_ews_folder_change *changes;
  size_t n;
};
void exs_ews_folder_sync_free(struct exs_ews_folder_sync *s);

/* sync_folder NULL: the whole mailbox; sync_state NULL or "": first sync. */
int exs_ews_build_sync_folder_hierarchy(struct exs_buf *b, const struct exs_ews_context *ctx,
                                        const struct exs_ews_folder_ref *sync_folder,
                                        const char *sync_state);
int exs_ews_parse_sync_folder_hierarchy(const char *body, size_t len, long http_status,
                                        struct exs_ews_folder_sync *out, struct exs_error *err);
int exs_ews_sync_folder_hierarchy(struct exs_ews *ews, const struct exs_ews_folder_ref *sync_folder,
                                  const char *sync_state, struct exs_ews_folder_sync *out,
                                  struct exs_error *err);

/* ---- items ---- */

enum exs_ews_item_kind {
  EXS_EWS_ITEM_MESSAGE = 0,
  EXS_EWS_ITEM_CALENDAR,
  EXS_EWS_ITEM_CONTACT,
  EXS_EWS_ITEM_TASK,
  EXS_EWS_ITEM_GENERIC /* t:Item */
};
/* "Message", "CalendarItem", "Contact", "Task", "Item". */
const char *exs_ews_item_kind_name(enum exs_ews_item_kind k);

#define EXS_EWS_MAX_RECIPIENTS 16
#define EXS_EWS_MAX_CATEGORIES 8

struct exs_ews_mailbox {
  char name[256];
  char email[EXS_EWS_ADDR_MAX + 1];
  char routing_type[16];
  char mailbox_type[32];
};

/* An item as read by FindItem / GetItem / SyncFolderItems. Fixed fields are
 * copied (truncated when longer); body and mime are owned: release with
 * exs_ews_item_clear (or exs_ews_items_free for an array). Absent
 * properties are "" / -1 / NULL. */
struct exs_ews_item {
  bool ok;              /* batch results: ResponseClass not Error */
  struct exs_error err; /* when !ok */
  char kind[24];        /* Message, CalendarItem, Contact, Task, Item, ... */
  char id[EXS_EWS_ID_MAX];
  char change_key[128];
  char parent_folder_id[EXS_EWS_ID_MAX];
  char item_class[64];
  char subject[512];
  char date_received[40]; /* xs:dateTime text */
  time_t received;        /* parsed, 0 when absent */
  char last_modified[40];
  char internet_message_id[512];
  int is_read;         /* 1, 0, or -1 when absent */
  int has_attachments; /* 1, 0, or -1 */
  struct exs_ews_mailbox from;
  struct exs_ews_mailbox to[EXS_EWS_MAX_RECIPIENTS];
  size_t n_to; /* ToRecipients (calendar: RequiredAttendees) */
  char categories[EXS_EWS_MAX_CATEGORIES][128];
  size_t n_categories;
  char body_type[8];   /* "Text" or "HTML" */
  char *body;          /* owned, NULL when absent */
  unsigned char *mime; /* owned, decoded MimeContent (NUL-terminated), NULL when absent */
  size_t mime_len;
  char start[40], end[40]; /* calendar Start/End; task StartDate/DueDate */
  char location[256];
  char status[32];                                                                /* task Status */
  char given_name[128], surname[128], company[256], email1[EXS_EWS_ADDR_MAX + 1]; /* contact */
  struct exs_ews_extvalue ext[EXS_EWS_MAX_EXT];
  size_t n_ext;
};
void exs_ews_item_clear(struct exs_ews_item *it);
/* Clear items[0..n-1] and free the array. NULL is a no-op. */
void exs_ews_items_free(struct exs_ews_item *items, size_t n);

/* A result of a batch write (CreateItem, UpdateItem, MoveItem, DeleteItem). */
struct exs_ews_item_result {
  bool ok;
  struct exs_error err;    /* when !ok */
  char kind[24];           /* element of the returned item, "" when none */
  char id[EXS_EWS_ID_MAX]; /* new / moved id; "" for SendOnly, SendAndSaveCopy, DeleteItem */
  char change_key[128];
  long conflicts; /* UpdateItem ConflictResults/Count, -1 when absent */
};

/* ---- FindItem ---- */

enum exs_ews_restrict_op {
  EXS_EWS_IS_EQUAL_TO = 0,
  EXS_EWS_IS_NOT_EQUAL_TO,
  EXS_EWS_IS_GREATER_THAN,
  EXS_EWS_IS_GREATER_THAN_OR_EQUAL_TO,
  EXS_EWS_IS_LESS_THAN,
  EXS_EWS_CONTAINS /* Substring, IgnoreCase */
};

/* One comparison of a property with a constant. */
struct exs_ews_restriction {
  enum exs_ews_restrict_op op;
  const char *field_uri; /* "item:DateTimeReceived"; NULL: ext */
  const struct exs_ews_extprop *ext;
  const char *value;
};

/* FindItem Shallow, IdOnly + AdditionalProperties, an IndexedPageItemView,
 * an optional restriction (several are joined with t:And) and sort order. */
struct exs_ews_find_item_req {
  struct exs_ews_folder_ref parent;
  const char *const *fields; /* FieldURIs, e.g. "item:Subject" */
  size_t n_fields;
  const struct exs_ews_extprop *ext; /* ExtendedFieldURIs */
  size_t n_ext;
  int max_entries; /* 0: 100 */
  int offset;
  const struct exs_ews_restriction *restrictions;
  size_t n_restrictions;
  const char *sort_field; /* FieldURI, NULL: no SortOrder */
  bool sort_descending;
};

/* A page of items: items[0..n-1] owned, free with exs_ews_item_page_free.
 * Page on with offset = next_offset until includes_last. */
struct exs_ews_item_page {
  struct exs_ews_item *items;
  size_t n;
  long next_offset; /* IndexedPagingOffset, -1 when absent */
  long total;       /* TotalItemsInView, -1 when absent */
  bool includes_last;
};
void exs_ews_item_page_free(struct exs_ews_item_page *p);

int exs_ews_build_find_item(struct exs_buf *b, const struct exs_ews_context *ctx,
                            const struct exs_ews_find_item_req *req);
int exs_ews_parse_find_item(const char *body, size_t len, long http_status,
                            struct exs_ews_item_page *out, struct exs_error *err);
int exs_ews_find_item(struct exs_ews *ews, const struct exs_ews_find_item_req *req,
                      struct exs_ews_item_page *out, struct exs_error *err);

/* ---- GetItem ---- */

struct exs_ews_get_item_req {
  const char *const *ids; /* ItemIds */
  size_t n_ids;
  bool mime;                 /* IncludeMimeContent */
  const char *body_type;     /* "Text", "HTML", "Best"; NULL: no BodyType */
  const char *const *fields; /* FieldURIs: item:Subject, item:Body, message:From, ... */
  size_t n_fields;
  const struct exs_ews_extprop *ext;
  size_t n_ext;
};

/* out[0..n_ids-1] are filled in request order (check out[i].ok); clear each
 * with exs_ews_item_clear. */
int exs_ews_build_get_item(struct exs_buf *b, const struct exs_ews_context *ctx,
                           const struct exs_ews_get_item_req *req);
int exs_ews_parse_get_item(const char *body, size_t len, long http_status, struct exs_ews_item *out,
                           size_t n, struct exs_error *err);
int exs_ews_get_item(struct exs_ews *ews, const struct exs_ews_get_item_req *req,
                     struct exs_ews_item *out, struct exs_error *err);

/* ---- CreateItem ---- */

/* A new item. Strings borrowed; NULL fields are left out. */
struct exs_ews_new_item {
  enum exs_ews_item_kind kind;
  const char *subject;
  const char *body;
  const char *body_type; /* "Text" (default) or "HTML" */
  const char *mime;      /* Message only: raw RFC 822 bytes, base64-encoded here */
  size_t mime_len;
  const char *const *categories;
  size_t n_categories;
  const struct exs_ews_extprop_set *ext; /* e.g. the test message's marker */
  size_t n_ext;
  const char *const *to; /* Message ToRecipients / CalendarItem RequiredAttendees */
  size_t n_to;
  const char *from;        /* Message From (send on behalf) */
  const char *start, *end; /* CalendarItem Start/End; Task StartDate/DueDate */
  const char *location;    /* CalendarItem */
  const char *status;      /* Task: NotStarted, InProgress, Completed, ... */
  const char *given_name, *surname, *company, *email; /* Contact */
};

/* disposition: SaveOnly / SendOnly / SendAndSaveCopy, used when any item is a
 * Message (NULL: SaveOnly). Calendar items are always created with
 * SendMeetingInvitations="SendToNone". saved_folder may be NULL. */
struct exs_ews_create_item_req {
  const char *disposition;
  const struct exs_ews_folder_ref *saved_folder;
  const struct exs_ews_new_item *items;
  size_t n;
};

/* out[0..n-1] in request order. */
int exs_ews_build_create_item(struct exs_buf *b, const struct exs_ews_context *ctx,
                              const struct exs_ews_create_item_req *req);
int exs_ews_parse_create_item(const char *body, size_t len, long http_status,
                              struct exs_ews_item_result *out, size_t n, struct exs_error *err);
int exs_ews_create_item(struct exs_ews *ews, const struct exs_ews_create_item_req *req,
                        struct exs_ews_item_result *out, struct exs_error *err);

/* ---- UpdateItem ---- */

/* One property change. field_uri names a simple property (item:Subject,
 * item:Body, item:Categories (value: names separated by '\n'),
 * message:IsRead, calendar:Start, calendar:End, calendar:Location,
 * task:Status, task:DueDate, task:StartDate, contacts:GivenName,
 * contacts:Surname, contacts:CompanyName) or ext an extended property.
 * value NULL: DeleteItemField. */
struct exs_ews_field_set {
  const char *field_uri;
  const struct exs_ews_extprop *ext;
  const char *value;
};

struct exs_ews_item_change {
  const char *id;
  const char *change_key;      /* NULL: none (AlwaysOverwrite) */
  enum exs_ews_item_kind kind; /* element inside SetItemField */
  const struct exs_ews_field_set *sets;
  size_t n_sets;
};

/* conflict_resolution: NeverOverwrite, AutoResolve (NULL), AlwaysOverwrite.
 * MessageDisposition="SaveOnly" is added when a change is a Message and
 * SendMeetingInvitationsOrCancellations="SendToNone" when one is a calendar item. */
int exs_ews_build_update_item(struct exs_buf *b, const struct exs_ews_context *ctx,
                              const char *conflict_resolution,
                              const struct exs_ews_item_change *changes, size_t n);
int exs_ews_parse_update_item(const char *body, size_t len, long http_status,
                              struct exs_ews_item_result *out, size_t n, struct exs_error *err);
int exs_ews_update_item(struct exs_ews *ews, const char *conflict_resolution,
                        const struct exs_ews_item_change *changes, size_t n,
                        struct exs_ews_item_result *out, struct exs_error *err);

/* ---- MoveItem / DeleteItem ---- */

int exs_ews_build_move_item(struct exs_buf *b, const struct exs_ews_context *ctx,
                            const struct exs_ews_folder_ref *to, const char *const *ids, size_t n);
int exs_ews_parse_move_item(const char *body, size_t len, long http_status,
                            struct exs_ews_item_result *out, size_t n, struct exs_error *err);
int exs_ews_move_item(struct exs_ews *ews, const struct exs_ews_folder_ref *to,
                      const char *const *ids, size_t n, struct exs_ews_item_result *out,
                      struct exs_error *err);

/* delete_type: HardDelete, SoftDelete, MoveToDeletedItems. Calendar items get
 * no cancellations (SendToNone), tasks AllOccurrences. */
int exs_ews_build_delete_item(struct exs_buf *b, const struct exs_ews_context *ctx,
                              const char *delete_type, const char *const *ids, size_t n);
int exs_ews_parse_delete_item(const char *body, size_t len, long http_status,
                              struct exs_ews_item_result *out, size_t n, struct exs_error *err);
int exs_ews_delete_item(struct exs_ews *ews, const char *delete_type, const char *const *ids,
                        size_t n, struct exs_ews_item_result *out, struct exs_error *err);

/* ---- SyncFolderItems ---- */

struct exs_ews_item_sync_change {
  enum exs_ews_change_kind kind;
  struct exs_ews_item item; /* Delete / ReadFlagChange: id, change_key, is_read */
};

/* Owned; free with exs_ews_item_sync_free. */
struct exs_ews_item_sync {
  char *sync_state;   /* malloc'd, "" when none */
  bool includes_last; /* IncludesLastItemInRange */
  struct exs_ews_item_sync_change *changes;
  size_t n;
  size_t cap; /* entries changes holds: the next page reuses them (no ~23 KB calloc per item) */
};
void exs_ews_item_sync_free(struct exs_ews_item_sync *s);
/* Free what the changes own and the state, keep the changes array for the
 * next page. */
void exs_ews_item_sync_reset(struct exs_ews_item_sync *s);

/* IdOnly + fields (NULL: item:ItemClass, item:LastModifiedTime); sync_state
 * NULL or "": first sync; max_changes 1..512 (0: 100). An invalid state
 * comes back as -1 with err.ews_code "ErrorInvalidSyncStateData". */
struct exs_ews_sync_items_req {
  struct exs_ews_folder_ref folder;
  const char *sync_state;
  int max_changes;
  const char *const *fields;
  size_t n_fields;
  const struct exs_ews_extprop *ext;
  size_t n_ext;
};
int exs_ews_build_sync_folder_items(struct exs_buf *b, const struct exs_ews_context *ctx,
                                    const struct exs_ews_sync_items_req *req);
int exs_ews_parse_sync_folder_items(const char *body, size_t len, long http_status,
                                    struct exs_ews_item_sync *out, struct exs_error *err);
int exs_ews_sync_folder_items(struct exs_ews *ews, const struct exs_ews_sync_items_req *req,
                              struct exs_ews_item_sync *out, struct exs_error *err);
/* For both: out is zeroed, or the result of an earlier page (reset here, its
 * changes array reused when large enough); free with exs_ews_item_sync_free. */

/* ---- ResolveNames ---- */

#define EXS_EWS_MAX_RESOLUTIONS 16

struct exs_ews_resolution {
  struct exs_ews_mailbox mailbox;
  char display_name[256]; /* Contact/DisplayName when returned */
};

struct exs_ews_resolve {
  bool multiple; /* Warning ErrorNameResolutionMultipleResults */
  long total;    /* TotalItemsInView, -1 when absent */
  struct exs_ews_resolution r[EXS_EWS_MAX_RESOLUTIONS];
  size_t n;
};

/* ReturnFullContactData="true" SearchScope="ActiveDirectory". No match is -1
 * with err.ews_code "ErrorNameResolutionNoResults". */
int exs_ews_build_resolve_names(struct exs_buf *b, const struct exs_ews_context *ctx,
                                const char *entry);
int exs_ews_parse_resolve_names(const char *body, size_t len, long http_status,
                                struct exs_ews_resolve *out, struct exs_error *err);
int exs_ews_resolve_names(struct exs_ews *ews, const char *entry, struct exs_ews_resolve *out,
                          struct exs_error *err);

/* ---- ConvertId ---- */

/* Format: EwsLegacyId, EwsId, EntryId, HexEntryId, StoreId, OwaId. */
struct exs_ews_alternate_id {
  const char *format;
  const char *id;
  const char *mailbox; /* required by Exchange */
};

struct exs_ews_converted_id {
  bool ok;
  struct exs_error err;
  char format[24];
  char id[EXS_EWS_ID_MAX];
  char mailbox[EXS_EWS_ADDR_MAX + 1];
};

int exs_ews_build_convert_id(struct exs_buf *b, const struct exs_ews_context *ctx,
                             const char *destination_format, const struct exs_ews_alternate_id *ids,
                             size_t n);
int exs_ews_parse_convert_id(const char *body, size_t len, long http_status,
                             struct exs_ews_converted_id *out, size_t n, struct exs_error *err);

/* ---- shared writers (used by the builders; exposed for tests) ---- */

/* t:ExtendedFieldURI with the attributes of p. */
int exs_ews_write_extprop_uri(struct exs_buf *b, const struct exs_ews_extprop *p);
/* t:ExtendedProperty with URI and t:Value. */
int exs_ews_write_extprop_value(struct exs_buf *b, const struct exs_ews_extprop *p,
                                const char *value);

/* The URL the client posts to (borrowed from the client). */
const char *exs_ews_url(const struct exs_ews *ews);

#endif

/* ews_ops.h - private interface between the EWS dispatcher (ews.c) and the
 * operation handlers (ews_folder.c, ews_item.c): streaming answer helpers,
 * shapes, id resolution. Everything runs under the world lock (shared) and
 * the locks of the mailboxes the request names (ews.c); a handler touches
 * no other mailbox (ids resolving elsewhere are "not found"). Nothing here
 * allocates answers as trees: handlers append to ctx->out in schema order.
 */
#ifndef EMU_EWS_OPS_H
#define EMU_EWS_OPS_H

#include <libxml/tree.h>

#include "emu_internal.h"

void ews_envelope_begin(struct exs_buf *o);
void ews_envelope_end(struct exs_buf *o);
void ews_response_begin(struct emu_ews_ctx *ctx, const char *op);
void ews_response_end(struct emu_ews_ctx *ctx, const char *op);
void ews_msg_ok(struct emu_ews_ctx *ctx, const char *op);
void ews_msg_error(struct emu_ews_ctx *ctx, const char *op, const char *code);
void ews_msg_end(struct emu_ews_ctx *ctx, const char *op);
const char *ews_code_text(const char *code);

/* Field URIs we know, as bits of ews_shape.fields. */
enum {
  EF_FOLDER_ID = 1u << 0,
  EF_PARENT = 1u << 1,
  EF_FOLDER_CLASS = 1u << 2,
  EF_DISPLAY_NAME = 1u << 3,
  EF_TOTAL = 1u << 4,
  EF_CHILDREN = 1u << 5,
  EF_UNREAD = 1u << 6,
  EI_ITEM_ID = 1u << 7,
  EI_PARENT = 1u << 8,
  EI_CLASS = 1u << 9,
  EI_SUBJECT = 1u << 10,
  EI_BODY = 1u << 11,
  EI_RECEIVED = 1u << 12,
  EI_SIZE = 1u << 13,
  EI_CATEGORIES = 1u << 14,
  EI_IS_DRAFT = 1u << 15,
  EI_SENT = 1u << 16,
  EI_CREATED = 1u << 17,
  EI_HAS_ATTACH = 1u << 18,
  EI_MIME = 1u << 19,
  EM_SENDER = 1u << 20,
  EM_TO = 1u << 21,
  EM_CC = 1u << 22,
  EM_FROM = 1u << 23,
  EM_MSGID = 1u << 24,
  EM_IS_READ = 1u << 25,
};

struct ews_shape {
  int base;             /* 0 IdOnly, 1 Default, 2 AllProperties */
  bool mime;            /* IncludeMimeContent */
  bool body_text;       /* BodyType Text */
  unsigned long fields; /* EF_ / EI_ / EM_ bits from AdditionalProperties */
  struct emu_prop *ext; /* requested extended properties (owned) */
  char names[256]
            [64]; /* other requested fields, local names ("Start"); exchangelib asks for ~200 */
  int nnames;
};

/* Parse a FolderShape / ItemShape element (NULL: IdOnly). Free with
 * ews_shape_free. */
void ews_shape_parse(xmlNodePtr shape, struct ews_shape *out);
void ews_shape_free(struct ews_shape *s);
/* Fill key from a t:ExtendedFieldURI element (strings borrowed from a
 * static scratch copy: use before the next call). Returns 0 or -1. */
int ews_ext_uri(xmlNodePtr uri, struct emu_prop *key, char scratch[6][256]);
unsigned long ews_field_bit(const char *field_uri);
/* ews_props.c: extended properties, stored or derived from the object. */
bool ews_item_prop(const struct emu_item *it, const struct emu_prop *key, struct exs_buf *val);
bool ews_folder_prop(const struct emu_folder *f, const struct emu_prop *key, struct exs_buf *val);
/* <t:ExtendedProperty> of key with val (array types: one t:Value a line). */
void ews_write_ext_value(struct exs_buf *o, const struct emu_prop *key, const char *val);
/* The properties of s->ext that it / f has, in request order. */
void ews_write_item_props(struct exs_buf *o, const struct emu_item *it, const struct ews_shape *s);
void ews_write_folder_props(struct exs_buf *o, const struct emu_folder *f,
                            const struct ews_shape *s);
/* The t:Value or t:Values of a t:ExtendedProperty as text (malloc'd). */
char *ews_ext_read_value(xmlNodePtr ext_property);
/* Set a property on it; those that are item fields (subject, body, class,
 * keywords) set the field. 0 or -1. */
int ews_item_set_prop(struct emu_item *it, const struct emu_prop *key, const char *value);
/* The item's MIME: stored, else generated (iCalendar for calendar items). */
void ews_item_mime(const struct emu_item *it, struct exs_buf *mime);
/* The text of a field kept verbatim ("<t:Start>...</t:Start>"); its time. */
bool ews_frag_text(const struct emu_item *it, const char *name, char *buf, size_t len);
bool ews_frag_time(const struct emu_item *it, const char *name, time_t *t);
/* Serialize element n (EWS types namespace) with the t: prefix. */
void ews_serialize(struct exs_buf *o, xmlNodePtr n);
/* "Message", "CalendarItem", "Contact", "Task" or "Item". */
const char *ews_item_elem(const struct emu_item *it);

/* Resolve a t:FolderId / t:DistinguishedFolderId element to a folder the
 * caller may use. Returns NULL and sets *code on failure. */
struct emu_folder *ews_resolve_folder(struct emu_ews_ctx *ctx, xmlNodePtr id, const char **code);
/* NULL when ctx may use mailbox m, else the error code. */
const char *ews_check_mailbox(struct emu_ews_ctx *ctx, struct emu_mailbox *m);
void ews_write_folder(struct emu_ews_ctx *ctx, const struct emu_folder *f,
                      const struct ews_shape *s);
void ews_write_folder_id(struct exs_buf *o, const char *elem, const struct emu_folder *f);
void ews_write_item_id(struct exs_buf *o, const struct emu_item *it);
/* find: FindItem rules (no body, MIME or recipients). */
void ews_write_item(struct emu_ews_ctx *ctx, const struct emu_item *it, const struct ews_shape *s,
                    bool find);

void ews_get_folder(struct emu_ews_ctx *ctx, xmlNodePtr op);
void ews_find_folder(struct emu_ews_ctx *ctx, xmlNodePtr op);
void ews_create_folder(struct emu_ews_ctx *ctx, xmlNodePtr op);
void ews_update_folder(struct emu_ews_ctx *ctx, xmlNodePtr op);
void ews_sync_folder_hierarchy(struct emu_ews_ctx *ctx, xmlNodePtr op);
void ews_find_item(struct emu_ews_ctx *ctx, xmlNodePtr op);
void ews_get_item(struct emu_ews_ctx *ctx, xmlNodePtr op);
void ews_create_item(struct emu_ews_ctx *ctx, xmlNodePtr op);
void ews_delete_item(struct emu_ews_ctx *ctx, xmlNodePtr op);
void ews_move_item(struct emu_ews_ctx *ctx, xmlNodePtr op);
void ews_copy_item(struct emu_ews_ctx *ctx, xmlNodePtr op);
void ews_resolve_names(struct emu_ews_ctx *ctx, xmlNodePtr op);
void ews_update_item(struct emu_ews_ctx *ctx, xmlNodePtr op);
void ews_convert_id(struct emu_ews_ctx *ctx, xmlNodePtr op);
void ews_get_user_configuration(struct emu_ews_ctx *ctx, xmlNodePtr op);
void ews_get_user_photo(struct emu_ews_ctx *ctx, xmlNodePtr op);
void ews_delete_folder(struct emu_ews_ctx *ctx, xmlNodePtr op);
void ews_sync_folder_items(struct emu_ews_ctx *ctx, xmlNodePtr op);
/* Resolve a t:ItemId to an item the caller may use, else NULL + *code. */
struct emu_item *ews_resolve_item(struct emu_ews_ctx *ctx, xmlNodePtr id, const char **code);

#endif

/* ews_internal.h - parsing helpers shared by ews.c and ews_*.c, and the
 * request size cap of the client (not public). */
#ifndef EXSYNC_EWS_INTERNAL_H
#define EXSYNC_EWS_INTERNAL_H

#include <libxml/tree.h>

#include "exsync/ews.h"

/* Size cap of every request body the client builds (ews_client.c). */
#define EXS_EWS_REQUEST_MAX (64u * 1024u * 1024u)

/* Fill f from a t:Folder-like element (FolderId, ParentFolderId,
 * DisplayName, FolderClass, counts, ExtendedProperty). */
void exs_ews__parse_folder_node(xmlNodePtr node, struct exs_ews_folder *f);

/* Copy one t:ExtendedProperty into v. */
void exs_ews__parse_extvalue(xmlNodePtr ext, struct exs_ews_extvalue *v);

/* Parse the envelope of op and return its first ResponseMessage in *msg.
 * When single is true an Error message is returned as -1 with err. */
int exs_ews__first_message(const char *body, size_t len, long http_status, const char *op,
                           bool single, xmlDocPtr *doc, xmlNodePtr *msg, struct exs_error *err);

/* Paging attributes of an m:RootFolder (FindFolder, FindItem). */
struct exs_ews__page {
  long next_offset; /* IndexedPagingOffset, -1 when absent */
  long total;       /* TotalItemsInView, -1 when absent */
  bool includes_last;
};

/* Parse op's paged answer (FindFolder, FindItem): the paging attributes of
 * its m:RootFolder into *page, and each element of its t:list_name
 * (Folders, Items) through parse(element, entry) into a new array of *n
 * entries of size bytes each, *entries (NULL when none; the caller frees
 * it). Returns 0 or -1 with err (nothing allocated). */
int exs_ews__parse_page(const char *body, size_t len, long http_status, const char *op,
                        const char *list_name, size_t size, void (*parse)(xmlNodePtr, void *),
                        struct exs_ews__page *page, void **entries, size_t *n,
                        struct exs_error *err);

/* Number of element children of parent (NULL: 0). */
size_t exs_ews__count_elements(xmlNodePtr parent);

/* Text of child name (t: namespace) into buf. */
char *exs_ews__text(xmlNodePtr node, const char *name, char *buf, size_t len);
/* Long value of a child / attribute, -1 when absent. */
long exs_ews__long_child(xmlNodePtr node, const char *name);
long exs_ews__long_attr(xmlNodePtr node, const char *name);
/* "true"/"1" */
bool exs_ews__bool_text(xmlNodePtr node);

#endif

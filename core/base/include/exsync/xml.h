/* exsync/xml.h - safe libxml2 parsing, lookups and XSD validation.
 *
 * Everything that reads XML from outside (HTTP bodies, scenario, org and
 * recording files) goes through exs_xml_parse: no network access, no DTD, no
 * entity expansion, a size cap, a depth cap, and caps on attributes per
 * element and nodes in all checked in linear time before parsing. Shared by core and emulator:
 * it knows nothing about EWS.
 */
#ifndef EXSYNC_XML_H
#define EXSYNC_XML_H

#include <stddef.h>
#include <libxml/tree.h>

#define EXS_XML_MAX_BYTES (64u * 1024u * 1024u)
#define EXS_XML_MAX_DEPTH 64
/* Work per document is bounded before libxml2 sees it (its duplicate
 * attribute check is quadratic in the attributes of one element): a
 * linear scan of the bytes refuses more attributes on one element, or
 * more elements and attributes in all, than these. */
#define EXS_XML_MAX_ATTRS 256
#define EXS_XML_MAX_NODES 1000000u
/* Files an operator names (scenario worlds, org files, recordings) may be
 * larger worlds: still linear, still within EXS_XML_MAX_BYTES. */
#define EXS_XML_MAX_FILE_NODES 16000000u

/* Parse len bytes. name is used in error messages (a file name or URL).
 * Returns a document (caller frees with xmlFreeDoc) or NULL with a message
 * in errbuf naming the line. Documents with a DOCTYPE are refused. */
xmlDocPtr exs_xml_parse(const char *data, size_t len, const char *name, char *errbuf,
                        size_t errlen);
/* Same for a file; the message names the file. */
xmlDocPtr exs_xml_parse_file(const char *path, char *errbuf, size_t errlen);

/* First element child of node with namespace ns (NULL: any) and local name. */
xmlNodePtr exs_xml_child(xmlNodePtr node, const char *ns, const char *name);
/* Next element sibling after node with the same test. */
xmlNodePtr exs_xml_next(xmlNodePtr node, const char *ns, const char *name);
/* First element child of any name. */
xmlNodePtr exs_xml_first_element(xmlNodePtr node);
/* Follow a path of local names in namespace ns: "Body/GetFolder". */
xmlNodePtr exs_xml_path(xmlNodePtr node, const char *ns, const char *path);
/* True when node is an element with namespace ns and local name. */
int exs_xml_is(xmlNodePtr node, const char *ns, const char *name);
/* Copy the text content of node into buf (truncated, always terminated);
 * returns buf. NULL node gives "". */
char *exs_xml_text(xmlNodePtr node, char *buf, size_t len);
/* Copy attribute name (no namespace) into buf; returns buf, or NULL when the
 * attribute is absent (buf is then ""). */
char *exs_xml_attr(xmlNodePtr node, const char *name, char *buf, size_t len);

/* A compiled XSD. */
struct exs_schema;
/* Load and compile an XSD file. Returns NULL with a message on failure.
 * Caller frees with exs_schema_free. */
struct exs_schema *exs_schema_load(const char *path, char *errbuf, size_t errlen);
void exs_schema_free(struct exs_schema *s);
/* Validate a document or a subtree (node may be NULL for the root). Returns 0
 * when valid, else -1 with the first violation, as "name:line: message". */
int exs_schema_validate(struct exs_schema *s, xmlDocPtr doc, xmlNodePtr node, const char *name,
                        char *errbuf, size_t errlen);

#endif

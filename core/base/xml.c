/* xml.c - safe parsing and small lookups on top of libxml2. */
#include "exsync/xml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlschemas.h>

/* NONET: never fetch. No NOENT: entities are not substituted. NONET also
 * stops external DTD loading; documents with any DOCTYPE are refused below. */
#define SAFE_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOERROR)

static int depth_ok(xmlNodePtr node, int depth)
{
  xmlNodePtr c;

  if(depth > EXS_XML_MAX_DEPTH)
    return 0;
  for(c = node->children; c; c = c->next)
    if(c->type == XML_ELEMENT_NODE && !depth_ok(c, depth + 1))
      return 0;
  return 1;
}

static xmlDocPtr check_doc(xmlParserCtxtPtr ctxt, xmlDocPtr doc, const char *name, char *errbuf,
                           size_t errlen)
{
  if(!doc) {
    xmlErrorPtr e = xmlCtxtGetLastError(ctxt);
    snprintf(errbuf, errlen, "%s:%d: not well-formed XML: %s", name, e ? e->line : 0,
             e && e->message ? e->message : "parse error");
    /* libxml2 messages end with a newline; drop it */
    errbuf[strcspn(errbuf, "\n")] = '\0';
    return NULL;
  }
  if(doc->intSubset || doc->extSubset) {
    snprintf(errbuf, errlen, "%s: a DOCTYPE is not allowed", name);
    xmlFreeDoc(doc);
    return NULL;
  }
  if(!xmlDocGetRootElement(doc)) {
    snprintf(errbuf, errlen, "%s: no root element", name);
    xmlFreeDoc(doc);
    return NULL;
  }
  if(!depth_ok(xmlDocGetRootElement(doc), 1)) {
    snprintf(errbuf, errlen, "%s: elements nested deeper than %d", name, EXS_XML_MAX_DEPTH);
    xmlFreeDoc(doc);
    return NULL;
  }
  return doc;
}

/* Skip from p to just past the terminator term (or to end). */
static const char *skip_past(const char *p, const char *end, const char *term)
{
  size_t tl = strlen(term);

  while(p + tl <= end) {
    const char *hit = memchr(p, term[0], (size_t)(end - p));
    if(!hit || hit + tl > end)
      return end;
    if(!memcmp(hit, term, tl))
      return hit + tl;
    p = hit + 1;
  }
  return end;
}

/* The work bound: one pass over the bytes, lexing only what decides where
 * markup is (tags, quoted values, comments, CDATA, processing
 * instructions, declarations). In a start tag every '=' outside quotes is
 * counted: an element has at most that many attributes, so the count is
 * an upper bound whatever libxml2 later makes of the document. */
static int bounded(const char *data, size_t len, size_t max_nodes, const char *name, char *errbuf,
                   size_t errlen)
{
  const char *p = data, *end = data + len;
  size_t nodes = 0;

  while(p < end) {
    const char *lt = memchr(p, '<', (size_t)(end - p));
    const char *tag;
    size_t attrs = 0;
    char quote = 0;

    if(!lt)
      break;
    p = lt + 1;
    if(p < end && *p == '!') {
      if(end - p >= 3 && !memcmp(p, "!--", 3))
        p = skip_past(p + 3, end, "-->");
      else if(end - p >= 8 && !memcmp(p, "![CDATA[", 8))
        p = skip_past(p + 8, end, "]]>");
      else
        p = skip_past(p, end, ">"); /* a DOCTYPE: refused after parsing */
      continue;
    }
    if(p < end && *p == '?') {
      p = skip_past(p, end, "?>");
      continue;
    }
    if(p < end && *p == '/') {
      p = skip_past(p, end, ">");
      continue;
    }
    tag = lt;
    for(; p < end; p++) {
      if(quote) {
        if(*p == quote)
          quote = 0;
      }
      else if(*p == '"' || *p == '\'') {
        quote = *p;
      }
      else if(*p == '=') {
        attrs++;
      }
      else if(*p == '>') {
        p++;
        break;
      }
    }
    if(attrs > EXS_XML_MAX_ATTRS) {
      long line = 1;
      for(const char *q = data; q < tag; q++)
        line += *q == '\n';
      snprintf(errbuf, errlen, "%s:%ld: an element with more than %d attributes", name, line,
               EXS_XML_MAX_ATTRS);
      return 0;
    }
    nodes += 1 + attrs;
    if(nodes > max_nodes) {
      snprintf(errbuf, errlen, "%s: more than %zu elements and attributes", name, max_nodes);
      return 0;
    }
  }
  return 1;
}

static xmlDocPtr parse(const char *data, size_t len, size_t max_nodes, const char *name,
                       char *errbuf, size_t errlen)
{
  xmlParserCtxtPtr ctxt;
  xmlDocPtr doc;

  if(len > EXS_XML_MAX_BYTES || len > 0x7fffffff) {
    snprintf(errbuf, errlen, "%s: XML larger than %u bytes", name, EXS_XML_MAX_BYTES);
    return NULL;
  }
  if(len == 0) {
    snprintf(errbuf, errlen, "%s: empty document", name);
    return NULL;
  }
  if(!bounded(data, len, max_nodes, name, errbuf, errlen))
    return NULL;
  ctxt = xmlNewParserCtxt();
  if(!ctxt) {
    snprintf(errbuf, errlen, "%s: out of memory", name);
    return NULL;
  }
  doc = xmlCtxtReadMemory(ctxt, data, (int)len, name, NULL, SAFE_OPTIONS);
  doc = check_doc(ctxt, doc, name, errbuf, errlen);
  xmlFreeParserCtxt(ctxt);
  return doc;
}

xmlDocPtr exs_xml_parse(const char *data, size_t len, const char *name, char *errbuf, size_t errlen)
{
  return parse(data, len, EXS_XML_MAX_NODES, name, errbuf, errlen);
}

xmlDocPtr exs_xml_parse_file(const char *path, char *errbuf, size_t errlen)
{
  FILE *f;
  char *data = NULL;
  long size;
  xmlDocPtr doc = NULL;

  f = fopen(path, "rb");
  if(!f) {
    snprintf(errbuf, errlen, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  if(fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
    snprintf(errbuf, errlen, "%s: cannot read", path);
    goto out;
  }
  if((unsigned long)size > EXS_XML_MAX_BYTES) {
    snprintf(errbuf, errlen, "%s: XML larger than %u bytes", path, EXS_XML_MAX_BYTES);
    goto out;
  }
  data = malloc((size_t)size + 1);
  if(!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
    snprintf(errbuf, errlen, "%s: cannot read", path);
    goto out;
  }
  doc = parse(data, (size_t)size, EXS_XML_MAX_FILE_NODES, path, errbuf, errlen);
out:
  free(data);
  fclose(f);
  return doc;
}

int exs_xml_is(xmlNodePtr node, const char *ns, const char *name)
{
  if(!node || node->type != XML_ELEMENT_NODE)
    return 0;
  if(strcmp((const char *)node->name, name))
    return 0;
  if(!ns)
    return 1;
  return node->ns && node->ns->href && !strcmp((const char *)node->ns->href, ns);
}

xmlNodePtr exs_xml_child(xmlNodePtr node, const char *ns, const char *name)
{
  xmlNodePtr c;

  if(!node)
    return NULL;
  for(c = node->children; c; c = c->next)
    if(exs_xml_is(c, ns, name))
      return c;
  return NULL;
}

xmlNodePtr exs_xml_next(xmlNodePtr node, const char *ns, const char *name)
{
  xmlNodePtr c;

  if(!node)
    return NULL;
  for(c = node->next; c; c = c->next)
    if(exs_xml_is(c, ns, name))
      return c;
  return NULL;
}

xmlNodePtr exs_xml_first_element(xmlNodePtr node)
{
  xmlNodePtr c;

  if(!node)
    return NULL;
  for(c = node->children; c; c = c->next)
    if(c->type == XML_ELEMENT_NODE)
      return c;
  return NULL;
}

xmlNodePtr exs_xml_path(xmlNodePtr node, const char *ns, const char *path)
{
  char part[128];

  while(node && *path) {
    size_t n = strcspn(path, "/");
    if(n >= sizeof(part))
      return NULL;
    memcpy(part, path, n);
    part[n] = '\0';
    node = exs_xml_child(node, ns, part);
    path += n;
    if(*path == '/')
      path++;
  }
  return node;
}

char *exs_xml_text(xmlNodePtr node, char *buf, size_t len)
{
  xmlChar *s;

  if(!len)
    return buf;
  buf[0] = '\0';
  if(!node)
    return buf;
  s = xmlNodeGetContent(node);
  if(s) {
    snprintf(buf, len, "%s", (const char *)s);
    xmlFree(s);
  }
  return buf;
}

char *exs_xml_attr(xmlNodePtr node, const char *name, char *buf, size_t len)
{
  xmlChar *s;

  if(len)
    buf[0] = '\0';
  if(!node)
    return NULL;
  s = xmlGetNoNsProp(node, (const xmlChar *)name);
  if(!s)
    return NULL;
  snprintf(buf, len, "%s", (const char *)s);
  xmlFree(s);
  return buf;
}

struct exs_schema {
  xmlSchemaPtr schema;
};

struct schema_err {
  char *buf;
  size_t len;
  const char *name;
  int seen;
};

static void schema_error_cb(void *ctx, xmlErrorPtr e)
{
  struct schema_err *se = ctx;

  if(se->seen++)
    return; /* keep the first violation: later ones are usually knock-on */
  snprintf(se->buf, se->len, "%s:%d: %s", se->name, e->line, e->message ? e->message : "invalid");
  se->buf[strcspn(se->buf, "\n")] = '\0';
}

struct exs_schema *exs_schema_load(const char *path, char *errbuf, size_t errlen)
{
  xmlSchemaParserCtxtPtr pctxt;
  struct exs_schema *s = NULL;
  struct schema_err se = {errbuf, errlen, path, 0};

  pctxt = xmlSchemaNewParserCtxt(path);
  if(!pctxt) {
    snprintf(errbuf, errlen, "%s: cannot open schema", path);
    return NULL;
  }
  xmlSchemaSetParserStructuredErrors(pctxt, schema_error_cb, &se);
  s = calloc(1, sizeof(*s));
  if(s)
    s->schema = xmlSchemaParse(pctxt);
  xmlSchemaFreeParserCtxt(pctxt);
  if(!s || !s->schema) {
    if(!se.seen)
      snprintf(errbuf, errlen, "%s: cannot compile schema", path);
    free(s);
    return NULL;
  }
  return s;
}

void exs_schema_free(struct exs_schema *s)
{
  if(!s)
    return;
  xmlSchemaFree(s->schema);
  free(s);
}

int exs_schema_validate(struct exs_schema *s, xmlDocPtr doc, xmlNodePtr node, const char *name,
                        char *errbuf, size_t errlen)
{
  xmlSchemaValidCtxtPtr vctxt;
  struct schema_err se = {errbuf, errlen, name, 0};
  int rc;

  vctxt = xmlSchemaNewValidCtxt(s->schema);
  if(!vctxt) {
    snprintf(errbuf, errlen, "%s: out of memory", name);
    return -1;
  }
  xmlSchemaSetValidStructuredErrors(vctxt, schema_error_cb, &se);
  rc = node ? xmlSchemaValidateOneElement(vctxt, node) : xmlSchemaValidateDoc(vctxt, doc);
  xmlSchemaFreeValidCtxt(vctxt);
  if(rc != 0 && !se.seen)
    snprintf(errbuf, errlen, "%s: not valid (code %d)", name, rc);
  return rc == 0 ? 0 : -1;
}

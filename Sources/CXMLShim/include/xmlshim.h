#ifndef XMLSHIM_H
#define XMLSHIM_H

/* A SAX2 parse through libxml2, loaded with dlopen on first use so that the many tool calls
   that never read XML (most hook calls) do not load libxml2 and ICU. */

typedef struct pf_xml_handler {
    void *context;
    /* `prefixes[i]` is NULL for an unprefixed attribute; values are not NUL-terminated. */
    void (*start)(void *context, const char *name, const char *uri, int count,
                  const char *const *names, const char *const *prefixes,
                  const char *const *values, const int *lengths);
    void (*end)(void *context);
    void (*text)(void *context, const char *bytes, int length);
} pf_xml_handler;

/* Returns 0 when the document was well-formed. Otherwise fills `message` (NUL-terminated,
   cut to `capacity`) and `line` with libxml2's first error, after which the parse stops;
   `errors` counts the errors libxml2 raised (1 then, as it stopped). */
int pf_xml_parse(const char *bytes, int length, const pf_xml_handler *handler,
                 char *message, int capacity, int *line, int *errors);

#endif

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include "xmlshim.h"

static pthread_once_t loaded = PTHREAD_ONCE_INIT;
/* Typed from libxml2's own header, resolved with dlsym. */
static __typeof__(xmlSAXUserParseMemory) *parse;
static __typeof__(xmlStopParser) *stop;

/* Once per process, before any parse: libxml2's own initialisation is not reentrant. */
static void load(void) {
    void *lib = dlopen("libxml2.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    __typeof__(xmlInitParser) *init = (__typeof__(xmlInitParser) *)dlsym(lib, "xmlInitParser");
    __typeof__(xmlSAXUserParseMemory) *found = (__typeof__(xmlSAXUserParseMemory) *)dlsym(lib, "xmlSAXUserParseMemory");
    if (!init || !found) return;
    init();
    stop = (__typeof__(xmlStopParser) *)dlsym(lib, "xmlStopParser");
    parse = found;
}

struct state {
    const pf_xml_handler *handler;
    char *message;
    int capacity;
    int *line;
    int failed;
    int *errors;
};

/* Keeps the first error only; later callbacks are ignored once a document is known bad. */
static void fail(struct state *s, const char *message, int line) {
    if (s->failed) return;
    s->failed = 1;
    *s->line = line;
    snprintf(s->message, (size_t)s->capacity, "%s", message ? message : "malformed XML");
    size_t n = strlen(s->message);
    while (n > 0 && (s->message[n - 1] == '\n' || s->message[n - 1] == ' ')) s->message[--n] = '\0';
}

static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                     int nb_namespaces, const xmlChar **namespaces, int nb_attributes, int nb_defaulted,
                     const xmlChar **attributes) {
    (void)prefix; (void)nb_namespaces; (void)namespaces; (void)nb_defaulted;
    struct state *s = ctx;
    if (s->failed) return;
    /* libxml2 passes five pointers per attribute: local name, prefix, URI, value start, value end. */
    size_t n = (size_t)nb_attributes + 1;
    const char **names = calloc(n, sizeof *names), **prefixes = calloc(n, sizeof *prefixes);
    const char **values = calloc(n, sizeof *values);
    int *lengths = calloc(n, sizeof *lengths);
    if (!names || !prefixes || !values || !lengths) {
        fail(s, "out of memory", 0);
    } else {
        for (int i = 0; i < nb_attributes; i++) {
            names[i] = (const char *)attributes[5 * i];
            prefixes[i] = (const char *)attributes[5 * i + 1];
            values[i] = (const char *)attributes[5 * i + 3];
            lengths[i] = (int)(attributes[5 * i + 4] - attributes[5 * i + 3]);
        }
        s->handler->start(s->handler->context, (const char *)localname, (const char *)uri, nb_attributes,
                          names, prefixes, values, lengths);
    }
    free(names); free(prefixes); free(values); free(lengths);
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri) {
    (void)localname; (void)prefix; (void)uri;
    struct state *s = ctx;
    if (!s->failed) s->handler->end(s->handler->context);
}

static void on_text(void *ctx, const xmlChar *bytes, int length) {
    struct state *s = ctx;
    if (!s->failed) s->handler->text(s->handler->context, (const char *)bytes, length);
}

/* A document type declaration, which libvirt never writes: refused, whatever it holds, so no
   internal subset (entity declarations included) is ever acted on. Found by the parser itself,
   so "<!DOCTYPE" inside a comment or a CDATA section is just text. */
static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *external, const xmlChar *system) {
    (void)name; (void)external; (void)system;
    fail(ctx, "a DOCTYPE declaration is refused (libvirt never writes one)", 0);
}

#if LIBXML_VERSION >= 21200
static void on_error(void *ctx, const xmlError *error) {
#else
static void on_error(void *ctx, xmlErrorPtr error) {
#endif
    if (!error || error->level < XML_ERR_ERROR) return;
    struct state *s = ctx;
    (*s->errors)++;
    fail(ctx, error->message, error->line);
    /* The first error ends the parse. libxml2 otherwise goes on after many errors from inside
       the construct that failed (a comment holding a control character, an attribute value
       holding '<', an instruction without a target) and parses what follows as markup: tags
       that XMLShape, which reads a document the way a well-formed one reads, never counted. */
    if (stop && error->ctxt && (error->domain == XML_FROM_PARSER || error->domain == XML_FROM_NAMESPACE)) stop(error->ctxt);
}

int pf_xml_parse(const char *bytes, int length, const pf_xml_handler *handler,
                 char *message, int capacity, int *line, int *errors) {
    struct state s = { handler, message, capacity, line, 0, errors };
    *errors = 0;
    pthread_once(&loaded, load);
    if (!parse || !stop) {
        fail(&s, "cannot load libxml2 (libxml2.so.2)", 0);
        return -1;
    }
    /* Only these SAX2 callbacks, and this is what makes hostile XML harmless: with no
       entityDecl or getEntity handler no entity is ever declared or expanded (no billion
       laughs), with no externalSubset handler no DTD is loaded, and nothing is fetched. */
    xmlSAXHandler sax;
    memset(&sax, 0, sizeof sax);
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = on_start;
    sax.endElementNs = on_end;
    sax.characters = on_text;
    sax.cdataBlock = on_text;
    sax.serror = on_error;
    sax.internalSubset = on_doctype;
    int status = parse(&sax, &s, bytes, length);
    if (status != 0 && !s.failed) fail(&s, "malformed XML", 0);
    return s.failed ? -1 : 0;
}

#include "hooktriage.h"
#include <string.h>

/* Plain byte loops: the front door runs before anything else in the process, and the Swift
   hook calls the same code, so the two can never disagree on a verdict. */

int pf_hook_action(const uint8_t *name, size_t len) {
    static const struct { const char *name; int action; } table[] = {
        {"prepare", PF_ACTION_CHECK},
        {"start", PF_ACTION_RECORD},
        {"reconnect", PF_ACTION_RERECORD},
        {"attach", PF_ACTION_RERECORD},
        {"stopped", PF_ACTION_FORGET},
        {"release", PF_ACTION_FORGET},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strlen(table[i].name) == len && memcmp(table[i].name, name, len) == 0) return table[i].action;
    }
    return PF_ACTION_NONE;
}

static uint8_t fold_byte(uint8_t b, int fold) { return fold && b >= 'A' && b <= 'Z' ? (uint8_t)(b | 0x20) : b; }

static long pf_find(const uint8_t *needle, size_t needle_len, const uint8_t *hay, size_t hay_len, size_t from, int fold) {
    if (needle_len == 0 || from > hay_len || hay_len - from < needle_len) return -1;
    for (size_t start = from; start <= hay_len - needle_len; start++) {
        size_t i = 0;
        while (i < needle_len && fold_byte(hay[start + i], fold) == fold_byte(needle[i], fold)) i++;
        if (i == needle_len) return (long)start;
    }
    return -1;
}

static int is_space(uint8_t b) { return b == ' ' || b == '\t' || b == '\n' || b == '\r'; }
static int is_hex(uint8_t b) { return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || (b >= 'A' && b <= 'F'); }

int pf_domain_uuid(const uint8_t *xml, size_t len, char out[37]) {
    static const uint8_t domain[] = "<domain", open_tag[] = "<uuid>", close_tag[] = "</uuid>";
    /* `<domain` followed by white space, `>` or the end: never `<domainfoo`. */
    long d = -1;
    for (size_t from = 0;;) {
        long at = pf_find(domain, 7, xml, len, from, 0);
        if (at < 0) return 0;
        size_t next = (size_t)at + 7;
        if (next == len || is_space(xml[next]) || xml[next] == '>') { d = at; break; }
        from = (size_t)at + 1;
    }
    long open = pf_find(open_tag, 6, xml, len, (size_t)d + 7, 0);
    if (open < 0) return 0;
    long close = pf_find(close_tag, 7, xml, len, (size_t)open + 6, 0);
    if (close < 0 || close - open > 6 + 64) return 0;
    size_t start = (size_t)open + 6, end = (size_t)close;
    while (start < end && is_space(xml[start])) start++;
    while (end > start && is_space(xml[end - 1])) end--;
    /* 8-4-4-4-12 hex digits: 36 bytes, dashes where they belong and nowhere else. */
    if (end - start != 36) return 0;
    for (size_t i = 0; i < 36; i++) {
        uint8_t b = xml[start + i];
        int dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? b != '-' : !is_hex(b)) return 0;
        out[i] = (char)fold_byte(b, 1);
    }
    out[36] = 0;
    return 1;
}

static int is_plain_name_byte(uint8_t b) {
    return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '-' || b == '_' || b == '.';
}

int pf_triage_is_noop(int action, const uint8_t *guest, size_t guest_len, const uint8_t *xml, size_t xml_len,
                      struct pf_triage_questions questions) {
    if (action == PF_ACTION_NONE) return 1;
    char uuid[37];
    if (!pf_domain_uuid(xml, xml_len, uuid)) return 0;
    /* A record means the guest had forwards when it started: stop and reconnect must see it. */
    if (questions.has_record(uuid, questions.context)) return 0;
    if (action == PF_ACTION_FORGET) return 1;
    /* Forwards from the domain's own metadata. */
    if (pf_find((const uint8_t *)PF_METADATA_NAMESPACE, sizeof PF_METADATA_NAMESPACE - 1, xml, xml_len, 0, 0) >= 0) return 0;
    /* Forwards from the config: only a [[guest]] naming this domain can have any. The name is
       looked for anywhere in the bundle, which can only err towards the full path. TOML can
       spell a name without its bytes appearing ("w\u0065b1", a line-ending backslash inside a
       multi-line string): a config with any backslash, or a name outside a plain alphabet, is
       not triaged at all. */
    const uint8_t *config = NULL;
    size_t config_len = 0;
    int has_config = questions.config(&config, &config_len, questions.context);
    if (has_config < 0) return 0;
    if (has_config == 0) return 1;
    for (size_t i = 0; i < guest_len; i++) {
        if (!is_plain_name_byte(guest[i])) return 0;
    }
    if (config_len > 0 && memchr(config, '\\', config_len) != NULL) return 0;
    return pf_find(guest, guest_len, config, config_len, 0, 0) < 0
        && pf_find((const uint8_t *)uuid, 36, config, config_len, 0, 1) < 0;
}

#ifndef HOOKTRIAGE_H
#define HOOKTRIAGE_H
/* The hook's triage, in one place for both of its callers: the Swift hook (Triage.swift,
   HookOperation.swift, DomainIdentity.swift call these) and the front door (CFrontDoor), which
   answers the certain no-ops before the Swift runtime starts. Pure functions on bytes: the
   callers read stdin, the config and the state directory, each in its own way. */
#include <stddef.h>
#include <stdint.h>

/* The domain metadata's namespace (Domain.namespace). */
#define PF_METADATA_NAMESPACE "urn:libvirt-portfwd:1"

/* What a qemu hook operation means to us (HookOperation.Action; libvirt docs/hooks.rst). */
enum pf_hook_action {
    PF_ACTION_NONE = 0,     /* started, migrate, restore, and operations of future releases */
    PF_ACTION_CHECK = 1,    /* prepare */
    PF_ACTION_RECORD = 2,   /* start */
    PF_ACTION_RERECORD = 3, /* reconnect, attach */
    PF_ACTION_FORGET = 4,   /* stopped, release */
};

/* The action of the operation named by `len` bytes at `name`. */
int pf_hook_action(const uint8_t *name, size_t len);

/* The domain's UUID: the first <uuid> after the first `<domain` element name, trimmed of XML
   white space, as 8-4-4-4-12 ASCII hex digits; written lowercase to `out` with a NUL.
   1 when found, 0 when not. */
int pf_domain_uuid(const uint8_t *xml, size_t len, char out[37]);

/* What the decision asks its caller, each only when it comes to it; `context` is the caller's.
   has_record: whether a record of this UUID (lowercase, as pf_domain_uuid writes it) is in the
   state directory.
   config: the config to search (the bundle, ConfigFiles.bundle, then the config as it last
   applied): 1 with *text and *len set, valid until the decision returns; 0 when there is no
   config at all; -1 when it cannot be read, so no verdict of "no-op" may rest on it. */
struct pf_triage_questions {
    int (*has_record)(const char *uuid, void *context);
    int (*config)(const uint8_t **text, size_t *len, void *context);
    void *context;
};

/* 1 when the event cannot concern any forward, so the hook may exit 0 having done nothing;
   0 when the full path must run. Only ever 1 when that is certain. */
int pf_triage_is_noop(int action, const uint8_t *guest, size_t guest_len, const uint8_t *xml, size_t xml_len,
                      struct pf_triage_questions questions);
#endif

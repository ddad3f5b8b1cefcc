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

/* Whether a record of this UUID (lowercase, as pf_domain_uuid writes it) is in the state
   directory; `context` is the caller's. */
typedef int (*pf_has_record)(const char *uuid, void *context);

/* 1 when the event cannot concern any forward, so the hook may exit 0 having done nothing;
   0 when the full path must run. `config` is the config bundle (ConfigFiles.bundle) when
   `has_config` is 1; 0 means there is no config to read at all. Only ever 1 when that is
   certain. */
int pf_triage_is_noop(int action, const uint8_t *guest, size_t guest_len, const uint8_t *xml, size_t xml_len,
                      const uint8_t *config, size_t config_len, int has_config, pf_has_record has_record, void *context);

/* Index of the first occurrence of `needle` in `hay` at or after `from`, ASCII case folded
   when `fold` is 1; -1 when there is none or the needle is empty. */
long pf_find(const uint8_t *needle, size_t needle_len, const uint8_t *hay, size_t hay_len, size_t from, int fold);
#endif

#ifndef FRONTDOOR_H
#define FRONTDOOR_H
/* The hook's front door: a constructor that runs before the Swift runtime starts and answers
   the qemu hook events that certainly concern no forward (most guests have none, and libvirtd
   waits for the hook five times per guest lifecycle), with the triage the Swift hook itself
   uses (CHookTriage). Anything it does not recognise, or cannot read exactly as the Swift hook
   would, it leaves to the Swift hook: declining is always safe, only slower. */
#include <stddef.h>
#include <stdint.h>

/* How much of stdin the hook keeps (XMLParser.maximumSize); the rest is read and dropped. */
#define PF_HOOK_STDIN_LIMIT (4 << 20)

/* Stdin as the front door read it, for the Swift hook once the front door declines: a pipe
   cannot be read twice. */
struct pf_front_door_stdin {
    uint8_t *bytes;
    size_t count;
    int complete; /* 0 when more than PF_HOOK_STDIN_LIMIT came and the rest was dropped */
    int taken;    /* 1 when stdin was read */
};

enum pf_front_door_verdict {
    PF_FRONT_DOOR_DECLINED = 0, /* the Swift hook runs */
    PF_FRONT_DOOR_NOOP = 1,     /* exit 0: nothing to do */
};

/* The decision, on the process's arguments and environment, reading stdin from `stdin_fd`
   (read only for `hook qemu` in the shape install-hook's shim gives). The constructor calls it
   with the process's own; tests with theirs. */
int pf_front_door_decide(int argc, char **argv, char **envp, int stdin_fd, struct pf_front_door_stdin *out);

/* What the front door read of stdin, once: `taken` is 0 when it read nothing, or when it was
   taken already. The caller owns `bytes` (free). */
struct pf_front_door_stdin pf_front_door_take_stdin(void);
#endif

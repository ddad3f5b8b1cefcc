#define _GNU_SOURCE
#include "frontdoor.h"
#include "hooktriage.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Each step below reads what the Swift hook reads, as it reads it (Hook.runQemu, Setup,
   ConfigFile, SafeFile, StateStore), or declines. Tests hold the two together
   (FrontDoorTests: the verdict against the Swift hook's on the same files). */

#define CONFIG_LIMIT (16 << 20)   /* ConfigFiles.maximumSize */
#define APPLIED_LIMIT (17 << 20)  /* ConfigFiles.maximumBundleSize */
#define BUNDLE_HEADER "libvirt-portfwd config bundle 1\n"
#define DEFAULT_CONFIG "/etc/libvirt/portfwd.toml"
#define DEFAULT_STATE "/run/libvirt-portfwd"

static struct pf_front_door_stdin kept;

struct pf_front_door_stdin pf_front_door_take_stdin(void) {
    struct pf_front_door_stdin taken = kept;
    memset(&kept, 0, sizeof kept);
    return taken;
}

/* Strict UTF-8, as Swift's String(validating:as:) reads it. */
static int valid_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        if (b < 0x80) { i++; continue; }
        size_t len; uint32_t min, cp;
        if ((b & 0xE0) == 0xC0) { len = 2; min = 0x80; cp = b & 0x1F; }
        else if ((b & 0xF0) == 0xE0) { len = 3; min = 0x800; cp = b & 0x0F; }
        else if ((b & 0xF8) == 0xF0) { len = 4; min = 0x10000; cp = b & 0x07; }
        else return 0;
        if (n - i < len) return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += len;
    }
    return 1;
}

/* The Swift hook reads command lines and paths as Characters, where a byte after `/` or `=`
   can join it into another one (a combining mark, a zero-width joiner): `/\u0301` is no
   separator to it. On ASCII, bytes and Characters are one: anything else is the Swift hook's. */
static int ascii(const char *s) {
    for (; *s; s++) if ((unsigned char)*s >= 0x80) return 0;
    return 1;
}

/* A variable's value; NULL when unset or empty (Locations.environment). */
static const char *variable(char **envp, const char *name) {
    size_t len = strlen(name);
    for (char **e = envp; e && *e; e++) {
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=') return (*e)[len + 1] ? *e + len + 1 : NULL;
    }
    return NULL;
}

/* Stdin as SystemCall.readAll(limit:drain:) reads it: 64 KiB reads, kept while they fit. */
static int read_stdin(int fd, struct pf_front_door_stdin *out) {
    static uint8_t chunk[64 << 10];
    out->bytes = NULL; out->count = 0; out->complete = 1; out->taken = 1;
    size_t capacity = 0;
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return 0;
        if (n == 0) return 1;
        if (out->complete && out->count + (size_t)n <= PF_HOOK_STDIN_LIMIT) {
            if (out->count + (size_t)n > capacity) {
                capacity = capacity ? capacity * 2 : sizeof chunk;
                while (capacity < out->count + (size_t)n) capacity *= 2;
                uint8_t *grown = realloc(out->bytes, capacity);
                /* No memory for it: what was kept is a prefix, as past the limit. */
                if (!grown) { out->complete = 0; continue; }
                out->bytes = grown;
            }
            memcpy(out->bytes + out->count, chunk, (size_t)n);
            out->count += (size_t)n;
        } else {
            out->complete = 0;
        }
    }
}

/* The config file as ConfigFile.read(trust: .regularFile) reads it: NULL (decline) when the
   Swift hook would not have its text; "" when it is absent and need not exist. */
static uint8_t *read_config(const char *path, int required, size_t *count) {
    *count = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) return errno == ENOENT && !required ? calloc(1, 1) : NULL;
    struct stat st;
    uint8_t *text = NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_LIMIT) goto fail;
    size_t capacity = (size_t)st.st_size + 1;
    text = malloc(capacity);
    if (!text) goto fail;
    for (;;) {
        if (*count == capacity) goto fail; /* grew while read: leave it to the Swift hook */
        ssize_t n = read(fd, text + *count, capacity - *count);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) goto fail;
        if (n == 0) break;
        *count += (size_t)n;
    }
    close(fd);
    if (!valid_utf8(text, *count)) { free(text); return NULL; }
    return text;
fail:
    free(text);
    close(fd);
    return NULL;
}

/* The config as it last applied (StateStore.lastConfig, `config.applied`), which the hook falls
   back to when the file does not parse: a guest it names is no no-op either. Read as the store
   reads it, strictly (ours, never through a symlink); what the store cannot read, it takes for
   none, and so does this. 1 with *text NULL when there is none; 0 (decline) when only the
   older `config.last` is there, which the store converts. */
static int read_applied(const char *state, uint8_t **text, size_t *count) {
    *text = NULL; *count = 0;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/config.applied", state) >= (int)sizeof path) return 0;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0 && errno != ENOENT && errno != ELOOP) return 0; /* not certain it is none */
    if (fd >= 0) {
        struct stat st;
        if (fstat(fd, &st) != 0) { close(fd); return 0; }
        /* What the store refuses (SafeFile.read, strict; `small`) is none to it. */
        int refused = !S_ISREG(st.st_mode) || (st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & 022)
            || st.st_size > APPLIED_LIMIT;
        if (!refused) {
            /* Anything else that goes wrong is no answer: decline. */
            size_t n = 0, capacity = (size_t)st.st_size + 1;
            uint8_t *bytes = malloc(capacity);
            if (!bytes) { close(fd); return 0; }
            for (;;) {
                if (n == capacity) { close(fd); free(bytes); return 0; } /* grew while read */
                ssize_t r = read(fd, bytes + n, capacity - n);
                if (r < 0 && errno == EINTR) continue;
                if (r < 0) { close(fd); free(bytes); return 0; }
                if (r == 0) break;
                n += (size_t)r;
            }
            close(fd);
            if (valid_utf8(bytes, n)) { *text = bytes; *count = n; return 1; }
            free(bytes);
        } else {
            close(fd);
        }
    }
    struct stat legacy;
    snprintf(path, sizeof path, "%s/config.last", state);
    return lstat(path, &legacy) != 0 && errno == ENOENT;
}

/* ConfigFile.dropInDirectory(of:): `portfwd.d` beside the config file. */
static char *drop_in_directory(const char *config) {
    size_t end = strlen(config);
    while (end > 1 && config[end - 1] == '/') end--;
    size_t slash = end;
    while (slash > 0 && config[slash - 1] != '/') slash--;
    const char *parent; size_t parent_len;
    if (slash == 0) { parent = "."; parent_len = 1; }              /* no slash */
    else if (slash == 1) { parent = ""; parent_len = 0; }          /* the parent is "/" */
    else { parent = config; parent_len = slash - 1; }
    char *dir = NULL;
    if (asprintf(&dir, "%.*s/portfwd.d", (int)parent_len, parent) < 0) return NULL;
    return dir;
}

/* 1 when the Swift hook would find no drop-in to read and no reason to refuse the directory;
   0 (decline) otherwise, drop-ins included: the front door reads the config file alone. */
static int no_drop_ins(const char *config) {
    char *dir = drop_in_directory(config);
    if (!dir) return 0;
    int ok = 0;
    DIR *d = opendir(dir);
    if (!d) { int none = errno == ENOENT; free(dir); return none; } /* Directory.names: none; else not certain */
    struct stat st;
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) goto done;
    if (st.st_uid != 0 && st.st_uid != geteuid()) goto done;
    if (st.st_mode & 022) goto done;
    ok = 1;
    /* Any name ending in .toml, hidden or not: which of them the Swift hook takes for a drop-in
       depends on how Unicode groups the characters around the dot. */
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        size_t len = strlen(e->d_name);
        if (len >= 5 && strcmp(e->d_name + len - 5, ".toml") == 0) { ok = 0; break; }
    }
done:
    closedir(d);
    free(dir);
    return ok;
}

/* What the triage asks, answered from the files as the Swift hook reads them. */
struct answers {
    const char *state, *config;
    const uint8_t *text;     /* the config file's */
    size_t text_len;
    uint8_t *bundle;         /* built when asked for; freed by the caller */
};

static int has_record(const char *uuid, void *context) {
    const struct answers *a = context;
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s.json", a->state, uuid);
    /* A path too long to build is one the Swift hook could not find either: say "there is one"
       and let it decide. */
    if (n < 0 || (size_t)n >= sizeof path) return 1;
    return access(path, F_OK) == 0;
}

/* ConfigFiles.bundle of the one file, then the config as it last applied (Triage.isNoOp). */
static int config_text(const uint8_t **text, size_t *len, void *context) {
    struct answers *a = context;
    uint8_t *applied;
    size_t applied_len;
    if (!read_applied(a->state, &applied, &applied_len)) return -1;
    char *head = NULL;
    int head_len = asprintf(&head, BUNDLE_HEADER "file %zu %zu\n%s", strlen(a->config), a->text_len, a->config);
    if (head_len < 0) { free(applied); return -1; }
    size_t total = (size_t)head_len + a->text_len + 1 + applied_len;
    a->bundle = malloc(total);
    if (a->bundle) {
        memcpy(a->bundle, head, (size_t)head_len);
        memcpy(a->bundle + head_len, a->text, a->text_len);
        a->bundle[head_len + a->text_len] = '\n';
        if (applied_len) memcpy(a->bundle + head_len + a->text_len + 1, applied, applied_len);
    }
    free(head);
    free(applied);
    if (!a->bundle) return -1;
    *text = a->bundle;
    *len = total;
    return 1;
}

/* Takes `--name value` or `--name=value` at argv[*i]; 1 when it was this option. A value
   that is empty or starts with `-` (which the Swift parser would read differently, or as
   --help) declines through *bad. */
static int option(char **argv, int argc, int *i, const char *name, const char **value, int *bad) {
    size_t len = strlen(name);
    const char *word = argv[*i];
    if (strncmp(word, name, len) != 0 || (word[len] != 0 && word[len] != '=')) return 0;
    const char *v;
    if (word[len] == '=') v = word + len + 1;
    else if (*i + 1 < argc) v = argv[++*i];
    else { *bad = 1; return 1; }
    if (*value != NULL || v[0] == 0 || v[0] == '-' || !ascii(v)) *bad = 1; /* given twice, empty, dashed, not ASCII */
    *value = v;
    return 1;
}

static int one_of(const char *value, const char *const *choices) {
    for (; *choices; choices++) if (strcmp(value, *choices) == 0) return 1;
    return 0;
}

int pf_front_door_decide(int argc, char **argv, char **envp, int stdin_fd, struct pf_front_door_stdin *out) {
    memset(out, 0, sizeof *out);
    /* `BIN hook qemu [options] -- guest operation sub-operation extra`: the shim's shape. */
    if (argc < 4 || strcmp(argv[1], "hook") != 0 || strcmp(argv[2], "qemu") != 0) return PF_FRONT_DOOR_DECLINED;
    const char *config = NULL, *state = NULL, *backend = NULL, *flavour = NULL;
    int i = 3, bad = 0;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (!ascii(argv[i])) return PF_FRONT_DOOR_DECLINED;
        if (!option(argv, argc, &i, "--config", &config, &bad) && !option(argv, argc, &i, "--state-dir", &state, &bad)
            && !option(argv, argc, &i, "--backend", &backend, &bad) && !option(argv, argc, &i, "--iptables", &flavour, &bad)) {
            return PF_FRONT_DOOR_DECLINED;
        }
        if (bad) return PF_FRONT_DOOR_DECLINED;
    }
    static const char *const backends[] = {"auto", "nftables", "iptables", NULL}, *const flavours[] = {"nft", "legacy", NULL};
    if (backend && !one_of(backend, backends)) return PF_FRONT_DOOR_DECLINED;
    if (flavour && !one_of(flavour, flavours)) return PF_FRONT_DOOR_DECLINED;
    if (i >= argc || argc - i - 1 != 4) return PF_FRONT_DOOR_DECLINED;
    const char *guest = argv[i + 1], *operation = argv[i + 2];
    if (guest[0] == 0) return PF_FRONT_DOOR_DECLINED;
    /* Without /proc the Swift runtime has no arguments, and the tool says so (exit 71). */
    if (access("/proc/self/cmdline", R_OK) != 0) return PF_FRONT_DOOR_DECLINED;

    /* Locations: the option, else the environment, else the default. */
    int required = 1;
    if (!config) config = variable(envp, "LIBVIRT_PORTFWD_CONFIG");
    if (!config) { config = DEFAULT_CONFIG; required = 0; }
    if (!state) state = variable(envp, "LIBVIRT_PORTFWD_STATE_DIR");
    if (!state) state = DEFAULT_STATE;
    if (!ascii(config) || !ascii(state)) return PF_FRONT_DOOR_DECLINED;

    /* All of stdin first, whatever the operation, as the Swift hook reads it. */
    if (!read_stdin(stdin_fd, out)) return PF_FRONT_DOOR_DECLINED;

    size_t text_len;
    uint8_t *text = read_config(config, required, &text_len);
    if (!text) return PF_FRONT_DOOR_DECLINED;
    int verdict = PF_FRONT_DOOR_DECLINED;
    if (no_drop_ins(config)) {
        struct answers answers = {.state = state, .config = config, .text = text, .text_len = text_len, .bundle = NULL};
        struct pf_triage_questions questions = {.has_record = has_record, .config = config_text, .context = &answers};
        int action = pf_hook_action((const uint8_t *)operation, strlen(operation));
        if (pf_triage_is_noop(action, (const uint8_t *)guest, strlen(guest), out->bytes, out->count, questions)) {
            verdict = PF_FRONT_DOOR_NOOP;
        }
        free(answers.bundle);
    }
    free(text);
    return verdict;
}

/* Before every other constructor of the binary, the Swift runtime's included (priority 101 of
   .init_array, which runs first): a no-op answered here never starts it. */
__attribute__((constructor(101))) static void front_door(int argc, char **argv, char **envp) {
#ifdef __GLIBC__
    struct pf_front_door_stdin read;
    if (pf_front_door_decide(argc, argv, envp, 0, &read) == PF_FRONT_DOOR_NOOP) _exit(0);
    kept = read;
#else
    /* Only glibc passes a constructor the arguments and the environment; elsewhere they would
       be whatever the registers held, so the Swift hook answers everything. */
    (void)argc; (void)argv; (void)envp;
#endif
}

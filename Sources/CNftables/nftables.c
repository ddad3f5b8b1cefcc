/* dladdr, for the library's path. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include "cnftables.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pf_nft_api api;
static const pf_nft_api *loaded;
static char error[256];
static char identity[512];

#define RESOLVE(field, name) \
    if (!(api.field = (__typeof__(api.field))dlsym(lib, #name))) { \
        snprintf(error, sizeof error, "libnftables has no %s", #name); return; }

static void load(void) {
    void *lib = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        snprintf(error, sizeof error, "cannot load libnftables: %s", why ? why : "unknown error");
        return;
    }
    RESOLVE(ctx_new, nft_ctx_new)
    RESOLVE(ctx_free, nft_ctx_free)
    RESOLVE(set_dry_run, nft_ctx_set_dry_run)
    RESOLVE(output_set_flags, nft_ctx_output_set_flags)
    RESOLVE(buffer_output, nft_ctx_buffer_output)
    RESOLVE(buffer_error, nft_ctx_buffer_error)
    RESOLVE(get_output_buffer, nft_ctx_get_output_buffer)
    RESOLVE(get_error_buffer, nft_ctx_get_error_buffer)
    RESOLVE(run_cmd_from_buffer, nft_run_cmd_from_buffer)
    api.has_destroy = dlsym(lib, "nft_ctx_input_get_flags") != NULL;
    /* The file as loaded: an upgrade replaces it on disk under a running process. */
    Dl_info info;
    struct stat st;
    if (dladdr((void *)api.run_cmd_from_buffer, &info) && info.dli_fname && stat(info.dli_fname, &st) == 0)
        snprintf(identity, sizeof identity, "%s %llu %lld %lld", info.dli_fname, (unsigned long long)st.st_ino,
                 (long long)st.st_size, (long long)st.st_mtime);
    loaded = &api;
}

const pf_nft_api *pf_nft_api_get(void) {
    pthread_once(&once, load);
    return loaded;
}

const char *pf_nft_load_error(void) {
    pthread_once(&once, load);
    return error;
}

const char *pf_nft_library_identity(void) {
    return pf_nft_api_get() ? identity : "";
}

/* dladdr, for the library's path. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include "cnftables.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pf_nft_api api;
static const pf_nft_api *loaded;
static char error[256];

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

const char *pf_nft_library_path(void) {
    Dl_info info;
    if (!pf_nft_api_get() || !dladdr((void *)api.run_cmd_from_buffer, &info) || !info.dli_fname) return NULL;
    return info.dli_fname;
}

#ifndef CNFTABLES_H
#define CNFTABLES_H

/* libnftables' C API, typed from its own header, but resolved with dlopen on first use rather
   than linked: most processes of this tool are hook calls that change nothing, and loading
   libnftables with its dependencies would be a measurable share of their run time. It also
   lets a host without libnftables run the iptables backend. */

#include <stdbool.h>
#include <nftables/libnftables.h>

typedef struct pf_nft_api {
    __typeof__(nft_ctx_new) *ctx_new;
    __typeof__(nft_ctx_free) *ctx_free;
    __typeof__(nft_ctx_set_dry_run) *set_dry_run;
    __typeof__(nft_ctx_output_set_flags) *output_set_flags;
    __typeof__(nft_ctx_buffer_output) *buffer_output;
    __typeof__(nft_ctx_buffer_error) *buffer_error;
    __typeof__(nft_ctx_get_output_buffer) *get_output_buffer;
    __typeof__(nft_ctx_get_error_buffer) *get_error_buffer;
    __typeof__(nft_run_cmd_from_buffer) *run_cmd_from_buffer;
    /* nftables >= 1.0.7, which added `destroy`, also added nft_ctx_input_get_flags: its
       presence is the cheap way to learn the library's generation without a probe. */
    bool has_destroy;
} pf_nft_api;

/* The API, loaded once per process (under pthread_once); NULL when libnftables.so.1 cannot be
   loaded or lacks a symbol, and then pf_nft_load_error() says why. */
const pf_nft_api *pf_nft_api_get(void);
const char *pf_nft_load_error(void);
/* The file libnftables was loaded from, as it was when loaded: "PATH INODE SIZE MTIME", or ""
   when unknown. What its listings look like depends on it. */
const char *pf_nft_library_identity(void);

#endif

#ifndef BUILDINFO_H
#define BUILDINFO_H
/* The commit the binary was built from: the Makefile passes it to the package manifest
   (LIBVIRT_PORTFWD_COMMIT), which defines PF_COMMIT here; "unknown" otherwise. */
const char *pf_build_commit(void);
#endif

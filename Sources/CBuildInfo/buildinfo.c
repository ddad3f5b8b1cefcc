#include "buildinfo.h"
#ifndef PF_COMMIT
#define PF_COMMIT "unknown"
#endif
const char *pf_build_commit(void) { return PF_COMMIT; }

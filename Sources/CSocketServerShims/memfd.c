#define _GNU_SOURCE
#include "CSocketServerShims.h"
#include <sys/mman.h>

int cssd_memfd_cloexec(const char *name) { return memfd_create(name, MFD_CLOEXEC); }

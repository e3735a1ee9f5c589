/* Compile-time checks that the plugin ABI keeps the layout its versions promise (LP64 Linux). */
#include <stddef.h>
#include <socketserverd/socketserverd_plugin.h>

#if defined(__LP64__)
/* 1.0's structs, unchanged in 1.1 but for ssd_handler's new last field. */
_Static_assert(sizeof(ssd_key) == 16, "ssd_key layout changed: that needs a new major ABI version");
_Static_assert(sizeof(ssd_plugin) == 32, "ssd_plugin layout changed: that needs a new major ABI version");
_Static_assert(sizeof(ssd_request) == 64, "ssd_request layout changed: that needs a new major ABI version");
/* 1.0's ssd_handler ends where 1.1's `events` begins: the daemon reads 1.0 tables with that stride. */
_Static_assert(offsetof(ssd_handler, events) == 56, "ssd_handler's 1.0 fields moved: that needs a new major ABI version");
_Static_assert(sizeof(ssd_handler) == 64, "ssd_handler layout changed: bump SSD_PLUGIN_ABI_MINOR");
_Static_assert(sizeof(ssd_events) == 24, "ssd_events layout changed: bump SSD_PLUGIN_ABI_MINOR");
_Static_assert(sizeof(ssd_output) == 16, "ssd_output layout changed: bump SSD_PLUGIN_ABI_MINOR");
#endif
_Static_assert(SSD_PLUGIN_ABI(1, 0) == 1u, "ABI 1.0 must stay abi_version 1, as its header defined it");

/* Keeps this translation unit non-empty on other platforms. */
typedef int ssd_abi_checks_unit;

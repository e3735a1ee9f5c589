/* Compile-time checks that the plugin ABI keeps the layout version 1 promises (LP64 Linux). */
#include <socketserverd/socketserverd_plugin.h>

#if defined(__LP64__)
_Static_assert(sizeof(ssd_key) == 16, "ssd_key layout changed: bump SSD_PLUGIN_ABI_VERSION");
_Static_assert(sizeof(ssd_handler) == 56, "ssd_handler layout changed: bump SSD_PLUGIN_ABI_VERSION");
_Static_assert(sizeof(ssd_plugin) == 32, "ssd_plugin layout changed: bump SSD_PLUGIN_ABI_VERSION");
_Static_assert(sizeof(ssd_request) == 64, "ssd_request layout changed: bump SSD_PLUGIN_ABI_VERSION");
#endif

/* Keeps this translation unit non-empty on other platforms. */
typedef int ssd_abi_checks_unit;

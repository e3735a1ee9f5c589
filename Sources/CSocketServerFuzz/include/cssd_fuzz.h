// libFuzzer's driver, reached from Swift when it is linked in (Tests/Fuzz/run.sh) and absent otherwise.
#ifndef CSSD_FUZZ_H
#define CSSD_FUZZ_H
#include <stddef.h>
#include <stdint.h>

typedef int (*cssd_fuzz_entry)(const uint8_t *data, size_t size);

/// Runs libFuzzer over `entry` with the command line in argc/argv; -1 if libFuzzer is not linked.
int cssd_fuzz_run_driver(int *argc, char ***argv, cssd_fuzz_entry entry);

#endif

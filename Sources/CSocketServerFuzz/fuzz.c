// A weak reference: a normal build links without libFuzzer and gets NULL. Tests/Fuzz/run.sh builds
// with -sanitize=fuzzer and `-u LLVMFuzzerRunDriver`, which pulls the driver out of libFuzzer.
#include "cssd_fuzz.h"

extern int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*entry)(const uint8_t *, size_t)) __attribute__((weak));

static cssd_fuzz_entry chosen_entry;

// libFuzzer's own code refers to this name, so it must exist whenever the driver is linked.
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return chosen_entry ? chosen_entry(data, size) : 0;
}

int cssd_fuzz_run_driver(int *argc, char ***argv, cssd_fuzz_entry entry) {
    if (!LLVMFuzzerRunDriver) return -1;
    chosen_entry = entry;
    return LLVMFuzzerRunDriver(argc, argv, entry);
}

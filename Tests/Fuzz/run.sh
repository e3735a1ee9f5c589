#!/usr/bin/env bash
# run.sh: coverage-guided fuzzing (libFuzzer, with AddressSanitizer) of the two parsers that read
# bytes from outside: the config loader and the upload header (FlatJSON).
#
#   Tests/Fuzz/run.sh config|upload [seconds, default 60] [more libFuzzer options]
#
# Builds Sources/socketserverd-fuzz into .build-fuzz, starts from the seeds in Tests/Fuzz/corpus/TARGET
# (new inputs go to .build-fuzz/corpus/TARGET, not into the repository) and stops after the given
# time. A crash leaves crash-* in the current directory and fails the run; replay it with a normal
# build: `swift run socketserverd-fuzz TARGET crash-…`, then keep it as a regression test
# (ConfigFuzzTests.testHandPickedNastyInputs or FlatJSONFuzzTests.testRegressions).
set -euo pipefail
cd "$(dirname "$0")/../.."

target=${1:-}
case "$target" in
    config|upload) shift ;;
    *) echo "usage: $0 config|upload [seconds] [libFuzzer options]" >&2; exit 2 ;;
esac
seconds=60
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then seconds=$1; shift; fi

# -sanitize=fuzzer alone does not instrument the modules SwiftPM compiles, so the coverage flags
# are explicit; `-u LLVMFuzzerRunDriver` pulls libFuzzer's driver in (Sources/CSocketServerFuzz);
# lld, since gold fails on these objects with an internal error.
swift build --product socketserverd-fuzz --scratch-path .build-fuzz \
    -Xswiftc -sanitize=fuzzer -Xswiftc -sanitize=address \
    -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
    -Xcc -fsanitize=fuzzer-no-link -Xswiftc -use-ld=lld -Xlinker -u -Xlinker LLVMFuzzerRunDriver \
    2> >(grep -v "Cannot export local symbol" >&2)

work=.build-fuzz/corpus/$target
mkdir -p "$work"
exec .build-fuzz/debug/socketserverd-fuzz "$target" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
    "$@" "$work" "Tests/Fuzz/corpus/$target"

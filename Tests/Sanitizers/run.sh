#!/usr/bin/env bash
# run.sh: the test suite under a sanitizer.
#
#   Tests/Sanitizers/run.sh address|thread [more `swift test` arguments, e.g. --filter LoadTests]
#
# Builds into .build-asan or .build-tsan (the daemon binary the integration tests start is built with
# the same sanitizer) and runs every test target but DebianPackageTests, which packages a normal
# build and is covered by the plain `swift test`. Reports from the test process fail the run (its
# exit status); reports from the daemons it starts fail the test that started them (see
# Tests/SocketServerTestSupport/Sanitizers.swift). Suppressions, each with its reason, are in
# Tests/Sanitizers/*.supp.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=$PWD/Tests/Sanitizers

kind=${1:-}
shift || true
case "$kind" in
    address)
        scratch=.build-asan
        flags=()
        export LSAN_OPTIONS="suppressions=$here/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
        ;;
    thread)
        scratch=.build-tsan
        # The TSan runtime is linked into the executables and exports only part of its interface
        # (libclang_rt.tsan.a.syms). A Swift library built with -sanitize=thread and loaded with
        # dlopen (the example plugin libgreet.so, in the plugin tests) also needs these.
        flags=()
        for symbol in __tsan_external_read __tsan_external_write __tsan_ignore_thread_begin __tsan_ignore_thread_end; do
            flags+=(-Xlinker "--export-dynamic-symbol=$symbol")
        done
        export TSAN_OPTIONS="suppressions=$here/tsan.supp${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
        ;;
    *)
        echo "usage: $0 address|thread [swift test arguments]" >&2
        exit 2
        ;;
esac

# A bound on the whole run (build included; SANITIZER_TIMEOUT seconds, default 25 minutes): a child
# that ForkingMixIn forks from the XCTest process (which has threads) can inherit a Swift runtime
# lock another thread held and spin forever; seen twice in about ten ThreadSanitizer runs, never
# without a sanitizer. A hung run then fails instead of holding CI.
exec timeout --kill-after=30 "${SANITIZER_TIMEOUT:-1500}" \
    swift test --sanitize="$kind" --scratch-path "$scratch" "${flags[@]}" --skip DebianPackageTests "$@"

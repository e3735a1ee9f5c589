#!/usr/bin/env bash
# build-upgrade-package.sh TREE VERSION: makes TREE, a copy of the checkout that dpkg-buildpackage
# has built, the next version of the package and builds that .deb into TREE/.. (for
# package-test.sh's in-place upgrade). A new debian/changelog entry and Daemon.version both say
# VERSION, so the upgraded daemon's --version and STATUS= name it.
#
# The build reuses TREE/.build-deb, so SwiftPM recompiles only the module whose source changed.
# It runs in TREE itself: SwiftPM's and clang's module caches record absolute paths, and a copy of
# the built tree elsewhere fails ("precompiled file ... was compiled with module cache path ...").
set -euo pipefail

[ $# = 2 ] || { echo "usage: $0 TREE VERSION" >&2; exit 2; }
tree=$1 version=$2
cd "$tree"

daemon=Sources/SocketServerDaemon/Daemon.swift
pattern='^\(    public static let version = "\)[^"]*"$'
grep -q "$pattern" "$daemon" || { echo "$0: no 'public static let version' line in $daemon" >&2; exit 1; }
sed -i "s/$pattern/\1$version\"/" "$daemon"
grep -qx "    public static let version = \"$version\"" "$daemon" || { echo "$0: could not set Daemon.version" >&2; exit 1; }

{
    printf 'socketserverd (%s) unstable; urgency=medium\n\n' "$version"
    printf '  * Test build of Tests/Packaging/package-test.sh: the upgrade in place.\n\n'
    printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -S Maintainer)" "$(date -R)"
    cat debian/changelog
} > debian/changelog.next
mv debian/changelog.next debian/changelog
[ "$(dpkg-parsechangelog -S Version)" = "$version" ] || { echo "$0: debian/changelog does not say $version" >&2; exit 1; }

# dh_clean forgets the first build (debhelper's stamps and logs, the staging tree); .build-deb
# stays, because -nc keeps dpkg-buildpackage from running debian/rules clean, which removes it.
dh_clean
dpkg-buildpackage -us -uc -b -nc

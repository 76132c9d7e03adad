#!/bin/sh
# cppcheck on the project's own C code (shm/, preload/, monitor/ with its ui/, tests/), using the
# compile commands of a plain build so that every file is checked with its real flags.
# Findings that are not defects are suppressed, each with its reason, in tests/ci/cppcheck.supp.
# Exits non-zero on any finding.
# usage: tests/ci/lint.sh [BUILD_DIR]
set -eu
cd "$(dirname "$0")/../.."
DIR=${1:-build-ci-plain}
start=$(date +%s)
command -v cppcheck >/dev/null || { echo "lint.sh: cppcheck not found: apt-get install cppcheck" >&2; exit 2; }
[ -f "$DIR/build.ninja" ] || meson setup "$DIR" >/dev/null
ninja -C "$DIR" >/dev/null # generated headers, and compile_commands.json up to date
rc=0
# __attribute__ after a function-pointer declarator (preload/preload.h) is a syntax error to
# cppcheck 2.10, which then skips the whole file: define it away. With -D, cppcheck defines no
# architecture macros, which libunwind.h and urcu/arch.h need; system headers are not ours.
cppcheck --project="$DIR/compile_commands.json" -q -j2 --error-exitcode=1 --inline-suppr \
	--enable=warning,performance,portability '-D__attribute__(x)=' -D__x86_64__ -D__linux__ \
	--suppress='*:/usr/include/*' \
	--suppress=missingIncludeSystem --suppressions-list=tests/ci/cppcheck.supp \
	-i"$DIR" --template='{file}:{line}: {severity}: {id}: {message}' || rc=$?
echo "lint.sh: $(( $(date +%s) - start )) s, exit $rc"
exit $rc

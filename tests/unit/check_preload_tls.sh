#!/bin/bash
# unit: every thread-local variable of the preload is initial-exec. libmemtop.so must carry no
# dynamic TLS relocation (DTPMOD64, DTPOFF64, TLSGD, TLSLD) and must not import __tls_get_addr:
# reaching its TLS then never calls into the loader, never allocates, and works inside malloc.
# The objects of the segment library (linked into the preload as needed) are held to the same rule,
# so that a file the preload does not pull in today cannot bring a global-dynamic variable later.
# usage: check_preload_tls.sh LIBMEMTOP_SO LIBMEMTOP_SHM_A   (prints TAP)
set -u
so=$1 shm_a=$2
dynamic_tls='R_X86_64_(DTPMOD64|DTPOFF64|DTPOFF32|TLSGD|TLSLD|GOTPC32_TLSDESC|TLSDESC)'
echo "1..3"
fail=0
bad=$(readelf -rW "$so" | grep -E "$dynamic_tls")
if [ -z "$bad" ]; then echo "ok 1 - $so: no dynamic TLS relocation"
else echo "not ok 1 - $so: dynamic TLS relocations:"; echo "$bad" | sed 's/^/# /'; fail=1; fi
if ! nm -D "$so" | grep -q '__tls_get_addr'; then echo "ok 2 - $so: no __tls_get_addr import"
else echo "not ok 2 - $so imports __tls_get_addr"; fail=1; fi
# code relocations only: DWARF locates every TLS variable with DTPOFF32 in .debug_* whatever its model
bad=$(readelf -rW "$shm_a" | awk -v re="$dynamic_tls" '
	/^File: / { file = $2 }
	/^Relocation section/ { sec = $3; gsub(/\047/, "", sec) }
	sec !~ /^\.rela\.debug/ && $0 ~ re { print file " " sec ": " $3 " " $5 }')
if [ -z "$bad" ]; then echo "ok 3 - $shm_a: no dynamic TLS relocation in any object"
else echo "not ok 3 - $shm_a: dynamic TLS relocations:"; echo "$bad" | sed 's/^/# /'; fail=1; fi
exit $fail

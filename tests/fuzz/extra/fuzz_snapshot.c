/* libFuzzer harness for the snapshot parser behind `memtop symbolize`: a snapshot file comes from
 * another machine and may be anything. snapshot_symbolize reads it (header, frame lines, the maps
 * section that symdb parses into modules) and writes the re-symbolized text; it must never crash,
 * hang or read out of bounds, and must either succeed or give an error message.
 * The sysroot is an empty directory, so module names in the input do not open the host's files
 * unless they name them outright (which is allowed: that is what symbolize does).
 * Built by tests/ci/fuzz-extra.sh (clang, -fsanitize=fuzzer,address,undefined). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export/snapshot.h"

static char sysroot[64];
static FILE *sink;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(sysroot, sizeof sysroot, "/tmp/memtop-fuzz-sysroot.XXXXXX");
	if (!mkdtemp(sysroot))
		abort();
	sink = fopen("/dev/null", "w");
	setenv("DEBUGINFOD_URLS", "", 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	FILE *in = fmemopen((void *)data, size, "r");
	if (!in)
		return 0;
	char err[256] = "";
	int rc = snapshot_symbolize(in, sink, sink, sysroot, err, sizeof err);
	if (rc != 0 && err[0] == '\0')
		abort(); /* a failure must say why */
	fclose(in);
	return 0;
}

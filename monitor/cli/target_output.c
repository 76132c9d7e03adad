/* target_output: under the dashboard (memtop run, demo) the target's stdout and stderr go to a
 * file, named in the header and shown when the dashboard closes, so that they never garble the
 * curses screen. Never writes into a file it did not create (O_EXCL, mode 0600). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#define OUTPUT_TAIL_LINES 10

static const char *tmp_dir(void)
{
	const char *d = getenv("TMPDIR");
	return d && *d == '/' ? d : "/tmp";
}

int cli_output_create(char *path, size_t len)
{
	int n = snprintf(path, len, "%s/memtop-run-XXXXXX.out", tmp_dir());
	if (n < 0 || (size_t)n >= len) {
		fprintf(stderr, "memtop: TMPDIR is too long for the target's output file\n");
		return -1;
	}
	int fd = mkostemps(path, 4, O_CLOEXEC | O_APPEND);
	if (fd < 0)
		fprintf(stderr, "memtop: cannot create %s for the target's output: %s (set TMPDIR)\n",
			path, strerror(errno));
	return fd;
}

void cli_output_name_by_pid(char *path, size_t len, int pid)
{
	char named[4096];
	int n = snprintf(named, sizeof named, "%s/memtop-%d.out", tmp_dir(), pid);
	/* rename never follows a link at the new name; when it fails (another user's file in a
	 * sticky /tmp) the random name stays */
	if (n > 0 && (size_t)n < sizeof named && (size_t)n < len && rename(path, named) == 0)
		snprintf(path, len, "%s", named);
}

/* The offset where the last `lines` lines of f begin (0 when it has fewer); *total: its lines. */
static long tail_offset(FILE *f, int lines, long *total)
{
	int ring = lines + 1; /* starts of the last lines, and of what follows the last newline */
	long *starts = calloc((size_t)ring, sizeof *starts);
	long count = 0, pos = 0;
	int c;
	if (!starts)
		return 0;
	while ((c = getc(f)) != EOF) {
		pos++;
		if (c == '\n')
			starts[++count % ring] = pos;
	}
	if (pos != starts[count % ring])
		count++; /* a last line without its newline */
	*total = count;
	long off = count > lines ? starts[(count - lines) % ring] : 0;
	free(starts);
	return off;
}

/* A target that still runs was named with its file when memtop detached (main.c). */
void cli_output_show(const char *path, const char *cmd, bool finished)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	long total = 0;
	long off = tail_offset(f, OUTPUT_TAIL_LINES, &total);
	if (total == 0 && finished) {
		fclose(f);
		unlink(path); /* nothing said: nothing to keep */
		return;
	}
	if (total > OUTPUT_TAIL_LINES)
		printf("memtop: the output of %s is in %s (%ld lines); the last %d:\n", cmd, path, total,
		       OUTPUT_TAIL_LINES);
	else if (total)
		printf("memtop: the output of %s (kept in %s):\n", cmd, path);
	fseek(f, off, SEEK_SET);
	char buf[8192];
	size_t n;
	bool newline = true;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
		fwrite(buf, 1, n, stdout);
		newline = buf[n - 1] == '\n';
	}
	if (!newline)
		putchar('\n');
	fclose(f);
	fflush(stdout);
}

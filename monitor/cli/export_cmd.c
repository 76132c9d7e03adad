/* export_cmd: --format/--value for report and snapshot (rows of args.c's option table) and the
 * `memtop export` and `diff` commands, which convert text snapshot files. Never writes binary
 * (pprof) to a terminal. */
#include "cli/export_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "export/diff.h"
#include "export/export.h"
#include "symbols/skipframes.h"

static struct export_options cli_export_opts;

static int say(const char *what, const char *arg)
{
	fprintf(stderr, "memtop: ");
	fprintf(stderr, what, arg);
	fputc('\n', stderr);
	return 2;
}

static int set_format(const char *val, struct export_options *o)
{
	if (!export_format_parse(val, &o->format))
		return say("--format needs text, pprof, folded or massif, not '%s'", val);
	return 0;
}

static int set_value(const char *val, struct export_options *o, bool *given)
{
	*given = true;
	if (!export_value_parse(val, &o->value))
		return say("--value needs live-bytes, live-blocks, allocs or bytes, not '%s'", val);
	return 0;
}

/* ---- --format, --value, --skip-frames, --no-skip-frames: rows of the option table (args.c) ---- */

static bool cli_value_given, cli_no_skip;
static const char *cli_skip_regex;

int cli_format_option(const char *val)
{
	return set_format(val, &cli_export_opts);
}

int cli_value_option(const char *val)
{
	return set_value(val, &cli_export_opts, &cli_value_given);
}

int cli_skip_frames_option(const char *regex)
{
	cli_skip_regex = regex;
	return 0;
}

int cli_no_skip_frames_option(void)
{
	cli_no_skip = true;
	return 0;
}

bool cli_format_is_text(void)
{
	return cli_export_opts.format == EXPORT_TEXT;
}

int cli_format_check(const char *cmd, const char *output)
{
	char err[300];
	if (symbols_skip_configure(cli_skip_regex, cli_no_skip, err, sizeof err) != 0)
		return say("%s", err);
	if (cli_value_given && cli_export_opts.format != EXPORT_FOLDED)
		return say("--value applies to --format folded%s", "");
	/* report's default output is stderr, snapshot's stdout: binary never goes to a terminal */
	bool report = cmd && strcmp(cmd, "report") == 0;
	if (cli_export_opts.format == EXPORT_PPROF && !output && (report || isatty(STDOUT_FILENO)))
		return say("--format pprof writes a binary file: give it -o FILE%s", "");
	return 0;
}

int cli_write_formatted(struct session *s, FILE *out, const struct snapshot_options *so, char *err,
			size_t errlen)
{
	return export_session(s, out, so, &cli_export_opts, err, errlen);
}

static int export_usage(FILE *f, int rc)
{
	fprintf(f, "usage: memtop export --format pprof|folded|massif [--value V] [--pid PID] [-o FILE] "
		"SNAPSHOT\n"
		"       (SNAPSHOT is a text snapshot, - for stdin; --value for folded: live-bytes "
		"(default), live-blocks, allocs, bytes;\n"
		"       --pid: in a report of a process tree, that process's snapshot, else the root's)\n");
	return rc;
}

/* Converts in into the format, to path (stdout when NULL or "-"). */
static int export_file(FILE *in, const char *name, const struct export_options *o, const char *path,
		       int pid)
{
	char err[512];
	struct snapdoc *d = snapdoc_read_pid(in, pid, err, sizeof err);
	if (!d) {
		fprintf(stderr, "memtop: %s: %s\n", name, err);
		return 1;
	}
	bool to_stdout = !path || strcmp(path, "-") == 0;
	FILE *out = to_stdout ? stdout : fopen(path, "we");
	if (!out) {
		fprintf(stderr, "memtop: cannot write %s: %s\n", path, strerror(errno));
		snapdoc_free(d);
		return 1;
	}
	int rc = export_write(d, o, out, err, sizeof err);
	if (to_stdout ? fflush(out) != 0 : fclose(out) != 0) {
		if (!rc)
			snprintf(err, sizeof err, "cannot write %s: %s", to_stdout ? "stdout" : path,
				 strerror(errno));
		rc = -1;
	}
	snapdoc_free(d);
	if (rc) {
		fprintf(stderr, "memtop: %s\n", err);
		return 1;
	}
	return 0;
}

int cli_export_main(int argc, char **argv)
{
	static const struct option longs[] = {
		{"format", required_argument, NULL, 'f'}, {"value", required_argument, NULL, 'v'},
		{"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'},
		{"pid", required_argument, NULL, 'p'}, {NULL, 0, NULL, 0}};
	struct export_options o = {.format = EXPORT_TEXT};
	const char *path = NULL;
	bool format_given = false, value_given = false;
	long pid = 0;
	char *end;
	int c, rc;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+o:h", longs, NULL)) != -1) {
		switch (c) {
		case 'f':
			format_given = true;
			if ((rc = set_format(optarg, &o)))
				return rc;
			break;
		case 'v':
			if ((rc = set_value(optarg, &o, &value_given)))
				return rc;
			break;
		case 'o':
			path = optarg;
			break;
		case 'p':
			pid = strtol(optarg, &end, 10);
			if (*end || end == optarg || pid <= 0 || pid > 4194304)
				return say("--pid needs the pid of a process of the report, not '%s'", optarg);
			break;
		case 'h':
			return export_usage(stdout, 0);
		default:
			return say("export: unknown option or missing value in '%s' (see memtop export --help)",
				   argv[optind - 1]);
		}
	}
	if (!format_given || o.format == EXPORT_TEXT)
		return say("export needs --format pprof, folded or massif (the text snapshot is the "
			   "input)%s", "");
	if (value_given && o.format != EXPORT_FOLDED)
		return say("--value applies to --format folded%s", "");
	if (optind != argc - 1)
		return say("export needs one snapshot file: memtop export --format FMT [-o FILE] "
			   "SNAPSHOT%s", "");
	if (o.format == EXPORT_PPROF && (!path || strcmp(path, "-") == 0) && isatty(STDOUT_FILENO))
		return say("--format pprof writes a binary file: give it -o FILE%s", "");
	const char *name = argv[optind];
	FILE *in = strcmp(name, "-") == 0 ? stdin : fopen(name, "re");
	if (!in) {
		fprintf(stderr, "memtop: cannot read %s: %s\n", name, strerror(errno));
		return 1;
	}
	rc = export_file(in, name, &o, path, (int)pid);
	if (in != stdin)
		fclose(in);
	return rc;
}

static struct snapdoc *read_doc(const char *name)
{
	char err[512];
	FILE *in = strcmp(name, "-") == 0 ? stdin : fopen(name, "re");
	if (!in) {
		fprintf(stderr, "memtop: cannot read %s: %s\n", name, strerror(errno));
		return NULL;
	}
	struct snapdoc *d = snapdoc_read(in, err, sizeof err);
	if (in != stdin)
		fclose(in);
	if (!d)
		fprintf(stderr, "memtop: %s: %s\n", name, err);
	return d;
}

/* Writes the diff in o's format to path (stdout when NULL or "-"). */
static int diff_write(const struct snapdiff *df, const struct export_options *o, const char *path,
		      const char *name_a, const char *name_b)
{
	char err[512] = "";
	bool to_stdout = !path || strcmp(path, "-") == 0;
	FILE *out = to_stdout ? stdout : fopen(path, "we");
	if (!out) {
		fprintf(stderr, "memtop: cannot write %s: %s\n", path, strerror(errno));
		return 1;
	}
	int rc = o->format == EXPORT_TEXT ? snapdiff_write_text(df, name_a, name_b, out)
					  : export_write(&df->doc, o, out, err, sizeof err);
	if (to_stdout ? fflush(out) != 0 : fclose(out) != 0)
		rc = -1;
	if (rc) {
		fprintf(stderr, "memtop: %s\n", err[0] ? err : "write error");
		return 1;
	}
	return 0;
}

int cli_diff_main(int argc, char **argv)
{
	static const struct option longs[] = {
		{"format", required_argument, NULL, 'f'}, {"value", required_argument, NULL, 'v'},
		{"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	struct export_options o = {.format = EXPORT_TEXT};
	const char *path = NULL;
	bool value_given = false;
	int c, rc;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+o:h", longs, NULL)) != -1) {
		if (c == 'f' && (rc = set_format(optarg, &o)))
			return rc;
		if (c == 'v' && (rc = set_value(optarg, &o, &value_given)))
			return rc;
		if (c == 'o')
			path = optarg;
		if (c == 'h') {
			printf("usage: memtop diff [--format text|pprof|folded] [--value V] [-o FILE] A B\n"
			       "  growth per call site from snapshot A to snapshot B (B - A), sites matched "
			       "by their frames\n");
			return 0;
		}
		if (c == '?' || c == ':')
			return say("diff: unknown option or missing value in '%s' (see memtop diff --help)",
				   argv[optind - 1]);
	}
	if (o.format == EXPORT_MASSIF)
		return say("diff: massif cannot hold negative growth: use text, pprof or folded%s", "");
	if (value_given && o.format != EXPORT_FOLDED)
		return say("--value applies to --format folded%s", "");
	if (optind != argc - 2)
		return say("diff needs two snapshot files: memtop diff [--format FMT] A B%s", "");
	if (o.format == EXPORT_PPROF && (!path || strcmp(path, "-") == 0) && isatty(STDOUT_FILENO))
		return say("--format pprof writes a binary file: give it -o FILE%s", "");
	struct snapdoc *a = read_doc(argv[optind]);
	struct snapdoc *b = a ? read_doc(argv[optind + 1]) : NULL;
	char err[256];
	struct snapdiff *df = b ? snapdiff_new(a, b, err, sizeof err) : NULL;
	if (b && !df)
		fprintf(stderr, "memtop: diff: %s\n", err);
	rc = df ? diff_write(df, &o, path, argv[optind], argv[optind + 1]) : 1;
	snapdiff_free(df);
	snapdoc_free(b);
	snapdoc_free(a);
	return rc;
}

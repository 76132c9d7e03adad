/* args: the memtop command line read with GNU getopt_long from one table of options, each naming
 * the commands it applies to; --help is printed from the same tables, so no option is left out.
 * Never runs a command: it fills struct cli_options or says in one line what is wrong. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/export_cmd.h"

/* One option. `commands` lists, space separated, the command names it applies to ("PID" is the
 * dashboard of a pid, "*" every command). A new option is one row here and a setter. */
struct cli_option_spec {
	const char *name;     /* long name, without -- */
	char short_name;      /* 0: long only */
	const char *arg;      /* name of its value in --help; NULL: a flag */
	const char *commands;
	const char *help;
	int (*set)(struct cli_options *o, const char *value);
};

int cli_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("memtop: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return CLI_EXIT_USAGE;
}

static bool parse_uint(const char *s, unsigned long *out)
{
	char *end;
	errno = 0;
	if (!s || !*s || *s == '-')
		return false;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

/* ---- setters: one per option, each checks its value ---- */

static int set_batch(struct cli_options *o, const char *v) { (void)v; o->batch = true; return 0; }
static int set_no_color(struct cli_options *o, const char *v) { (void)v; o->no_color = true; return 0; }
static int set_no_symbols(struct cli_options *o, const char *v) { (void)v; o->no_symbols = true; return 0; }
static int set_blocks(struct cli_options *o, const char *v) { (void)v; o->snap.blocks = true; return 0; }
static int set_heatmap(struct cli_options *o, const char *v) { (void)v; o->snap.heatmap = true; return 0; }
static int set_all_sites(struct cli_options *o, const char *v) { (void)v; o->snap.all_sites = true; return 0; }
static int set_output(struct cli_options *o, const char *v) { o->output = v; return 0; }
static int set_preload(struct cli_options *o, const char *v) { o->preload = v; return 0; }
static int set_sysroot(struct cli_options *o, const char *v) { o->sysroot = v; return 0; }

static int set_tree_pid(struct cli_options *o, const char *v)
{
	unsigned long n;
	if (!parse_uint(v, &n) || n == 0 || n > INT_MAX)
		return cli_fail("--pid needs the pid of a process of the report, not '%s'", v);
	o->tree_pid = (int)n;
	return 0;
}
static int set_undo(struct cli_options *o, const char *v) { (void)v; o->inject_undo = true; return 0; }
static int set_inject(struct cli_options *o, const char *v) { (void)v; o->inject = true; return 0; }
static int set_format(struct cli_options *o, const char *v) { (void)o; return cli_format_option(v); }
static int set_value(struct cli_options *o, const char *v) { (void)o; return cli_value_option(v); }
static int set_skip_frames(struct cli_options *o, const char *v) { (void)o; return cli_skip_frames_option(v); }
static int set_no_skip_frames(struct cli_options *o, const char *v)
{
	(void)o;
	(void)v;
	return cli_no_skip_frames_option();
}
static int set_tag_from(struct cli_options *o, const char *v) { o->snap.tag_from = v; return 0; }
static int set_tag_to(struct cli_options *o, const char *v) { o->snap.tag_to = v; return 0; }

static int set_iterations(struct cli_options *o, const char *v)
{
	unsigned long n;
	if (!parse_uint(v, &n) || n == 0 || n > LONG_MAX)
		return cli_fail("-n needs a positive number of iterations, not '%s'", v);
	o->iterations = (long)n;
	return 0;
}

static int set_delay(struct cli_options *o, const char *v)
{
	char *end;
	o->delay_s = strtod(v, &end);
	if (end == v || *end || !(o->delay_s > 0) || o->delay_s > 3600)
		return cli_fail("-d needs a delay in seconds (e.g. 0.5), not '%s'", v);
	return 0;
}

static int set_thread(struct cli_options *o, const char *v)
{
	unsigned long n;
	if (!parse_uint(v, &n) || n > UINT32_MAX)
		return cli_fail("--thread needs a thread id (see the threads section), not '%s'", v);
	o->snap.thread_id = (uint32_t)n;
	return 0;
}

static int set_expire(struct cli_options *o, const char *v)
{
	unsigned long n;
	if (!parse_uint(v, &n) || n > UINT_MAX)
		return cli_fail("--expire needs an age in seconds, not '%s'", v);
	o->expire_s = (unsigned)n;
	o->snap.older_than_ns = (uint64_t)n * 1000000000ull;
	return 0;
}

static int set_divisions(struct cli_options *o, const char *v)
{
	unsigned long n;
	if (!parse_uint(v, &n) || n == 0 || n > MODEL_HEAT_MAX)
		return cli_fail("--divisions needs a number from 1 to %d, not '%s'", MODEL_HEAT_MAX, v);
	o->divisions = (unsigned)n;
	o->snap.divisions = (uint32_t)n;
	return 0;
}

static int set_frames(struct cli_options *o, const char *v)
{
	unsigned long n;
	if (!parse_uint(v, &n) || n > UINT_MAX)
		return cli_fail("--frames needs a number of frames (0 = all), not '%s'", v);
	o->snap.max_frames = (unsigned)n;
	return 0;
}

/* --help and --version are answered while parsing: nothing else of the line matters then. */
static int set_help(struct cli_options *o, const char *v) { (void)o; (void)v; return -1; }
static int set_version(struct cli_options *o, const char *v) { (void)o; (void)v; return -1; }

#define SNAPSHOT_CMDS "report snapshot"
static const struct cli_option_spec cli_option_table[] = {
	{"batch", 'b', NULL, "PID run demo", "batch mode: plain-text refreshes on stdout, no dashboard",
	 set_batch},
	{"iterations", 'n', "N", "PID run demo", "batch mode: stop after N refreshes", set_iterations},
	{"delay", 'd', "SEC", "PID run demo", "seconds between refreshes (default 1, e.g. 0.5)",
	 set_delay},
	{"output", 'o', "FILE", "report snapshot symbolize",
	 "write to FILE (- for stdout; report's default is stderr, the others' stdout)", set_output},
	{"preload", 0, "LIB", "run report demo inject",
	 "the libmemtop.so to preload (default: $MEMTOP_PRELOAD, next to memtop, then the libdir)",
	 set_preload},
	{"sysroot", 0, "DIR", "symbolize", "look for the snapshot's binaries under DIR first",
	 set_sysroot},
	{"pid", 0, "PID", "symbolize",
	 "a report of a process tree: the snapshot of process PID (default: the root)", set_tree_pid},
	{"no-color", 0, NULL, "PID run demo", "a monochrome dashboard", set_no_color},
	{"no-symbols", 0, NULL, "PID run report snapshot demo",
	 "raw addresses only (module+offset, resolved later with memtop symbolize)", set_no_symbols},
	{"blocks", 0, NULL, SNAPSHOT_CMDS, "list every live block", set_blocks},
	{"heatmap", 0, NULL, SNAPSHOT_CMDS, "add the memory map's heatmap", set_heatmap},
	{"all-sites", 0, NULL, SNAPSHOT_CMDS, "include call sites with no live block", set_all_sites},
	{"thread", 0, "ID", SNAPSHOT_CMDS, "only blocks of this thread (its id in the threads section)",
	 set_thread},
	{"expire", 0, "SEC", "PID run demo " SNAPSHOT_CMDS,
	 "only blocks at least SEC old (dashboard: the leak suspects' age, default 60)", set_expire},
	{"tag-from", 0, "TAG", SNAPSHOT_CMDS, "only blocks allocated after memtop_tag(TAG)",
	 set_tag_from},
	{"tag-to", 0, "TAG", SNAPSHOT_CMDS, "... and before memtop_tag(TAG)", set_tag_to},
	{"divisions", 0, "N", "PID run demo " SNAPSHOT_CMDS,
	 "heatmap divisions per mapping, 1 to 256 (default 32)", set_divisions},
	{"frames", 0, "N", SNAPSHOT_CMDS, "frames per call site (default 0: all)", set_frames},
	{"format", 0, "FMT", SNAPSHOT_CMDS, "text (default), pprof (needs -o FILE), folded or massif",
	 set_format},
	{"value", 0, "V", SNAPSHOT_CMDS, "folded: live-bytes (default), live-blocks, allocs or bytes",
	 set_value},
	{"skip-frames", 0, "REGEX", "PID run report snapshot demo",
	 "more allocator wrappers to drop from the top of stacks", set_skip_frames},
	{"no-skip-frames", 0, NULL, "PID run report snapshot demo",
	 "keep every frame (no allocator wrapper dropped)", set_no_skip_frames},
	{"inject", 0, NULL, "PID snapshot",
	 "a process started without memtop is injected first (as by memtop inject)", set_inject},
	{"undo", 0, NULL, "inject", "put the process's allocation calls back (the library stays, inert)",
	 set_undo},
	{"help", 'h', NULL, "*", "this help, then exit 0", set_help},
	{"version", 'v', NULL, "*", "the version, then exit 0", set_version},
};
#define CLI_NOPTIONS (sizeof cli_option_table / sizeof cli_option_table[0])
/* getopt_long's value of a long-only option: past every char */
#define CLI_LONG_BASE 0x100

/* True when `word` is one of the space-separated words of `list` ("*" is all). */
static bool word_in(const char *list, const char *word)
{
	size_t len = strlen(word);
	if (strcmp(list, "*") == 0)
		return true;
	for (const char *p = list; *p;) {
		const char *end = strchr(p, ' ');
		size_t n = end ? (size_t)(end - p) : strlen(p);
		if (n == len && strncmp(p, word, n) == 0)
			return true;
		p += n + (end ? 1 : 0);
	}
	return false;
}

const struct cli_command *cli_command_of(const struct cli_command *cmds, const char *name)
{
	for (; cmds->run; cmds++)
		if (strcmp(cmds->name, name ? name : "PID") == 0)
			return cmds;
	return NULL;
}

/* `left` in a column of `width`, then `text` wrapped to 79 columns (a long `left` gets a line of
 * its own): --help fits an 80-column terminal. */
static void print_entry(FILE *f, const char *left, int width, const char *text)
{
	int len = (int)strlen(left), col = width;
	if (len > width)
		fprintf(f, "%.*s\n%-*s", len - 1, left, width, ""); /* its trailing space dropped */
	else
		fprintf(f, "%-*s", width, left);
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, " ");
		if (col > width && col + 1 + (int)n > 79) {
			fprintf(f, "\n%-*s", width, "");
			col = width;
		}
		col += fprintf(f, "%s%.*s", col > width ? " " : "", (int)n, p);
		p += n;
		p += strspn(p, " ");
	}
	fputc('\n', f);
}

static void print_option(FILE *f, const struct cli_option_spec *s)
{
	char left[64], text[256];
	int n = s->short_name ? snprintf(left, sizeof left, "  -%c, ", s->short_name)
			      : snprintf(left, sizeof left, "      ");
	snprintf(left + n, sizeof left - (size_t)n, "--%s%s%s ", s->name, s->arg ? "=" : "",
		 s->arg ? s->arg : "");
	if (strcmp(s->commands, "*") != 0)
		snprintf(text, sizeof text, "%s [%s]", s->help, s->commands);
	else
		snprintf(text, sizeof text, "%s", s->help);
	print_entry(f, left, 25, text);
}

/* Printed from the tables: every command, every option (with the commands it applies to). */
static void usage(FILE *f, const struct cli_command *cmds)
{
	print_entry(f, "usage: memtop [OPTIONS] ", 33, "list traced processes and pick one");
	for (const struct cli_command *c = cmds; c->run; c++) {
		char left[96];
		if (strcmp(c->name, "PID") == 0)
			snprintf(left, sizeof left, "       memtop %s ", c->synopsis);
		else
			snprintf(left, sizeof left, "       memtop %s %s ", c->name, c->synopsis);
		print_entry(f, left, 33, c->summary);
	}
	fprintf(f, "\noptions (in [] the commands they apply to; PID: the dashboard of a pid):\n");
	for (size_t i = 0; i < CLI_NOPTIONS; i++)
		print_option(f, &cli_option_table[i]);
	fprintf(f,
		"\nenvironment:\n"
		"  MEMTOP_PRELOAD=LIB     the libmemtop.so that run, report and demo preload\n"
		"                         (when no --preload is given)\n"
		"  MEMTOP_DEPTH, MEMTOP_UNWIND, MEMTOP_RING, MEMTOP_LANES, MEMTOP_STACKS,\n"
		"  MEMTOP_LIVE, MEMTOP_WAIT, MEMTOP_BLOCK_MS, MEMTOP_DISABLE: read by the traced\n"
		"                         program (see memtop(1))\n"
		"  MEMTOP_FOLLOW=PID      set by report for its command, inherited: the root of\n"
		"                         the process tree followed (every descendant reported)\n"
		"\nexit status: 0 done; run and report pass the target's status through;\n"
		"  %3d  an error (one line on stderr says why)\n"
		"  %3d  a wrong command line\n"
		"  %3d  report: written, but approximate (events were lost: the ring overflowed),\n"
		"       and the target exited 0\n",
		CLI_EXIT_FAILURE, CLI_EXIT_USAGE, CLI_EXIT_APPROXIMATE);
}

/* getopt_long's tables from cli_option_table: "-" returns operands in order (a command word may
 * come after options), ":" tells a missing value from an unknown option. */
static void build_getopt_tables(struct option *longs, char *shorts, size_t shorts_len)
{
	size_t n = (size_t)snprintf(shorts, shorts_len, "-:");
	for (size_t i = 0; i < CLI_NOPTIONS; i++) {
		const struct cli_option_spec *s = &cli_option_table[i];
		int val = s->short_name ? s->short_name : CLI_LONG_BASE + (int)i;
		longs[i] = (struct option){s->name, s->arg ? required_argument : no_argument, NULL, val};
		if (s->short_name && n + 3 < shorts_len) {
			shorts[n++] = s->short_name;
			if (s->arg)
				shorts[n++] = ':';
			shorts[n] = '\0';
		}
	}
	longs[CLI_NOPTIONS] = (struct option){0};
}

static const struct cli_option_spec *spec_of_val(int val)
{
	if (val >= CLI_LONG_BASE && val < CLI_LONG_BASE + (int)CLI_NOPTIONS)
		return &cli_option_table[val - CLI_LONG_BASE];
	for (size_t i = 0; i < CLI_NOPTIONS; i++)
		if (val && cli_option_table[i].short_name == val)
			return &cli_option_table[i];
	return NULL;
}

/* The word as the user wrote it, for messages: "--frames" or "-n". */
static void option_word(const struct cli_option_spec *s, const char *typed, char *buf, size_t len)
{
	if (typed && strncmp(typed, "--", 2) == 0)
		snprintf(buf, len, "--%s", s->name);
	else if (s->short_name)
		snprintf(buf, len, "-%c", s->short_name);
	else
		snprintf(buf, len, "--%s", s->name);
}

/* An operand (a word that is no option, before --): the command, a pid, or a command's operand. */
static int take_operand(const char *w, const struct cli_command *cmds, struct cli_options *o,
			bool *have_cmd)
{
	unsigned long v;
	if (!*have_cmd) {
		*have_cmd = true;
		const struct cli_command *c = cli_command_of(cmds, w);
		if (c && strcmp(w, "PID") != 0) {
			o->cmd = c->name;
			return 0;
		}
		if (!parse_uint(w, &v) || v == 0 || v > INT_MAX)
			return cli_fail("'%s' is neither a command nor a pid (see memtop --help)", w);
		o->pid = (int)v;
		return 0;
	}
	const struct cli_command *c = cli_command_of(cmds, o->cmd);
	const char *name = o->cmd ? o->cmd : "memtop PID";
	switch (c ? c->operand : CLI_OPERAND_NONE) {
	case CLI_OPERAND_PID:
		if (o->pid)
			break;
		if (!parse_uint(w, &v) || v == 0 || v > INT_MAX)
			return cli_fail("%s needs a pid, not '%s'", name, w);
		o->pid = (int)v;
		return 0;
	case CLI_OPERAND_FILES:
		if (o->noperands >= c->max_operands || o->noperands >= CLI_MAX_OPERANDS)
			break;
		o->operands[o->noperands++] = w;
		return 0;
	case CLI_OPERAND_COMMAND:
		return cli_fail("put -- before the command to run: memtop %s [OPTIONS] -- %s ...", name, w);
	case CLI_OPERAND_NONE:
		break;
	}
	return cli_fail("unexpected argument '%s' (see memtop --help)", w);
}

static void default_options(struct cli_options *o)
{
	memset(o, 0, sizeof(*o));
	snapshot_default_options(&o->snap);
	o->delay_s = 1.0;
	o->divisions = MODEL_HEAT_DEFAULT;
	o->expire_s = 60;
}

/* After the whole line is read (options may come before the command): each option given must
 * apply to the command. */
static int check_applies(const bool *given, const char *const *typed, const struct cli_options *o)
{
	const char *cmd = o->cmd ? o->cmd : "PID";
	for (size_t i = 0; i < CLI_NOPTIONS; i++) {
		const struct cli_option_spec *s = &cli_option_table[i];
		if (!given[i] || word_in(s->commands, cmd))
			continue;
		char word[48];
		option_word(s, typed[i], word, sizeof word);
		return cli_fail("%s does not apply to %s (it applies to: %s)", word,
				o->cmd ? o->cmd : "the dashboard of a pid", s->commands);
	}
	return 0;
}

/* One getopt_long result: an option to set, an operand, or a mistake to name. */
static int take_one(int c, const char *word, const struct cli_command *cmds, struct cli_options *o,
		    bool *have_cmd, bool *given, const char **typed)
{
	if (c == 1)
		return take_operand(optarg, cmds, o, have_cmd);
	if (c == '?' || c == ':') {
		const struct cli_option_spec *s = spec_of_val(optopt);
		char w[48];
		if (!s)
			return optopt ? cli_fail("unknown option -%c (see memtop --help)", optopt)
				      : cli_fail("unknown option %s (see memtop --help)", word);
		option_word(s, word, w, sizeof w);
		return c == ':' ? cli_fail("option %s needs a value (%s)", w, s->arg)
				: cli_fail("option %s takes no value", w);
	}
	const struct cli_option_spec *s = spec_of_val(c);
	if (!s)
		return cli_fail("unknown option %s (see memtop --help)", word);
	size_t i = (size_t)(s - cli_option_table);
	given[i] = true;
	typed[i] = word;
	int rc = s->set(o, optarg);
	if (rc < 0 && s->set == set_help)
		usage(stdout, cmds);
	else if (rc < 0)
		printf("memtop %s\n", MEMTOP_VERSION);
	return rc;
}

int cli_parse(int argc, char **argv, const struct cli_command *cmds, struct cli_options *o)
{
	static struct option longs[CLI_NOPTIONS + 1];
	char shorts[2 * CLI_NOPTIONS + 4];
	bool given[CLI_NOPTIONS] = {false};
	const char *typed[CLI_NOPTIONS] = {NULL};
	bool have_cmd = false;
	default_options(o);
	build_getopt_tables(longs, shorts, sizeof shorts);
	opterr = 0; /* our messages: one line, naming the fix */
	optind = 1;
	int c, start = optind;
	/* the word an option started in (getopt moves optind past a bundle's last letter) */
	while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		int rc = take_one(c, argv[start < argc ? start : argc - 1], cmds, o, &have_cmd, given,
				  typed);
		if (rc)
			return rc;
		start = optind;
	}
	/* in "-" mode getopt stops only at -- or the end: what follows -- is the target's command
	 * (run, report), or operands that may start with '-' */
	const struct cli_command *cmd = cli_command_of(cmds, o->cmd);
	if (cmd && cmd->operand == CLI_OPERAND_COMMAND) {
		if (optind > 1 && strcmp(argv[optind - 1], "--") == 0) {
			o->argv_rest = argv + optind;
			o->argc_rest = argc - optind;
		}
	} else {
		for (int i = optind; i < argc; i++) {
			int rc = take_operand(argv[i], cmds, o, &have_cmd);
			if (rc)
				return rc;
		}
	}
	int rc = check_applies(given, typed, o);
	return rc ? rc : cli_format_check(o->cmd, o->output);
}

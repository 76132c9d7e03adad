/* main: entry point of the memtop executable: parses the command line and runs one subcommand
 * (list, attach, run, report, snapshot, symbolize, gc, batch, demo). Never includes curses: the
 * dashboard is reached only through ui_run() when it is built. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "cli/cli.h"
#include "cli/export_cmd.h"
#include "session/session.h"
#include "export/snapshot.h"

#ifdef MEMTOP_HAVE_UI
#include "ui/ui.h"
#endif

#ifndef MEMTOP_LIBDIR
#define MEMTOP_LIBDIR "/usr/local/lib"
#endif
#ifndef MEMTOP_BINDIR
#define MEMTOP_BINDIR "/usr/local/bin"
#endif

static void usage(FILE *f)
{
	fprintf(f,
		"usage: memtop                         list traced processes\n"
		"       memtop [-d SEC] [--no-color] PID   live dashboard of a traced process\n"
		"       memtop -b [-n N] [-d SEC] PID  batch mode: plain-text refreshes\n"
		"       memtop run [--preload LIB] [-b] [-n N] [-d SEC] -- CMD [ARGS...]\n"
		"       memtop report [--preload LIB] [-o FILE] [SNAPSHOT OPTIONS] -- CMD [ARGS...]\n"
		"                                      (the report goes to stderr unless -o FILE or -o -)\n"
		"       memtop snapshot PID [-o FILE] [SNAPSHOT OPTIONS]\n"
		"       memtop symbolize [--sysroot DIR] FILE\n"
		"       memtop export --format pprof|folded|massif [--value V] [-o FILE] SNAPSHOT\n"
		"       memtop serve [--listen ADDR:PORT] [--allow-remote]   /debug/pprof/heap?pid=PID\n"
		"       memtop diff [--format text|pprof|folded] [-o FILE] A B   growth per call site\n"
		"       memtop gc                      remove segments of processes that are gone\n"
		"       memtop demo                    the bundled workload under the dashboard\n"
		"common options: --no-symbols (raw addresses only), --no-color\n"
		"snapshot options: --blocks --heatmap --all-sites --thread ID --expire SEC\n"
		"                  --tag-from TAG --tag-to TAG --divisions N --frames N\n"
		"                  --format text|pprof|folded|massif, --value live-bytes|live-blocks|"
		"allocs|bytes (folded)\n"
		"stacks: --skip-frames REGEX (more allocator wrappers to drop from the top), "
		"--no-skip-frames\n");
}

static int fail(const char *fmt, const char *arg)
{
	fprintf(stderr, "memtop: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	return 2;
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

/* The words parse_args reads; held here because argv_rest points into them until exit. */
static char **normalized_argv;

/* The GNU forms of the command line, as getopt_long takes them, rewritten into separate words
 * for parse_args: `--opt=value`, `-n1`, `-oFILE`, bundled `-bn1`. Words after `--` (the target's
 * command) stay as they are. The array lives as long as the process (argv_rest points into it). */
static char **normalize_args(int argc, char **argv, int *nargc)
{
	char **out = calloc((size_t)argc * 3 + 1, sizeof(*out)); /* a word becomes at most 3 */
	normalized_argv = out;
	if (!out) {
		*nargc = argc;
		return argv;
	}
	int n = 0, i = 0;
	out[n++] = argv[i++];
	for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
		char *a = argv[i];
		char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
		if (eq) {
			out[n++] = strndup(a, (size_t)(eq - a));
			out[n++] = eq + 1;
		} else if (a[0] == '-' && isalpha((unsigned char)a[1]) && a[2]) {
			/* flags first (-b), then at most one option that takes the rest as its value */
			for (char *c = a + 1; *c; c++) {
				char opt[3] = {'-', *c, '\0'};
				out[n++] = strdup(opt);
				if (strchr("ndo", *c)) {
					if (c[1])
						out[n++] = c + 1;
					break;
				}
			}
		} else {
			out[n++] = a;
		}
	}
	for (; i < argc; i++)
		out[n++] = argv[i];
	*nargc = n;
	return out;
}

/* Returns 0, or an exit status (usage error). */
static int parse_args(int argc, char **argv, struct cli_options *o)
{
	argv = normalize_args(argc, argv, &argc);
	memset(o, 0, sizeof(*o));
	snapshot_default_options(&o->snap);
	o->delay_s = 1.0;
	o->divisions = MODEL_HEAT_DEFAULT;
	o->expire_s = 60;
	int i = 1;
	static const char *const cmds[] = {"run", "report", "snapshot", "symbolize", "gc", "demo", NULL};
	for (; i < argc; i++) {
		const char *a = argv[i];
		unsigned long v;
		if (strcmp(a, "--") == 0) {
			o->argv_rest = argv + i + 1;
			o->argc_rest = argc - i - 1;
			return 0;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(a, "--version") == 0) {
			printf("memtop %s\n", MEMTOP_VERSION);
			exit(0);
		}
		bool has_val = i + 1 < argc;
		const char *val = has_val ? argv[i + 1] : NULL;
#define NEED_VAL()                                                                             \
	do {                                                                                   \
		if (!has_val)                                                                  \
			return fail("option %s needs a value", a);                             \
		i++;                                                                           \
	} while (0)
		if (strcmp(a, "-b") == 0) {
			o->batch = true;
		} else if (strcmp(a, "-n") == 0) {
			NEED_VAL();
			if (!parse_uint(val, &v) || v == 0)
				return fail("-n needs a positive number of iterations, not '%s'", val);
			o->iterations = (long)v;
		} else if (strcmp(a, "-d") == 0) {
			NEED_VAL();
			char *end;
			o->delay_s = strtod(val, &end);
			if (*end || o->delay_s <= 0 || o->delay_s > 3600)
				return fail("-d needs a delay in seconds (e.g. 0.5), not '%s'", val);
		} else if (strcmp(a, "-o") == 0) {
			NEED_VAL();
			o->output = val;
		} else if (strcmp(a, "--preload") == 0) {
			NEED_VAL();
			o->preload = val;
		} else if (strcmp(a, "--sysroot") == 0) {
			NEED_VAL();
			o->sysroot = val;
		} else if (strcmp(a, "--no-color") == 0) {
			o->no_color = true;
		} else if (strcmp(a, "--no-symbols") == 0) {
			o->no_symbols = true;
		} else if (strcmp(a, "--blocks") == 0) {
			o->snap.blocks = true;
		} else if (strcmp(a, "--heatmap") == 0) {
			o->snap.heatmap = true;
		} else if (strcmp(a, "--all-sites") == 0) {
			o->snap.all_sites = true;
		} else if (strcmp(a, "--thread") == 0) {
			NEED_VAL();
			if (!parse_uint(val, &v))
				return fail("--thread needs a thread id (see the threads section), not '%s'", val);
			o->snap.thread_id = (uint32_t)v;
		} else if (strcmp(a, "--expire") == 0) {
			NEED_VAL();
			if (!parse_uint(val, &v))
				return fail("--expire needs an age in seconds, not '%s'", val);
			o->expire_s = (unsigned)v;
			o->snap.older_than_ns = (uint64_t)v * 1000000000ull;
		} else if (strcmp(a, "--tag-from") == 0) {
			NEED_VAL();
			o->snap.tag_from = val;
		} else if (strcmp(a, "--tag-to") == 0) {
			NEED_VAL();
			o->snap.tag_to = val;
		} else if (strcmp(a, "--divisions") == 0) {
			NEED_VAL();
			if (!parse_uint(val, &v) || v == 0 || v > MODEL_HEAT_MAX)
				return fail("--divisions needs a number from 1 to 256, not '%s'", val);
			o->divisions = (unsigned)v;
			o->snap.divisions = (uint32_t)v;
		} else if (strcmp(a, "--frames") == 0) {
			NEED_VAL();
			if (!parse_uint(val, &v))
				return fail("--frames needs a number, not '%s'", val);
			o->snap.max_frames = (unsigned)v;
		} else if (a[0] == '-' && a[1]) {
			return fail("unknown option %s (see memtop --help)", a);
		} else if (!o->cmd && !o->pid) {
			bool known = false;
			for (int k = 0; cmds[k]; k++)
				if (strcmp(a, cmds[k]) == 0) {
					o->cmd = cmds[k];
					known = true;
				}
			if (!known) {
				if (!parse_uint(a, &v) || v == 0 || v > INT_MAX)
					return fail("'%s' is neither a command nor a pid (see memtop --help)", a);
				o->pid = (int)v;
			}
		} else if (o->cmd && (strcmp(o->cmd, "snapshot") == 0) && !o->pid) {
			if (!parse_uint(a, &v) || v == 0 || v > INT_MAX)
				return fail("snapshot needs a pid, not '%s'", a);
			o->pid = (int)v;
		} else if (o->cmd && strcmp(o->cmd, "symbolize") == 0 && !o->argv_rest) {
			o->argv_rest = argv + i;
			o->argc_rest = 1;
		} else {
			return fail("unexpected argument '%s' (see memtop --help)", a);
		}
#undef NEED_VAL
	}
	return 0;
}

/* Directory of this executable (for finding libmemtop.so and memtop-demo next to it). */
static void self_dir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	if (n <= 0) {
		snprintf(buf, len, ".");
		return;
	}
	buf[n] = '\0';
	char *slash = strrchr(buf, '/');
	if (slash)
		*slash = '\0';
}

static bool find_file(char *out, size_t len, const char *const *candidates, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (candidates[i] && access(candidates[i], R_OK) == 0) {
			if (!realpath(candidates[i], out))
				snprintf(out, len, "%s", candidates[i]);
			return true;
		}
	}
	return false;
}

static int find_preload(const char *opt, char *out, size_t len)
{
	char dir[PATH_MAX], a[PATH_MAX + 32], b[PATH_MAX + 32], c[PATH_MAX + 32];
	if (opt) {
		if (access(opt, R_OK) != 0)
			return fail("--preload %s: no such readable file", opt), -1;
		if (!realpath(opt, out))
			snprintf(out, len, "%s", opt);
		return 0;
	}
	const char *env = getenv("MEMTOP_PRELOAD");
	if (env && *env) {
		if (access(env, R_OK) != 0)
			return fail("MEMTOP_PRELOAD=%s: no such readable file", env), -1;
		if (!realpath(env, out))
			snprintf(out, len, "%s", env);
		return 0;
	}
	self_dir(dir, sizeof dir);
	snprintf(a, sizeof a, "%s/libmemtop.so", dir);
	snprintf(b, sizeof b, "%s/../preload/libmemtop.so", dir);
	snprintf(c, sizeof c, "%s/libmemtop.so", MEMTOP_LIBDIR);
	const char *cand[] = {a, b, c};
	if (find_file(out, len, cand, 3))
		return 0;
	fprintf(stderr, "memtop: cannot find libmemtop.so (looked next to memtop, in ../preload and in "
		"%s): give its path with --preload PATH or MEMTOP_PRELOAD\n", MEMTOP_LIBDIR);
	return -1;
}

static int find_demo(char *out, size_t len)
{
	char dir[PATH_MAX], a[PATH_MAX + 32], b[PATH_MAX + 32], c[PATH_MAX + 32], d[PATH_MAX + 32];
	self_dir(dir, sizeof dir);
	snprintf(a, sizeof a, "%s/memtop-demo", dir);
	snprintf(b, sizeof b, "%s/ui/memtop-demo", dir);
	snprintf(c, sizeof c, "%s/../monitor/ui/memtop-demo", dir);
	snprintf(d, sizeof d, "%s/memtop-demo", MEMTOP_BINDIR);
	const char *cand[] = {a, b, c, d};
	if (find_file(out, len, cand, 4))
		return 0;
	fprintf(stderr, "memtop: cannot find the demo program memtop-demo (looked next to memtop, in "
		"ui/, ../monitor/ui/ and %s)\n", MEMTOP_BINDIR);
	return -1;
}

static void session_cli_options(const struct cli_options *o, struct session_options *so)
{
	session_default_options(so);
	so->no_symbols = o->no_symbols;
}

/* Dashboard when built and on a terminal; batch refreshes otherwise. */
static int show(struct session *s, const struct cli_options *o)
{
#ifdef MEMTOP_HAVE_UI
	if (!o->batch && isatty(STDOUT_FILENO)) {
		struct ui_options uo = {0};
		uo.delay_ms = (unsigned)(o->delay_s * 1000);
		uo.no_color = o->no_color;
		uo.heat_divisions = o->divisions;
		uo.expire_s = o->expire_s;
		return ui_run(s, &uo);
	}
#endif
	return cli_batch(s, o);
}

/* Attaches to o->pid and starts draining; on failure says why in one line and returns NULL. */
static struct session *attach_started(const struct cli_options *o)
{
	char err[512];
	struct session_options so;
	session_cli_options(o, &so);
	struct session *s = session_attach(o->pid, &so, err, sizeof err);
	if (!s || session_start(s, err, sizeof err) != 0) {
		fprintf(stderr, "memtop: %s\n", err);
		session_destroy(s);
		return NULL;
	}
	return s;
}

static int cmd_attach(const struct cli_options *o)
{
	struct session *s = attach_started(o);
	if (!s)
		return 1;
	int rc = show(s, o);
	int bad = session_report_damage(s);
	session_destroy(s);
	return rc ? rc : bad;
}

/* `-o -` is stdout; no -o is `fallback` (stderr for report: the target's stdout stays its own). */
static FILE *open_output(const char *path, FILE *fallback)
{
	if (!path)
		return fallback;
	if (strcmp(path, "-") == 0)
		return stdout;
	FILE *f = fopen(path, "we");
	if (!f)
		fprintf(stderr, "memtop: cannot write %s: %s\n", path, strerror(errno));
	return f;
}

static void close_output(FILE *out)
{
	if (out && out != stdout && out != stderr)
		fclose(out);
}

/* Writes to `out` (from open_output) and closes it unless it is stdout or stderr. */
static int write_snapshot(struct session *s, const struct cli_options *o, FILE *out)
{
	char err[512];
	int rc = cli_write_formatted(s, out, &o->snap, err, sizeof err);
	if (out == stdout || out == stderr) {
		fflush(out);
	} else if (fclose(out) != 0 && rc == 0) {
		snprintf(err, sizeof err, "cannot write %s: %s", o->output, strerror(errno));
		rc = -1;
	}
	if (rc) {
		fprintf(stderr, "memtop: %s\n", err);
		return 1;
	}
	snapshot_warn_inexact(s, stderr);
	return 0;
}

/* kill_on_quit: `memtop demo` ends its own bundled workload; `memtop run` leaves the target alone. */
static int cmd_run(const struct cli_options *o, bool report, char **argv, bool kill_on_quit)
{
	char lib[PATH_MAX], err[512];
	if (!argv || !argv[0])
		return fail(report ? "report needs a command after --: memtop report -- CMD [ARGS...]%s"
				   : "run needs a command after --: memtop run -- CMD [ARGS...]%s", "");
	if (find_preload(o->preload, lib, sizeof lib) != 0)
		return 1;
	/* a report that could not be written must not cost a run of the target first */
	FILE *out = report ? open_output(o->output, stderr) : NULL;
	if (report && !out)
		return 1;
	struct session_options so;
	session_cli_options(o, &so);
	struct session *s = session_run(argv, lib, &so, err, sizeof err);
	if (s && session_untraced(s)) {
		/* it runs, untraced: said once, never killed, and its status is ours */
		fprintf(stderr, "memtop: %s\n", err);
		session_wait_untraced(s);
		int status = session_exit_code(s);
		session_destroy(s);
		close_output(out);
		return status;
	}
	if (!s || session_start(s, err, sizeof err) != 0) {
		fprintf(stderr, "memtop: %s\n", err);
		session_destroy(s);
		close_output(out);
		return 1;
	}
	int rc = 0;
	if (report) {
		session_wait_finished(s);
		/* exec'd where memtop cannot follow: said now, then the report once it has ended */
		if (session_report_damage(s) == 0)
			session_wait_untraced(s);
		/* processes that died while it ran (workers killed by their master) left segments */
		cli_gc_quiet();
		rc = write_snapshot(s, o, out);
		if (session_finished(s) && !session_report_damage(s)) {
			/* The target is gone and its segment removed: nothing is left to release, and the
			 * orderly teardown (two RCU barriers, symbolizer and model frees) would only add
			 * tens of milliseconds to every report. */
			int status = session_exit_code(s);
			fflush(stdout);
			_exit(rc ? rc : status);
		}
	} else {
		rc = show(s, o);
		/* ^C at the terminal reaches the whole process group, our child too: give it a moment
		 * to end, so that its status comes through instead of a false "keeps running" */
		for (int i = 0; i < 100 && cli_interrupted && !kill_on_quit && !session_finished(s); i++)
			usleep(10000);
		if (!kill_on_quit && session_report_damage(s) == 0)
			session_wait_untraced(s);
		if (!session_finished(s) && kill_on_quit) {
			kill(session_pid(s), SIGTERM);
			for (int i = 0; i < 200 && !session_finished(s); i++)
				usleep(10000);
		} else if (!session_finished(s)) {
			fprintf(stderr, "memtop: detached; %s (pid %d) keeps running\n", argv[0], (int)session_pid(s));
		}
		cli_gc_quiet();
	}
	int status = session_finished(s) && !kill_on_quit ? session_exit_code(s) : 0;
	if (session_report_damage(s) && !rc)
		rc = 1;
	session_destroy(s);
	return rc ? rc : status;
}

static int cmd_snapshot(const struct cli_options *o)
{
	if (!o->pid)
		return fail("snapshot needs a pid: memtop snapshot PID [-o FILE]%s", "");
	struct session *s = attach_started(o);
	if (!s)
		return 1;
	/* drain what is queued now, then write */
	session_wait_drained(s, 5000);
	FILE *out = open_output(o->output, stdout);
	int rc = out ? write_snapshot(s, o, out) : 1;
	int bad = session_report_damage(s);
	session_destroy(s);
	return rc ? rc : bad;
}

static int cmd_symbolize(const struct cli_options *o)
{
	char err[512];
	if (o->argc_rest != 1)
		return fail("symbolize needs one snapshot file: memtop symbolize [--sysroot DIR] FILE%s", "");
	FILE *in = fopen(o->argv_rest[0], "re");
	if (!in) {
		fprintf(stderr, "memtop: cannot read %s: %s\n", o->argv_rest[0], strerror(errno));
		return 1;
	}
	FILE *out = open_output(o->output, stdout);
	if (!out) {
		fclose(in);
		return 1;
	}
	int rc = snapshot_symbolize(in, out, stderr, o->sysroot, err, sizeof err);
	fclose(in);
	if (out != stdout)
		fclose(out);
	if (rc) {
		fprintf(stderr, "memtop: %s: %s\n", o->argv_rest[0], err);
		return 1;
	}
	return 0;
}

static int cmd_demo(const struct cli_options *o)
{
	char demo[PATH_MAX];
	if (find_demo(demo, sizeof demo) != 0)
		return 1;
	char *argv[] = {demo, NULL};
	return cmd_run(o, false, argv, true);
}

static void on_signal(int sig)
{
	(void)sig;
	cli_interrupted = 1;
}

/* The walks' arrays (8 MiB of references at 2 M blocks, their sort buffers, suspects' sites) come
 * and go every 2 s on the UI and worker threads. glibc raises its mmap threshold to the size of each
 * freed mapped block (up to 32 MiB), after which these arrays come from the threads' arenas, which
 * keep them as fragmented free space: a fixed threshold keeps them mapped and given back at free.
 * 2 MiB, not lower: the dashboard's per-frame arrays of a few hundred KiB (call sites' keys) stay in
 * the arena, where they cost no page faults each frame. */
static void monitor_malloc_tune(void)
{
	mallopt(M_MMAP_THRESHOLD, 2 << 20);
}

/* Found by libmemtop.so (dlsym) in the process it starts in: memtop itself is never traced, even
 * with LD_PRELOAD=libmemtop.so exported (it made a segment of memtop's own, listed as a traced
 * process, and hooked every allocation of the monitor). Exported by the link (meson.build). */
const int memtop_monitor_process = 1;

int main(int argc, char **argv)
{
	struct cli_options o;
	if (argc > 1 && strcmp(argv[1], "export") == 0)
		return cli_export_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "serve") == 0)
		return cli_serve_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "diff") == 0)
		return cli_diff_main(argc - 1, argv + 1);
	int rc = cli_format_take(&argc, argv);
	if (rc)
		return rc;
	rc = parse_args(argc, argv, &o);
	if (rc)
		return rc;
	monitor_malloc_tune();
	signal(SIGPIPE, SIG_IGN);
	/* batch mode leaves cleanly (the claim released at once, not after the 3 s heartbeat timeout);
	 * the dashboard installs its own handlers */
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	urcu_memb_register_thread();
	if (!o.cmd || strcmp(o.cmd, "gc") != 0) /* gc itself says what it removes */
		cli_gc_quiet();
	if (!o.cmd && !o.pid && !o.batch) {
		rc = cli_list(&o.pid);
		if (o.pid)
			rc = cmd_attach(&o);
	} else if (!o.cmd && !o.pid)
		rc = fail("-b needs a pid: memtop -b [-n N] PID%s", "");
	else if (!o.cmd)
		rc = cmd_attach(&o);
	else if (strcmp(o.cmd, "run") == 0)
		rc = cmd_run(&o, false, o.argv_rest, false);
	else if (strcmp(o.cmd, "report") == 0)
		rc = cmd_run(&o, true, o.argv_rest, false);
	else if (strcmp(o.cmd, "snapshot") == 0)
		rc = cmd_snapshot(&o);
	else if (strcmp(o.cmd, "symbolize") == 0)
		rc = cmd_symbolize(&o);
	else if (strcmp(o.cmd, "gc") == 0)
		rc = cli_gc();
	else if (strcmp(o.cmd, "demo") == 0)
		rc = cmd_demo(&o);
	urcu_memb_unregister_thread();
	return rc;
}

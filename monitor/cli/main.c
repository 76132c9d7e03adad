/* main: entry point of the memtop executable: parses the command line and runs one subcommand
 * (list, attach, run, report, snapshot, symbolize, gc, batch, demo). Never includes curses: the
 * dashboard is reached only through ui_run() when it is built. */
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
#include "inject/inject.h"

#ifdef MEMTOP_HAVE_UI
#include "ui/ui.h"
#endif

#ifndef MEMTOP_LIBDIR
#define MEMTOP_LIBDIR "/usr/local/lib"
#endif
#ifndef MEMTOP_BINDIR
#define MEMTOP_BINDIR "/usr/local/bin"
#endif

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
			return cli_fail("--preload %s: no such readable file", opt), -1;
		if (!realpath(opt, out))
			snprintf(out, len, "%s", opt);
		return 0;
	}
	const char *env = getenv("MEMTOP_PRELOAD");
	if (env && *env) {
		if (access(env, R_OK) != 0)
			return cli_fail("MEMTOP_PRELOAD=%s: no such readable file", env), -1;
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
static bool dashboard_shown(const struct cli_options *o)
{
#ifdef MEMTOP_HAVE_UI
	return !o->batch && isatty(STDOUT_FILENO);
#else
	(void)o;
	return false;
#endif
}

/* target_output: where the target's output goes (named in the header), or NULL. tree: memtop
 * run's process tree (the dashboard's P switches between its processes), or NULL. */
static int show(struct session *s, const struct cli_options *o, const char *target_output,
		struct session_tree *tree)
{
#ifdef MEMTOP_HAVE_UI
	if (dashboard_shown(o)) {
		struct session *next = NULL;
		struct ui_options uo = {0};
		uo.delay_ms = (unsigned)(o->delay_s * 1000);
		uo.no_color = o->no_color;
		uo.heat_divisions = o->divisions;
		uo.expire_s = o->expire_s;
		uo.target_output = target_output;
		uo.tree = tree;
		uo.switch_to = &next;
		int rc;
		while ((rc = ui_run(s, &uo)) == 0 && next) {
			s = next; /* P picked a process of the tree: the dashboard again, on it */
			next = NULL;
		}
		return rc;
	}
#endif
	(void)target_output;
	(void)tree;
	return cli_batch(s, o);
}

/* Attaches to o->pid and starts draining; on failure says why in one line and returns NULL. */
static int cmd_inject(const struct cli_options *o);

/* --inject: a process started without memtop (no segment) is injected first, as by memtop inject. */
static int inject_if_untraced(const struct cli_options *o)
{
	char name[64], path[96];
	shm_segment_name(o->pid, name, sizeof name);
	snprintf(path, sizeof path, "/dev/shm%s", name);
	if (!o->inject || access(path, F_OK) == 0)
		return 0;
	struct cli_options plain = *o;
	plain.inject_undo = false;
	return cmd_inject(&plain);
}

static struct session *attach_started(const struct cli_options *o)
{
	if (inject_if_untraced(o) != 0)
		return NULL; /* the injection said why */
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

/* memtop [PID]: without a pid, the list of traced processes (and the one picked from it). */
static int cmd_attach(const struct cli_options *o)
{
	if (!o->pid && o->batch)
		return cli_fail("-b needs a pid: memtop -b [-n N] PID");
	if (!o->pid) {
		struct cli_options picked = *o;
		int rc = cli_list(&picked.pid);
		return picked.pid ? cmd_attach(&picked) : rc;
	}
	struct session *s = attach_started(o);
	if (!s)
		return 1;
	int rc = show(s, o, NULL, NULL);
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

/* stderr has no buffer: a 1.4 MB report of python3 went out in 204 k writes, 0.25 s of system
 * time added to every `memtop report` without -o. The report goes through a buffered stream on a
 * copy of the descriptor instead (stderr itself if there is none to spare). */
static FILE *buffered_stderr(void)
{
	fflush(stderr);
	int fd = dup(STDERR_FILENO);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (f)
		return f;
	if (fd >= 0)
		close(fd);
	return stderr;
}

/* Writes to `out` (from open_output) and closes it unless it is stdout or stderr. Returns 0,
 * CLI_EXIT_APPROXIMATE when written but approximate (said on stderr), or 1. */
static int write_snapshot(struct session *s, const struct cli_options *o, FILE *out,
			  struct session_tree *tree)
{
	char err[512];
	FILE *dst = out == stderr ? buffered_stderr() : out;
	/* a tree of one process writes what a single process always did */
	int rc = tree && session_tree_count(tree) > 1 && cli_format_is_text()
			 ? snapshot_write_tree(tree, dst, &o->snap, err, sizeof err)
			 : cli_write_formatted(s, dst, &o->snap, err, sizeof err);
	if (dst != out)
		fclose(dst); /* stderr's own errors are not reported on stderr */
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
	if (tree)
		snapshot_tree_warn(tree, stderr); /* said; the status stays the root's (memtop(1)) */
	return snapshot_warn_inexact(s, stderr) ? CLI_EXIT_APPROXIMATE : 0;
}

/* Starts argv under the preload (run, report, demo). Returns the started session, or NULL with
 * *status set: the target was refused or could not start (1), or ran untraced to its end (its
 * status, said once on stderr). */
static struct session *spawn_target(const struct cli_options *o, char **argv, const char *what,
				    int output_fd, int *status)
{
	char lib[PATH_MAX], err[512];
	*status = 1;
	if (!argv || !argv[0]) {
		*status = cli_fail("%s needs a command after --: memtop %s -- CMD [ARGS...]", what, what);
		return NULL;
	}
	if (find_preload(o->preload, lib, sizeof lib) != 0)
		return NULL;
	struct session_options so;
	session_cli_options(o, &so);
	so.child_output_fd = output_fd;
	so.follow_tree = strcmp(what, "report") == 0 || strcmp(what, "run") == 0;
	struct session *s = session_run(argv, lib, &so, err, sizeof err);
	if (s && session_untraced(s)) {
		/* it runs, untraced: said once, never killed, and its status is ours */
		fprintf(stderr, "memtop: %s\n", err);
		session_wait_untraced(s);
		*status = session_exit_code(s);
		session_destroy(s);
		return NULL;
	}
	if (!s || session_start(s, err, sizeof err) != 0) {
		fprintf(stderr, "memtop: %s\n", err);
		session_destroy(s);
		return NULL;
	}
	return s;
}

/* The status of a command that ran a target: memtop's own failure first, then the target's
 * status, then an approximate report (CLI_EXIT_APPROXIMATE only when the target exited 0). */
static int run_status(struct session *s, int rc, bool pass_status)
{
	int status = session_finished(s) && pass_status ? session_exit_code(s) : 0;
	if (session_report_damage(s) && (!rc || rc == CLI_EXIT_APPROXIMATE))
		rc = 1;
	if (rc == CLI_EXIT_APPROXIMATE && status)
		return status;
	return rc ? rc : status;
}

static int cmd_report(const struct cli_options *o)
{
	/* a report that could not be written must not cost a run of the target first */
	FILE *out = open_output(o->output, stderr);
	if (!out)
		return 1;
	int status;
	struct session *s = spawn_target(o, o->argv_rest, "report", 0, &status);
	if (!s) {
		close_output(out);
		return status;
	}
	/* every process of the tree: until all have ended (SIGINT/SIGTERM: what was collected) */
	struct session_options so;
	session_cli_options(o, &so);
	struct session_tree *tree = session_tree_start(s, &so);
	if (tree)
		session_tree_wait(tree, CLI_TREE_LINGER_MS, &cli_interrupted);
	/* ^C at the terminal reaches the target too: a moment for its end to come through */
	for (int i = 0; i < 100 && cli_interrupted && !session_finished(s); i++)
		usleep(10000);
	if (!cli_interrupted)
		session_wait_finished(s);
	else if (!session_finished(s))
		session_wait_drained(s, 2000);
	/* exec'd where memtop cannot follow: said now, then the report once it has ended */
	if (session_report_damage(s) == 0 && !cli_interrupted)
		session_wait_untraced(s);
	/* processes that died while it ran (workers killed by their master) left segments */
	cli_gc_quiet();
	int rc = write_snapshot(s, o, out, tree);
	if (session_finished(s) && !session_report_damage(s)) {
		/* The target is gone and its segment removed: nothing is left to release, and the
		 * orderly teardown (two RCU barriers, symbolizer and model frees) would only add
		 * tens of milliseconds to every report. */
		fflush(stdout);
		_exit(run_status(s, rc, true));
	}
	rc = run_status(s, rc, true);
	session_tree_destroy(tree);
	session_destroy(s);
	return rc;
}

/* What the dashboard does once the user quit (q): the target is given a moment, ended (demo) or
 * left running (run), and its output shown. */
static void after_dashboard(struct session *s, char **argv, bool kill_on_quit, const char *output)
{
	/* ^C at the terminal reaches the whole process group, our child too: give it a moment
	 * to end, so that its status comes through instead of a false "keeps running" */
	for (int i = 0; i < 100 && cli_interrupted && !kill_on_quit && !session_finished(s); i++)
		usleep(10000);
	/* Ended, not yet finished: the ingest thread has still to reap it, drain the ring and publish
	 * the last view, which on a slow machine (an emulator) can take longer than that moment. */
	for (int i = 0; i < 3000 && !kill_on_quit && !session_finished(s) && session_target_ended(s);
	     i++)
		usleep(10000);
	if (!kill_on_quit && session_report_damage(s) == 0)
		session_wait_untraced(s);
	if (!session_finished(s) && kill_on_quit) {
		kill(session_pid(s), SIGTERM);
		for (int i = 0; i < 200 && !session_finished(s); i++)
			usleep(10000);
	} else if (!session_finished(s)) {
		fprintf(stderr, "memtop: detached; %s (pid %d) keeps running%s%s\n", argv[0],
			(int)session_pid(s), output ? ", its output going to " : "", output ? output : "");
	}
	if (output)
		cli_output_show(output, argv[0], session_finished(s));
}

/* kill_on_quit: `memtop demo` ends its own bundled workload; `memtop run` leaves the target alone. */
static int run_dashboard(const struct cli_options *o, char **argv, bool kill_on_quit)
{
	int status, fd = 0;
	char output[PATH_MAX] = "";
	if (argv && argv[0] && dashboard_shown(o) && (fd = cli_output_create(output, sizeof output)) < 0)
		return 1;
	/* demo's own workload is not followed as a tree ("demo": no MEMTOP_FOLLOW) */
	struct session *s = spawn_target(o, argv, kill_on_quit ? "demo" : "run", fd, &status);
	if (fd > 0)
		close(fd); /* the target holds it now */
	if (!s) {
		if (output[0])
			cli_output_show(output, argv[0], true);
		return status;
	}
	if (output[0])
		cli_output_name_by_pid(output, sizeof output, (int)session_pid(s));
	/* memtop run follows the process tree too: the dashboard's P lists it */
	struct session_options so;
	session_cli_options(o, &so);
	struct session_tree *tree = kill_on_quit ? NULL : session_tree_start(s, &so);
	int rc = show(s, o, output[0] ? output : NULL, tree);
	session_tree_destroy(tree); /* the descendants still running keep running */
	after_dashboard(s, argv, kill_on_quit, output[0] ? output : NULL);
	cli_gc_quiet();
	rc = run_status(s, rc, !kill_on_quit);
	session_destroy(s);
	return rc;
}

static int cmd_run(const struct cli_options *o)
{
	return run_dashboard(o, o->argv_rest, false);
}

static int cmd_snapshot(const struct cli_options *o)
{
	if (!o->pid)
		return cli_fail("snapshot needs a pid: memtop snapshot PID [-o FILE]");
	struct session *s = attach_started(o);
	if (!s)
		return 1;
	/* drain what is queued now, then write */
	session_wait_drained(s, 5000);
	FILE *out = open_output(o->output, stdout);
	int rc = out ? write_snapshot(s, o, out, NULL) : 1;
	if (rc == CLI_EXIT_APPROXIMATE)
		rc = 0; /* said on stderr; the distinct status is report's (memtop(1)) */
	int bad = session_report_damage(s);
	session_destroy(s);
	return rc ? rc : bad;
}

static int cmd_symbolize(const struct cli_options *o)
{
	char err[512];
	if (o->noperands != 1)
		return cli_fail("symbolize needs one snapshot file: memtop symbolize [--sysroot DIR] FILE");
	FILE *in = fopen(o->operands[0], "re");
	if (!in) {
		fprintf(stderr, "memtop: cannot read %s: %s\n", o->operands[0], strerror(errno));
		return 1;
	}
	FILE *out = open_output(o->output, stdout);
	if (!out) {
		fclose(in);
		return 1;
	}
	int rc = snapshot_symbolize_pid(in, o->tree_pid, out, stderr, o->sysroot, err, sizeof err);
	fclose(in);
	if (out != stdout)
		fclose(out);
	if (rc) {
		fprintf(stderr, "memtop: %s: %s\n", o->operands[0], err);
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
	return run_dashboard(o, argv, true);
}

static int cmd_gc(const struct cli_options *o)
{
	(void)o;
	return cli_gc();
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

/* export, diff and serve are dispatched before cli_parse (export_cmd.c, serve.c read their words):
 * never reached; their rows give --help its lines. */
static int cmd_reads_own_words(const struct cli_options *o)
{
	return cli_fail("%s: its options are read by its own parser", o->cmd ? o->cmd : "?");
}

/* `memtop inject [--undo] PID` (inject/: no session, no dashboard). --undo needs no library. */
static int cmd_inject(const struct cli_options *o)
{
	char lib[PATH_MAX];
	if (o->pid <= 0)
		return cli_fail("inject needs a pid: memtop inject [--undo] PID");
	if (o->inject_undo)
		return inject_pid(o->pid, NULL, true);
	if (find_preload(o->preload, lib, sizeof lib) != 0)
		return 2;
	return inject_pid(o->pid, lib, false);
}

/* The commands, in the order --help lists them. A new command is one row here (its options are
 * rows of the option table in args.c). */
static const struct cli_command commands[] = {
	{"PID", "[-b [-n N]] [-d SEC] PID", "live dashboard of a traced process (-b: batch)",
	 CLI_OPERAND_PID, 0, cmd_attach},
	{"run", "[OPTIONS] -- CMD [ARGS...]", "start CMD preloaded, dashboard from its start",
	 CLI_OPERAND_COMMAND, 0, cmd_run},
	{"report", "[-o FILE] [OPTIONS] -- CMD [ARGS...]", "run CMD and its process tree to the end, report on stderr",
	 CLI_OPERAND_COMMAND, 0, cmd_report},
	{"snapshot", "PID [-o FILE] [OPTIONS]", "attach, drain, write a snapshot, detach",
	 CLI_OPERAND_PID, 0, cmd_snapshot},
	{"symbolize", "[--sysroot DIR] FILE", "resolve the raw frames of a snapshot",
	 CLI_OPERAND_FILES, 1, cmd_symbolize},
	{"inject", "[--undo] PID", "trace a running process started without memtop",
	 CLI_OPERAND_PID, 0, cmd_inject},
	{"export", "--format pprof|folded|massif [--value V] [-o FILE] SNAPSHOT",
	 "a text snapshot in another format", CLI_OPERAND_FILES, 1, cmd_reads_own_words},
	{"diff", "[--format text|pprof|folded] [--value V] [-o FILE] A B",
	 "growth per call site from snapshot A to B", CLI_OPERAND_FILES, 2, cmd_reads_own_words},
	{"serve", "[--listen ADDR:PORT] [--allow-remote]",
	 "GET /debug/pprof/heap?pid=PID for pprof, Parca, Pyroscope", CLI_OPERAND_NONE, 0,
	 cmd_reads_own_words},
	{"gc", "", "remove segments of processes that are gone", CLI_OPERAND_NONE, 0, cmd_gc},
	{"demo", "[OPTIONS]", "the bundled workload under the dashboard", CLI_OPERAND_NONE, 0,
	 cmd_demo},
	{NULL, NULL, NULL, CLI_OPERAND_NONE, 0, NULL},
};

int main(int argc, char **argv)
{
	struct cli_options o;
	/* export, serve and diff read their own words (their rows above are for --help) */
	if (argc > 1 && strcmp(argv[1], "export") == 0)
		return cli_export_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "serve") == 0)
		return cli_serve_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "diff") == 0)
		return cli_diff_main(argc - 1, argv + 1);
	int rc = cli_parse(argc, argv, commands, &o);
	if (rc)
		return rc < 0 ? 0 : rc; /* -1: --help or --version answered */
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
	rc = cli_command_of(commands, o.cmd)->run(&o);
	urcu_memb_unregister_thread();
	return rc;
}

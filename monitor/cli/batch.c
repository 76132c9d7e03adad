/* batch: plain-text refreshes of the model for scripts and CI (memtop -b, like top -b), and the
 * fallback when no dashboard is built. Reads only published views; never walks the live set. */
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

#include <urcu/urcu-memb.h>

#include "cli/cli.h"
#include "session/session.h"
#include "export/snapshot.h"
#include "symbols/symbols.h"

/* The signals of a program fault say "crashed"; the others ended it from outside: "killed". */
static bool batch_signal_is_crash(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGABRT ||
	       sig == SIGTRAP || sig == SIGSYS;
}

static const char *state_word(const struct model_session_info *si, char *buf, size_t len)
{
	/* one word (scripts split on spaces): the segment's fault first, it outranks the rest */
	if (si->segment_truncated)
		return "segment-truncated(figures-frozen-at-last-good-read)";
	if (si->segment_damaged && si->state == MODEL_STATE_RUNNING)
		return "running(segment-damaged,approximate)";
	switch (si->state) {
	case MODEL_STATE_RUNNING: return "running";
	case MODEL_STATE_EXITED: snprintf(buf, len, "exited(%d)", si->exit_status); return buf;
	case MODEL_STATE_CRASHED:
		/* not our child and gone without its exit mark: the signal is unknown (SIGKILL) */
		if (!si->term_signal)
			return "killed(no-exit-seen)";
		snprintf(buf, len, "%s(signal %d)", batch_signal_is_crash(si->term_signal) ? "crashed"
			 : "killed", si->term_signal);
		return buf;
	default: return "starting";
	}
}

static void batch_print(struct session *s, int iteration)
{
	urcu_memb_read_lock();
	const struct model_view *v = model_view_get(s);
	if (!v) {
		urcu_memb_read_unlock();
		return;
	}
	char sb[64];
	const struct model_totals *t = &v->totals;
	printf("memtop %s  iteration %d  pid %d  %s  state %s  uptime %.1fs\n", MEMTOP_VERSION, iteration,
	       (int)v->session.pid, v->session.command, state_word(&v->session, sb, sizeof sb),
	       (double)v->session.uptime_ns / 1e9);
	if (v->session.allocator_not_bound)
		printf("allocator: not-bound (the target calls another malloc than libmemtop's: "
		       "nothing is recorded)\n");
	if (v->session.injected_at_ns) {
		char at[64];
		snapshot_utc(v->session.injected_at_ns, at, sizeof at);
		printf("attached by injection at %s (blocks allocated before are unknown)\n", at);
	}
	printf("live_bytes: %" PRIu64 "  live_blocks: %" PRIu64 "  peak_bytes: %" PRIu64
	       "  allocs: %" PRIu64 "  frees: %" PRIu64 "\n", t->live_bytes, t->live_blocks, t->peak_bytes,
	       t->allocs, t->frees);
	if (v->session.estimated) /* blocks from before the attach are known from samples */
		printf("estimate: estimated from samples, 1 per %" PRIu64 " KiB\n",
		       v->session.sample_bytes >> 10);
	/* every count that makes the live set approximate, then the mark */
	printf("allocs/s: %.0f  frees/s: %.0f  bytes/s: %.0f  unknown_frees: %" PRIu64
	       "  lost_events: %" PRIu64 "  duplicate_allocs: %" PRIu64 "%s  overhead: %" PRIu64
	       " KiB\n", t->allocs_per_s, t->frees_per_s, t->bytes_per_s, t->unknown_frees,
	       t->lost_events, t->duplicate_allocs, v->session.approximate ? " (APPROXIMATE)" : "",
	       t->overhead_bytes / 1024);
	printf("%12s %10s %10s %10s  %s\n", "LIVE_BYTES", "BLOCKS", "ALLOCS", "GROWTH", "TOP FRAME");
	for (size_t i = 0; i < v->n_sites && i < 10; i++) {
		const struct model_site *st = &v->sites[i];
		printf("%12" PRIu64 " %10" PRIu64 " %10" PRIu64 " %10" PRId64 "  ", st->live_bytes,
		       st->live_blocks, st->allocs, st->growth);
		if (st->top.func)
			printf("%s", st->top.func);
		else
			printf("0x%" PRIx64, st->top.pc);
		if (st->top.file)
			printf(" %s:%d", st->top.file, st->top.line);
		putchar('\n');
	}
	printf("%8s %-16s %12s %10s %10s %10s %8s\n", "TID", "THREAD", "LIVE_BYTES", "BLOCKS",
	       "ALLOCS/S", "FREES/S", "XFREES");
	for (size_t i = 0; i < v->n_threads; i++) {
		const struct model_thread *th = &v->threads[i];
		printf("%8d %-16s %12" PRIu64 " %10" PRIu64 " %10.0f %10.0f %8" PRIu64 "\n", th->tid,
		       th->name[0] ? th->name : "-", th->live_bytes, th->live_blocks, th->allocs_per_s,
		       th->frees_per_s, th->cross_frees);
	}
	putchar('\n');
	urcu_memb_read_unlock();
	fflush(stdout);
}

volatile int cli_interrupted;

/* Takes in what the target did so far (its new sites go to the symbolizer thread: within drain_ms),
 * gives that thread up to sym_ms to name them, then asks for a fresh view that holds the names. */
static void batch_settle(struct session *s, unsigned drain_ms, unsigned sym_ms)
{
	session_wait_drained(s, drain_ms);
	struct symbols *sym = session_symbols_get(s); /* replaced at exec */
	if (sym)
		symbols_wait_idle(sym, sym_ms);
	session_symbols_put(s, sym);
	session_wait_drained(s, 100);
}

int cli_batch(struct session *s, const struct cli_options *o)
{
	double delay = o->delay_s > 0 ? o->delay_s : 1.0;
	for (int i = 1; o->iterations == 0 || i <= o->iterations; i++) {
		bool done = session_finished(s);
		bool last = done || (o->iterations && i == o->iterations);
		batch_settle(s, 100, 100);
		/* the refresh the user keeps: everything queued is taken in (a loaded machine drains
		 * slowly: 100 ms left sites unnamed in one run of three) and its sites get their names */
		if (last)
			batch_settle(s, 2000, 5000);
		batch_print(s, i);
		session_report_damage(s);
		if (done)
			break;
		if (o->iterations && i == o->iterations)
			break;
		for (double w = 0; w < delay && !session_finished(s) && !cli_interrupted; w += 0.05)
			usleep(50000);
		if (cli_interrupted)
			break;
	}
	return 0;
}

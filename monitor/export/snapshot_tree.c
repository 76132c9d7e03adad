/* snapshot_tree: the text report of a followed process tree (docs/snapshot-format.md, "Process
 * trees"): the root's snapshot first, unchanged, so every reader of one snapshot reads it; then each
 * other process's snapshot after a '# memtop process' line; then the totals over the tree. Never
 * holds the RCU read lock across a write of a whole snapshot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "export/snapshot.h"
#include "export/snapshot_internal.h"
#include "session/session.h"

struct tree_row {
	pid_t pid, ppid;
	struct model_session_info info;
	struct model_totals totals;
};

/* Copies what the summary needs from the session's current view (false when none yet). */
static bool tree_row_read(struct session *s, pid_t ppid, struct tree_row *r)
{
	urcu_memb_read_lock();
	const struct model_view *v = model_view_get(s);
	if (v) {
		r->pid = v->session.pid;
		r->ppid = ppid;
		r->info = v->session;
		r->totals = v->totals;
	}
	urcu_memb_read_unlock();
	return v != NULL;
}

/* The command on one line: a newline in it would end the row early. */
static void tree_put_command(FILE *out, const char *cmd)
{
	for (const char *c = cmd; *c; c++)
		fputc(*c == '\n' || *c == '\r' ? ' ' : *c, out);
}

static void tree_write_row(FILE *out, const struct tree_row *r)
{
	const struct model_totals *t = &r->totals;
	fprintf(out, "process %d ppid=%d state=%s", (int)r->pid, (int)r->ppid,
		snapshot_state_name(r->info.state));
	if (r->info.state == MODEL_STATE_EXITED)
		fprintf(out, " exit_status=%d", r->info.exit_status);
	if (r->info.state == MODEL_STATE_CRASHED)
		fprintf(out, " term_signal=%d", r->info.term_signal);
	fprintf(out, " live_bytes=%llu live_blocks=%llu allocs=%llu frees=%llu bytes_allocated=%llu "
		"peak_bytes=%llu lost_events=%llu command=", (unsigned long long)t->live_bytes,
		(unsigned long long)t->live_blocks, (unsigned long long)t->allocs,
		(unsigned long long)t->frees, (unsigned long long)t->bytes_allocated,
		(unsigned long long)t->peak_bytes, (unsigned long long)t->lost_events);
	tree_put_command(out, r->info.command);
	fputc('\n', out);
}

/* The totals over the tree: sums of the processes' figures. The peaks of the processes came at
 * different times: their sum bounds the tree's peak from above and is named so. */
static void tree_write_summary(FILE *out, const struct tree_row *rows, size_t n)
{
	struct model_totals sum = {0};
	bool approximate = false;
	for (size_t i = 0; i < n; i++) {
		const struct model_totals *t = &rows[i].totals;
		sum.live_bytes += t->live_bytes;
		sum.live_blocks += t->live_blocks;
		sum.allocs += t->allocs;
		sum.frees += t->frees;
		sum.bytes_allocated += t->bytes_allocated;
		sum.bytes_freed += t->bytes_freed;
		sum.peak_bytes += t->peak_bytes;
		sum.lost_events += t->lost_events;
		approximate |= rows[i].info.approximate;
	}
	fprintf(out, "# memtop tree\nroot: %d\nprocesses: %zu\n", n ? (int)rows[0].pid : 0, n);
	fprintf(out, "live_bytes: %llu\nlive_blocks: %llu\nallocs: %llu\nfrees: %llu\n"
		"bytes_allocated: %llu\nbytes_freed: %llu\npeak_bytes_sum: %llu\nlost_events: %llu\n"
		"approximate: %d\n\n## processes\n", (unsigned long long)sum.live_bytes,
		(unsigned long long)sum.live_blocks, (unsigned long long)sum.allocs,
		(unsigned long long)sum.frees, (unsigned long long)sum.bytes_allocated,
		(unsigned long long)sum.bytes_freed, (unsigned long long)sum.peak_bytes,
		(unsigned long long)sum.lost_events, approximate);
	for (size_t i = 0; i < n; i++)
		tree_write_row(out, &rows[i]);
	fprintf(out, "## end\n");
}

int snapshot_write_tree(struct session_tree *t, FILE *out, const struct snapshot_options *o,
			char *err, size_t errlen)
{
	size_t n = session_tree_count(t);
	struct tree_row *rows = calloc(n ? n : 1, sizeof *rows);
	if (!rows) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	size_t kept = 0;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		pid_t ppid = 0;
		struct session *s = session_tree_get(t, i, &ppid);
		if (!s || !tree_row_read(s, ppid, &rows[kept]))
			continue;
		if (i > 0)
			fprintf(out, "# memtop process %d ppid %d\n", (int)rows[kept].pid, (int)ppid);
		rc = snapshot_write(s, out, o, err, errlen);
		/* read again: the snapshot waited for names, a later view may hold the final figures */
		tree_row_read(s, ppid, &rows[kept]);
		kept++;
	}
	if (rc == 0)
		tree_write_summary(out, rows, kept);
	free(rows);
	return rc;
}

int snapshot_tree_warn(struct session_tree *t, FILE *err)
{
	int warned = 0;
	size_t n = session_tree_count(t);
	for (size_t i = 1; i < n; i++) {
		struct tree_row r;
		struct session *s = session_tree_get(t, i, NULL);
		if (!s || !tree_row_read(s, 0, &r))
			continue;
		/* a process memtop took after its start (its wait for memtop ran out): its heap came
		 * from its live table, estimated or exact, and its counts start at the attach */
		if (r.info.estimated || r.info.seeded_blocks)
			fprintf(err, "memtop: warning: process %d of the tree was followed only after its "
				"start (%llu blocks from its live table%s)\n", (int)r.pid,
				(unsigned long long)r.info.seeded_blocks,
				r.info.estimated ? ", estimated from samples" : "");
		if (r.totals.lost_events)
			fprintf(err, "memtop: warning: process %d of the tree: %llu events lost\n",
				(int)r.pid, (unsigned long long)r.totals.lost_events);
		warned |= r.info.estimated || r.info.seeded_blocks || r.totals.lost_events;
	}
	return warned;
}

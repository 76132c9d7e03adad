/* ui_header: the meters always shown at the top: target, state, live heap, peak, rates, what makes
 * the live set approximate (loudly: lost events, duplicate allocs...), unknown frees, overhead, and the sparkline of live bytes. Draws from the published view
 * only; must never compute figures the engine does not publish. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ui_format.h"
#include "ui_glyphs.h"
#include "session/session.h"
#include "ui_state.h"

#define HEADER_LINES 5

int ui_header_lines(void)
{
	return HEADER_LINES;
}

/* Draws label then value, returns the next x. */
static int meter(int y, int x, int w, const char *label, enum ui_color vc, const char *value)
{
	if (x >= w)
		return x;
	ui_draw_text(y, x, w - x, UI_C_LABEL, label);
	x += ui_text_width(label);
	ui_draw_text(y, x, w - x, vc, value);
	return x + ui_text_width(value);
}

/* A meter after the first on a line: drawn whole or not at all, since a cut one reads as another
 * figure ("1,073,437 f" for "1,073,437 frees"). Returns w when it did not fit (so the rest go too). */
static int meter_whole(int y, int x, int w, const char *label, enum ui_color vc, const char *value)
{
	if (x + ui_text_width(label) + ui_text_width(value) > w)
		return w;
	return meter(y, x, w, label, vc, value);
}

static void state_text(const struct model_session_info *si, char *buf, size_t n, enum ui_color *c)
{
	*c = UI_C_STATE_LIVE;
	switch (si->state) {
	case MODEL_STATE_STARTING:
		snprintf(buf, n, "starting");
		break;
	case MODEL_STATE_RUNNING:
		snprintf(buf, n, "running");
		break;
	case MODEL_STATE_EXITED:
		snprintf(buf, n, "exited (status %d)", si->exit_status);
		*c = UI_C_STATE_DEAD;
		break;
	case MODEL_STATE_CRASHED:
		if (si->term_signal && ui_signal_is_crash(si->term_signal))
			snprintf(buf, n, "crashed (signal %d)", si->term_signal);
		else if (si->term_signal)
			snprintf(buf, n, "killed by signal %d (SIG%s)", si->term_signal,
				 sigabbrev_np(si->term_signal) ? sigabbrev_np(si->term_signal) : "?");
		else /* gone without its exit mark, and not our child: nothing else ends a process so */
			snprintf(buf, n, "killed (no exit seen)");
		*c = UI_C_STATE_DEAD;
		break;
	}
	if (si->allocator_not_bound) { /* why every figure is zero: louder than the state itself */
		size_t len = strlen(buf);
		snprintf(buf + len, n - len, ", MALLOC NOT HOOKED (another allocator first)");
		*c = UI_C_ALERT;
	}
	if (si->reader) { /* another monitor drains the ring: this one reads the live table */
		size_t len = strlen(buf);
		snprintf(buf + len, n - len, ", reading beside another memtop");
	}
	if (si->injected_at_ns) { /* blocks allocated before are unknown: say since when we see */
		time_t sec = (time_t)(si->injected_at_ns / 1000000000u);
		struct tm tm;
		char at[32];
		gmtime_r(&sec, &tm);
		strftime(at, sizeof at, "%H:%M:%SZ", &tm);
		size_t len = strlen(buf);
		snprintf(buf + len, n - len, ", attached by injection at %s", at);
	}
}

static void line_target(struct ui *ui, const struct model_view *v, int w)
{
	char buf[300], state[112], up[80];
	enum ui_color sc;
	const struct model_session_info *si = &v->session;
	state_text(si, state, sizeof state, &sc);
	ui_fmt_uptime(up, sizeof up, si->uptime_ns);
	if (!si->from_start) {
		/* Attached to a running process: what it allocated before is unknown. */
		char att[32];
		size_t len = strlen(up);
		snprintf(up + len, sizeof up - len, " attached %s", ui_fmt_uptime(att, sizeof att, si->attached_ns));
	}
	/* Right side first so that the command gets what is left. */
	char right[224];
	snprintf(right, sizeof right, "%sup %s  %s", ui->paused ? "PAUSED  " : "", up, state);
	int rw = ui_text_width(right);
	int x = meter(0, 0, w, "memtop ", UI_C_TITLE, "");
	snprintf(buf, sizeof buf, "%d", (int)si->pid);
	x = meter(0, x, w, "pid ", UI_C_VALUE, buf);
	/* memtop run follows the tree: this is one of its processes, P lists them all */
	size_t procs = ui->opt.tree ? session_tree_count(ui->opt.tree) : 0;
	char tree[48] = "";
	if (procs > 1)
		snprintf(tree, sizeof tree, "%zu procs (P)", procs);
	int tw = tree[0] ? ui_text_width("tree ") + ui_text_width(tree) + 2 : 0;
	x += 2;
	bool show_up = true;
	if (w - rw < x) { /* narrow: the state matters more than the uptime */
		show_up = false;
		snprintf(right, sizeof right, "%s%s", ui->paused ? "PAUSED  " : "", state);
		rw = ui_text_width(right);
	}
	const char *cmd = si->command[0] ? si->command : si->exe;
	int cmd_w = w - x - rw - 2;
	/* where the target's stdout and stderr go: they never reach this screen */
	char out[128] = "";
	int ow = 0;
	if (ui->opt.target_output) {
		snprintf(out, sizeof out, "> %s", ui->opt.target_output);
		ow = ui_text_width(out);
		if (cmd_w - ow - 2 < 8) { /* narrow: the file's name, its directory said on exit */
			snprintf(out, sizeof out, "> .../%s", ui_basename(ui->opt.target_output));
			ow = ui_text_width(out);
		}
		if (cmd_w - ow - 2 < 8)
			ow = 0;
	}
	int used = ow ? ow + 2 : 0;
	if (tw && cmd_w - used - tw < 8 && show_up) {
		/* narrow: the tree's processes matter more than the uptime */
		show_up = false;
		snprintf(right, sizeof right, "%s%s", ui->paused ? "PAUSED  " : "", state);
		cmd_w += rw - ui_text_width(right);
		rw = ui_text_width(right);
	}
	if (tw && cmd_w - used - tw >= 8) {
		x = meter(0, x, w, "tree ", UI_C_VALUE, tree) + 2;
		cmd_w -= tw;
	}
	if (ow) {
		ui_draw_text(0, x + cmd_w - ow, ow, UI_C_DIM, out);
		cmd_w -= ow + 2;
	}
	if (cmd_w > 0)
		ui_draw_text(0, x, cmd_w, UI_C_DEFAULT, cmd);
	int rx = w - rw;
	if (rx < x)
		return;
	if (ui->paused) {
		ui_draw_text(0, rx, w - rx, UI_C_WARN, "PAUSED");
		rx += 8;
	}
	if (show_up) {
		snprintf(buf, sizeof buf, "up %s  ", up);
		ui_draw_text(0, rx, w - rx, UI_C_DEFAULT, buf);
		rx += ui_text_width(buf);
	}
	ui_draw_text(0, rx, w - rx, sc, state);
}

static void line_live(const struct model_view *v, int w)
{
	const struct model_totals *t = &v->totals;
	char a[48], b[48], c[48], line[320];
	ui_fmt_count(a, sizeof a, t->live_bytes);
	ui_fmt_bytes_human(b, sizeof b, t->live_bytes);
	ui_fmt_count(c, sizeof c, t->live_blocks);
	if (v->session.estimated) /* pre-attach blocks known from the target's samples */
		snprintf(line, sizeof line, "%s B (%s) in %s blocks, estimated from samples, 1 per %"
			 PRIu64 " KiB", a, b, c, v->session.sample_bytes >> 10);
	else
		snprintf(line, sizeof line, "%s B (%s) in %s blocks", a, b, c);
	int x = meter(1, 0, w, "Live ", UI_C_VALUE, line);
	ui_fmt_count(a, sizeof a, t->peak_bytes);
	ui_fmt_bytes_human(b, sizeof b, t->peak_bytes);
	snprintf(line, sizeof line, "%s B (%s)", a, b);
	meter_whole(1, x + 3, w, "peak ", UI_C_VALUE, line);
}

static void line_rates(const struct model_view *v, int w)
{
	const struct model_totals *t = &v->totals;
	char a[48], line[200];
	int x = meter(2, 0, w, "Rate ", UI_C_VALUE, ui_fmt_rate(a, sizeof a, t->allocs_per_s));
	x = meter(2, x, w, " allocs/s ", UI_C_VALUE, ui_fmt_rate(a, sizeof a, t->frees_per_s));
	x = meter(2, x, w, " frees/s ", UI_C_VALUE, ui_fmt_rate(a, sizeof a, t->bytes_per_s));
	x = meter(2, x, w, " B/s", UI_C_DEFAULT, "");
	/* two meters: at 80 columns the allocs fit where "allocs and frees" would not */
	snprintf(line, sizeof line, "%s allocs", ui_fmt_count(a, sizeof a, t->allocs));
	x = meter_whole(2, x + 3, w, "total ", UI_C_VALUE, line);
	snprintf(line, sizeof line, " %s frees", ui_fmt_count(a, sizeof a, t->frees));
	meter_whole(2, x, w, "", UI_C_VALUE, line);
}

/* The counts that made the engine call the live set approximate, loudly: " 3 EVENTS LOST, 1
 * DUPLICATE ALLOCS: live set approximate ". Unknown frees count only when tracked from the start
 * (after a late attach they are blocks from before it). False (and empty) when none is set. */
static bool approximate_alert(const struct model_view *v, char *line, size_t len)
{
	const struct model_totals *t = &v->totals;
	const struct { uint64_t n; const char *what; } counts[] = {
		{t->lost_events, "EVENTS LOST"},
		{t->duplicate_allocs, "DUPLICATE ALLOCS"},
		{v->session.from_start ? t->unknown_frees : 0, "UNKNOWN FREES"},
	};
	size_t n = 0;
	line[0] = '\0';
	for (size_t i = 0; i < sizeof counts / sizeof counts[0] && n < len; i++) {
		char a[48];
		if (counts[i].n)
			n += (size_t)snprintf(line + n, len - n, "%s%s %s", n ? ", " : " ",
					      ui_fmt_count(a, sizeof a, counts[i].n), counts[i].what);
	}
	if (n && n < len)
		snprintf(line + n, len - n, ": live set approximate ");
	return n > 0;
}

static void line_health(const struct model_view *v, int w)
{
	const struct model_totals *t = &v->totals;
	char a[48], b[48], c[48], line[200];
	int x = 0;
	const struct model_session_info *si = &v->session;
	if (si->segment_truncated || si->segment_damaged) {
		/* Loudest first: figures read from a bad segment are frozen, not live. */
		snprintf(line, sizeof line, " %s ", si->segment_truncated
			 ? "SEGMENT TRUNCATED: figures frozen at the last good read"
			 : "SEGMENT DAMAGED: target counters not believed, live set approximate");
		ui_draw_text(3, 0, w, UI_C_ALERT, line);
		x = ui_text_width(line) + 1;
	} else if (si->approximate && approximate_alert(v, line, sizeof line)) {
		ui_draw_text(3, 0, w, UI_C_ALERT, line);
		x = ui_text_width(line) + 1;
	} else {
		x = meter(3, 0, w, "Lost ", UI_C_VALUE, "0");
		x += 2;
	}
	x = meter_whole(3, x, w, "unknown frees ", t->unknown_frees ? UI_C_WARN : UI_C_VALUE,
		  ui_fmt_count(a, sizeof a, t->unknown_frees));
	ui_fmt_bytes_human(a, sizeof a, t->overhead_bytes);
	ui_fmt_bytes_human(b, sizeof b, t->segment_bytes);
	ui_fmt_bytes_human(c, sizeof c, t->monitor_bytes);
	snprintf(line, sizeof line, "%s (segment %s + memtop %s)", a, b, c);
	x = meter_whole(3, x + 2, w, "overhead ", UI_C_VALUE, line);
	if (t->stacks_overflow)
		meter_whole(3, x + 2, w, "", UI_C_WARN, "stack table full");
}

static void line_sparkline(const struct model_view *v, int w)
{
	const struct model_history *h = &v->history;
	char scale[48], label[96];
	const char *lead = "Live ";
	int width = w - 5 - 22;
	if (width < 8)
		return;
	uint8_t levels[1024];
	if (width > 1024)
		width = 1024;
	uint32_t count = h->count > MODEL_HISTORY_MAX ? MODEL_HISTORY_MAX : h->count;
	uint64_t max = ui_spark_levels(h->live_bytes, count, (size_t)width, levels);
	ui_draw_text(4, 0, w, UI_C_LABEL, lead);
	for (int i = 0; i < width; i++)
		ui_draw_text(4, 5 + i, 1, UI_C_SPARK, ui_glyph_spark(levels[i]));
	uint64_t span_s = (uint64_t)(count < (uint32_t)width ? count : (uint32_t)width) * h->interval_ms / 1000;
	snprintf(label, sizeof label, " max %s/%" PRIu64 "s", ui_fmt_bytes_short(scale, sizeof scale, max),
		 span_s);
	ui_draw_text(4, 5 + width, w - 5 - width, UI_C_DIM, label);
}

void ui_header_draw(struct ui *ui, const struct model_view *v, int w)
{
	if (!v) {
		ui_draw_text(0, 0, w, UI_C_TITLE, "memtop");
		ui_draw_text(1, 0, w, UI_C_DIM, "waiting for the first data from the target...");
		return;
	}
	line_target(ui, v, w);
	line_live(v, w);
	line_rates(v, w);
	line_health(v, w);
	line_sparkline(v, w);
}

/* ui_tree: the processes of the tree that `memtop run` follows, as an htop-style list (key P):
 * pid, live bytes, state, parent, command; Enter shows that process in the dashboard. Reads each
 * process through model.h only; never ends or signals a process. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <urcu/urcu-memb.h>

#include "session/session.h"
#include "ui.h"
#include "ui_state.h"

struct ui_tree_text {
	char state[16], parent[24], command[256];
};

static const char *ui_tree_state(enum model_state st)
{
	switch (st) {
	case MODEL_STATE_STARTING: return "start";
	case MODEL_STATE_RUNNING: return "running";
	case MODEL_STATE_EXITED: return "exited";
	case MODEL_STATE_CRASHED: return "crashed";
	}
	return "?";
}

/* One row per process followed, from its current view. */
static void ui_tree_row(struct session *s, pid_t ppid, struct ui_pick_row *row, struct ui_tree_text *t)
{
	row->pid = (int)session_pid(s);
	row->live_bytes = 0;
	snprintf(t->state, sizeof t->state, "?");
	snprintf(t->parent, sizeof t->parent, "%d", (int)ppid);
	t->command[0] = '\0';
	urcu_memb_read_lock();
	const struct model_view *v = model_view_get(s);
	if (v) {
		row->live_bytes = v->totals.live_bytes;
		snprintf(t->state, sizeof t->state, "%s", ui_tree_state(v->session.state));
		snprintf(t->command, sizeof t->command, "%s",
			 v->session.command[0] ? v->session.command : v->session.exe);
	}
	urcu_memb_read_unlock();
	row->mode = t->state;
	row->monitored = t->parent;
	row->command = t->command;
}

/* After the dashboard closed for P: the list, then *o->switch_to is the process picked (the one
 * shown when the list was quit). */
void ui_tree_pick(struct session *shown, const struct ui_options *o)
{
	static const struct ui_pick_words words = {"process in the tree", "processes in the tree",
						   "shows", "STATE", "PARENT", "Show "};
	size_t n = session_tree_count(o->tree);
	struct ui_pick_row *rows = calloc(n ? n : 1, sizeof *rows);
	struct ui_tree_text *text = calloc(n ? n : 1, sizeof *text);
	struct session **sessions = calloc(n ? n : 1, sizeof *sessions);
	*o->switch_to = shown;
	if (!rows || !text || !sessions) {
		free(rows);
		free(text);
		free(sessions);
		return;
	}
	int selected = 0, kept = 0;
	for (size_t i = 0; i < n; i++) {
		pid_t ppid = 0;
		struct session *s = session_tree_get(o->tree, i, &ppid);
		if (!s)
			continue;
		if (s == shown)
			selected = kept;
		sessions[kept] = s;
		ui_tree_row(s, ppid, &rows[kept], &text[kept]);
		kept++;
	}
	char err[256];
	int pid = ui_pick_with(rows, kept, &words, selected, err, sizeof err);
	for (int i = 0; i < kept && pid > 0; i++)
		if (rows[i].pid == pid)
			*o->switch_to = sessions[i];
	free(rows);
	free(text);
	free(sessions);
}

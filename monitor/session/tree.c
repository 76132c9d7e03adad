/* tree: memtop report/run follow the whole process tree they start: new segments in /dev/shm are
 * found (each new process rings for it, shm/follow.c, and a bounded rescan finds the rest), and
 * each process that descends from the root (checked in /proc, and marked MEMTOP_FLAG_TREE with our
 * root) gets a session of its own. Never attaches a process outside the tree, never signals or
 * waits for a process it did not start. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "session/session_internal.h"

#define TREE_MAX_PROCS 256   /* sessions, the root's included; more are said once and left */
#define TREE_MAX_DEPTH 256   /* parents walked up from a candidate before it is refused */
#define TREE_RESCAN_MS 20    /* a rescan even without a ring (a process that could not send one) */
#define TREE_REJECTED_MAX 1024

struct tree_proc {
	pid_t pid;
	pid_t ppid;             /* at discovery: the parent before any orphan was reparented */
	struct session *s;      /* NULL while being attached, or when it could not be */
	bool pending;
	bool joined;            /* its starter thread was joined (tree_stop) */
	pthread_t starter;
};

struct session_tree {
	struct session *root;
	struct session_options opt;
	pthread_mutex_t lock;    /* procs, n, rejected */
	struct tree_proc procs[TREE_MAX_PROCS];
	size_t n;
	pid_t rejected[TREE_REJECTED_MAX]; /* not in the tree: never looked at again */
	size_t n_rejected;
	bool full_said;
	int stop;                /* atomic */
	int wake_fd;             /* eventfd: tree_stop wakes the discovering thread's poll (or -1) */
	bool discovering;
	pthread_t discover_thread;
};

/* The parent of pid from /proc/PID/stat (after the last ')': the command may hold any byte). */
static pid_t tree_parent_of(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	const char *close_paren = strrchr(buf, ')');
	char state;
	int ppid;
	if (!close_paren || sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2)
		return -1;
	return ppid;
}

/* A descendant of the root, or an orphan of the tree reparented to us (memtop is the tree's
 * subreaper: session_run). */
static bool tree_descends(pid_t pid, pid_t root, pid_t *ppid_out)
{
	pid_t self = getpid(), p = pid;
	*ppid_out = tree_parent_of(pid);
	for (int depth = 0; depth < TREE_MAX_DEPTH; depth++) {
		p = tree_parent_of(p);
		if (p == root || p == self)
			return true;
		if (p <= 1)
			return false;
	}
	return false;
}

static bool tree_known(struct session_tree *t, pid_t pid)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->procs[i].pid == pid)
			return true;
	for (size_t i = 0; i < t->n_rejected; i++)
		if (t->rejected[i] == pid)
			return true;
	return false;
}

static void tree_reject(struct session_tree *t, pid_t pid)
{
	if (t->n_rejected < TREE_REJECTED_MAX)
		t->rejected[t->n_rejected++] = pid;
}

struct tree_start {
	struct session_tree *t;
	size_t slot;
};

/* One thread per new process: the claim releases it from its start-up wait at once, and a slow
 * symbolizer set-up of one process never holds another at its start. */
static void *tree_attach_main(void *arg)
{
	struct tree_start *ts = arg;
	struct session_tree *t = ts->t;
	size_t slot = ts->slot;
	free(ts);
	pthread_mutex_lock(&t->lock);
	pid_t pid = t->procs[slot].pid;
	pthread_mutex_unlock(&t->lock);
	char err[512];
	struct session_options o = t->opt;
	o.tree_root = t->root->pid;
	o.child_output_fd = 0;
	/* the segment may be seen between its creation and its sizing (empty: "impossible size"):
	 * tried again for a while, unless it is not of our tree */
	struct session *s = NULL;
	for (int tries = 0; tries < 100 && !__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE); tries++) {
		s = session_attach(pid, &o, err, sizeof err);
		if (s || strstr(err, SESSION_NOT_IN_TREE) || kill(pid, 0) != 0)
			break;
		usleep(10000);
	}
	if (s && session_start(s, err, sizeof err) != 0) {
		session_destroy(s);
		s = NULL;
	}
	if (!s && !__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE))
		fprintf(stderr, "memtop: notice: process %d of the tree is not followed: %s\n", (int)pid,
			err);
	pthread_mutex_lock(&t->lock);
	t->procs[slot].s = s;
	t->procs[slot].pending = false;
	pthread_mutex_unlock(&t->lock);
	return NULL;
}

static void tree_consider(struct session_tree *t, pid_t pid)
{
	pthread_mutex_lock(&t->lock);
	bool known = tree_known(t, pid);
	pthread_mutex_unlock(&t->lock);
	pid_t ppid;
	if (known)
		return;
	bool ours = tree_descends(pid, t->root->pid, &ppid);
	pthread_mutex_lock(&t->lock);
	if (!ours) {
		tree_reject(t, pid);
	} else if (t->n == TREE_MAX_PROCS) {
		if (!t->full_said)
			fprintf(stderr, "memtop: notice: the tree has more than %d processes: the others "
				"are not followed\n", TREE_MAX_PROCS);
		t->full_said = true;
		tree_reject(t, pid);
	} else {
		struct tree_start *ts = malloc(sizeof *ts);
		size_t slot = t->n;
		t->procs[slot] = (struct tree_proc){.pid = pid, .ppid = ppid, .pending = true};
		if (ts) {
			*ts = (struct tree_start){.t = t, .slot = slot};
			if (pthread_create(&t->procs[slot].starter, NULL, tree_attach_main, ts) != 0) {
				free(ts);
				ts = NULL;
			}
		}
		if (ts)
			t->n++;
		else
			tree_reject(t, pid);
	}
	pthread_mutex_unlock(&t->lock);
}

static void tree_scan(struct session_tree *t)
{
	DIR *d = opendir("/dev/shm");
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *n = e->d_name;
		if (strncmp(n, "memtop.", 7) != 0 || !isdigit((unsigned char)n[7]))
			continue;
		char *end;
		long pid = strtol(n + 7, &end, 10);
		if (*end || pid <= 1 || pid > 4194304)
			continue;
		tree_consider(t, (pid_t)pid);
	}
	closedir(d);
}

/* The doorbell the tree's new processes ring (shm/follow.c), or -1: then a short poll. */
static int tree_doorbell_open(pid_t root)
{
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_un a;
	socklen_t len = (socklen_t)shm_follow_address(&a, (uint32_t)getpid(), (uint32_t)root);
	if (bind(fd, (struct sockaddr *)&a, len) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void *tree_discover_main(void *arg)
{
	struct session_tree *t = arg;
	int bell = tree_doorbell_open(t->root->pid);
	uint32_t rung[64];
	while (!__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE)) {
		tree_scan(t);
		/* Without the doorbell a short poll: a new process waits for us at its start. The wake
		 * descriptor ends the poll at tree_stop: a report used to wait out the poll (up to
		 * TREE_RESCAN_MS) after its target had ended. */
		struct pollfd pfd[2] = {{.fd = t->wake_fd, .events = POLLIN}, {.fd = bell, .events = POLLIN}};
		poll(pfd, bell >= 0 ? 2 : 1, bell >= 0 ? TREE_RESCAN_MS : 2);
		while (bell >= 0 && recv(bell, rung, sizeof rung, 0) > 0)
			; /* a hint: the scan finds and checks the process */
	}
	if (bell >= 0)
		close(bell);
	return NULL;
}

struct session_tree *session_tree_start(struct session *root, const struct session_options *o)
{
	struct session_tree *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->root = root;
	if (o)
		t->opt = *o;
	else
		session_default_options(&t->opt);
	pthread_mutex_init(&t->lock, NULL);
	t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	t->procs[0] = (struct tree_proc){.pid = root->pid, .ppid = getpid(), .s = root};
	t->n = 1;
	t->discovering = pthread_create(&t->discover_thread, NULL, tree_discover_main, t) == 0;
	return t;
}

/* True when every process found has ended (or could not be followed) and none is being attached. */
static bool tree_all_ended(struct session_tree *t)
{
	bool all = true;
	pthread_mutex_lock(&t->lock);
	for (size_t i = 0; i < t->n && all; i++)
		all = !t->procs[i].pending && (!t->procs[i].s || session_finished(t->procs[i].s));
	pthread_mutex_unlock(&t->lock);
	return all;
}

/* Stops finding processes and waits for the attaches under way (bounded: session_attach waits at
 * most 1 s for a segment, tried again for at most 1 s). */
static void tree_stop(struct session_tree *t)
{
	__atomic_store_n(&t->stop, 1, __ATOMIC_RELEASE);
	uint64_t one = 1;
	if (t->wake_fd >= 0)
		(void)!write(t->wake_fd, &one, sizeof one);
	if (t->discovering)
		pthread_join(t->discover_thread, NULL);
	t->discovering = false;
	pthread_mutex_lock(&t->lock);
	size_t n = t->n;
	pthread_mutex_unlock(&t->lock);
	for (size_t i = 1; i < n; i++)
		if (!t->procs[i].joined) {
			pthread_join(t->procs[i].starter, NULL);
			t->procs[i].joined = true;
		}
}

/* A live process of the tree that is no session (yet): an orphan reparented to us (memtop is the
 * tree's subreaper), not a zombie. A root that ends at once (sh -c 'prog &') leaves prog before
 * its segment is made: without this the report ended before finding it. /proc/self/task/N/children
 * lists each thread's children; without it (no CONFIG_PROC_CHILDREN) nothing is waited for. */
static bool tree_orphans_alive(struct session_tree *t)
{
	char path[300], buf[4096];
	DIR *d = opendir("/proc/self/task");
	if (!d)
		return false;
	bool alive = false;
	struct dirent *e;
	while (!alive && (e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/children", e->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n = read(fd, buf, sizeof buf - 1);
		close(fd);
		buf[n > 0 ? n : 0] = '\0';
		char *save = NULL;
		for (char *tok = strtok_r(buf, " \n", &save); tok && !alive;
		     tok = strtok_r(NULL, " \n", &save)) {
			pid_t pid = (pid_t)atoi(tok);
			char state = 0;
			uint64_t start;
			alive = pid != t->root->pid && shm_proc_stat(pid, &state, &start) && state != 'Z';
		}
	}
	closedir(d);
	return alive;
}

void session_tree_wait(struct session_tree *t, unsigned linger_ms, volatile int *interrupted)
{
	uint64_t root_end = 0;
	for (;;) {
		if (interrupted && *interrupted)
			break;
		bool root_done = session_finished(t->root) || !t->root->ingest_running;
		if (root_done && tree_all_ended(t) && !tree_orphans_alive(t))
			break;
		uint64_t now = shm_clock_ns(CLOCK_MONOTONIC);
		if (root_done && !root_end)
			root_end = now;
		if (root_end && now - root_end >= (uint64_t)linger_ms * 1000000ull)
			break; /* descendants that outlive the root are written as they are now */
		if (root_done)
			usleep(5000);
		else /* woken by the root's end: a report's last wait after its target */
			session_wait_finished_for(t->root, 5);
	}
	tree_stop(t);
	/* what the ones still running have queued now is in their view */
	for (size_t i = 1; i < t->n; i++)
		if (t->procs[i].s && !session_finished(t->procs[i].s))
			session_wait_drained(t->procs[i].s, 2000);
}

size_t session_tree_count(struct session_tree *t)
{
	pthread_mutex_lock(&t->lock);
	size_t n = 0;
	for (size_t i = 0; i < t->n; i++)
		n += t->procs[i].s != NULL;
	pthread_mutex_unlock(&t->lock);
	return n;
}

struct session *session_tree_get(struct session_tree *t, size_t i, pid_t *ppid)
{
	pthread_mutex_lock(&t->lock);
	struct session *found = NULL;
	for (size_t k = 0, seen = 0; k < t->n && !found; k++) {
		if (!t->procs[k].s)
			continue;
		if (seen++ == i) {
			found = t->procs[k].s;
			if (ppid)
				*ppid = t->procs[k].ppid;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return found;
}

void session_tree_destroy(struct session_tree *t)
{
	if (!t)
		return;
	tree_stop(t);
	for (size_t i = 1; i < t->n; i++)
		session_destroy(t->procs[i].s);
	pthread_mutex_destroy(&t->lock);
	if (t->wake_fd >= 0)
		close(t->wake_fd);
	free(t);
}

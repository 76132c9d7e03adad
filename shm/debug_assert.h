/* debug_assert: the contracts the headers state, checked at run time in MEMTOP_DEBUG builds
 * (meson setup -Dmemtop_debug=true) and compiled out otherwise. Usable everywhere, the preload's
 * hooks and signal handlers included: a passing check only reads (errno untouched), a failing one
 * never allocates and takes no lock of ours: one writev(2) of "file:line: condition", then
 * abort(). */
#ifndef MEMTOP_DEBUG_ASSERT_H
#define MEMTOP_DEBUG_ASSERT_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef MEMTOP_DEBUG
#define DEBUG_ASSERT_ENABLED 1
#else
#define DEBUG_ASSERT_ENABLED 0
#endif

/* The failure path, out of line in every file that checks something. The line is built in iovecs
 * (no snprintf, no buffer from malloc) and written in one call, so lines of two threads failing at
 * once do not interleave. */
__attribute__((noreturn, cold, noinline, unused))
static void debug_assert_fail(const char *file, int line, const char *cond)
{
	char num[12];
	size_t i = sizeof num;
	unsigned v = line > 0 ? (unsigned)line : 0;
	do {
		num[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v && i > 0);
	static const char head[] = "memtop: assertion failed: ";
	struct iovec iov[] = {
		{(void *)head, sizeof head - 1},
		{(void *)file, strlen(file)},
		{(void *)":", 1},
		{num + i, sizeof num - i},
		{(void *)": ", 2},
		{(void *)cond, strlen(cond)},
		{(void *)"\n", 1},
	};
	ssize_t w = writev(STDERR_FILENO, iov, (int)(sizeof iov / sizeof iov[0]));
	(void)w;
	abort();
}

/* DEBUG_ASSERT(cond): cond must hold here. Off, cond is still compiled (so it stays correct and
 * its variables count as used) but never evaluated. */
#if DEBUG_ASSERT_ENABLED
#define DEBUG_ASSERT(cond) \
	(__builtin_expect(!!(cond), 1) ? (void)0 : debug_assert_fail(__FILE__, __LINE__, #cond))
#else
#define DEBUG_ASSERT(cond) ((void)sizeof(!(cond)))
#endif

/* "Only one thread may call this": the owner is claimed by the thread that will make the calls
 * (the monitor's engine: claimed at engine_init, then by the ingest thread when it starts). */
struct debug_owner {
	pthread_t thread;
};

static inline void debug_owner_claim(struct debug_owner *o)
{
	o->thread = pthread_self();
}

#if DEBUG_ASSERT_ENABLED
#define DEBUG_ASSERT_OWNER(o)                                               \
	(__builtin_expect(pthread_equal((o)->thread, pthread_self()) != 0, 1) \
		 ? (void)0                                                  \
		 : debug_assert_fail(__FILE__, __LINE__, "called from the thread that claimed " #o))
#else
#define DEBUG_ASSERT_OWNER(o) ((void)sizeof((o)->thread))
#endif

#endif

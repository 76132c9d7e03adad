/* rcu_tsan: ThreadSanitizer builds only (see rcu_tsan.h). Wraps liburcu's read unlock, synchronize
 * and call_rcu (this executable's definitions come first; the library's are found with RTLD_NEXT)
 * so that TSan sees the grace period: every read-side section releases one clock, every reclaim
 * (after synchronize_rcu, or in a call_rcu callback) acquires it. Never in a normal build. */
#if defined(__SANITIZE_THREAD__)
#define RCU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RCU_TSAN 1
#endif
#endif

/* Harmless anywhere else: builds that glob every monitor file (the fuzzers) get an empty file. */
#ifdef RCU_TSAN
#include <dlfcn.h>
#include <stdlib.h>

#include <sanitizer/tsan_interface.h>
#include <urcu/urcu-memb.h>

static char rcu_tsan_grace; /* the clock: its address is all TSan needs */
static void (*real_read_unlock)(void);
static void (*real_synchronize)(void);
static void (*real_call_rcu)(struct rcu_head *, void (*)(struct rcu_head *));

__attribute__((constructor)) static void rcu_tsan_init(void)
{
	real_read_unlock = (void (*)(void))dlsym(RTLD_NEXT, "urcu_memb_read_unlock");
	real_synchronize = (void (*)(void))dlsym(RTLD_NEXT, "urcu_memb_synchronize_rcu");
	real_call_rcu = (void (*)(struct rcu_head *, void (*)(struct rcu_head *)))dlsym(
		RTLD_NEXT, "urcu_memb_call_rcu");
	if (!real_read_unlock || !real_synchronize || !real_call_rcu)
		abort();
}

void urcu_memb_read_unlock(void)
{
	__tsan_release(&rcu_tsan_grace);
	real_read_unlock();
}

void urcu_memb_synchronize_rcu(void)
{
	real_synchronize();
	__tsan_acquire(&rcu_tsan_grace);
}

/* The callback runs after a grace period: acquire the clock before it frees anything. */
struct rcu_tsan_node {
	struct rcu_head rcu;
	struct rcu_head *head;
	void (*func)(struct rcu_head *);
};

static void rcu_tsan_callback(struct rcu_head *r)
{
	struct rcu_tsan_node *n = caa_container_of(r, struct rcu_tsan_node, rcu);
	__tsan_acquire(n); /* what the caller wrote before call_rcu: the object, the node */
	__tsan_acquire(&rcu_tsan_grace);
	n->func(n->head);
	free(n);
}

void urcu_memb_call_rcu(struct rcu_head *head, void (*func)(struct rcu_head *))
{
	struct rcu_tsan_node *n = malloc(sizeof(*n));
	if (!n) {
		real_call_rcu(head, func);
		return;
	}
	n->head = head;
	n->func = func;
	__tsan_release(n); /* liburcu's queue hands it to its thread out of TSan's sight */
	real_call_rcu(&n->rcu, rcu_tsan_callback);
}
#endif

/* rcu_tsan: ThreadSanitizer builds only (force-included by monitor/meson.build when b_sanitize is
 * thread). liburcu publishes and reads pointers and waits for grace periods in code TSan cannot see
 * (an uninstrumented library, inline asm), so every view and every live-set block would be reported.
 * Here publication becomes C11 acquire/release (same ordering, visible to TSan), and rcu_tsan.c
 * tells TSan that a grace period orders the read-side sections before it with the reclaim after it.
 * Never part of a normal build: it changes no behaviour, only what TSan can see. */
#ifndef MEMTOP_RCU_TSAN_H
#define MEMTOP_RCU_TSAN_H

#include <urcu/urcu-memb.h>
#include <urcu/pointer.h>
#include <urcu/system.h>

#undef rcu_dereference
#define rcu_dereference(p) __atomic_load_n(&(p), __ATOMIC_ACQUIRE)
#undef rcu_xchg_pointer
#define rcu_xchg_pointer(p, v) __atomic_exchange_n((p), (v), __ATOMIC_ACQ_REL)
#undef rcu_set_pointer
#define rcu_set_pointer(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#undef rcu_assign_pointer
#define rcu_assign_pointer(p, v) __atomic_store_n(&(p), (v), __ATOMIC_RELEASE)
#undef CMM_LOAD_SHARED
#define CMM_LOAD_SHARED(p) __atomic_load_n(&(p), __ATOMIC_RELAXED)
#undef CMM_STORE_SHARED
#define CMM_STORE_SHARED(x, v)                                    \
	__extension__({                                           \
		__typeof__(x) rcu_tsan_v_ = (v);                  \
		__atomic_store_n(&(x), rcu_tsan_v_, __ATOMIC_RELAXED); \
		rcu_tsan_v_;                                      \
	})

#endif

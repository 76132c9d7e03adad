/* Several threads with known patterns: thread-local churn, blocks allocated on one thread and freed
 * on another (handoff), and a realloc race where one thread keeps moving a block while another
 * allocates the same size class, so freed addresses are reused across threads at once. The consumer
 * must end with no duplicate allocation, no unknown free and exact live figures (invariant 1). */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "expect.h"

#define WORKERS 4
#define LOCAL_CALLS 1000
#define HANDOFF 2000
#define RACE 20000
#define ACROSS 3000

SITE static void *site_thread_local(int n)
{
	void *kept[10];
	for (int i = 0; i < n; i++) {
		void *p = malloc(64);
		if (i < 10)
			kept[i] = p;
		else
			free(p);
	}
	for (int i = 0; i < 10; i++)
		keep(kept[i]);
	return NULL;
}

static pthread_mutex_t keep_lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg)
{
	char name[16];
	snprintf(name, sizeof name, "worker-%d", (int)(intptr_t)arg);
	pthread_setname_np(pthread_self(), name);
	void *kept[10];
	(void)kept;
	pthread_mutex_lock(&keep_lock);
	pthread_mutex_unlock(&keep_lock);
	site_thread_local(LOCAL_CALLS);
	return NULL;
}

/* Handoff: a single-slot mailbox between the allocating and the freeing thread. */
static void *mailbox[HANDOFF];
static int mail_in, mail_out;
static pthread_mutex_t mail_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t mail_cond = PTHREAD_COND_INITIALIZER;

SITE static void *site_handoff_alloc(void *arg)
{
	(void)arg;
	for (int i = 0; i < HANDOFF; i++) {
		void *p = malloc(48);
		pthread_mutex_lock(&mail_lock);
		mailbox[mail_in++] = p;
		pthread_cond_signal(&mail_cond);
		pthread_mutex_unlock(&mail_lock);
	}
	return NULL;
}

static void *handoff_free(void *arg)
{
	(void)arg;
	for (int i = 0; i < HANDOFF; i++) {
		pthread_mutex_lock(&mail_lock);
		while (mail_out == mail_in)
			pthread_cond_wait(&mail_cond, &mail_lock);
		void *p = mailbox[mail_out++];
		pthread_mutex_unlock(&mail_lock);
		if (i % 100 == 0) {
			pthread_mutex_lock(&keep_lock);
			keep(p);
			pthread_mutex_unlock(&keep_lock);
		} else {
			free(p);
		}
	}
	return NULL;
}

SITE static void *site_realloc_race(void *arg)
{
	(void)arg;
	char *p = malloc(24);
	for (int i = 0; i < RACE; i++) {
		p = realloc(p, (i & 1) ? 24 : 3000);
		p[0] = 1;
	}
	free(p);
	return NULL;
}

/* Moves a block between this thread's heap and a mapping of its own on every call: BEGIN and END
 * go to different lanes, and the consumer gets them in either order, with several in flight. */
SITE static void *site_realloc_across_race(void *arg)
{
	(void)arg;
	char *p = malloc(24);
	for (int i = 0; i < ACROSS; i++) {
		p = realloc(p, (i & 1) ? 24 : 256 * 1024);
		p[0] = 3;
	}
	free(p);
	return NULL;
}

SITE static void *site_race_malloc(void *arg)
{
	(void)arg;
	for (int i = 0; i < RACE; i++) {
		volatile char *q = malloc(24);
		q[0] = 2;
		free((void *)q);
	}
	return NULL;
}

int main(void)
{
	pthread_t w[WORKERS], a, f, r, m, x;
	expect_init();
	/* a fixed threshold: glibc would otherwise raise it after the first mapped block is freed */
	CHECK(mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1);
	for (int i = 0; i < WORKERS; i++)
		CHECK(pthread_create(&w[i], NULL, worker, (void *)(intptr_t)i) == 0);
	CHECK(pthread_create(&a, NULL, site_handoff_alloc, NULL) == 0);
	CHECK(pthread_create(&f, NULL, handoff_free, NULL) == 0);
	CHECK(pthread_create(&r, NULL, site_realloc_race, NULL) == 0);
	CHECK(pthread_create(&m, NULL, site_race_malloc, NULL) == 0);
	CHECK(pthread_create(&x, NULL, site_realloc_across_race, NULL) == 0);
	for (int i = 0; i < WORKERS; i++)
		pthread_join(w[i], NULL);
	pthread_join(a, NULL);
	pthread_join(f, NULL);
	pthread_join(r, NULL);
	pthread_join(m, NULL);
	pthread_join(x, NULL);
	EXPECT("site_thread_local", WORKERS * LOCAL_CALLS, WORKERS * 10, WORKERS * 10 * 64);
	EXPECT("site_handoff_alloc", HANDOFF, HANDOFF / 100, HANDOFF / 100 * 48);
	EXPECT("site_realloc_race", 1 + RACE, 0, 0);
	EXPECT("site_race_malloc", RACE, 0, 0);
	EXPECT("site_realloc_across_race", 1 + ACROSS, 0, 0);
	printf("expect-thread-name worker-0\n");
	return 0;
}

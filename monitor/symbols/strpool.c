/* strpool: a mutex-protected hash set of strings that lives as long as the session (see strpool.h).
 * Interning is on the symbolizer thread only (a lookup per resolved frame), so one lock is enough;
 * readers use the returned pointers without it. Must never free or move a string it handed out. */
#include "symbols/strpool.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define STRPOOL_BUCKETS 4096u

struct strpool_node {
	struct strpool_node *next;
	char s[];
};

struct strpool {
	pthread_mutex_t lock;
	struct strpool_node *bucket[STRPOOL_BUCKETS];
};

static unsigned strpool_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return (unsigned)(h % STRPOOL_BUCKETS);
}

struct strpool *strpool_new(void)
{
	struct strpool *p = calloc(1, sizeof(*p));
	if (p)
		pthread_mutex_init(&p->lock, NULL);
	return p;
}

const char *strpool_intern(struct strpool *p, const char *str)
{
	if (!p || !str)
		return NULL;
	unsigned h = strpool_hash(str);
	const char *found = NULL;
	pthread_mutex_lock(&p->lock);
	for (struct strpool_node *n = p->bucket[h]; n && !found; n = n->next)
		if (strcmp(n->s, str) == 0)
			found = n->s;
	if (!found) {
		size_t len = strlen(str);
		struct strpool_node *n = malloc(sizeof(*n) + len + 1);
		if (n) {
			memcpy(n->s, str, len + 1);
			n->next = p->bucket[h];
			p->bucket[h] = n;
			found = n->s;
		}
	}
	pthread_mutex_unlock(&p->lock);
	return found;
}

const char *strpool_intern_cb(void *pool, const char *str)
{
	return strpool_intern(pool, str);
}

void strpool_free(struct strpool *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < STRPOOL_BUCKETS; i++)
		for (struct strpool_node *n = p->bucket[i], *nx; n; n = nx) {
			nx = n->next;
			free(n);
		}
	pthread_mutex_destroy(&p->lock);
	free(p);
}

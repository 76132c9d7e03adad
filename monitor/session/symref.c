/* symref: the session's symbolizers, one per program image. Readers borrow the current one
 * (session_symbols_get/put); one retired at exec is freed by its last borrower. Sites seen before
 * the first symbolizer is ready are queued for it. Never blocks the ingest thread on a reader. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "session/session_internal.h"
#include "symbols/strpool.h"
#include "symbols/symbols.h"

/* ---- symbolizers: one per program image, borrowed by readers, freed when the last one is done ---- */

struct session_symref {
	struct symbols *sym;
	unsigned borrowers;   /* readers between session_symbols_get and _put */
	bool retired;         /* its image is gone (exec): free it once nobody borrows it */
	struct session_symref *next;
};

/* Under sym_lock. */
static struct session_symref *session_symref_find(struct session *s, struct symbols *sym)
{
	for (struct session_symref *r = s->symrefs; r; r = r->next)
		if (r->sym == sym)
			return r;
	return NULL;
}

/* Under sym_lock: unlinks r; the caller frees r->sym and r outside the lock. */
static void session_symref_unlink(struct session *s, struct session_symref *r)
{
	for (struct session_symref **p = &s->symrefs; *p; p = &(*p)->next)
		if (*p == r) {
			*p = r->next;
			return;
		}
}

/* Under sym_lock: a retired symbolizer that nobody borrows any more leaves the list; the caller
 * frees it (session_symref_free) after dropping the lock. NULL when it must stay. */
static struct session_symref *session_symref_take_if_done(struct session *s, struct session_symref *r)
{
	if (!r || !r->retired || r->borrowers > 0)
		return NULL;
	session_symref_unlink(s, r);
	return r;
}

static void session_symref_free(struct session_symref *r)
{
	if (!r)
		return;
	symbols_free(r->sym);
	free(r);
}

/* Makes sym the current symbolizer (it was just started). -ENOMEM leaves it to the caller. */
int session_symbols_install(struct session *s, struct symbols *sym)
{
	struct session_symref *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->sym = sym;
	pthread_mutex_lock(&s->sym_lock);
	r->next = s->symrefs;
	s->symrefs = r;
	__atomic_store_n(&s->sym, sym, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&s->sym_lock);
	return 0;
}

/* Ingest thread, at exec: the current symbolizer knows only the old image. Readers no longer get
 * it; it is freed now, or by its last borrower. */
void session_symbols_retire(struct session *s)
{
	struct symbols *sym = __atomic_load_n(&s->sym, __ATOMIC_ACQUIRE);
	if (!sym)
		return;
	symbols_stop(sym);
	pthread_mutex_lock(&s->sym_lock);
	__atomic_store_n(&s->sym, NULL, __ATOMIC_RELEASE);
	struct session_symref *r = session_symref_find(s, sym);
	if (r)
		r->retired = true;
	struct session_symref *done = session_symref_take_if_done(s, r);
	pthread_mutex_unlock(&s->sym_lock);
	session_symref_free(done);
}

struct symbols *session_symbols_get(struct session *s)
{
	pthread_mutex_lock(&s->sym_lock);
	struct symbols *sym = s->sym;
	struct session_symref *r = sym ? session_symref_find(s, sym) : NULL;
	if (r)
		r->borrowers++;
	pthread_mutex_unlock(&s->sym_lock);
	return r ? sym : NULL;
}

void session_symbols_put(struct session *s, struct symbols *sym)
{
	if (!sym)
		return;
	pthread_mutex_lock(&s->sym_lock);
	struct session_symref *r = session_symref_find(s, sym);
	if (r && r->borrowers > 0)
		r->borrowers--;
	struct session_symref *done = session_symref_take_if_done(s, r);
	pthread_mutex_unlock(&s->sym_lock);
	session_symref_free(done);
}

/* session_destroy: every thread is stopped, nobody borrows any more. */
void session_symbols_free_all(struct session *s)
{
	for (struct session_symref *r = s->symrefs, *nx; r; r = nx) {
		nx = r->next;
		session_symref_free(r);
	}
	s->symrefs = NULL;
	s->sym = NULL;
}
/* --no-symbols: no symbolizer keeps the map, yet a snapshot must carry it to be symbolized later.
 * Takes `maps` (NULL: kept as it was). */
void session_keep_raw_maps(struct session *s, char *maps)
{
	if (!maps)
		return;
	pthread_mutex_lock(&s->sym_lock);
	char *old = s->raw_maps;
	s->raw_maps = maps;
	pthread_mutex_unlock(&s->sym_lock);
	free(old);
}

char *session_maps_copy(struct session *s)
{
	struct symbols *sym = session_symbols_get(s);
	char *m = NULL;
	if (sym) {
		m = symbols_maps_copy(sym);
	} else {
		pthread_mutex_lock(&s->sym_lock);
		m = s->raw_maps ? strdup(s->raw_maps) : NULL;
		pthread_mutex_unlock(&s->sym_lock);
	}
	session_symbols_put(s, sym);
	return m;
}
/* Sites seen before the symbolizer is ready: queued for it (ingest thread only). */
void session_early_site(void *ctx, uint32_t stack_id)
{
	struct session *s = ctx;
	if (s->early_n == s->early_cap) {
		size_t cap = s->early_cap ? s->early_cap * 2 : 256;
		uint32_t *p = realloc(s->early_sites, cap * sizeof(*p));
		if (!p)
			return; /* that site shows its raw address: better than stopping ingest */
		s->early_sites = p;
		s->early_cap = cap;
	}
	s->early_sites[s->early_n++] = stack_id;
}

/* Ingest thread: hands the sites seen so far to a symbolizer that just became ready. */
void session_adopt_symbols(struct session *s)
{
	if (s->ingest_sym || s->opt.no_symbols)
		return;
	struct symbols *sym = __atomic_load_n(&s->sym, __ATOMIC_ACQUIRE);
	if (!sym)
		return;
	s->ingest_sym = sym;
	s->eng.on_new_site = symbols_enqueue_site;
	s->eng.on_new_site_ctx = sym;
	for (size_t i = 0; i < s->early_n; i++)
		symbols_enqueue_site(sym, s->early_sites[i]);
	free(s->early_sites);
	s->early_sites = NULL;
	s->early_n = s->early_cap = 0;
	if (s->early_maps_changed)
		symbols_maps_update(sym, symbols_read_maps(s->pid));
	__atomic_store_n(&s->sym_adopted, 1, __ATOMIC_RELEASE);
}

/* The symbolizer thread reads the segment directly: an exec stops that thread (symbols_stop in
 * session_symbols_retire) before the ingest thread swaps the segment. */
static bool session_source_maps_generation(void *ctx, uint64_t *generation)
{
	struct session *s = ctx;
	struct memtop_seg_header h;
	if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != MODEL_STATE_RUNNING ||
	    shm_header_read(&s->seg, &h) != 0)
		return false;
	*generation = h.maps_generation;
	return true;
}

static int session_source_stack_read(void *ctx, uint32_t id, uint64_t *pcs, uint32_t max)
{
	return session_stack_read(ctx, id, pcs, max);
}

struct symbols *session_symbols_start(struct session *s, char *err, size_t len)
{
	struct symbols_source src = {
		.pid = s->pid,
		.stacks_cap = s->seg.stacks_cap,
		.initial_maps = s->initial_maps,
		.strings = s->strings,
		.stack_read = session_source_stack_read,
		.maps_generation = session_source_maps_generation,
		.ctx = s,
	};
	s->initial_maps = NULL; /* taken by the symbolizer, freed with it or by the failed start */
	return symbols_start_live(&src, err, len);
}

void session_symbols_stop_all(struct session *s)
{
	for (struct session_symref *r = s->symrefs; r; r = r->next)
		symbols_stop(r->sym);
}

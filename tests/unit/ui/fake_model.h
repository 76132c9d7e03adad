/* fake_model: a synthetic implementation of monitor/model.h for the dashboard's unit tests and its
 * refresh benchmark: any number of call sites, threads and live blocks, with no target and no engine.
 * It must never be linked into memtop itself. */
#ifndef MEMTOP_FAKE_MODEL_H
#define MEMTOP_FAKE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model.h"

struct session *fake_session_new(size_t n_sites, size_t n_threads, size_t n_blocks);
void fake_session_free(struct session *s);
/* Publishes a new view (generation + 1), optionally changing every site's live bytes a little. */
void fake_session_publish(struct session *s, int jitter);
/* Figures the next publish shows. */
void fake_session_set_health(struct session *s, uint64_t lost_events, bool from_start);
void fake_session_set_inexact(struct session *s, uint64_t duplicate_allocs, uint64_t unknown_frees);
/* Counters for assertions. */
unsigned fake_walks_opened(struct session *s);
unsigned fake_maps_computed(struct session *s);

#endif

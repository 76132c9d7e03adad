/* pprof: a snapshot as a gzipped profile.proto with the four sample types of Go's heap profile
 * (alloc_objects, alloc_space, inuse_objects, inuse_space), one sample per call site, locations
 * with their inline frames, functions with file:line, mappings with build ids. Never rounds or
 * samples: period 1, every figure as the text snapshot holds it. */
#include "export/export.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

/* profile.proto field numbers */
enum { P_SAMPLE_TYPE = 1, P_SAMPLE = 2, P_MAPPING = 3, P_LOCATION = 4, P_FUNCTION = 5,
       P_STRING_TABLE = 6, P_TIME_NANOS = 9, P_DURATION_NANOS = 10, P_PERIOD_TYPE = 11,
       P_PERIOD = 12, P_COMMENT = 13, P_DEFAULT_SAMPLE_TYPE = 14 };

/* open addressing, key 0 is never stored (callers add 1 where 0 can occur) */
struct u64map {
	uint64_t *keys, *vals;
	size_t cap, n;
};

static uint64_t mix(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return k;
}

static bool u64map_grow(struct u64map *m)
{
	size_t nc = m->cap ? m->cap * 2 : 1024;
	uint64_t *nk = calloc(nc, sizeof(*nk)), *nv = calloc(nc, sizeof(*nv));
	if (!nk || !nv) {
		free(nk);
		free(nv);
		return false;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (!m->keys[i])
			continue;
		size_t j = mix(m->keys[i]) & (nc - 1);
		while (nk[j])
			j = (j + 1) & (nc - 1);
		nk[j] = m->keys[i];
		nv[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = nk;
	m->vals = nv;
	m->cap = nc;
	return true;
}

/* The slot of key (found or empty), or NULL when out of memory. */
static uint64_t *u64map_slot(struct u64map *m, uint64_t key, bool *found)
{
	if ((m->n + 1) * 2 > m->cap && !u64map_grow(m))
		return NULL;
	size_t j = mix(key) & (m->cap - 1);
	while (m->keys[j] && m->keys[j] != key)
		j = (j + 1) & (m->cap - 1);
	*found = m->keys[j] == key;
	if (!*found) {
		m->keys[j] = key;
		m->n++;
	}
	return &m->vals[j];
}

static void u64map_free(struct u64map *m)
{
	free(m->keys);
	free(m->vals);
}

struct pprof_ctx {
	const struct snapdoc *d;
	struct pbw *out, msg, line, scratch;
	struct u64map str_ids, loc_ids, func_ids, map_ids;
	char **strs;               /* string table, owned copies */
	uint64_t *funcs;           /* scratch: the function ids of one location */
	size_t n_strs, cap_strs;
	uint64_t n_locs, n_funcs, n_mappings;
	bool oom;
};

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h | 1;
}

static bool str_add(struct pprof_ctx *c, const char *s, uint64_t *id)
{
	if (c->n_strs == c->cap_strs) {
		size_t nc = c->cap_strs * 2 + 64;
		char **ns = realloc(c->strs, nc * sizeof(*ns));
		if (!ns) {
			c->oom = true;
			return false;
		}
		c->strs = ns;
		c->cap_strs = nc;
	}
	char *copy = strdup(s);
	if (!copy) {
		c->oom = true;
		return false;
	}
	*id = c->n_strs;
	c->strs[c->n_strs++] = copy;
	return true;
}

/* Index of s in the string table, added on first use. Hash collisions are resolved by chaining
 * through h+1, h+2... so equal hashes of different strings get distinct keys. */
static uint64_t str_id(struct pprof_ctx *c, const char *s)
{
	for (uint64_t h = str_hash(s);; h++) {
		bool found;
		uint64_t *v = h ? u64map_slot(&c->str_ids, h, &found) : NULL;
		if (!v) {
			c->oom = true;
			return 0;
		}
		if (found && strcmp(c->strs[*v], s) != 0)
			continue;
		if (!found && !str_add(c, s, v))
			return 0;
		return *v;
	}
}

static uint64_t function_id(struct pprof_ctx *c, const struct snapdoc_frame *f)
{
	char name[4096 + 32];
	const char *fn = f->func;
	if (!fn) {
		if (f->module)
			snprintf(name, sizeof name, "%s+0x%" PRIx64, f->module, f->module_off);
		else
			snprintf(name, sizeof name, "0x%" PRIx64, f->pc);
		fn = name;
	}
	uint64_t name_id = str_id(c, fn), file_id = str_id(c, f->file ? f->file : "");
	bool found;
	uint64_t *v = u64map_slot(&c->func_ids, (name_id << 32 | file_id) + 1, &found);
	if (!v) {
		c->oom = true;
		return 0;
	}
	if (found)
		return *v;
	*v = ++c->n_funcs;
	pbw_reset(&c->msg);
	pbw_uint(&c->msg, 1, *v);
	pbw_uint(&c->msg, 2, name_id);
	pbw_uint(&c->msg, 3, name_id);
	pbw_uint(&c->msg, 4, file_id);
	pbw_message(c->out, P_FUNCTION, &c->msg);
	return *v;
}

/* The mapping holding pc in src's maps (a diff's sites come from two documents: the key is the
 * maps line's address, unique across both), written on first use; 0 when none holds it. */
static uint64_t mapping_id(struct pprof_ctx *c, const struct snapdoc *src, uint64_t pc)
{
	const struct snapdoc_map *m = snapdoc_map_of(src, pc);
	if (!m)
		return 0;
	bool found;
	uint64_t *v = u64map_slot(&c->map_ids, (uint64_t)(uintptr_t)m, &found);
	if (!v) {
		c->oom = true;
		return 0;
	}
	if (found)
		return *v;
	*v = ++c->n_mappings;
	const char *bid = snapdoc_build_id(src, m->path);
	pbw_reset(&c->msg);
	pbw_uint(&c->msg, 1, *v);
	pbw_uint(&c->msg, 2, m->start);
	pbw_uint(&c->msg, 3, m->end);
	pbw_uint(&c->msg, 4, m->offset);
	pbw_uint(&c->msg, 5, str_id(c, m->path));
	pbw_uint(&c->msg, 6, bid ? str_id(c, bid) : 0);
	for (uint32_t field = 7; field <= 10; field++) /* functions, filenames, lines, inlines */
		pbw_bool(&c->msg, field, true);
	pbw_message(c->out, P_MAPPING, &c->msg);
	return *v;
}

/* The location of frames[0..n) (inline frames, then the physical one, all with one pc), shared by
 * every sample with that pc; key is the pc + 1, or in a diff the frame's index + 2 (two processes'
 * addresses may meet), 1 for "no stack". */
static uint64_t location_id(struct pprof_ctx *c, const struct snapdoc *src,
			    const struct snapdoc_frame *fr, size_t n, uint64_t key)
{
	bool found;
	uint64_t *v = u64map_slot(&c->loc_ids, key, &found);
	if (!v) {
		c->oom = true;
		return 0;
	}
	if (found)
		return *v;
	uint64_t id = *v = ++c->n_locs;
	uint64_t mid = mapping_id(c, src, fr[0].pc);
	uint64_t *funcs = c->funcs;
	for (size_t i = 0; i < n; i++)
		funcs[i] = function_id(c, &fr[i]); /* writes function messages: before msg is reused */
	pbw_reset(&c->msg);
	pbw_uint(&c->msg, 1, id);
	if (mid)
		pbw_uint(&c->msg, 2, mid);
	pbw_uint(&c->msg, 3, fr[0].pc);
	for (size_t i = 0; i < n; i++) {
		pbw_reset(&c->line);
		pbw_uint(&c->line, 1, funcs[i]);
		pbw_int(&c->line, 2, fr[i].line);
		pbw_message(&c->msg, 4, &c->line);
	}
	pbw_message(c->out, P_LOCATION, &c->msg);
	return id;
}

static void write_sample(struct pprof_ctx *c, const struct snapdoc_site *s, uint64_t *locs)
{
	const struct snapdoc_frame *fr = c->d->frames + s->first_frame;
	const struct snapdoc *src = c->d->site_docs ? c->d->site_docs[s - c->d->sites] : c->d;
	size_t n_locs = 0;
	for (size_t i = 0; i < s->n_frames;) {
		size_t k = i; /* the group ends at its physical frame */
		while (k + 1 < s->n_frames && fr[k].inlined && fr[k + 1].pc == fr[k].pc)
			k++;
		uint64_t key = c->d->is_diff ? (uint64_t)(fr + i - c->d->frames) + 2 : fr[i].pc + 1;
		locs[n_locs++] = location_id(c, src, fr + i, k - i + 1, key);
		i = k + 1;
	}
	if (!s->n_frames) {
		struct snapdoc_frame none = {.func = "[no stack]"};
		locs[n_locs++] = location_id(c, src, &none, 1, 1);
	}
	int64_t values[4] = {
		(int64_t)(s->has_totals ? s->allocs : s->live_blocks),
		(int64_t)(s->has_totals ? s->bytes_allocated : s->live_bytes),
		(int64_t)s->live_blocks, (int64_t)s->live_bytes};
	struct pbw sample = {0};
	pbw_packed_u64(&sample, 1, locs, n_locs, &c->scratch);
	pbw_packed_i64(&sample, 2, values, 4, &c->scratch);
	pbw_message(c->out, P_SAMPLE, &sample);
	pbw_free(&sample);
}

static void value_type(struct pprof_ctx *c, uint32_t field, const char *type, const char *unit)
{
	struct pbw vt = {0};
	pbw_uint(&vt, 1, str_id(c, type));
	pbw_uint(&vt, 2, str_id(c, unit));
	pbw_message(c->out, field, &vt);
	pbw_free(&vt);
}

static int64_t time_nanos(const char *when)
{
	struct tm tm = {0};
	if (!when || !strptime(when, "%Y-%m-%dT%H:%M:%SZ", &tm))
		return 0;
	return (int64_t)timegm(&tm) * 1000000000;
}

int pprof_encode(const struct snapdoc *d, struct pbw *out)
{
	struct pprof_ctx c = {.d = d, .out = out};
	str_id(&c, ""); /* string 0 is "" by the spec */
	value_type(&c, P_SAMPLE_TYPE, "alloc_objects", "count");
	value_type(&c, P_SAMPLE_TYPE, "alloc_space", "bytes");
	value_type(&c, P_SAMPLE_TYPE, "inuse_objects", "count");
	value_type(&c, P_SAMPLE_TYPE, "inuse_space", "bytes");
	uint64_t *locs = malloc((d->n_frames + 1) * sizeof(*locs));
	c.funcs = malloc((d->n_frames + 1) * sizeof(*c.funcs));
	c.oom |= !locs || !c.funcs;
	for (size_t i = 0; locs && c.funcs && i < d->n_sites; i++)
		write_sample(&c, &d->sites[i], locs);
	free(locs);
	free(c.funcs);
	pbw_int(out, P_TIME_NANOS, time_nanos(d->time));
	pbw_int(out, P_DURATION_NANOS, (int64_t)d->uptime_ms * 1000000);
	value_type(&c, P_PERIOD_TYPE, "space", "bytes");
	pbw_int(out, P_PERIOD, 1);
	char comment[4200];
	snprintf(comment, sizeof comment, "memtop %s: %s%d %s", MEMTOP_VERSION,
		 d->is_diff ? "growth from snapshot A to B, B's pid " : "pid ", d->pid,
		 d->command ? d->command : d->exe ? d->exe : "");
	pbw_int(out, P_COMMENT, (int64_t)str_id(&c, comment));
	pbw_int(out, P_DEFAULT_SAMPLE_TYPE, (int64_t)str_id(&c, "inuse_space"));
	/* the string table last: every id above has been handed out by now */
	for (size_t i = 0; i < c.n_strs; i++) {
		pbw_string(out, P_STRING_TABLE, c.strs[i]);
		free(c.strs[i]);
	}
	free(c.strs);
	bool failed = c.oom || c.msg.failed || c.line.failed || c.scratch.failed || out->failed;
	pbw_free(&c.msg);
	pbw_free(&c.line);
	pbw_free(&c.scratch);
	u64map_free(&c.str_ids);
	u64map_free(&c.loc_ids);
	u64map_free(&c.func_ids);
	u64map_free(&c.map_ids);
	return failed ? -1 : 0;
}

/* gzip (deflate with a gzip header: windowBits 15 + 16) of data, written to out */
static int gzip_write(const uint8_t *data, size_t len, FILE *out)
{
	z_stream z = {0};
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	z.next_in = (Bytef *)data;
	z.avail_in = (uInt)len;
	uint8_t buf[1 << 15];
	int zrc;
	do {
		z.next_out = buf;
		z.avail_out = sizeof buf;
		zrc = deflate(&z, Z_FINISH);
		size_t have = sizeof buf - z.avail_out;
		if (zrc == Z_STREAM_ERROR || fwrite(buf, 1, have, out) != have) {
			deflateEnd(&z);
			return -1;
		}
	} while (zrc != Z_STREAM_END);
	deflateEnd(&z);
	return 0;
}

int pprof_write(const struct snapdoc *d, FILE *out, char *err, size_t errlen)
{
	struct pbw buf = {0};
	if (pprof_encode(d, &buf) != 0) {
		snprintf(err, errlen, "out of memory encoding the profile");
		pbw_free(&buf);
		return -1;
	}
	if (buf.len > UINT32_MAX) {
		snprintf(err, errlen, "the profile is over 4 GiB");
		pbw_free(&buf);
		return -1;
	}
	int rc = gzip_write(buf.data, buf.len, out);
	pbw_free(&buf);
	if (rc)
		snprintf(err, errlen, "cannot write the compressed profile");
	return rc;
}

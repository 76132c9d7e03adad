/* Reads the MEMTOP_* environment variables into struct preload_config. A bad value gives one line on
 * stderr naming the variable and the accepted range, then the default is used.
 * Runs at start-up (inside the first hooked call): must never use stdio streams or allocate
 * (environ scans, snprintf to a stack buffer and write(2) only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "livetable.h"
#include "preload.h"

#define WAIT_DEFAULT_S 30u
#define WAIT_MAX_S 86400u
#define BLOCK_MS_MAX 60000u

extern char **environ;

/* Our own getenv: the program may define its own (bash does) and ours runs before it is ready. */
static const char *config_getenv(const char *name)
{
	size_t len = strlen(name);
	for (char **e = environ; e && *e; e++)
		if (!strncmp(*e, name, len) && (*e)[len] == '=')
			return *e + len + 1;
	return NULL;
}

/* Removes name from environ in place (no allocation, and not the program's own unsetenv). */
void preload_env_remove(const char *name)
{
	size_t len = strlen(name);
	for (char **e = environ; e && *e;) {
		if (!strncmp(*e, name, len) && (*e)[len] == '=') {
			char **d = e;
			do
				d[0] = d[1];
			while (*d++);
		} else {
			e++;
		}
	}
}

static void config_complain(const char *name, const char *value, const char *accepted,
			    const char *fallback)
{
	char line[256];
	int n = snprintf(line, sizeof line, "memtop: %s=%s is invalid (accepted: %s); using %s\n", name,
			 value, accepted, fallback);
	if (n > 0)
		(void)!write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Parses a decimal unsigned integer in [lo, hi]; false if the text is not exactly that. */
static bool config_parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	uint64_t v = 0;
	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > hi)
			return false;
	}
	if (v < lo)
		return false;
	*out = (uint32_t)v;
	return true;
}

static uint32_t config_u32(const char *name, uint32_t lo, uint32_t hi, uint32_t def)
{
	const char *s = config_getenv(name);
	uint32_t v;
	if (!s)
		return def;
	if (config_parse_u32(s, lo, hi, &v))
		return v;
	char range[64], fallback[24];
	snprintf(range, sizeof range, "%u..%u", lo, hi);
	snprintf(fallback, sizeof fallback, "%u", def);
	config_complain(name, s, range, fallback);
	return def;
}

static enum preload_unwinder config_unwinder(void)
{
	const char *s = config_getenv("MEMTOP_UNWIND");
	if (!s || !strcmp(s, "cfi"))
		return PRELOAD_UNWIND_CFI;
	if (!strcmp(s, "libunwind"))
		return PRELOAD_UNWIND_LIBUNWIND;
	if (!strcmp(s, "fp"))
		return PRELOAD_UNWIND_FP;
	if (!strcmp(s, "check"))
		return PRELOAD_UNWIND_CHECK;
	config_complain("MEMTOP_UNWIND", s, "cfi, libunwind, fp or check", "cfi");
	return PRELOAD_UNWIND_CFI;
}

static uint32_t config_live(void)
{
	const char *s = config_getenv("MEMTOP_LIVE");
	if (!s || !strcmp(s, "sampled"))
		return MEMTOP_LIVE_SAMPLED;
	if (!strcmp(s, "exact"))
		return MEMTOP_LIVE_EXACT;
	if (!strcmp(s, "off"))
		return MEMTOP_LIVE_OFF;
	config_complain("MEMTOP_LIVE", s, "sampled, exact or off", "sampled");
	return MEMTOP_LIVE_SAMPLED;
}

/* MEMTOP_SAMPLE_SEED fixes the sampler's draws (tests); by default they differ in every process. */
static uint64_t config_seed(void)
{
	const char *s = config_getenv("MEMTOP_SAMPLE_SEED");
	uint64_t v = 0;
	bool ok = s && *s;
	for (const char *c = s; ok && *c; c++) {
		ok = *c >= '0' && *c <= '9' && v <= (UINT64_MAX - 9) / 10;
		v = v * 10 + (uint64_t)(*c - '0');
	}
	if (ok && v)
		return v;
	if (s)
		config_complain("MEMTOP_SAMPLE_SEED", s, "1..18446744073709551606", "a random seed");
	uint64_t r = shm_clock_ns(CLOCK_REALTIME) ^ (uint64_t)getpid() << 32 ^ (uintptr_t)&v;
	return r ? r : 1;
}

void preload_config_read(struct preload_config *cfg)
{
	cfg->disable = config_u32("MEMTOP_DISABLE", 0, 1, 0) != 0;
	cfg->depth = config_u32("MEMTOP_DEPTH", 0, MEMTOP_MAX_DEPTH, 16);
	cfg->unwinder = config_unwinder();
	cfg->ring = config_u32("MEMTOP_RING", SHM_RING_MIN, SHM_RING_MAX, SHM_RING_DEFAULT);
	/* MEMTOP_LANES: 0 = one per online CPU (at least 4) */
	cfg->lanes = config_u32("MEMTOP_LANES", 0, MEMTOP_LANES_MAX, 0);
	cfg->stacks = config_u32("MEMTOP_STACKS", SHM_STACKS_MIN, SHM_STACKS_MAX, SHM_STACKS_DEFAULT);
	cfg->block_ms = config_u32("MEMTOP_BLOCK_MS", 0, BLOCK_MS_MAX, SHM_BLOCK_MS_DEFAULT);
	/* MEMTOP_WAIT: 0 = no wait, 1 = wait up to the default 30 s, N = wait up to N seconds. */
	uint32_t w = config_u32("MEMTOP_WAIT", 0, WAIT_MAX_S, 0);
	cfg->wait_s = w == 1 ? WAIT_DEFAULT_S : w;
	cfg->live = config_live();
	cfg->sample_bytes = config_u32("MEMTOP_SAMPLE_BYTES", 1, 1u << 30, SHM_LIVE_SAMPLE_DEFAULT);
	cfg->sample_seed = config_seed();
	/* MEMTOP_FOLLOW: set by memtop report/run, inherited by the whole tree (4194304: pid_max's
	 * ceiling) */
	cfg->follow_root = config_u32("MEMTOP_FOLLOW", 0, 4194304, 0);
	cfg->follow_monitor = config_u32("MEMTOP_FOLLOW_MONITOR", 0, 4194304, 0);
}

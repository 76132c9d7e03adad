/* snapshot_symbolize: memtop symbolize, the offline half of the snapshot: reads a snapshot text,
 * resolves its raw frame addresses against the files of its MAPS section (under a sysroot) and
 * writes it back with frames rewritten. Never uses a file whose build-id differs from the one the
 * snapshot recorded; never touches a live process. */
#include "export/snapshot_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "export/snapdoc.h"
#include "symbols/buildid.h"
#include "symbols/symbols.h"

static char *read_all(FILE *in)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		if (n + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, in);
		if (r == 0)
			break;
		n += r;
	}
	if (buf)
		buf[n] = '\0';
	return buf;
}

/* Parses "  #D ... 0xPC ..." : returns true with the depth and pc. */
static bool parse_frame_line(const char *line, int *depth, uint64_t *pc)
{
	if (strncmp(line, "  #", 3) != 0)
		return false;
	*depth = atoi(line + 3);
	const char *p = line;
	bool found = false;
	/* the raw address is the last token that starts with 0x before an optional module token */
	while ((p = strstr(p, " 0x")) != NULL) {
		char *end;
		unsigned long long v = strtoull(p + 1, &end, 16);
		if (end != p + 3 && (*end == ' ' || *end == '\n' || *end == '\0')) {
			*pc = v;
			found = true;
		}
		p += 3;
	}
	return found;
}

/* The "## modules" section (format 2): the build-id each mapped file had when the snapshot was
 * taken. A format 1 snapshot has none and is symbolized as before, unchecked; so is a "-" module. */
static void symbolize_expect_modules(struct symdb *db, const char *text)
{
	const char *sec = strstr(text, "\n## modules\n");
	if (!sec)
		return;
	for (const char *l = sec + 12; *l && strncmp(l, "## ", 3) != 0;) {
		const char *nl = strchr(l, '\n');
		size_t len = nl ? (size_t)(nl - l) : strlen(l);
		char line[4096 + BUILDID_HEX_MAX + 8];
		if (strncmp(l, "module ", 7) == 0 && len < sizeof line) {
			memcpy(line, l, len);
			line[len] = '\0';
			char *sp = strchr(line + 7, ' ');
			if (sp) {
				*sp = '\0';
				symdb_expect_build_id(db, sp + 1, line + 7); /* "-" is no id: left unchecked */
			}
		}
		if (!nl)
			break;
		l = nl + 1;
	}
}

/* The two passes over the snapshot text. A frame group is a physical frame and the inline frames
 * that follow it with the same depth and address. */
struct symbolize_pass {
	struct symdb *db;
	FILE *out;                 /* pass 2 only */
	const char **modules;      /* pass 1: distinct modules of the frames, in order of appearance */
	size_t n_modules, cap_modules;
};

/* A module whose file was not used (another build, or not found): its frames are copied as the
 * snapshot has them, so whatever was resolved when it was taken stays and nothing wrong is added. */
static bool symbolize_keep_raw(struct symdb *db, const struct symdb_frames *fr)
{
	if (!fr)
		return true;
	enum symdb_check c = symdb_module_check(db, fr->module, NULL, NULL, NULL);
	return c == SYMDB_MISMATCH || c == SYMDB_MISSING;
}

static void symbolize_note_module(struct symbolize_pass *p, const char *module)
{
	for (size_t i = 0; i < p->n_modules; i++)
		if (p->modules[i] == module) /* interned */
			return;
	if (p->n_modules == p->cap_modules) {
		size_t nc = p->cap_modules ? p->cap_modules * 2 : 16;
		const char **nm = realloc(p->modules, nc * sizeof(*nm));
		if (!nm)
			return;
		p->modules = nm;
		p->cap_modules = nc;
	}
	p->modules[p->n_modules++] = module;
}

/* Pass 1 (out NULL): resolves every frame (files are opened and checked then) and lists the
 * modules. Pass 2: writes the snapshot with the frames rewritten. */
static void symbolize_pass(struct symbolize_pass *p, char *text)
{
	int last_depth = -1;
	uint64_t last_pc = 0;
	bool copying_group = false;
	for (char *line = text; line && *line;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		int depth = 0;
		uint64_t pc = 0;
		if (!parse_frame_line(line, &depth, &pc)) {
			last_depth = -1;
			if (p->out)
				fprintf(p->out, "%s\n", line);
		} else if (depth == last_depth && pc == last_pc) {
			/* an inline frame of the group: re-expanded below, or kept with its group */
			if (p->out && copying_group)
				fprintf(p->out, "%s\n", line);
		} else {
			last_depth = depth;
			last_pc = pc;
			const struct symdb_frames *fr = symdb_lookup(p->db, pc);
			copying_group = symbolize_keep_raw(p->db, fr);
			if (!p->out) {
				if (fr)
					symbolize_note_module(p, fr->module);
			} else if (copying_group) {
				fprintf(p->out, "%s\n", line);
			} else {
				for (int k = 0; k < fr->n; k++) {
					struct model_frame f = {.pc = pc, .module = fr->module,
								.module_off = fr->module_off,
								.func = fr->f[k].func, .file = fr->f[k].file,
								.line = fr->f[k].line, .inlined = k < fr->n - 1};
					snapshot_print_frame(p->out, depth, &f);
				}
			}
		}
		if (nl)
			*nl = '\n';
		line = nl ? nl + 1 : NULL;
	}
}

/* One warning per module whose files all have another build-id. Returns -1 (with err) when no
 * module of the frames could be used at all while some differ: nothing in the output would be
 * new, and the user has the wrong files. */
static int symbolize_check_modules(const struct symbolize_pass *p, FILE *warn, char *err, size_t errlen)
{
	size_t usable = 0, differ = 0;
	const char *first_differ = NULL;
	for (size_t i = 0; i < p->n_modules; i++) {
		enum symdb_check c = symdb_module_check(p->db, p->modules[i], NULL, NULL, NULL);
		usable += c == SYMDB_MATCH || c == SYMDB_UNVERIFIED;
		if (c == SYMDB_MISMATCH && differ++ == 0)
			first_differ = p->modules[i];
	}
	if (differ && !usable) {
		snprintf(err, errlen, "no module's file has the build-id the snapshot recorded (%zu differ, "
			 "first %s): give the files of the build the snapshot was taken of (--sysroot DIR)",
			 differ, first_differ);
		return -1;
	}
	for (size_t i = 0; warn && i < p->n_modules; i++) {
		const char *expected, *found_hex, *found_path;
		if (symdb_module_check(p->db, p->modules[i], &expected, &found_hex, &found_path) !=
		    SYMDB_MISMATCH)
			continue;
		fprintf(warn, "memtop: symbolize: %s: build-id differs from the snapshot's (snapshot %s, "
			"%s has %s); its frames are left unresolved\n", p->modules[i], expected,
			found_path, found_hex[0] ? found_hex : "none");
	}
	return 0;
}

int snapshot_symbolize(FILE *in, FILE *out, FILE *warn, const char *sysroot, char *err, size_t errlen)
{
	return snapshot_symbolize_pid(in, 0, out, warn, sysroot, err, errlen);
}

int snapshot_symbolize_pid(FILE *in, int pid, FILE *out, FILE *warn, const char *sysroot, char *err,
			   size_t errlen)
{
	char *text = read_all(in);
	if (!text) {
		snprintf(err, errlen, "cannot read the snapshot");
		return -1;
	}
	/* a report of a process tree: one process's snapshot, symbolized with its own maps */
	if (snapdoc_select(text, pid, err, errlen) != 0) {
		free(text);
		return -1;
	}
	if (strncmp(text, "# memtop snapshot\n", 18) != 0) {
		snprintf(err, errlen, "not a memtop snapshot (no '# memtop snapshot' first line)");
		free(text);
		return -1;
	}
	char *maps = strstr(text, "\n## maps\n");
	if (!maps) {
		snprintf(err, errlen, "the snapshot has no '## maps' section: cannot symbolize it");
		free(text);
		return -1;
	}
	char *maps_body = strdup(maps + 9);
	char *end = maps_body ? strstr(maps_body, "## end") : NULL;
	if (end)
		*end = '\0';
	if (maps_body && !strchr(maps_body, '/')) {
		/* no file mapped: every frame would stay raw, and a silent copy would pass for a result */
		snprintf(err, errlen, "the snapshot's memory map is empty: its addresses cannot be "
			 "symbolized");
		free(maps_body);
		free(text);
		return -1;
	}
	struct symdb *db = maps_body ? symdb_new(maps_body, sysroot, err, errlen) : NULL;
	free(maps_body);
	if (!db) {
		free(text);
		return -1;
	}
	symbolize_expect_modules(db, text);
	struct symbolize_pass p = {.db = db};
	symbolize_pass(&p, text);
	int rc = symbolize_check_modules(&p, warn, err, errlen);
	if (rc == 0) {
		p.out = out;
		symbolize_pass(&p, text);
		rc = ferror(out) ? -1 : 0;
		if (rc)
			snprintf(err, errlen, "write error: %s", strerror(errno));
	}
	free(p.modules);
	symdb_free(db);
	free(text);
	return rc;
}

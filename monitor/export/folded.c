/* folded: Brendan Gregg's folded stacks, one line per call site, outermost frame first
 * (`root;...;leaf VALUE`), inline frames as frames of their own. Never writes a line of value 0
 * and never a name holding the format's separators (';' and newlines become ':' and ' '). */
#include "export/export.h"

#include <inttypes.h>
#include <string.h>

static void put_name(FILE *out, const struct snapdoc_frame *f)
{
	if (!f->func) {
		if (f->module)
			fprintf(out, "%s+0x%" PRIx64, f->module, f->module_off);
		else
			fprintf(out, "0x%" PRIx64, f->pc);
		return;
	}
	for (const char *p = f->func; *p; p++)
		fputc(*p == ';' ? ':' : (unsigned char)*p < 0x20 ? ' ' : *p, out);
}

static uint64_t site_value(const struct snapdoc_site *s, enum export_value v)
{
	switch (v) {
	case EXPORT_LIVE_BLOCKS: return s->live_blocks;
	case EXPORT_ALLOCS: return s->has_totals ? s->allocs : s->live_blocks;
	case EXPORT_BYTES: return s->has_totals ? s->bytes_allocated : s->live_bytes;
	case EXPORT_LIVE_BYTES: break;
	}
	return s->live_bytes;
}

int folded_write(const struct snapdoc *d, enum export_value v, FILE *out)
{
	for (size_t i = 0; i < d->n_sites; i++) {
		const struct snapdoc_site *s = &d->sites[i];
		uint64_t value = site_value(s, v);
		if (!value)
			continue;
		if (!s->n_frames)
			fputs("[no stack]", out);
		for (size_t k = s->n_frames; k-- > 0;) {
			put_name(out, &d->frames[s->first_frame + k]);
			if (k)
				fputc(';', out);
		}
		if (d->is_diff)
			fprintf(out, " %" PRId64 "\n", (int64_t)value);
		else
			fprintf(out, " %" PRIu64 "\n", value);
	}
	return ferror(out) ? -1 : 0;
}

/* export: picks the format and, for a live session, goes through a text snapshot held in memory so
 * that every format says exactly what the text would. Never writes a partial file silently: any
 * failure is returned with its reason. */
#include "export/export.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool export_format_parse(const char *name, enum export_format *f)
{
	static const char *const names[] = {"text", "pprof", "folded", "massif"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(name, names[i]) == 0) {
			*f = (enum export_format)i;
			return true;
		}
	return false;
}

bool export_value_parse(const char *name, enum export_value *v)
{
	static const char *const names[] = {"live-bytes", "live-blocks", "allocs", "bytes"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(name, names[i]) == 0) {
			*v = (enum export_value)i;
			return true;
		}
	return false;
}

int export_write(const struct snapdoc *d, const struct export_options *o, FILE *out, char *err,
		 size_t errlen)
{
	int rc;
	switch (o->format) {
	case EXPORT_PPROF:
		return pprof_write(d, out, err, errlen);
	case EXPORT_FOLDED:
		rc = folded_write(d, o->value, out);
		break;
	case EXPORT_MASSIF:
		rc = massif_write(d, out);
		break;
	case EXPORT_TEXT:
	default:
		snprintf(err, errlen, "the text format is the snapshot itself");
		return -1;
	}
	if (rc)
		snprintf(err, errlen, "write error: %s", errno ? strerror(errno) : "out of memory");
	return rc;
}

int export_session(struct session *s, FILE *out, const struct snapshot_options *so,
		   const struct export_options *eo, char *err, size_t errlen)
{
	if (eo->format == EXPORT_TEXT)
		return snapshot_write(s, out, so, err, errlen);
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	if (!mem) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	struct snapshot_options all = *so;
	all.all_sites = true;
	int rc = snapshot_write(s, mem, &all, err, errlen);
	if (fclose(mem) != 0 && rc == 0) {
		snprintf(err, errlen, "out of memory");
		rc = -1;
	}
	if (rc) {
		free(text);
		return rc;
	}
	struct snapdoc *d = snapdoc_parse(text, err, errlen); /* takes text */
	if (!d)
		return -1;
	rc = export_write(d, eo, out, err, errlen);
	snapdoc_free(d);
	return rc;
}

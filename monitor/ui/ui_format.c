/* ui_format: number, size, time and frame formatting for the dashboard.
 * Pure string work: must never call curses or read the model (ui_format.h explains each form). */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "ui_format.h"

char *ui_fmt_count(char *buf, size_t n, uint64_t v)
{
	char digits[32];
	int len = snprintf(digits, sizeof digits, "%" PRIu64, v);
	char out[48];
	int o = 0;
	for (int i = 0; i < len; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
	snprintf(buf, n, "%s", out);
	return buf;
}

char *ui_fmt_count_signed(char *buf, size_t n, int64_t v)
{
	char mag[48];
	uint64_t abs = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	ui_fmt_count(mag, sizeof mag, abs);
	snprintf(buf, n, "%s%s", v > 0 ? "+" : v < 0 ? "-" : "", mag);
	return buf;
}

char *ui_fmt_rate_count(char *buf, size_t n, double v)
{
	if (!(v > 0)) /* also catches NaN */
		return ui_fmt_count(buf, n, 0);
	return ui_fmt_count(buf, n, v < 1e19 ? (uint64_t)(v + 0.5) : UINT64_MAX);
}

static const char unit_letters[] = "KMGTPE";

char *ui_fmt_bytes_short(char *buf, size_t n, uint64_t v)
{
	if (v < 100000) {
		snprintf(buf, n, "%" PRIu64, v);
		return buf;
	}
	double d = (double)v / 1024.0;
	int u = 0;
	/* 999.95 would print as "1000.0": move to the next unit before that happens. */
	while (d >= 999.95 && u < 5) {
		d /= 1024.0;
		u++;
	}
	snprintf(buf, n, "%.1f%c", d, unit_letters[u]);
	return buf;
}

char *ui_fmt_bytes_signed(char *buf, size_t n, int64_t v)
{
	char mag[24];
	uint64_t abs = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	ui_fmt_bytes_short(mag, sizeof mag, abs);
	snprintf(buf, n, "%s%s", v > 0 ? "+" : v < 0 ? "-" : "", mag);
	return buf;
}

char *ui_fmt_bytes_human(char *buf, size_t n, uint64_t v)
{
	static const char *units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	if (v < 1024) {
		snprintf(buf, n, "%" PRIu64 " B", v);
		return buf;
	}
	double d = (double)v / 1024.0;
	int u = 0;
	while (d >= 1023.95 && u < 5) {
		d /= 1024.0;
		u++;
	}
	snprintf(buf, n, "%.1f %s", d, units[u]);
	return buf;
}

char *ui_fmt_rate(char *buf, size_t n, double v)
{
	if (!(v > 0)) { /* also catches NaN */
		snprintf(buf, n, "0");
		return buf;
	}
	if (v < 10000) {
		snprintf(buf, n, "%.0f", v);
		return buf;
	}
	int u = 0;
	v /= 1000.0;
	while (v >= 999.95 && u < 5) {
		v /= 1000.0;
		u++;
	}
	snprintf(buf, n, "%.1f%c", v, unit_letters[u]);
	return buf;
}

char *ui_fmt_age(char *buf, size_t n, uint64_t ns)
{
	uint64_t s = ns / 1000000000ull;
	if (s < 60)
		snprintf(buf, n, "%" PRIu64 "s", s);
	else if (s < 3600)
		snprintf(buf, n, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, n, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, (s % 3600) / 60);
	else
		snprintf(buf, n, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, (s % 86400) / 3600);
	return buf;
}

char *ui_fmt_uptime(char *buf, size_t n, uint64_t ns)
{
	uint64_t s = ns / 1000000000ull;
	uint64_t d = s / 86400;
	s %= 86400;
	if (d)
		snprintf(buf, n, "%" PRIu64 "d %02" PRIu64 ":%02" PRIu64 ":%02" PRIu64, d, s / 3600,
			 (s % 3600) / 60, s % 60);
	else
		snprintf(buf, n, "%02" PRIu64 ":%02" PRIu64 ":%02" PRIu64, s / 3600, (s % 3600) / 60, s % 60);
	return buf;
}

bool ui_signal_is_crash(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL || sig == SIGABRT ||
	       sig == SIGTRAP || sig == SIGSYS;
}

const char *ui_basename(const char *path)
{
	if (!path)
		return "";
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

char *ui_fmt_frame(char *buf, size_t n, const struct model_frame *f)
{
	if (f->func && f->file && f->line > 0)
		snprintf(buf, n, "%s %s:%d", f->func, ui_basename(f->file), f->line);
	else if (f->func && f->module)
		snprintf(buf, n, "%s %s+0x%" PRIx64, f->func, ui_basename(f->module), f->module_off);
	else if (f->func)
		snprintf(buf, n, "%s", f->func);
	else if (f->module)
		snprintf(buf, n, "%s+0x%" PRIx64, ui_basename(f->module), f->module_off);
	else if (f->pc)
		snprintf(buf, n, "0x%" PRIx64, f->pc);
	else
		snprintf(buf, n, "(no stack)");
	return buf;
}

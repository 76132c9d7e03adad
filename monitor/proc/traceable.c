/* traceable: refuses, before the start, a command that LD_PRELOAD cannot reach (setuid or setgid
 * that changes ids, file capabilities, static, or a script whose interpreter is any of these), so
 * that memtop says why at once instead of waiting for a segment that never comes. Reads files and
 * their attributes only; never runs, writes or opens anything for writing. */
#include "proc/traceable.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#define TRACEABLE_SCRIPT_DEPTH 4 /* the kernel follows at most this many #! interpreters */

/* execvp's search: the first executable regular file along PATH (glibc's default when unset). */
static bool traceable_resolve(const char *cmd, char *out, size_t len)
{
	if (strchr(cmd, '/')) {
		snprintf(out, len, "%s", cmd);
		return true;
	}
	const char *path = getenv("PATH");
	if (!path)
		path = "/bin:/usr/bin";
	for (const char *p = path;; ) {
		const char *end = strchrnul(p, ':');
		int n = (int)(end - p);
		struct stat st;
		snprintf(out, len, "%.*s%s%s", n, p, n ? "/" : "", cmd);
		if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
			return true;
		if (!*end)
			return false;
		p = end + 1;
	}
}

/* Whether the kernel would honour set-id bits here at all (nosuid mount, no_new_privs). */
static bool traceable_setid_honoured(const char *path)
{
	struct statvfs vfs;
	if (statvfs(path, &vfs) == 0 && (vfs.f_flag & ST_NOSUID))
		return false;
	FILE *f = fopen("/proc/self/status", "re");
	char line[128];
	bool nnp = false;
	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, "NoNewPrivs:", 11) == 0)
			nnp = atoi(line + 11) != 0;
	if (f)
		fclose(f);
	return !nnp;
}

/* Secure mode (AT_SECURE) comes from ids that change at exec, or from file capabilities for
 * anybody but root. */
static const char *traceable_secure_reason(const char *path, const struct stat *st, char *buf,
					   size_t len)
{
	bool setuid = (st->st_mode & S_ISUID) && st->st_uid != getuid();
	bool setgid = (st->st_mode & S_ISGID) && (st->st_mode & S_IXGRP) && st->st_gid != getgid();
	if ((setuid || setgid) && traceable_setid_honoured(path)) {
		snprintf(buf, len, "is set%cid (%s %u)", setuid ? 'u' : 'g',
			 setuid ? "owner uid" : "group gid",
			 setuid ? (unsigned)st->st_uid : (unsigned)st->st_gid);
		return buf;
	}
	if (getuid() != 0 && getxattr(path, "security.capability", NULL, 0) > 0)
		return "has file capabilities (security.capability)";
	return NULL;
}

/* -1: an ELF without a program interpreter (static); 0: dynamic, or not an ELF file we know. */
static int traceable_elf_static(int fd)
{
	unsigned char ident[EI_NIDENT];
	if (pread(fd, ident, sizeof ident, 0) != (ssize_t)sizeof ident || memcmp(ident, ELFMAG, SELFMAG))
		return 0;
	uint64_t phoff;
	unsigned phnum, phentsize;
	if (ident[EI_CLASS] == ELFCLASS64) {
		Elf64_Ehdr eh;
		if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh)
			return 0;
		phoff = eh.e_phoff, phnum = eh.e_phnum, phentsize = eh.e_phentsize;
	} else if (ident[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr eh;
		if (pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh)
			return 0;
		phoff = eh.e_phoff, phnum = eh.e_phnum, phentsize = eh.e_phentsize;
	} else {
		return 0;
	}
	if (phentsize < sizeof(uint32_t) || phnum > 4096)
		return 0;
	for (unsigned i = 0; i < phnum; i++) {
		uint32_t type; /* p_type is the first word in both classes */
		if (pread(fd, &type, sizeof type, (off_t)(phoff + (uint64_t)i * phentsize)) != sizeof type)
			return 0;
		if (type == PT_INTERP)
			return 0;
	}
	return -1;
}

/* The interpreter of a "#!" script and, for "/usr/bin/env NAME", NAME resolved through PATH. */
static bool traceable_interpreter(int fd, char *out, size_t len)
{
	char line[256];
	ssize_t n = pread(fd, line, sizeof line - 1, 0);
	if (n < 3 || line[0] != '#' || line[1] != '!')
		return false;
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	char *interp = line + 2 + strspn(line + 2, " \t");
	char *arg = interp + strcspn(interp, " \t");
	if (*arg) {
		*arg++ = '\0';
		arg += strspn(arg, " \t");
		arg[strcspn(arg, " \t")] = '\0';
	}
	if (!*interp)
		return false;
	const char *base = strrchr(interp, '/');
	if (strcmp(base ? base + 1 : interp, "env") == 0 && *arg && *arg != '-')
		return traceable_resolve(arg, out, len);
	snprintf(out, len, "%s", interp);
	return true;
}

static int traceable_file(const char *path, int depth, char *why, size_t len)
{
	char reason[128], interp[PATH_MAX];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return 0; /* unreadable: execvp will have its say, or the program runs and we see */
	}
	const char *secure = traceable_secure_reason(path, &st, reason, sizeof reason);
	int rc = 0;
	if (secure) {
		snprintf(why, len, "%s %s: the kernel runs it in secure mode, where the loader ignores "
			 "LD_PRELOAD", path, secure);
		rc = -1;
	} else if (traceable_elf_static(fd) != 0) {
		snprintf(why, len, "%s is statically linked (no program interpreter), so nothing loads "
			 "LD_PRELOAD into it", path);
		rc = -1;
	} else if (depth < TRACEABLE_SCRIPT_DEPTH && traceable_interpreter(fd, interp, sizeof interp)) {
		char inner[768];
		if (traceable_file(interp, depth + 1, inner, sizeof inner) != 0) {
			snprintf(why, len, "%s is a script, and its interpreter %s", path, inner);
			rc = -1;
		}
	}
	close(fd);
	return rc;
}

int traceable_check_path(const char *path, char *why, size_t len)
{
	return traceable_file(path, 0, why, len);
}

int traceable_check(const char *cmd, char *why, size_t len)
{
	char path[PATH_MAX];
	if (!traceable_resolve(cmd, path, sizeof path))
		return 0;
	return traceable_file(path, 0, why, len);
}

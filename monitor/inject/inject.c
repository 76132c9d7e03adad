/* inject: the `memtop inject [--undo] PID` command (inject.h): checks that the target can be
 * injected safely (refusing with one line otherwise, before touching it), then dlopen's
 * libmemtop.so in one of its threads and calls the library's start (or undo) entry point. Never
 * leaves the target stopped or changed when something fails. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memtop/inject.h"
#include "memtop/segment.h"
#include "inject/inject.h"
#include "inject/inject_elf.h"
#include "inject/inject_ptrace.h"

#define INJECT_CALL_MS 10000 /* longest a call in the target may take (dlopen reads files) */
#define INJECT_ENTRY_WAIT_MS 3000 /* longest wait for a busy thread to enter malloc */

static int say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("memtop: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	return 1;
}

/* TracerPid of any thread of pid (0 when none). */
static pid_t tracer_of(pid_t pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	FILE *f = fopen(path, "re");
	long tracer = 0;
	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "TracerPid: %ld", &tracer) == 1)
			break;
	fclose(f);
	return (pid_t)tracer;
}

static void comm_of(pid_t pid, char *buf, size_t len)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
	FILE *f = fopen(path, "re");
	buf[0] = '\0';
	if (f) {
		if (fgets(buf, (int)len, f))
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
	}
	if (!buf[0])
		snprintf(buf, len, "?");
}

/* Why ptrace was refused, in words that say what to do. */
static int say_not_permitted(pid_t pid)
{
	struct stat st;
	char path[64];
	snprintf(path, sizeof path, "/proc/%d", (int)pid);
	if (stat(path, &st) == 0 && st.st_uid != geteuid() && geteuid() != 0)
		return say("process %d belongs to uid %u: run memtop inject as that user or as root",
			   (int)pid, (unsigned)st.st_uid);
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
	int scope = 0;
	if (f) {
		if (fscanf(f, "%d", &scope) != 1)
			scope = 0;
		fclose(f);
	}
	if (scope >= 3)
		return say("kernel.yama.ptrace_scope=3 forbids ptrace until reboot: memtop inject cannot "
			   "work on this machine");
	if (scope >= 1)
		return say("kernel.yama.ptrace_scope=%d forbids attaching to process %d: run memtop "
			   "inject as root (CAP_SYS_PTRACE) or allow it with 'sysctl "
			   "kernel.yama.ptrace_scope=0'", scope, (int)pid);
	return say("ptrace of process %d is not permitted (a container without CAP_SYS_PTRACE, or a "
		   "security module): run memtop inject with CAP_SYS_PTRACE", (int)pid);
}

/* The refusals that need no ptrace: gone, ourselves, static, other architecture, traced, no libc,
 * a library path the target cannot open. Returns 0 when the target may be injected. */
static int precheck(pid_t pid, const char *lib, bool undo, struct inject_object *libc)
{
	int machine = 0, elfclass = 0;
	bool dynamic = false;
	char comm[64];
	if (pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH))
		return say("no process %d", (int)pid);
	if (pid == getpid())
		return say("memtop cannot inject itself");
	if (inject_exe_kind(pid, &machine, &elfclass, &dynamic) != 0)
		return errno == EACCES || errno == EPERM ? say_not_permitted(pid)
			: say("cannot read the executable of process %d", (int)pid);
	if (elfclass != ELFCLASS64 || machine != inject_arch_machine())
		return say("process %d is built for another architecture (ELF machine %d, class %d): "
			   "memtop inject supports x86_64 only", (int)pid, machine, elfclass);
	if (!dynamic)
		return say("process %d is statically linked (no dynamic loader): memtop inject cannot "
			   "load a library into it", (int)pid);
	pid_t tracer = tracer_of(pid);
	if (tracer) {
		comm_of(tracer, comm, sizeof comm);
		return say("process %d is already under ptrace by process %d (%s): detach it first",
			   (int)pid, (int)tracer, comm);
	}
	if (inject_find_object(pid, "libc", libc) != 0)
		return say("process %d has no glibc (libc.so.6) mapped: memtop inject supports "
			   "glibc processes only", (int)pid);
	if (undo)
		return 0;
	char there[PATH_MAX + 64];
	struct stat ours, theirs;
	snprintf(there, sizeof there, "/proc/%d/root%s", (int)pid, lib);
	if (stat(lib, &ours) != 0 || stat(there, &theirs) != 0 || ours.st_dev != theirs.st_dev ||
	    ours.st_ino != theirs.st_ino)
		return say("process %d cannot open %s (it runs in another mount namespace or container): "
			   "install libmemtop.so where it can see it", (int)pid, lib);
	return 0;
}

/* dlopen(path) in the target. Returns 0, or -1 with the loader's own message in err. */
static int remote_dlopen(struct inject_thread *t, const struct inject_object *libc,
			 const char *path, char *err, size_t errlen)
{
	uint64_t fn_open, fn_err = 0, handle = 0;
	uint64_t flags = RTLD_NOW | RTLD_LOCAL;
	if (inject_symbol(t->pid, libc, "dlopen", &fn_open) != 0) {
		if (inject_symbol(t->pid, libc, "__libc_dlopen_mode", &fn_open) != 0) {
			snprintf(err, errlen, "no dlopen in %.300s (glibc older than 2.34 without libdl?)",
				 libc->path);
			return -1;
		}
		flags |= 0x80000000u; /* __RTLD_DLOPEN: as dlopen itself passes it */
	}
	uint64_t args[2] = {t->str_addr, flags};
	if (inject_put_string(t, path) != 0) {
		snprintf(err, errlen, "cannot write the library path into the target");
		return -1;
	}
	if (inject_call(t, fn_open, args, 2, &handle, INJECT_CALL_MS, err, errlen) != 0)
		return -1;
	if (handle)
		return 0;
	uint64_t msg = 0;
	char why[256] = "unknown reason";
	if (inject_symbol(t->pid, libc, "dlerror", &fn_err) == 0 &&
	    inject_call(t, fn_err, NULL, 0, &msg, INJECT_CALL_MS, err, errlen) == 0 && msg)
		inject_read_string(t, msg, why, sizeof why);
	snprintf(err, errlen, "dlopen in the target failed: %s", why);
	return -1;
}

/* Calls the library's start or undo entry. Returns its result, or -1000 (err) on failure. */
static long remote_entry(struct inject_thread *t, const char *lib_path, const char *name,
			 char *err, size_t errlen)
{
	struct inject_object obj;
	uint64_t fn, rc = 0;
	if (inject_find_object_path(t->pid, lib_path, &obj) != 0 ||
	    inject_symbol(t->pid, &obj, name, &fn) != 0) {
		snprintf(err, errlen, "%.300s has no %s (a libmemtop.so of another version?)", lib_path,
			 name);
		return -1000;
	}
	if (inject_call(t, fn, NULL, 0, &rc, INJECT_CALL_MS, err, errlen) != 0)
		return -1000;
	return (long)(int)rc;
}

static int report(pid_t pid, bool undo, long rc, const char *lib)
{
	if (undo && rc == MEMTOP_INJECT_TRACING) {
		printf("memtop: process %d: allocation calls put back (the library stays loaded, "
		       "inert)\n", (int)pid);
		return 0;
	}
	if (undo && rc == MEMTOP_INJECT_NOT_INJECTED)
		return say("process %d was not injected: nothing to undo", (int)pid);
	if (rc == MEMTOP_INJECT_TRACING) {
		printf("memtop: process %d is traced from now on: memtop %d, memtop snapshot %d\n",
		       (int)pid, (int)pid, (int)pid);
		return 0;
	}
	if (rc == MEMTOP_INJECT_PRELOADED) {
		printf("memtop: process %d already runs with %s preloaded: nothing to do\n", (int)pid,
		       lib);
		return 0;
	}
	return say("libmemtop.so could not start in process %d: %s (it stays loaded, inert)",
		   (int)pid, strerror((int)-rc));
}

/* The path of a libmemtop.so already mapped in the target, if any (preloaded or injected). */
static bool mapped_library(pid_t pid, char *out, size_t len)
{
	struct inject_object obj;
	if (inject_find_object(pid, "libmemtop", &obj) != 0)
		return false;
	snprintf(out, len, "%s", obj.path);
	return true;
}

/* A thread waiting in a lock-free system call; when every thread is busy, the first one that
 * enters libc's malloc (where no allocator lock is held). */
static int take_thread(pid_t pid, const struct inject_object *libc, struct inject_thread *t,
		       size_t str_cap, int *denied, char *err, size_t errlen)
{
	int rc = inject_take_thread(pid, libc, t, str_cap, denied, err, errlen);
	if (rc != -2)
		return rc;
	struct inject_object ldso;
	uint64_t malloc_at;
	if (inject_symbol(pid, libc, "malloc", &malloc_at) != 0)
		return -1;
	bool have_ldso = inject_find_object(pid, "ld-linux", &ldso) == 0;
	return inject_take_at_entry(pid, malloc_at, have_ldso ? &ldso : NULL, t, str_cap,
				    INJECT_ENTRY_WAIT_MS, denied, err, errlen);
}

/* A preloaded process (its segment is not marked INJECTED) needs nothing: said without touching
 * it. Read once, untrusted: only the magic, pid and flags words are looked at. */
static bool preloaded(pid_t pid)
{
	char name[64];
	struct memtop_seg_header h;
	snprintf(name, sizeof name, "/dev/shm/memtop.%d", (int)pid);
	int fd = open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	ssize_t n = pread(fd, &h, sizeof h, 0);
	close(fd);
	return n == (ssize_t)sizeof h && h.magic == MEMTOP_SEG_MAGIC && h.pid == pid &&
	       !(h.flags & MEMTOP_FLAG_INJECTED);
}

int inject_pid(pid_t pid, const char *lib, bool undo)
{
	struct inject_object libc;
	struct inject_thread t;
	char err[512] = "", path[PATH_MAX];
	int denied = 0;
	if (precheck(pid, lib, undo, &libc) != 0)
		return 1;
	bool loaded = mapped_library(pid, path, sizeof path);
	if (undo && (!loaded || preloaded(pid)))
		return say("process %d was not injected: nothing to undo", (int)pid);
	if (loaded && preloaded(pid))
		return report(pid, undo, MEMTOP_INJECT_PRELOADED, path);
	if (!loaded)
		snprintf(path, sizeof path, "%s", lib);
	if (take_thread(pid, &libc, &t, strlen(path) + 1, &denied, err, sizeof err) != 0)
		return denied ? say_not_permitted(pid) : say("%s", err);
	long rc = -1000;
	if (loaded || remote_dlopen(&t, &libc, path, err, sizeof err) == 0)
		rc = remote_entry(&t, path, undo ? MEMTOP_INJECT_UNDO : MEMTOP_INJECT_START, err,
				  sizeof err);
	char rel_err[256] = "";
	int released = inject_release(&t, rel_err, sizeof rel_err);
	if (rc == -1000)
		return say("inject into process %d failed: %s%s%s", (int)pid, err,
			   released ? "; " : "", released ? rel_err : "");
	if (released != 0)
		return say("process %d: %s", (int)pid, rel_err);
	return report(pid, undo, rc, path);
}

int inject_command(int argc, char **argv, const char *lib)
{
	bool undo = false;
	const char *pid_arg = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--undo") == 0)
			undo = true;
		else if (!pid_arg && argv[i][0] >= '0' && argv[i][0] <= '9')
			pid_arg = argv[i];
		else
			return say("inject: unexpected argument '%s' (usage: memtop inject [--undo] PID)",
				   argv[i]) + 1;
	}
	if (!pid_arg)
		return say("inject needs a pid: memtop inject [--undo] PID") + 1;
	char *end;
	long pid = strtol(pid_arg, &end, 10);
	if (*end || pid <= 0 || pid > INT_MAX)
		return say("inject: '%s' is not a pid", pid_arg) + 1;
	if (!undo && !lib)
		return 2; /* the caller said why libmemtop.so was not found */
	return inject_pid((pid_t)pid, lib, undo);
}

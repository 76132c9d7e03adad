/* Interposed uid changes (setuid, seteuid, setreuid, setresuid): a root process that takes another
 * effective uid (nginx, postgres and sshd workers) could no longer unlink its root-owned segment in
 * the sticky /dev/shm, so before the change the segment is handed to the new uid (and back if the
 * change fails). Arguments, result and errno pass through unchanged; never from a vfork child.
 * The gid calls are not hooked: the segment is mode 0600 and the sticky bit checks only the uid. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "preload.h"

/* The segment as handed over, to undo it when the uid change fails. */
struct preload_handover {
	int fd;      /* -1: nothing was handed over */
	uid_t owner; /* owner before */
};

static void *preload_ids_real(void **cache, const char *name)
{
	void *fn = __atomic_load_n(cache, __ATOMIC_ACQUIRE);
	if (!fn) {
		int saved = errno;
		preload_tls.guard++; /* dlsym may allocate */
		fn = dlsym(RTLD_NEXT, name);
		preload_tls.guard--;
		errno = saved;
		__atomic_store_n(cache, fn, __ATOMIC_RELEASE);
	}
	return fn;
}

/* Opens the name only if it is still our segment (same pid and creation time as our mapping). */
static int preload_segment_reopen(struct stat *st)
{
	char name[64];
	struct memtop_seg_header h;
	shm_segment_name(preload_seg.pid, name, sizeof name);
	int fd = shm_open(name, O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (fstat(fd, st) == 0 && S_ISREG(st->st_mode) &&
	    pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h && h.pid == preload_seg.hdr->pid &&
	    h.created_monotonic_ns == preload_seg.hdr->created_monotonic_ns)
		return fd;
	close(fd);
	return -1;
}

/* Before a change to effective uid `euid` (-1: unchanged): while we are root, give the segment to
 * the uid the process is about to run as. */
static struct preload_handover preload_hand_over(uid_t euid)
{
	struct preload_handover ho = {.fd = -1};
	if (euid == (uid_t)-1 || euid == 0 || geteuid() != 0 ||
	    __atomic_load_n(&preload_state, __ATOMIC_ACQUIRE) != PRELOAD_ACTIVE ||
	    preload_in_vfork_child())
		return ho;
	struct stat st;
	int saved = errno;
	preload_tls.guard++;
	int fd = preload_segment_reopen(&st);
	if (fd >= 0 && st.st_uid != euid && fchown(fd, euid, (gid_t)-1) == 0) {
		ho.fd = fd;
		ho.owner = st.st_uid;
		__atomic_store_n(&preload_seg.hdr->uid, (uint32_t)euid, __ATOMIC_RELAXED);
	} else if (fd >= 0) {
		close(fd);
	}
	preload_tls.guard--;
	errno = saved;
	return ho;
}

/* After the real call: a failed change leaves us root, so the segment goes back to its owner. */
static int preload_hand_over_done(struct preload_handover ho, int rc)
{
	if (ho.fd < 0)
		return rc;
	int saved = errno;
	if (rc != 0 && fchown(ho.fd, ho.owner, (gid_t)-1) == 0)
		__atomic_store_n(&preload_seg.hdr->uid, (uint32_t)ho.owner, __ATOMIC_RELAXED);
	close(ho.fd);
	errno = saved;
	return rc;
}

#define PRELOAD_IDS_REAL(type, name) ((type)preload_ids_real(&preload_real_##name, #name))
static void *preload_real_setuid, *preload_real_seteuid, *preload_real_setreuid,
	*preload_real_setresuid;

PRELOAD_EXPORT int setuid(uid_t uid)
{
	int (*real)(uid_t) = PRELOAD_IDS_REAL(int (*)(uid_t), setuid);
	struct preload_handover ho = preload_hand_over(uid);
	return preload_hand_over_done(ho, real(uid));
}

PRELOAD_EXPORT int seteuid(uid_t euid)
{
	int (*real)(uid_t) = PRELOAD_IDS_REAL(int (*)(uid_t), seteuid);
	struct preload_handover ho = preload_hand_over(euid);
	return preload_hand_over_done(ho, real(euid));
}

PRELOAD_EXPORT int setreuid(uid_t ruid, uid_t euid)
{
	int (*real)(uid_t, uid_t) = PRELOAD_IDS_REAL(int (*)(uid_t, uid_t), setreuid);
	struct preload_handover ho = preload_hand_over(euid);
	return preload_hand_over_done(ho, real(ruid, euid));
}

PRELOAD_EXPORT int setresuid(uid_t ruid, uid_t euid, uid_t suid)
{
	int (*real)(uid_t, uid_t, uid_t) = PRELOAD_IDS_REAL(int (*)(uid_t, uid_t, uid_t), setresuid);
	struct preload_handover ho = preload_hand_over(euid);
	return preload_hand_over_done(ho, real(ruid, euid, suid));
}

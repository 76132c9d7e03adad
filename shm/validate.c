/* MONITOR side: open a segment and check every field of its header before any other read trusts it.
 * The image is untrusted (a crashed or hostile target can write anything, or shrink the file):
 * every offset, count and size is range-checked with overflow-safe arithmetic. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guard.h"
#include "internal.h"

#define SEG_SIZE_MAX (1ull << 40) /* the fixed part stays under 4 GiB; the live table may not */

struct region {
	const char *name;
	uint64_t off, count, elsize;
};

static int fail(char *err, size_t errlen, const char *fmt, const char *what)
{
	snprintf(err, errlen, fmt, what);
	return -EINVAL;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static int check_regions(const struct memtop_seg_header *h, uint64_t size, char *err, size_t errlen)
{
	struct region r[] = {
		{"thread table", h->threads_off, h->threads_count, sizeof(struct memtop_thread_slot)},
		{"stack table", h->stacks_off, h->stacks_cap, sizeof(struct memtop_stack)},
		{"stack index", h->stack_index_off, h->stack_index_cap, sizeof(uint32_t)},
		{"frame arena", h->frames_off, h->frames_cap, sizeof(uint64_t)},
		{"event ring", h->ring_off, h->ring_cap, sizeof(struct memtop_record)},
		{"tag table", h->tags_off, h->tags_cap, sizeof(struct memtop_tag)},
	};
	size_t n = sizeof r / sizeof r[0];
	for (size_t i = 0; i < n; i++) {
		/* count <= 2^32 and elsize <= 2^10, so the product cannot overflow 64 bits */
		uint64_t bytes = r[i].count * r[i].elsize;
		if (r[i].count == 0)
			return fail(err, errlen, "corrupted segment: %s is empty", r[i].name);
		if (r[i].off % 8)
			return fail(err, errlen, "corrupted segment: %s is misaligned", r[i].name);
		if (r[i].off < sizeof *h || r[i].off > size || bytes > size - r[i].off)
			return fail(err, errlen, "corrupted segment: %s lies outside the segment", r[i].name);
		for (size_t j = 0; j < i; j++) {
			uint64_t jb = r[j].count * r[j].elsize;
			if (r[i].off < r[j].off + jb && r[j].off < r[i].off + bytes)
				return fail(err, errlen, "corrupted segment: %s overlaps another region",
					    r[i].name);
		}
	}
	return 0;
}

int shm_segment_validate(const void *base, size_t size, char *err, size_t errlen)
{
	if (size < sizeof(struct memtop_seg_header))
		return fail(err, errlen, "corrupted segment: %s", "smaller than its header");
	return shm_header_validate(base, size, err, errlen);
}

int shm_header_validate(const struct memtop_seg_header *h, size_t size, char *err, size_t errlen)
{
	if (h->magic != MEMTOP_SEG_MAGIC)
		return fail(err, errlen, "not a memtop segment: %s", "bad magic number");
	if (h->abi_version != MEMTOP_ABI_VERSION) {
		snprintf(err, errlen, "segment ABI version %u, this memtop reads version %u: use the "
			 "memtop built with the target's libmemtop.so", h->abi_version, MEMTOP_ABI_VERSION);
		return -EINVAL;
	}
	if (h->header_size != sizeof *h)
		return fail(err, errlen, "corrupted segment: %s", "bad header size");
	/* the file may be larger: the live table's chunks follow the fixed part */
	if (h->segment_size > size || h->segment_size < sizeof *h)
		return fail(err, errlen, "corrupted segment: %s", "size in header differs from the file size");
	size = (size_t)h->segment_size;
	if (h->pid <= 0)
		return fail(err, errlen, "corrupted segment: %s", "bad pid");
	if (memchr(h->exe, '\0', sizeof h->exe) == NULL)
		return fail(err, errlen, "corrupted segment: %s", "exe path not terminated");
	if (h->record_size != sizeof(struct memtop_record) ||
	    h->thread_slot_size != sizeof(struct memtop_thread_slot))
		return fail(err, errlen, "corrupted segment: %s", "bad record or slot size");
	if (!is_pow2(h->ring_cap) || h->ring_cap < SHM_RING_MIN || h->ring_cap > SHM_RING_MAX)
		return fail(err, errlen, "corrupted segment: %s", "bad ring capacity");
	if (!is_pow2(h->stack_index_cap) || h->stack_index_cap < h->stacks_cap)
		return fail(err, errlen, "corrupted segment: %s", "bad stack index capacity");
	if (h->threads_count < 2 || h->threads_count > 65535)
		return fail(err, errlen, "corrupted segment: %s", "bad thread table size");
	if (h->max_depth > MEMTOP_MAX_DEPTH)
		return fail(err, errlen, "corrupted segment: %s", "bad stack depth");
	int rc = check_regions(h, size, err, errlen);
	if (rc)
		return rc;
	if (!is_pow2(h->ring_lanes) || h->ring_lanes > MEMTOP_LANES_MAX ||
	    h->lane_cap < SHM_LANE_MIN_CAP || (uint64_t)h->lane_cap * h->ring_lanes != h->ring_cap)
		return fail(err, errlen, "corrupted segment: %s", "bad ring lanes");
	return 0;
}

static int open_checked_fd(pid_t pid, bool allow_other_uid, struct stat *st, char *err, size_t errlen)
{
	char name[64];
	shm_segment_name(pid, name, sizeof name);
	/* glibc's shm_open adds O_NOFOLLOW: a symlink planted in /dev/shm is refused (ELOOP). */
	int fd = shm_open(name, O_RDWR, 0);
	if (fd < 0) {
		int e = errno;
		if (e == ENOENT)
			snprintf(err, errlen, "process %d is not traced by memtop (no segment %s): load the "
				 "tracer into it with 'memtop inject %d', or start it with 'memtop run -- "
				 "CMD' or LD_PRELOAD=libmemtop.so", (int)pid, name, (int)pid);
		else if (e == EACCES)
			snprintf(err, errlen, "segment %s belongs to another user: run memtop as that user",
				 name);
		else
			snprintf(err, errlen, "cannot open segment %s: %s", name, strerror(e));
		return -e;
	}
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
		snprintf(err, errlen, "segment %s is not a regular file: refusing it", name);
		close(fd);
		return -EINVAL;
	}
	if (st->st_uid != geteuid() && !allow_other_uid) {
		snprintf(err, errlen, "segment %s belongs to uid %u, not to you (uid %u): refusing it",
			 name, (unsigned)st->st_uid, (unsigned)geteuid());
		close(fd);
		return -EPERM;
	}
	if ((uint64_t)st->st_size < sizeof(struct memtop_seg_header) ||
	    (uint64_t)st->st_size > SEG_SIZE_MAX) {
		snprintf(err, errlen, "corrupted segment %s: impossible size %lld bytes", name,
			 (long long)st->st_size);
		close(fd);
		return -EINVAL;
	}
	return fd;
}

/* Validates the mapped image under the SIGBUS guard (the file may shrink while we read it) and binds
 * the segment on success. */
static int validate_mapping(struct shm_segment *seg, pid_t pid, void *base, size_t size, char *err,
			    size_t errlen)
{
	volatile int rc = 0;
	/* Validate and bind one copy of the header: the target can rewrite its own at any time. A
	 * local, never TLS: this file is linked into the preload too, and the preload's TLS must stay
	 * initial-exec (tests/unit/check_preload_tls.sh). It is read only inside the guarded region. */
	struct memtop_seg_header h;
	if (size < sizeof h)
		return shm_segment_validate(base, size, err, errlen);
	SHM_GUARD_BEGIN {
		memcpy(&h, base, sizeof h);
		if (!(h.flags & MEMTOP_FLAG_READY)) {
			snprintf(err, errlen, "segment of process %d is not initialised yet", (int)pid);
			rc = -EAGAIN;
		} else {
			rc = shm_header_validate(&h, size, err, errlen);
		}
		if (rc == 0 && h.pid != pid) {
			snprintf(err, errlen, "corrupted segment: it names pid %d, not %d", h.pid, (int)pid);
			rc = -EINVAL;
		}
		if (rc == 0)
			shm_segment_bind(seg, base, size, &h);
	} SHM_GUARD_FAIL {
		snprintf(err, errlen, "segment of process %d was truncated while being read", (int)pid);
		rc = -EIO;
	} SHM_GUARD_END;
	return rc;
}

int shm_segment_open(struct shm_segment *seg, pid_t pid, bool allow_other_uid, char *err,
		     size_t errlen)
{
	struct stat st;
	memset(seg, 0, sizeof *seg);
	seg->fd = -1;
	int fd = open_checked_fd(pid, allow_other_uid, &st, err, errlen);
	if (fd < 0)
		return fd;
	size_t size = (size_t)st.st_size;
	shm_guard_install();
	void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		int e = errno;
		snprintf(err, errlen, "cannot map segment of process %d: %s", (int)pid, strerror(e));
		close(fd);
		return -e;
	}
	int rc = validate_mapping(seg, pid, base, size, err, errlen);
	if (rc) {
		munmap(base, size);
		close(fd);
		return rc;
	}
	seg->fd = fd;
	seg->pid = pid;
	return 0;
}

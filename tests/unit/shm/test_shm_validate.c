/* Unit tests of the MONITOR-side segment checks: every header field filled with garbage is rejected
 * with a reason that names the field; truncated files, symlinks, FIFOs and segments of another uid
 * are refused by shm_segment_open. Must never leave a /dev/shm entry behind. */
#include "shm_test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

/* ---- crafted images ---- */

enum mutate_op { OP_SET, OP_ADD, OP_XOR };

struct corrupt_case {
	const char *what;
	size_t field_off;
	size_t field_len; /* 4 or 8 */
	enum mutate_op op;
	uint64_t value;
	const char *expect; /* must appear in the reason */
};

#define HF(f) offsetof(struct memtop_seg_header, f), sizeof(((struct memtop_seg_header *)0)->f)

static const struct corrupt_case cases[] = {
	{"magic flipped", HF(magic), OP_XOR, 1, "magic"},
	{"magic zero", HF(magic), OP_SET, 0, "magic"},
	{"abi version", HF(abi_version), OP_SET, 99, "ABI version 99"},
	{"header size +8", HF(header_size), OP_ADD, 8, "header size"},
	{"header size 0", HF(header_size), OP_SET, 0, "header size"},
	{"segment size +4096", HF(segment_size), OP_ADD, 4096, "size in header"},
	{"segment size huge", HF(segment_size), OP_SET, UINT64_MAX, "size in header"},
	{"pid 0", HF(pid), OP_SET, 0, "pid"},
	{"pid negative", HF(pid), OP_SET, (uint32_t)-5, "pid"},
	{"record size", HF(record_size), OP_SET, 64, "record"},
	{"thread slot size", HF(thread_slot_size), OP_ADD, 8, "slot size"},
	{"ring cap not pow2", HF(ring_cap), OP_SET, 100, "ring capacity"},
	{"ring cap zero", HF(ring_cap), OP_SET, 0, "ring capacity"},
	{"ring cap below min", HF(ring_cap), OP_SET, SHM_RING_MIN / 2, "ring capacity"},
	{"ring cap above max", HF(ring_cap), OP_SET, (uint64_t)SHM_RING_MAX * 2, "ring capacity"},
	{"ring cap bigger than file", HF(ring_cap), OP_SET, SHM_RING_MAX, "event ring"},
	{"lanes not pow2", HF(ring_lanes), OP_SET, 3, "ring lanes"},
	{"lanes too many", HF(ring_lanes), OP_SET, 32, "ring lanes"},
	{"lane cap times lanes", HF(lane_cap), OP_ADD, 16, "ring lanes"},
	{"lane cap too small", HF(lane_cap), OP_SET, 8, "ring lanes"},
	{"stack index not pow2", HF(stack_index_cap), OP_SET, 33, "stack index capacity"},
	{"stack index < stacks", HF(stack_index_cap), OP_SET, 8, "stack index capacity"},
	{"thread count 1", HF(threads_count), OP_SET, 1, "thread table"},
	{"thread count 0", HF(threads_count), OP_SET, 0, "thread table"},
	{"thread count 70000", HF(threads_count), OP_SET, 70000, "thread table"},
	{"thread count past file", HF(threads_count), OP_SET, 60000, "thread table"},
	{"max depth 65", HF(max_depth), OP_SET, MEMTOP_MAX_DEPTH + 1, "stack depth"},
	{"threads off in header", HF(threads_off), OP_SET, 8, "thread table"},
	{"threads off past end", HF(threads_off), OP_SET, UINT64_MAX - 7, "thread table"},
	{"stacks off misaligned", HF(stacks_off), OP_ADD, 4, "stack table is misaligned"},
	{"stacks overlap threads", HF(stacks_off), OP_SET, 0 /* = threads_off, patched */, "overlaps"},
	{"stacks cap zero", HF(stacks_cap), OP_SET, 0, "stack table is empty"},
	{"stack index off past end", HF(stack_index_off), OP_ADD, 1ull << 40, "stack index"},
	{"frames off misaligned", HF(frames_off), OP_ADD, 1, "frame arena is misaligned"},
	{"frames cap huge", HF(frames_cap), OP_SET, UINT32_MAX, "frame arena"},
	{"frames cap zero", HF(frames_cap), OP_SET, 0, "frame arena is empty"},
	{"ring off at end", HF(ring_off), OP_SET, 0 /* = segment size, patched */, "event ring lies outside"},
	{"ring off misaligned", HF(ring_off), OP_ADD, 4, "event ring is misaligned"},
	{"ring off zero", HF(ring_off), OP_SET, 0, "event ring"},
	{"tags off past end", HF(tags_off), OP_ADD, 1ull << 32, "tag table"},
	{"tags cap huge", HF(tags_cap), OP_SET, 1u << 24, "tag table"},
	{"tags cap zero", HF(tags_cap), OP_SET, 0, "tag table is empty"},
};

struct image {
	void *buf;
	size_t size;
};

static struct image valid_image;

/* One real segment, copied into private memory: each case corrupts a fresh copy of it. */
static int make_valid_image(void **state)
{
	(void)state;
	struct shm_segment seg;
	test_create(&seg, NULL, getpid());
	valid_image.size = seg.size;
	valid_image.buf = aligned_alloc(4096, seg.size);
	memcpy(valid_image.buf, seg.base, seg.size);
	shm_segment_close(&seg, true);
	return 0;
}

static int free_valid_image(void **state)
{
	(void)state;
	free(valid_image.buf);
	return 0;
}

static void *copy_image(void)
{
	void *b = aligned_alloc(4096, valid_image.size);
	memcpy(b, valid_image.buf, valid_image.size);
	return b;
}

static void apply(void *img, const struct corrupt_case *c)
{
	struct memtop_seg_header *h = img;
	unsigned char *field = (unsigned char *)img + c->field_off;
	uint64_t v = 0;
	uint64_t value = c->value;
	if (c->field_off == offsetof(struct memtop_seg_header, stacks_off) && value == 0 && c->op == OP_SET)
		value = h->threads_off;
	if (c->field_off == offsetof(struct memtop_seg_header, ring_off) && c->op == OP_SET &&
	    strstr(c->what, "at end"))
		value = valid_image.size;
	memcpy(&v, field, c->field_len);
	switch (c->op) {
	case OP_SET: v = value; break;
	case OP_ADD: v += value; break;
	case OP_XOR: v ^= value; break;
	}
	memcpy(field, &v, c->field_len);
}

static void test_valid_image_accepted(void **state)
{
	(void)state;
	char err[256] = "";
	assert_int_equal(shm_segment_validate(valid_image.buf, valid_image.size, err, sizeof err), 0);
}

static void test_corrupt_field(void **state)
{
	const struct corrupt_case *c = *state;
	char err[256] = "";
	void *img = copy_image();
	apply(img, c);
	int rc = shm_segment_validate(img, valid_image.size, err, sizeof err);
	free(img);
	if (rc != -EINVAL)
		fail_msg("%s: accepted (rc %d)", c->what, rc);
	print_message("# %s: %s\n", c->what, err);
	if (!strstr(err, c->expect))
		fail_msg("%s: reason \"%s\" does not name \"%s\"", c->what, err, c->expect);
}

static void test_exe_unterminated(void **state)
{
	(void)state;
	char err[256] = "";
	void *img = copy_image();
	memset(((struct memtop_seg_header *)img)->exe, 'A', MEMTOP_EXE_MAX);
	assert_int_equal(shm_segment_validate(img, valid_image.size, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "exe path"));
	free(img);
}

static void test_image_shorter_than_header(void **state)
{
	(void)state;
	char err[256] = "";
	assert_int_equal(shm_segment_validate(valid_image.buf, sizeof(struct memtop_seg_header) - 1,
					      err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "smaller than its header"));
	/* a buffer cut short (header intact) disagrees with segment_size */
	assert_int_equal(shm_segment_validate(valid_image.buf, valid_image.size - 4096, err, sizeof err),
			 -EINVAL);
	assert_non_null(strstr(err, "size in header"));
}

/* ---- real files in /dev/shm ---- */

static void dev_shm_path(pid_t pid, const char *suffix, char *buf, size_t len)
{
	snprintf(buf, len, "/dev/shm/memtop.%d%s", (int)pid, suffix);
}

static void test_open_roundtrip(void **state)
{
	(void)state;
	struct shm_segment target, monitor;
	char err[256] = "";
	test_create(&target, NULL, getpid());
	struct stat st;
	assert_int_equal(fstat(target.fd, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* created exclusively: a second create of a live pid's segment fails */
	struct shm_segment again;
	struct shm_config cfg;
	test_small_config(&cfg);
	assert_int_equal(shm_segment_create(&again, &cfg, getpid(), err, sizeof err), -EEXIST);

	int rc = shm_segment_open(&monitor, getpid(), false, err, sizeof err);
	if (rc)
		fail_msg("open: %s", err);
	assert_int_equal(monitor.ring_cap, SHM_RING_MIN);
	assert_int_equal(monitor.threads_count, 4);
	assert_int_equal(monitor.stacks_cap, SHM_STACKS_MIN);
	assert_ptr_equal((char *)monitor.ring - (char *)monitor.base,
			 (char *)target.ring - (char *)target.base);
	struct memtop_seg_header h;
	assert_int_equal(shm_header_read(&monitor, &h), 0);
	assert_int_equal(h.pid, getpid());
	assert_int_equal(h.uid, geteuid());
	assert_int_equal(h.start_time, shm_proc_start_time(getpid()));
	assert_false(shm_segment_is_stale(&h));
	shm_segment_close(&monitor, false);
	shm_segment_close(&target, true);

	/* no segment at all: a clear "not traced" error */
	rc = shm_segment_open(&monitor, getpid(), false, err, sizeof err);
	assert_int_equal(rc, -ENOENT);
	assert_non_null(strstr(err, "not traced"));
}

static void test_open_truncated_file(void **state)
{
	(void)state;
	struct shm_segment target, monitor;
	char err[256] = "";
	test_create(&target, NULL, getpid());
	size_t size = target.size;

	assert_int_equal(ftruncate(target.fd, (off_t)(size / 2)), 0);
	assert_int_equal(shm_segment_open(&monitor, getpid(), false, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "size in header"));

	assert_int_equal(ftruncate(target.fd, 100), 0);
	assert_int_equal(shm_segment_open(&monitor, getpid(), false, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "impossible size"));

	assert_int_equal(ftruncate(target.fd, 0), 0);
	assert_int_equal(shm_segment_open(&monitor, getpid(), false, err, sizeof err), -EINVAL);
	shm_segment_close(&target, true);
}

static void test_open_not_ready(void **state)
{
	(void)state;
	struct shm_segment target, monitor;
	char err[256] = "";
	test_create(&target, NULL, getpid());
	__atomic_store_n(&target.hdr->flags, 0, __ATOMIC_RELEASE);
	assert_int_equal(shm_segment_open(&monitor, getpid(), false, err, sizeof err), -EAGAIN);
	assert_non_null(strstr(err, "not initialised"));
	shm_segment_close(&target, true);
}

static void test_open_forged_pid(void **state)
{
	(void)state;
	struct shm_segment target, monitor;
	char err[256] = "";
	test_create(&target, NULL, getpid());
	target.hdr->pid = getpid() + 1;
	assert_int_equal(shm_segment_open(&monitor, getpid(), false, err, sizeof err), -EINVAL);
	assert_non_null(strstr(err, "names pid"));
	shm_segment_close(&target, true);
}

static void test_open_refuses_symlink(void **state)
{
	(void)state;
	struct shm_segment target, monitor;
	char err[256] = "", path[128], real[128];
	pid_t pid = getpid();
	test_create(&target, NULL, pid);
	/* the valid segment moves aside and a link to it takes its name */
	dev_shm_path(pid, "", path, sizeof path);
	dev_shm_path(pid, ".real", real, sizeof real);
	assert_int_equal(rename(path, real), 0);
	assert_int_equal(symlink(real, path), 0);
	int rc = shm_segment_open(&monitor, pid, false, err, sizeof err);
	unlink(path);
	unlink(real);
	shm_segment_close(&target, false);
	if (rc == 0)
		fail_msg("a symlink in /dev/shm was followed");
	assert_non_null(strstr(err, "memtop."));
}

static void test_open_refuses_fifo(void **state)
{
	(void)state;
	struct shm_segment monitor;
	char err[256] = "", path[128];
	dev_shm_path(getpid(), "", path, sizeof path);
	unlink(path);
	assert_int_equal(mkfifo(path, 0600), 0);
	int rc = shm_segment_open(&monitor, getpid(), false, err, sizeof err);
	unlink(path);
	assert_int_equal(rc, -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
}

static void test_open_refuses_other_uid(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip(); /* only root can give a file away */
	struct shm_segment target, monitor;
	char err[256] = "";
	test_create(&target, NULL, getpid());
	assert_int_equal(fchown(target.fd, 65534, 65534), 0);
	int rc = shm_segment_open(&monitor, getpid(), false, err, sizeof err);
	assert_int_equal(rc, -EPERM);
	assert_non_null(strstr(err, "uid 65534"));
	/* root may read it when it asks to */
	rc = shm_segment_open(&monitor, getpid(), true, err, sizeof err);
	if (rc)
		fail_msg("allow_other_uid: %s", err);
	shm_segment_close(&monitor, false);
	shm_segment_close(&target, true);
}

/* A stale segment (dead pid) with our name is replaced by create; a live one is not. */
static void test_create_replaces_stale(void **state)
{
	(void)state;
	char err[256] = "", path[128];
	struct shm_config cfg;
	struct shm_segment seg;
	test_small_config(&cfg);
	dev_shm_path(getpid(), "", path, sizeof path);
	int fd = open(path, O_CREAT | O_EXCL | O_RDWR, 0600);
	assert_true(fd >= 0);
	struct memtop_seg_header junk;
	memset(&junk, 0, sizeof junk);
	junk.pid = getpid();
	junk.start_time = 1; /* a different process that had our pid */
	assert_int_equal(write(fd, &junk, sizeof junk), (ssize_t)sizeof junk);
	close(fd);
	int rc = shm_segment_create(&seg, &cfg, getpid(), err, sizeof err);
	if (rc)
		fail_msg("create over a stale segment: %s", err);
	shm_segment_close(&seg, true);
}

int main(void)
{
	size_t ncases = sizeof cases / sizeof cases[0];
	struct CMUnitTest *tests = calloc(ncases + 16, sizeof *tests);
	size_t n = 0;
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_valid_image_accepted);
	for (size_t i = 0; i < ncases; i++)
		tests[n++] = (struct CMUnitTest){cases[i].what, test_corrupt_field, NULL, NULL,
						 (void *)&cases[i]};
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_exe_unterminated);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_image_shorter_than_header);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_open_roundtrip);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_open_truncated_file);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_open_not_ready);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_open_forged_pid);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_open_refuses_symlink);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_open_refuses_fifo);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_open_refuses_other_uid);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_create_replaces_stale);
	int failed = _cmocka_run_group_tests("shm_validate", tests, n, make_valid_image, free_valid_image);
	free(tests);
	test_unlink_segment(getpid());
	return failed;
}

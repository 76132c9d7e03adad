/* Unit test of the decompressed copies of debug files (symbols/debugcache.c), on a separate debug
 * file the build compressed with objcopy (argv[1]): the copy has the same build-id, the same
 * sections with the same bytes once inflated, and none compressed; it is made once and then reused;
 * a copy of another build is replaced; no cache directory, an unwritable one, or a file without
 * compressed sections leave the original in use. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "symbols/buildid.h"
#include "symbols/debugcache.h"

static const char *compressed_path;
static char cache_dir[256];
static char hex[BUILDID_HEX_MAX];

/* Each section's name and inflated bytes, in order; count in *n. */
struct section {
	char name[64];
	size_t size;
	unsigned char *bytes; /* NULL for NOBITS */
	bool compressed;
};

static struct section *read_sections(const char *path, size_t *n)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_true(elf_version(EV_CURRENT) != EV_NONE);
	Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
	assert_non_null(elf);
	size_t shstrndx, count = 0;
	assert_int_equal(elf_getshdrstrndx(elf, &shstrndx), 0);
	struct section *out = calloc(512, sizeof *out);
	for (Elf_Scn *scn = elf_nextscn(elf, NULL); scn && count < 512; scn = elf_nextscn(elf, scn)) {
		GElf_Shdr sh;
		assert_non_null(gelf_getshdr(scn, &sh));
		struct section *s = &out[count++];
		snprintf(s->name, sizeof s->name, "%s", elf_strptr(elf, shstrndx, sh.sh_name));
		s->compressed = (sh.sh_flags & SHF_COMPRESSED) != 0;
		if (s->compressed)
			assert_int_equal(elf_compress(scn, 0, 0), 1);
		if (sh.sh_type == SHT_NOBITS)
			continue;
		Elf_Data *d = elf_rawdata(scn, NULL);
		assert_non_null(d);
		s->size = d->d_size;
		s->bytes = malloc(d->d_size ? d->d_size : 1);
		memcpy(s->bytes, d->d_buf, d->d_size);
	}
	elf_end(elf);
	close(fd);
	*n = count;
	return out;
}

static void free_sections(struct section *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(s[i].bytes);
	free(s);
}

static int swap(const char *path, char **name)
{
	*name = strdup(path);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	return debugcache_swap(fd, hex, name);
}

static void copy_path(char *out, size_t len)
{
	snprintf(out, len, "%s/%s.debug", cache_dir, hex);
}

static void test_copy_is_inflated_original(void **state)
{
	(void)state;
	setenv("MEMTOP_DEBUG_CACHE", cache_dir, 1);
	char *name, want[512];
	int fd = swap(compressed_path, &name);
	copy_path(want, sizeof want);
	assert_string_equal(name, want);
	char got[BUILDID_HEX_MAX];
	assert_true(buildid_of_fd(fd, got));
	assert_string_equal(got, hex);
	close(fd);
	size_t na, nb, inflated = 0;
	struct section *a = read_sections(compressed_path, &na), *b = read_sections(name, &nb);
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++) {
		assert_string_equal(a[i].name, b[i].name);
		assert_false(b[i].compressed);
		inflated += a[i].compressed;
		assert_int_equal(a[i].size, b[i].size);
		if (a[i].bytes)
			assert_memory_equal(a[i].bytes, b[i].bytes, a[i].size);
	}
	assert_true(inflated > 0); /* the sample's debug file really was compressed */
	free_sections(a, na);
	free_sections(b, nb);
	free(name);
}

static void test_copy_is_reused(void **state)
{
	(void)state;
	setenv("MEMTOP_DEBUG_CACHE", cache_dir, 1);
	char *name, path[512];
	close(swap(compressed_path, &name));
	free(name);
	copy_path(path, sizeof path);
	struct stat before, after;
	assert_int_equal(stat(path, &before), 0);
	close(swap(compressed_path, &name));
	assert_int_equal(stat(path, &after), 0);
	assert_true(before.st_ino == after.st_ino); /* not made again */
	assert_string_equal(name, path);
	free(name);
}

static void test_copy_of_another_build_is_replaced(void **state)
{
	(void)state;
	setenv("MEMTOP_DEBUG_CACHE", cache_dir, 1);
	char path[512];
	copy_path(path, sizeof path);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("not an ELF file\n", f);
	fclose(f);
	char *name;
	int fd = swap(compressed_path, &name);
	char got[BUILDID_HEX_MAX];
	assert_true(buildid_of_fd(fd, got));
	assert_string_equal(got, hex);
	assert_string_equal(name, path);
	close(fd);
	free(name);
}

/* Every way to have no usable cache gives back the original fd and name. */
static void test_original_kept_without_cache(void **state)
{
	(void)state;
	const char *settings[] = {"off", "", "/proc/memtop-no-such-dir/debug"};
	for (size_t i = 0; i < sizeof settings / sizeof *settings; i++) {
		setenv("MEMTOP_DEBUG_CACHE", settings[i], 1);
		char *name = strdup(compressed_path);
		int fd = open(compressed_path, O_RDONLY);
		assert_int_equal(debugcache_swap(fd, hex, &name), fd);
		assert_string_equal(name, compressed_path);
		close(fd);
		free(name);
	}
}

static void test_uncompressed_file_kept(void **state)
{
	(void)state;
	setenv("MEMTOP_DEBUG_CACHE", cache_dir, 1);
	char *name;
	/* this test program: its debug sections (if any) are not compressed */
	char self[256];
	ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
	assert_true(len > 0);
	self[len] = '\0';
	name = strdup(self);
	int fd = open(self, O_RDONLY);
	char own[BUILDID_HEX_MAX];
	assert_true(buildid_of_fd(fd, own));
	assert_int_equal(debugcache_swap(fd, own, &name), fd);
	assert_string_equal(name, self);
	close(fd);
	free(name);
}

static void test_dir_from_environment(void **state)
{
	(void)state;
	char dir[256];
	unsetenv("MEMTOP_DEBUG_CACHE");
	setenv("XDG_CACHE_HOME", "/var/cache-x", 1);
	assert_true(debugcache_dir(dir, sizeof dir));
	assert_string_equal(dir, "/var/cache-x/memtop/debug");
	unsetenv("XDG_CACHE_HOME");
	setenv("HOME", "/home/u", 1);
	assert_true(debugcache_dir(dir, sizeof dir));
	assert_string_equal(dir, "/home/u/.cache/memtop/debug");
	setenv("XDG_CACHE_HOME", "relative", 1); /* not absolute: ignored, as the XDG spec says */
	assert_true(debugcache_dir(dir, sizeof dir));
	assert_string_equal(dir, "/home/u/.cache/memtop/debug");
	unsetenv("HOME");
	unsetenv("XDG_CACHE_HOME");
	assert_false(debugcache_dir(dir, sizeof dir));
	setenv("MEMTOP_DEBUG_CACHE", "off", 1);
	assert_false(debugcache_dir(dir, sizeof dir));
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_debugcache COMPRESSED.debug\n");
		return 2;
	}
	compressed_path = argv[1];
	assert_true(buildid_of_path(compressed_path, hex));
	char tmpl[] = "/tmp/memtop-debugcache.XXXXXX";
	if (!mkdtemp(tmpl))
		return 2;
	/* a directory below the temporary one: the cache makes the missing levels */
	snprintf(cache_dir, sizeof cache_dir, "%s/a/b", tmpl);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_copy_is_inflated_original),
		cmocka_unit_test(test_copy_is_reused),
		cmocka_unit_test(test_copy_of_another_build_is_replaced),
		cmocka_unit_test(test_original_kept_without_cache),
		cmocka_unit_test(test_uncompressed_file_kept),
		cmocka_unit_test(test_dir_from_environment),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
	if (system(cmd) != 0)
		rc = rc ? rc : 1;
	return rc;
}

/* Unit tests of traceable_check: static ELF files (no PT_INTERP), scripts and their interpreters
 * (also through /usr/bin/env and PATH), set-id bits, and files it cannot judge (never refused). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc/traceable.h"

static char dir[64]; /* /tmp/memtop-traceable-XXXXXX */

static void put_file(const char *name, const void *data, size_t len, mode_t mode, char *path)
{
	snprintf(path, PATH_MAX, "%s/%s", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	chmod(path, mode);
}

/* A minimal ELF64 header and one program header of type `type`. */
static void put_elf(const char *name, uint32_t type, char *path)
{
	unsigned char img[sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr)] = {0};
	Elf64_Ehdr *eh = (Elf64_Ehdr *)img;
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_type = ET_EXEC;
	eh->e_phoff = sizeof(Elf64_Ehdr);
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = 1;
	((Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)))->p_type = type;
	put_file(name, img, sizeof img, 0755, path);
}

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/memtop-traceable-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_static_and_dynamic_elf(void **state)
{
	(void)state;
	char st[PATH_MAX], dyn[PATH_MAX], why[1024] = "";
	put_elf("static", PT_LOAD, st);
	put_elf("dynamic", PT_INTERP, dyn);
	assert_int_equal(traceable_check(st, why, sizeof why), -1);
	assert_non_null(strstr(why, "statically linked"));
	assert_non_null(strstr(why, st));
	assert_int_equal(traceable_check(dyn, why, sizeof why), 0);
}

static void test_cannot_judge_is_never_refused(void **state)
{
	(void)state;
	char p[PATH_MAX], why[1024];
	put_file("short", "\177ELF", 4, 0755, p); /* truncated header */
	assert_int_equal(traceable_check(p, why, sizeof why), 0);
	put_file("text", "echo hi\n", 8, 0755, p); /* no #!: execvp runs it with /bin/sh */
	assert_int_equal(traceable_check(p, why, sizeof why), 0);
	assert_int_equal(traceable_check("/nonexistent/memtop-no-such", why, sizeof why), 0);
	assert_int_equal(traceable_check("memtop-no-such-command-anywhere", why, sizeof why), 0);
}

static void test_script_interpreters(void **state)
{
	(void)state;
	char st[PATH_MAX], s1[PATH_MAX], s2[PATH_MAX], s3[PATH_MAX], self[PATH_MAX], line[PATH_MAX + 32];
	char why[1024] = "";
	put_elf("static-interp", PT_LOAD, st);
	snprintf(line, sizeof line, "#! %s -x\nrest\n", st);
	put_file("direct.sh", line, strlen(line), 0755, s1);
	assert_int_equal(traceable_check(s1, why, sizeof why), -1);
	assert_non_null(strstr(why, "is a script, and its interpreter"));
	assert_non_null(strstr(why, "statically linked"));
	/* #!/usr/bin/env NAME: NAME found through PATH */
	const char *env_line = "#!/usr/bin/env static-interp\n";
	put_file("env.sh", env_line, strlen(env_line), 0755, s2);
	char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
	setenv("PATH", dir, 1);
	assert_int_equal(traceable_check(s2, why, sizeof why), -1);
	/* and the command itself found through PATH */
	assert_int_equal(traceable_check("direct.sh", why, sizeof why), -1);
	if (old) {
		setenv("PATH", old, 1);
		free(old);
	}
	const char *sh_line = "#!/bin/sh\n";
	put_file("sh.sh", sh_line, strlen(sh_line), 0755, s3);
	assert_int_equal(traceable_check(s3, why, sizeof why), 0);
	/* a script that names itself: bounded, no hang, not refused */
	snprintf(self, sizeof self, "%s/self.sh", dir);
	snprintf(line, sizeof line, "#!%s\n", self);
	put_file("self.sh", line, strlen(line), 0755, self);
	assert_int_equal(traceable_check(self, why, sizeof why), 0);
}

static void test_setuid_bits(void **state)
{
	(void)state;
	char p[PATH_MAX], why[1024] = "";
	put_elf("suid", PT_INTERP, p);
	chmod(p, 04755); /* our own uid: no id change, traceable */
	assert_int_equal(traceable_check(p, why, sizeof why), 0);
	if (getuid() != 0)
		skip();
	assert_int_equal(chown(p, 65534, (gid_t)-1), 0);
	chmod(p, 04755); /* chown cleared the bit */
	assert_int_equal(traceable_check(p, why, sizeof why), -1);
	assert_non_null(strstr(why, "is setuid (owner uid 65534)"));
	chmod(p, 0755);
	assert_int_equal(chown(p, 0, 65534), 0);
	chmod(p, 02755);
	assert_int_equal(traceable_check(p, why, sizeof why), -1);
	assert_non_null(strstr(why, "is setgid (group gid 65534)"));
	chmod(p, 02745); /* setgid without group execute: mandatory locking, not setgid */
	assert_int_equal(traceable_check(p, why, sizeof why), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_static_and_dynamic_elf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cannot_judge_is_never_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_script_interpreters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_setuid_bits, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

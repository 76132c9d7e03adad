/* A program memtop cannot trace: linked with -static, it has no loader to honour LD_PRELOAD.
 * Exits with STATUS; with FILE, first sleeps MS milliseconds (default 300) and then creates FILE,
 * which shows that it ran to its end (it was not killed). usage: static_exit STATUS [FILE [MS]] */
#include <fcntl.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	if (argc > 2) {
		long ms = argc > 3 ? atol(argv[3]) : 300;
		struct timespec nap = {ms / 1000, (ms % 1000) * 1000 * 1000};
		nanosleep(&nap, NULL);
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			return 99;
		close(fd);
	}
	return atoi(argv[1]);
}

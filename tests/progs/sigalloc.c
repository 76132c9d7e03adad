/* Allocates inside a signal handler (not async-signal-safe in general, but real programs do it):
 * the handler runs only while the main thread sleeps outside malloc, so glibc itself is safe, and
 * the preload must neither deadlock nor corrupt anything. Prints deterministic counts. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

static volatile sig_atomic_t handled;
static char *volatile last;

static void on_alarm(int sig)
{
	(void)sig;
	char *p = malloc(100);
	memset(p, 'x', 100);
	char *old = last;
	last = p;
	free(old);
	handled++;
}

int main(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigaction(SIGUSR1, &sa, NULL);
	for (int i = 0; i < 200; i++) {
		void *p = malloc(32);
		free(p);
		raise(SIGUSR1); /* delivered synchronously, outside malloc */
	}
	free(last);
	printf("handled %d\n", (int)handled);
	return 0;
}

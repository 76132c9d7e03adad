// Call paths for comparing unwinders (MEMTOP_UNWIND=check): recursion, C++ exceptions thrown and
// caught with allocations on the way (in destructors run by the unwind, in catch blocks), a signal
// handler that allocates, std::function/std::map code from libstdc++, and one frame reached with the
// same registers from two callers, then from three (the stack word that tells them apart is the
// only difference: a walk that reuses an earlier walk's frames must read it; three callers are
// more than the walk keeps for one set of registers). Built with and without frame pointers. Deterministic; frees everything; prints one checksum line.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <sys/time.h>
#include <vector>

static volatile sig_atomic_t mix_signals;

struct MixGuard {
	std::string *s;
	explicit MixGuard(int n) : s(new std::string(static_cast<size_t>(32 + n % 7), 'x')) {}
	~MixGuard() { delete s; }
};

__attribute__((noinline)) static long mix_recurse(int depth, int throw_at)
{
	MixGuard g(depth);
	std::vector<int> v(static_cast<size_t>(depth + 1), depth);
	if (depth == throw_at)
		throw std::runtime_error("mix " + std::to_string(depth));
	if (depth == 0)
		return static_cast<long>(v.size());
	return mix_recurse(depth - 1, throw_at) + static_cast<long>(g.s->size());
}

static volatile long mix_sink;

__attribute__((noinline)) static void mix_leaf(int i)
{
	void *p = std::malloc(static_cast<size_t>(24 + i % 3));
	mix_sink = mix_sink + (p != nullptr ? 1 : 0);
	std::free(p);
}

// mix_mid's frame is the same whichever of via_a and via_b calls it: only its return address differs
__attribute__((noinline)) static void mix_mid(int i)
{
	mix_leaf(i);
	__asm__ volatile("" ::: "memory"); // not a tail call: mix_mid stays on the stack
}

__attribute__((noinline)) static void mix_via_a(int i)
{
	mix_mid(i);
	mix_sink = mix_sink + 1;
}

__attribute__((noinline)) static void mix_via_b(int i)
{
	mix_mid(i);
	mix_sink = mix_sink + 2;
}

__attribute__((noinline)) static void mix_via_c(int i)
{
	mix_mid(i);
	mix_sink = mix_sink + 3;
}

static void mix_on_signal(int)
{
	void *p = std::malloc(48);
	std::free(p);
	mix_signals = mix_signals + 1;
}

int main()
{
	struct sigaction sa = {};
	sa.sa_handler = mix_on_signal;
	sigaction(SIGALRM, &sa, nullptr);
	struct itimerval it = {{0, 500}, {0, 500}};
	setitimer(ITIMER_REAL, &it, nullptr);
	long sum = 0;
	std::map<int, std::string> m;
	std::function<long(int)> f = [&](int i) { return mix_recurse(i % 40, i % 3 ? -1 : i % 40 / 2); };
	for (int i = 0; i < 600; i++) {
		try {
			sum += f(i);
		} catch (const std::exception &e) {
			m[i % 97] = e.what();
			sum += static_cast<long>(m.size());
		}
	}
	for (int i = 0; i < 3000; i++)
		(i * 7 % 5 < 2 ? mix_via_a : mix_via_b)(i);
	for (int i = 0; i < 3000; i++) {
		int way = i * 7 % 11 % 3;
		(way == 0 ? mix_via_a : way == 1 ? mix_via_b : mix_via_c)(i);
	}
	sum += mix_sink % 1000;
	struct itimerval off = {};
	setitimer(ITIMER_REAL, &off, nullptr);
	std::printf("sum %ld\n", sum);
	return 0;
}

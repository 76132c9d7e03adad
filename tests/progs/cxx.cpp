// C++ new/delete seen through malloc/free: arrays, objects, a vector's storage, and deletes
// from another function, with known counts and sizes. Sites are noinline functions.
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#define SITE __attribute__((noinline, noclone))
#define EXPECT(site, allocs, blocks, bytes) \
	std::printf("expect %s allocs %d live_blocks %d live_bytes %d\n", site, allocs, blocks, bytes)

struct Obj {
	char buf[40];
};

static std::vector<void *> *kept;

SITE static void site_new_array()
{
	for (int i = 0; i < 10; i++) {
		int *a = new int[25];
		if (i < 6)
			kept->push_back(a);
		else
			delete[] a;
	}
	EXPECT("site_new_array", 10, 6, 600);
}

SITE static void site_new_object()
{
	for (int i = 0; i < 5; i++)
		kept->push_back(new Obj());
	Obj *o = new Obj();
	delete o;
	EXPECT("site_new_object", 6, 5, 200);
}

SITE static std::vector<int> *site_vector()
{
	std::vector<int> *v = new std::vector<int>();
	v->reserve(1000);
	return v;
}

SITE static void site_nothrow()
{
	char *p = new (std::nothrow) char[77];
	kept->push_back(p);
	EXPECT("site_nothrow", 1, 1, 77);
}

int main()
{
	std::setvbuf(stdout, nullptr, _IOLBF, 0);
	kept = new std::vector<void *>();
	kept->reserve(64);
	site_new_array();
	site_new_object();
	std::vector<int> *v = site_vector();
	// the vector object (24 bytes) and its storage (4000 bytes) are both allocated in site_vector
	EXPECT("site_vector", 2, 2, 4024);
	(void)v;
	site_nothrow();
	return 0;
}

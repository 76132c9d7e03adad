/* got: routes a running process's calls to the hooked functions through libmemtop.so when it was
 * loaded late (memtop inject): rewrites the GOT slots (JUMP_SLOT and GLOB_DAT, REL and RELA) that
 * name them in every loaded object, RELRO pages made writable for the store and read-only again,
 * and records each change so that preload_got_undo puts the old value back. Never allocates (the
 * record is a static table) and never writes a slot of an object that is gone. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "got.h"
#include "preload.h"

#if defined(__x86_64__)
#define GOT_R_JUMP_SLOT R_X86_64_JUMP_SLOT
#define GOT_R_GLOB_DAT R_X86_64_GLOB_DAT
#elif defined(__aarch64__)
#define GOT_R_JUMP_SLOT R_AARCH64_JUMP_SLOT
#define GOT_R_GLOB_DAT R_AARCH64_GLOB_DAT
#else
#define GOT_UNSUPPORTED 1 /* relocation types not known here: nothing is routed (-ENOSYS) */
#define GOT_R_JUMP_SLOT 0xffffffffu
#define GOT_R_GLOB_DAT 0xffffffffu
#endif

#define GOT_PATCHES_MAX 8192

struct got_patch {
	uintptr_t *slot;
	uintptr_t old;     /* what the slot held before */
	uintptr_t base;    /* load address of the object that holds it (gone objects are skipped) */
	uintptr_t relro_lo, relro_hi; /* the object's RELRO range, 0 when none */
};

static struct got_patch got_patches[GOT_PATCHES_MAX];
static size_t got_count;
static uint64_t got_skipped; /* slots not rewritten because the table was full */

/* One pass's context: the names to route and where they go. */
struct got_pass {
	const struct got_target *targets;
	size_t ntargets;
	uintptr_t self_base; /* libmemtop.so: never rewritten */
	int err;             /* first errno of a failed mprotect */
	size_t changed;
};

static long got_page(void)
{
	static long page;
	if (!page)
		page = sysconf(_SC_PAGESIZE);
	return page;
}

/* Stores v in *slot; a slot in RELRO gets its page writable for the store, read-only after. */
static int got_store(uintptr_t *slot, uintptr_t v, uintptr_t relro_lo, uintptr_t relro_hi)
{
	bool relro = (uintptr_t)slot >= relro_lo && (uintptr_t)slot < relro_hi;
	void *page = (void *)((uintptr_t)slot & ~((uintptr_t)got_page() - 1));
	if (relro && mprotect(page, (size_t)got_page(), PROT_READ | PROT_WRITE) != 0)
		return -errno;
	__atomic_store_n(slot, v, __ATOMIC_RELEASE);
	if (relro && mprotect(page, (size_t)got_page(), PROT_READ) != 0)
		return -errno;
	return 0;
}

static struct got_patch *got_find(uintptr_t *slot)
{
	for (size_t i = 0; i < got_count; i++)
		if (got_patches[i].slot == slot)
			return &got_patches[i];
	return NULL;
}

/* The dynamic section's addresses: relocated in place by the loader on most architectures,
 * as linked (relative to the load base) elsewhere. */
static uintptr_t got_ptr(uintptr_t v, uintptr_t base)
{
	return v < base ? v + base : v;
}

struct got_object {
	uintptr_t base, relro_lo, relro_hi;
	const ElfW(Sym) *symtab;
	const char *strtab;
	size_t strsz;
};

static void got_route(struct got_pass *p, const struct got_object *o, uintptr_t offset,
		      uint32_t type, uint32_t sym)
{
	if ((type != GOT_R_JUMP_SLOT && type != GOT_R_GLOB_DAT) || sym == 0)
		return;
	if (o->symtab[sym].st_name >= o->strsz)
		return;
	const char *name = o->strtab + o->symtab[sym].st_name;
	for (size_t i = 0; i < p->ntargets; i++) {
		if (strcmp(name, p->targets[i].name) != 0)
			continue;
		uintptr_t *slot = (uintptr_t *)(o->base + offset);
		uintptr_t now = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
		if (now == p->targets[i].hook)
			return;
		struct got_patch *rec = got_find(slot);
		if (!rec && got_count == GOT_PATCHES_MAX) {
			got_skipped++;
			return;
		}
		int rc = got_store(slot, p->targets[i].hook, o->relro_lo, o->relro_hi);
		if (rc != 0) {
			if (!p->err)
				p->err = rc;
			return;
		}
		if (!rec) {
			rec = &got_patches[got_count];
			*rec = (struct got_patch){slot, now, o->base, o->relro_lo, o->relro_hi};
			__atomic_store_n(&got_count, got_count + 1, __ATOMIC_RELEASE);
		} else {
			rec->old = now; /* put back since (undo), and maybe rebound by the loader */
		}
		p->changed++;
		return;
	}
}

/* Walks the object's relocation tables (DT_JMPREL as RELA or REL, DT_RELA, DT_REL). */
static void got_object_relocs(struct got_pass *p, const struct got_object *o, const ElfW(Dyn) *dyn)
{
	uintptr_t jmprel = 0, rela = 0, rel = 0;
	size_t jmpsz = 0, relasz = 0, relsz = 0;
	long pltrel = DT_RELA;
	for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
		switch (d->d_tag) {
		case DT_JMPREL: jmprel = got_ptr(d->d_un.d_ptr, o->base); break;
		case DT_PLTRELSZ: jmpsz = d->d_un.d_val; break;
		case DT_PLTREL: pltrel = (long)d->d_un.d_val; break;
		case DT_RELA: rela = got_ptr(d->d_un.d_ptr, o->base); break;
		case DT_RELASZ: relasz = d->d_un.d_val; break;
		case DT_REL: rel = got_ptr(d->d_un.d_ptr, o->base); break;
		case DT_RELSZ: relsz = d->d_un.d_val; break;
		default: break;
		}
	}
	const ElfW(Rela) *ra = (const void *)rela;
	for (size_t i = 0; rela && i < relasz / sizeof *ra; i++)
		got_route(p, o, ra[i].r_offset, ELF64_R_TYPE(ra[i].r_info), ELF64_R_SYM(ra[i].r_info));
	const ElfW(Rel) *rl = (const void *)rel;
	for (size_t i = 0; rel && i < relsz / sizeof *rl; i++)
		got_route(p, o, rl[i].r_offset, ELF64_R_TYPE(rl[i].r_info), ELF64_R_SYM(rl[i].r_info));
	if (!jmprel)
		return;
	if (pltrel == DT_RELA) {
		ra = (const void *)jmprel;
		for (size_t i = 0; i < jmpsz / sizeof *ra; i++)
			got_route(p, o, ra[i].r_offset, ELF64_R_TYPE(ra[i].r_info),
				  ELF64_R_SYM(ra[i].r_info));
	} else {
		rl = (const void *)jmprel;
		for (size_t i = 0; i < jmpsz / sizeof *rl; i++)
			got_route(p, o, rl[i].r_offset, ELF64_R_TYPE(rl[i].r_info),
				  ELF64_R_SYM(rl[i].r_info));
	}
}

static int got_visit(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct got_pass *p = arg;
	(void)size;
	if (info->dlpi_addr == p->self_base || (info->dlpi_name && strstr(info->dlpi_name, "linux-vdso")))
		return 0;
	struct got_object o = {.base = info->dlpi_addr};
	const ElfW(Dyn) *dyn = NULL;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_DYNAMIC)
			dyn = (const void *)(info->dlpi_addr + ph->p_vaddr);
		else if (ph->p_type == PT_GNU_RELRO) {
			o.relro_lo = info->dlpi_addr + ph->p_vaddr;
			o.relro_hi = o.relro_lo + ph->p_memsz;
		}
	}
	if (!dyn)
		return 0;
	for (const ElfW(Dyn) *d = dyn; d->d_tag != DT_NULL; d++) {
		if (d->d_tag == DT_SYMTAB)
			o.symtab = (const void *)got_ptr(d->d_un.d_ptr, o.base);
		else if (d->d_tag == DT_STRTAB)
			o.strtab = (const char *)got_ptr(d->d_un.d_ptr, o.base);
		else if (d->d_tag == DT_STRSZ)
			o.strsz = d->d_un.d_val;
	}
	if (o.symtab && o.strtab)
		got_object_relocs(p, &o, dyn);
	return 0;
}

int preload_got_apply(const struct got_target *targets, size_t n, size_t *changed)
{
	Dl_info info;
	struct got_pass p = {.targets = targets, .ntargets = n};
#ifdef GOT_UNSUPPORTED
	return -ENOSYS;
#endif
	if (dladdr((void *)preload_got_apply, &info))
		p.self_base = (uintptr_t)info.dli_fbase;
	dl_iterate_phdr(got_visit, &p);
	if (changed)
		*changed = p.changed;
	return p.err;
}

/* Is the object recorded at base still loaded there (never write into a dlclose'd object)? */
static bool got_object_alive(const struct got_patch *r)
{
	Dl_info info;
	return dladdr((void *)r->slot, &info) && (uintptr_t)info.dli_fbase == r->base;
}

int preload_got_undo(const struct got_target *targets, size_t n, size_t *restored)
{
	int err = 0;
	size_t count = __atomic_load_n(&got_count, __ATOMIC_ACQUIRE), done = 0;
	for (size_t i = 0; i < count; i++) {
		struct got_patch *r = &got_patches[i];
		if (!got_object_alive(r))
			continue;
		uintptr_t now = __atomic_load_n(r->slot, __ATOMIC_ACQUIRE);
		bool ours = false;
		for (size_t k = 0; k < n; k++)
			ours |= now == targets[k].hook;
		if (!ours)
			continue; /* rebound by someone else since: leave it */
		int rc = got_store(r->slot, r->old, r->relro_lo, r->relro_hi);
		if (rc != 0 && !err)
			err = rc;
		else if (rc == 0)
			done++;
	}
	if (restored)
		*restored = done;
	return err;
}

uint64_t preload_got_skipped(void)
{
	return got_skipped;
}

/* Reduces the DWARF CFI row of a pc to a compact rule: the module through dl_iterate_phdr (the last
 * one remembered per thread), its FDE through the .eh_frame_hdr search table, then the CIE's and
 * FDE's call frame instructions run up to the pc. Only CFA = SP|FP + offset with the return address
 * and FP saved at offsets from the CFA is expressible; anything else is CFI_FALLBACK.
 * Runs inside the hooks: never allocates, never reads outside the module's unwind tables. */
#include <link.h>
#include <string.h>

#include "cfi.h"

enum {
	DW_EH_PE_absptr = 0x00, DW_EH_PE_uleb128 = 0x01, DW_EH_PE_udata2 = 0x02,
	DW_EH_PE_udata4 = 0x03, DW_EH_PE_udata8 = 0x04, DW_EH_PE_sleb128 = 0x09,
	DW_EH_PE_sdata2 = 0x0a, DW_EH_PE_sdata4 = 0x0b, DW_EH_PE_sdata8 = 0x0c,
	DW_EH_PE_pcrel = 0x10, DW_EH_PE_datarel = 0x30, DW_EH_PE_indirect = 0x80,
	DW_EH_PE_omit = 0xff,
};

/* The module that held the last pc looked up on this thread, valid for one epoch. */
struct cfi_module {
	uintptr_t lo, hi;      /* the executable segment */
	const uint8_t *hdr;    /* its .eh_frame_hdr */
	uint64_t epoch;
};
static __thread struct cfi_module cfi_last_module __attribute__((tls_model("initial-exec")));
static unsigned long long cfi_seen_subs; /* dlpi_subs last seen; atomic */

uint64_t cfi_uleb(const uint8_t **p, const uint8_t *end)
{
	uint64_t v = 0;
	unsigned shift = 0;
	while (*p < end) {
		uint8_t b = *(*p)++;
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			break;
	}
	return v;
}

int64_t cfi_sleb(const uint8_t **p, const uint8_t *end)
{
	uint64_t v = 0;
	unsigned shift = 0;
	uint8_t b = 0;
	while (*p < end) {
		b = *(*p)++;
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if (!(b & 0x80))
			break;
	}
	if (shift < 64 && (b & 0x40))
		v |= ~(uint64_t)0 << shift; /* sign extension */
	return (int64_t)v;
}

/* Reads a pointer in encoding enc at *p; datarel is relative to data_base. False if unsupported. */
bool cfi_encoded(const uint8_t **p, const uint8_t *end, uint8_t enc, uintptr_t data_base,
		 uintptr_t *out)
{
	const uint8_t *at = *p;
	uint64_t v;
	size_t n;
	switch (enc & 0x0f) {
	case DW_EH_PE_absptr: n = 8; break;
	case DW_EH_PE_udata2: case DW_EH_PE_sdata2: n = 2; break;
	case DW_EH_PE_udata4: case DW_EH_PE_sdata4: n = 4; break;
	case DW_EH_PE_udata8: case DW_EH_PE_sdata8: n = 8; break;
	case DW_EH_PE_uleb128: v = cfi_uleb(p, end); n = 0; break;
	case DW_EH_PE_sleb128: v = (uint64_t)cfi_sleb(p, end); n = 0; break;
	default: return false;
	}
	if (n) {
		if ((size_t)(end - at) < n)
			return false;
		if (n == 2) {
			uint16_t x;
			memcpy(&x, at, 2);
			v = (enc & 0x0f) == DW_EH_PE_sdata2 ? (uint64_t)(int64_t)(int16_t)x : x;
		} else if (n == 4) {
			uint32_t x;
			memcpy(&x, at, 4);
			v = (enc & 0x0f) == DW_EH_PE_sdata4 ? (uint64_t)(int64_t)(int32_t)x : x;
		} else {
			memcpy(&v, at, 8);
		}
		*p = at + n;
	}
	switch (enc & 0x70) {
	case 0: break;
	case DW_EH_PE_pcrel: v += (uintptr_t)at; break;
	case DW_EH_PE_datarel: v += data_base; break;
	default: return false;
	}
	if (enc & DW_EH_PE_indirect)
		memcpy(&v, (const void *)(uintptr_t)v, 8);
	*out = (uintptr_t)v;
	return true;
}

/* Reads the CIE's augmentation data; false for what is not understood. */
static bool cfi_cie_augmentation(const char *aug, const uint8_t **p, const uint8_t *end,
				 struct cfi_cie *c)
{
	const uint8_t *data_end = end;
	if (aug[0] == 'z') {
		uint64_t len = cfi_uleb(p, end);
		if (len > (uint64_t)(end - *p))
			return false;
		data_end = *p + len;
		c->has_z = true;
	}
	for (const char *a = aug + c->has_z; *a; a++) {
		uintptr_t ignored;
		if (*a == 'R' && *p < data_end)
			c->fde_enc = *(*p)++;
		else if (*a == 'L' && *p < data_end)
			(*p)++;
		else if (*a == 'P' && *p < data_end) {
			uint8_t enc = *(*p)++;
			if (!cfi_encoded(p, data_end, enc & 0x7f, 0, &ignored))
				return false;
		} else if (*a == 'S')
			c->signal = true;
		else if (!c->has_z)
			return false; /* cannot skip what is not sized */
		else
			break; /* the rest is skipped by length */
	}
	if (c->has_z)
		*p = data_end;
	return true;
}

static bool cfi_cie_parse(const uint8_t *cie, struct cfi_cie *c)
{
	uint32_t len32;
	memcpy(&len32, cie, 4);
	const uint8_t *p = cie + 4, *end;
	if (len32 == 0xffffffffu) {
		uint64_t len64;
		memcpy(&len64, p, 8);
		p += 8;
		end = p + len64;
		p += 8; /* CIE id */
	} else {
		end = p + len32;
		p += 4;
	}
	if (p >= end)
		return false;
	uint8_t version = *p++;
	const char *aug = (const char *)p;
	const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
	if (!nul)
		return false;
	p = nul + 1;
	memset(c, 0, sizeof *c);
	if (version >= 4) {
		if (end - p < 2)
			return false;
		p += 2; /* address size, segment selector size */
	}
	c->code_align = cfi_uleb(&p, end);
	c->data_align = cfi_sleb(&p, end);
	c->ra_reg = version == 1 ? (p < end ? *p++ : 0) : cfi_uleb(&p, end);
	if (!cfi_cie_augmentation(aug, &p, end, c))
		return false;
	c->insns = p;
	c->insns_end = end;
	return true;
}

/* The FDE covering pc from the .eh_frame_hdr binary search table, reduced to a rule. */
static void cfi_fde_rule(const uint8_t *hdr, uintptr_t pc, struct cfi_rule *out)
{
	out->kind = CFI_FALLBACK;
	/* version 1; the table must be sorted 4-byte pairs relative to the header to be searched */
	if (hdr[0] != 1 || hdr[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4) || hdr[2] == DW_EH_PE_omit)
		return;
	const uint8_t *p = hdr + 4, *far = hdr + 4 + 16; /* the two encoded words fit in 16 bytes */
	uintptr_t eh_frame, count;
	if (!cfi_encoded(&p, far, hdr[1], (uintptr_t)hdr, &eh_frame) ||
	    !cfi_encoded(&p, far, hdr[2], (uintptr_t)hdr, &count) || count == 0)
		return;
	const int32_t *table = (const int32_t *)(const void *)p;
	size_t lo = 0, hi = count; /* the last entry whose start is <= pc */
	if ((uintptr_t)hdr + table[0] > pc)
		return;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if ((uintptr_t)hdr + table[2 * mid] <= pc)
			lo = mid;
		else
			hi = mid;
	}
	const uint8_t *fde = hdr + table[2 * lo + 1];
	uint32_t len32;
	memcpy(&len32, fde, 4);
	/* q: the CIE pointer, an offset back from its own address; 8 bytes in the 64-bit format */
	const uint8_t *q, *end, *cie;
	if (len32 == 0xffffffffu) {
		uint64_t len64, off64;
		memcpy(&len64, fde + 4, 8);
		q = fde + 12;
		end = q + len64;
		memcpy(&off64, q, 8);
		cie = off64 ? q - off64 : NULL;
		q += 8;
	} else {
		uint32_t off32;
		q = fde + 4;
		end = q + len32;
		memcpy(&off32, q, 4);
		cie = off32 ? q - off32 : NULL;
		q += 4;
	}
	struct cfi_cie c;
	uintptr_t begin, range;
	if (!cie || !cfi_cie_parse(cie, &c) ||
	    !cfi_encoded(&q, end, c.fde_enc, 0, &begin) ||
	    !cfi_encoded(&q, end, c.fde_enc & 0x0f, 0, &range))
		return;
	if (pc < begin || pc - begin >= range)
		return; /* in a gap between functions: no FDE */
	if (c.has_z) {
		uint64_t alen = cfi_uleb(&q, end);
		if (alen > (uint64_t)(end - q))
			return;
		q += alen;
	}
	cfi_row_rule(&c, q, end, begin, pc, out);
}

struct cfi_find {
	uintptr_t pc;
	struct cfi_module found;
	unsigned long long subs;
	bool have_subs;
};

static int cfi_find_module(struct dl_phdr_info *info, size_t size, void *data)
{
	struct cfi_find *f = data;
	if (!f->have_subs && size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
		f->subs = info->dlpi_subs;
		f->have_subs = true;
	}
	const ElfW(Phdr) *text = NULL, *eh = NULL;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && f->pc >= start && f->pc - start < ph->p_memsz)
			text = ph;
		else if (ph->p_type == PT_GNU_EH_FRAME)
			eh = ph;
	}
	if (!text)
		return 0;
	f->found.lo = info->dlpi_addr + text->p_vaddr;
	f->found.hi = f->found.lo + text->p_memsz;
	f->found.hdr = eh ? (const uint8_t *)(info->dlpi_addr + eh->p_vaddr) : NULL;
	return 1;
}

void cfi_rule_compute(uintptr_t pc, uint64_t epoch, struct cfi_rule *out, bool *subs_changed)
{
	struct cfi_module *m = &cfi_last_module;
	out->kind = CFI_FALLBACK;
	*subs_changed = false;
	if (m->hdr == NULL || m->epoch != epoch || pc < m->lo || pc >= m->hi) {
		struct cfi_find f = {.pc = pc};
		m->hdr = NULL;
		if (!dl_iterate_phdr(cfi_find_module, &f) || !f.found.hdr)
			return;
		/* an unload that did not pass through our dlclose (glibc's own NSS or iconv modules):
		 * the caller moves the epoch on so no rule cached before it is served */
		if (f.have_subs &&
		    __atomic_exchange_n(&cfi_seen_subs, f.subs, __ATOMIC_RELAXED) != f.subs)
			*subs_changed = true;
		*m = f.found;
		m->epoch = epoch;
	}
	cfi_fde_rule(m->hdr, pc, out);
}

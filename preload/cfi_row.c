/* Runs DWARF call frame instructions (a CIE's, then an FDE's) up to a pc and reduces the row in
 * force there to a compact rule. Tracks only what the walk needs: the CFA, the return address and
 * the frame pointer; a rule of another kind on any of them (expression, register, val_offset) or an
 * unknown instruction gives CFI_FALLBACK. Never allocates; every read stays in [insns, end). */
#include "cfi.h"

enum cfi_how { CFI_HOW_SAME = 0, CFI_HOW_OFFSET, CFI_HOW_UNDEF, CFI_HOW_OTHER };

struct cfi_row {
	uint64_t cfa_reg;
	int64_t cfa_off;
	bool cfa_other; /* CFA by expression */
	uint8_t ra_how, fp_how, sp_how;
	int64_t ra_off, fp_off;
};

#define CFI_REMEMBER_MAX 8

struct cfi_run {
	const struct cfi_cie *cie;
	struct cfi_row row, initial; /* initial: after the CIE's instructions (DW_CFA_restore) */
	struct cfi_row saved[CFI_REMEMBER_MAX];
	int nsaved;
	bool bad;
};

/* Sets how register reg is recovered; registers the walk does not use are ignored. */
static void cfi_set(struct cfi_run *r, uint64_t reg, uint8_t how, int64_t off)
{
	if (reg == r->cie->ra_reg) {
		r->row.ra_how = how;
		r->row.ra_off = off;
	} else if (reg == (uint64_t)cfi_reg_fp) {
		r->row.fp_how = how;
		r->row.fp_off = off;
	} else if (reg == (uint64_t)cfi_reg_sp) {
		r->row.sp_how = how; /* the walk takes SP = CFA; any explicit rule is not expressed */
	}
}

static void cfi_restore(struct cfi_run *r, uint64_t reg)
{
	if (reg == r->cie->ra_reg) {
		r->row.ra_how = r->initial.ra_how;
		r->row.ra_off = r->initial.ra_off;
	} else if (reg == (uint64_t)cfi_reg_fp) {
		r->row.fp_how = r->initial.fp_how;
		r->row.fp_off = r->initial.fp_off;
	} else if (reg == (uint64_t)cfi_reg_sp) {
		r->row.sp_how = r->initial.sp_how;
	}
}

/* The instructions with a register operand and no location change. */
static void cfi_reg_op(struct cfi_run *r, uint8_t op, const uint8_t **p, const uint8_t *end)
{
	const struct cfi_cie *c = r->cie;
	uint64_t reg = cfi_uleb(p, end);
	switch (op) {
	case 0x05: /* offset_extended */
		cfi_set(r, reg, CFI_HOW_OFFSET, (int64_t)cfi_uleb(p, end) * c->data_align);
		break;
	case 0x06: /* restore_extended */
		cfi_restore(r, reg);
		break;
	case 0x07: /* undefined */
		cfi_set(r, reg, CFI_HOW_UNDEF, 0);
		break;
	case 0x08: /* same_value */
		cfi_set(r, reg, CFI_HOW_SAME, 0);
		break;
	case 0x09: /* register */
		cfi_uleb(p, end);
		cfi_set(r, reg, CFI_HOW_OTHER, 0);
		break;
	case 0x10: /* expression */
	case 0x16: { /* val_expression */
		uint64_t len = cfi_uleb(p, end);
		*p = len > (uint64_t)(end - *p) ? end : *p + len;
		cfi_set(r, reg, CFI_HOW_OTHER, 0);
		break;
	}
	case 0x11: /* offset_extended_sf */
		cfi_set(r, reg, CFI_HOW_OFFSET, cfi_sleb(p, end) * c->data_align);
		break;
	case 0x14: /* val_offset */
		cfi_uleb(p, end);
		cfi_set(r, reg, CFI_HOW_OTHER, 0);
		break;
	case 0x15: /* val_offset_sf */
		cfi_sleb(p, end);
		cfi_set(r, reg, CFI_HOW_OTHER, 0);
		break;
	case 0x2f: /* GNU_negative_offset_extended */
		cfi_set(r, reg, CFI_HOW_OFFSET, -(int64_t)cfi_uleb(p, end) * c->data_align);
		break;
	}
}

/* The instructions that define the CFA or keep state. */
static void cfi_cfa_op(struct cfi_run *r, uint8_t op, const uint8_t **p, const uint8_t *end)
{
	const struct cfi_cie *c = r->cie;
	switch (op) {
	case 0x0a: /* remember_state */
		if (r->nsaved == CFI_REMEMBER_MAX)
			r->bad = true;
		else
			r->saved[r->nsaved++] = r->row;
		break;
	case 0x0b: /* restore_state */
		if (r->nsaved == 0)
			r->bad = true;
		else
			r->row = r->saved[--r->nsaved];
		break;
	case 0x0c: /* def_cfa */
		r->row.cfa_reg = cfi_uleb(p, end);
		r->row.cfa_off = (int64_t)cfi_uleb(p, end);
		r->row.cfa_other = false;
		break;
	case 0x0d: /* def_cfa_register */
		r->row.cfa_reg = cfi_uleb(p, end);
		break;
	case 0x0e: /* def_cfa_offset */
		r->row.cfa_off = (int64_t)cfi_uleb(p, end);
		break;
	case 0x0f: { /* def_cfa_expression */
		uint64_t len = cfi_uleb(p, end);
		*p = len > (uint64_t)(end - *p) ? end : *p + len;
		r->row.cfa_other = true;
		break;
	}
	case 0x12: /* def_cfa_sf */
		r->row.cfa_reg = cfi_uleb(p, end);
		r->row.cfa_off = cfi_sleb(p, end) * c->data_align;
		r->row.cfa_other = false;
		break;
	case 0x13: /* def_cfa_offset_sf */
		r->row.cfa_off = cfi_sleb(p, end) * c->data_align;
		break;
	case 0x2e: /* GNU_args_size: the caller's stack adjustment, not the CFA */
		cfi_uleb(p, end);
		break;
	default:
		r->bad = true;
	}
}

/* Runs [p, end) while the location stays at or below pc. */
static void cfi_run_insns(struct cfi_run *r, const uint8_t *p, const uint8_t *end, uintptr_t loc,
			  uintptr_t pc)
{
	const struct cfi_cie *c = r->cie;
	while (p < end && !r->bad) {
		uint8_t op = *p++, low = op & 0x3f;
		uint64_t advance = 0;
		switch (op >> 6) {
		case 1: advance = low; break;
		case 2: cfi_set(r, low, CFI_HOW_OFFSET, (int64_t)cfi_uleb(&p, end) * c->data_align); continue;
		case 3: cfi_restore(r, low); continue;
		}
		if (op >> 6 == 0) {
			switch (op) {
			case 0x00: continue; /* nop */
			case 0x01: { /* set_loc */
				uintptr_t to;
				if (!cfi_encoded(&p, end, c->fde_enc, 0, &to)) {
					r->bad = true;
					return;
				}
				if (to > pc)
					return;
				loc = to;
				continue;
			}
			case 0x02: if (p + 1 > end) return; advance = p[0]; p += 1; break;
			case 0x03: if (p + 2 > end) return; advance = p[0] | (uint64_t)p[1] << 8; p += 2; break;
			case 0x04:
				if (p + 4 > end)
					return;
				advance = p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24;
				p += 4;
				break;
			case 0x05: case 0x06: case 0x07: case 0x08: case 0x09: case 0x10:
			case 0x11: case 0x14: case 0x15: case 0x16: case 0x2f:
				cfi_reg_op(r, op, &p, end);
				continue;
			default:
				cfi_cfa_op(r, op, &p, end);
				continue;
			}
		}
		loc += advance * c->code_align;
		if (loc > pc)
			return;
	}
}

/* An RA or FP offset the rule word holds (a multiple of 8 in [-1024, 1016]). */
static bool cfi_off_fits(int64_t off)
{
	return !(off & 7) && off >= -1024 && off <= 1016;
}

static void cfi_row_reduce(const struct cfi_row *row, struct cfi_rule *out)
{
	out->kind = CFI_FALLBACK;
	if (row->ra_how == CFI_HOW_UNDEF) {
		out->kind = CFI_LAST;
		return;
	}
	if (row->cfa_other || row->sp_how != CFI_HOW_SAME || row->ra_how != CFI_HOW_OFFSET ||
	    (row->fp_how != CFI_HOW_SAME && row->fp_how != CFI_HOW_OFFSET))
		return;
	if (row->cfa_reg != (uint64_t)cfi_reg_sp && row->cfa_reg != (uint64_t)cfi_reg_fp)
		return;
	if (row->cfa_off <= 0 || row->cfa_off >= (int64_t)CFI_CFA_OFF_LIMIT)
		return;
	bool fp_saved = row->fp_how == CFI_HOW_OFFSET;
	int64_t ra_off = row->ra_off, fp_off = fp_saved ? row->fp_off : 0;
	bool from_base = false;
	if (!cfi_off_fits(ra_off) || !cfi_off_fits(fp_off)) {
		/* a large frame with its saved registers near its bottom (aarch64's frame record) */
		ra_off += row->cfa_off;
		fp_off = fp_saved ? fp_off + row->cfa_off : 0;
		from_base = true;
		if (!cfi_off_fits(ra_off) || !cfi_off_fits(fp_off))
			return;
	}
	out->kind = CFI_STEP;
	out->cfa_on_fp = row->cfa_reg == (uint64_t)cfi_reg_fp;
	out->cfa_off = (uint32_t)row->cfa_off;
	out->from_base = from_base;
	out->ra_off = (int32_t)ra_off;
	out->fp_saved = fp_saved;
	out->fp_off = (int32_t)fp_off;
}

void cfi_row_rule(const struct cfi_cie *c, const uint8_t *insns, const uint8_t *end,
		  uintptr_t pc_begin, uintptr_t pc, struct cfi_rule *out)
{
	struct cfi_run r = {.cie = c};
	out->kind = CFI_FALLBACK;
	/* Before any instruction the return address has no rule: a CIE that does not give one is
	 * not expressed. */
	r.row.ra_how = CFI_HOW_OTHER;
	cfi_run_insns(&r, c->insns, c->insns_end, pc_begin, UINTPTR_MAX);
	if (r.bad || c->signal)
		return;
	r.initial = r.row;
	r.nsaved = 0;
	cfi_run_insns(&r, insns, end, pc_begin, pc);
	if (r.bad)
		return;
	cfi_row_reduce(&r.row, out);
}

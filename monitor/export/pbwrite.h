/* pbwrite: a minimal protocol-buffers encoder (varints, length-delimited fields, packed repeated
 * integers) into a growing byte buffer, enough for profile.proto. Never aborts: a failed
 * allocation sticks in `failed` and every later call is a no-op. */
#ifndef MEMTOP_PBWRITE_H
#define MEMTOP_PBWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pbw {
	uint8_t *data;
	size_t len, cap;
	bool failed;
};

void pbw_free(struct pbw *b);
void pbw_reset(struct pbw *b);          /* len = 0, keeps the memory */
void pbw_raw_varint(struct pbw *b, uint64_t v);
/* field as a varint (wire type 0); int64 negatives take ten bytes, as the spec says */
void pbw_uint(struct pbw *b, uint32_t field, uint64_t v);
void pbw_int(struct pbw *b, uint32_t field, int64_t v);
void pbw_bool(struct pbw *b, uint32_t field, bool v);
/* length-delimited (wire type 2): strings, bytes, embedded messages */
void pbw_bytes(struct pbw *b, uint32_t field, const void *data, size_t len);
void pbw_string(struct pbw *b, uint32_t field, const char *s);
void pbw_message(struct pbw *b, uint32_t field, const struct pbw *msg);
/* packed repeated varints; scratch is any buffer, reused */
void pbw_packed_u64(struct pbw *b, uint32_t field, const uint64_t *v, size_t n, struct pbw *scratch);
void pbw_packed_i64(struct pbw *b, uint32_t field, const int64_t *v, size_t n, struct pbw *scratch);

/* Reading back (tests, and to check what is written): one field at *pos. Returns false at the end
 * or on a malformed field. For wire type 0 *value is set; for 2 *data and *len. */
bool pbw_next(const uint8_t *buf, size_t len, size_t *pos, uint32_t *field, int *wire,
	      uint64_t *value, const uint8_t **data, size_t *dlen);

#endif

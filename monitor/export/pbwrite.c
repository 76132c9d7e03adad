/* pbwrite: protocol-buffers wire format, write side plus a field reader for the tests. Bounds
 * checked everywhere on the read side (it may be given any bytes); allocation failure is sticky. */
#include "export/pbwrite.h"

#include <stdlib.h>
#include <string.h>

void pbw_free(struct pbw *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void pbw_reset(struct pbw *b)
{
	b->len = 0;
}

static bool reserve(struct pbw *b, size_t more)
{
	if (b->failed)
		return false;
	if (b->len + more <= b->cap)
		return true;
	size_t nc = b->cap ? b->cap : 256;
	while (nc < b->len + more)
		nc *= 2;
	uint8_t *nd = realloc(b->data, nc);
	if (!nd) {
		b->failed = true;
		return false;
	}
	b->data = nd;
	b->cap = nc;
	return true;
}

void pbw_raw_varint(struct pbw *b, uint64_t v)
{
	if (!reserve(b, 10))
		return;
	do {
		uint8_t byte = v & 0x7f;
		v >>= 7;
		b->data[b->len++] = byte | (v ? 0x80 : 0);
	} while (v);
}

static void tag(struct pbw *b, uint32_t field, int wire)
{
	pbw_raw_varint(b, ((uint64_t)field << 3) | (uint64_t)wire);
}

void pbw_uint(struct pbw *b, uint32_t field, uint64_t v)
{
	tag(b, field, 0);
	pbw_raw_varint(b, v);
}

void pbw_int(struct pbw *b, uint32_t field, int64_t v)
{
	pbw_uint(b, field, (uint64_t)v);
}

void pbw_bool(struct pbw *b, uint32_t field, bool v)
{
	pbw_uint(b, field, v ? 1 : 0);
}

void pbw_bytes(struct pbw *b, uint32_t field, const void *data, size_t len)
{
	tag(b, field, 2);
	pbw_raw_varint(b, len);
	if (len && reserve(b, len)) {
		memcpy(b->data + b->len, data, len);
		b->len += len;
	}
}

void pbw_string(struct pbw *b, uint32_t field, const char *s)
{
	pbw_bytes(b, field, s, strlen(s));
}

void pbw_message(struct pbw *b, uint32_t field, const struct pbw *msg)
{
	if (msg->failed)
		b->failed = true;
	pbw_bytes(b, field, msg->data, msg->len);
}

void pbw_packed_u64(struct pbw *b, uint32_t field, const uint64_t *v, size_t n, struct pbw *scratch)
{
	if (!n)
		return;
	pbw_reset(scratch);
	for (size_t i = 0; i < n; i++)
		pbw_raw_varint(scratch, v[i]);
	pbw_message(b, field, scratch);
}

void pbw_packed_i64(struct pbw *b, uint32_t field, const int64_t *v, size_t n, struct pbw *scratch)
{
	if (!n)
		return;
	pbw_reset(scratch);
	for (size_t i = 0; i < n; i++)
		pbw_raw_varint(scratch, (uint64_t)v[i]);
	pbw_message(b, field, scratch);
}

static bool read_varint(const uint8_t *buf, size_t len, size_t *pos, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (*pos >= len)
			return false;
		uint8_t byte = buf[(*pos)++];
		*v |= (uint64_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80))
			return true;
	}
	return false;
}

bool pbw_next(const uint8_t *buf, size_t len, size_t *pos, uint32_t *field, int *wire,
	      uint64_t *value, const uint8_t **data, size_t *dlen)
{
	uint64_t key;
	if (*pos >= len || !read_varint(buf, len, pos, &key) || key >> 3 == 0 || key >> 3 > UINT32_MAX)
		return false;
	*field = (uint32_t)(key >> 3);
	*wire = (int)(key & 7);
	if (*wire == 0)
		return read_varint(buf, len, pos, value);
	if (*wire != 2)
		return false; /* profile.proto uses no fixed-width fields */
	uint64_t n;
	if (!read_varint(buf, len, pos, &n) || n > len - *pos)
		return false;
	*data = buf + *pos;
	*dlen = (size_t)n;
	*pos += (size_t)n;
	return true;
}

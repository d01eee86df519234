/*
 * libFuzzer harness for pbjson: the first byte picks a message type (the test
 * types, then every pb_registry entry), the rest is decoded as JSON. Anything
 * that decodes must re-encode, decode again to the same binary packing, and
 * re-encode to the same text; a failed decode must leave a clean error.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* The module itself, so that libFuzzer instruments it (fiducia_proto is not
 * built with coverage); the archive's copy is then never pulled in. */
#include "pbjson.c"
#include "testtypes.pb-c.h"
#include "testtypes_p2.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The descriptor chosen by sel: fixed test types first, then the registry. */
static const ProtobufCMessageDescriptor *pick(uint8_t sel)
{
	static const ProtobufCMessageDescriptor *const fixed[] = {
	        &fiducia__test__all_types__descriptor,
	        &fiducia__test__legacy__descriptor,
	        &fiducia__test__node__descriptor,
	};
	size_t n_fixed = sizeof fixed / sizeof fixed[0], n_reg = 0;
	while (pb_registry[n_reg])
		n_reg++;
	size_t i = sel % (n_fixed + n_reg);
	return i < n_fixed ? fixed[i] : pb_registry[i - n_fixed];
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
	*len = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(*len + 1);
	if (!buf || protobuf_c_message_pack(m, buf) != *len)
		abort();
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const ProtobufCMessageDescriptor *desc = pick(data[0]);
	const char *json = (const char *)data + 1;
	size_t len = size - 1;

	ProtobufCMessage *m1 = NULL, *m2 = NULL;
	pbjson_error err;
	if (!pbjson_decode(desc, json, len, NULL, &m1, &err)) {
		size_t el = strnlen(err.message, sizeof err.message);
		if (m1 || el == 0 || el >= sizeof err.message)
			abort();
		return 0;
	}
	size_t l1, l2, p1, p2;
	char *j1 = pbjson_encode(m1, &l1);
	if (!j1 || strlen(j1) != l1)
		abort();
	if (!pbjson_decode(desc, j1, l1, NULL, &m2, &err))
		abort(); /* our own output must decode */
	uint8_t *b1 = pack(m1, &p1), *b2 = pack(m2, &p2);
	if (p1 != p2 || memcmp(b1, b2, p1) != 0)
		abort();
	char *j2 = pbjson_encode(m2, &l2);
	if (!j2 || l1 != l2 || memcmp(j1, j2, l1) != 0)
		abort();
	free(b1);
	free(b2);
	free(j1);
	free(j2);
	protobuf_c_message_free_unpacked(m1, NULL);
	protobuf_c_message_free_unpacked(m2, NULL);
	return 0;
}

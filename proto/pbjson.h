/*
 * pbjson: the canonical proto3 JSON mapping, implemented once and generically
 * over protobuf-c message descriptors. Every API body goes through it; there
 * is no per-message JSON code anywhere in Fiducia.
 */
#ifndef FIDUCIA_PBJSON_H
#define FIDUCIA_PBJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

#define PBJSON_MAX_DEPTH 32

typedef struct pbjson_error {
	/* Human-readable, names the JSON path ("$.columns[2].type") or, for a
	 * syntax error, the byte offset. Never contains a string value taken
	 * from the input (it may be a secret or a raw identifier). */
	char message[256];
} pbjson_error;

/*
 * Encode msg as canonical proto3 JSON: lowerCamelCase names, fields with
 * their default value omitted, 64-bit integers as strings, enums by name,
 * bytes as standard base64, google.protobuf.Timestamp as RFC 3339.
 * Returns a malloc'd NUL-terminated string (caller frees with free()), its
 * length in *len_out when len_out is not NULL; NULL on out-of-memory.
 */
char *pbjson_encode(const ProtobufCMessage *msg, size_t *len_out)
        __attribute__((warn_unused_result));

/*
 * Decode JSON text (not necessarily NUL-terminated) into a new message of
 * type desc. Accepts lowerCamelCase and the original proto field names,
 * 64-bit integers as strings or numbers, enums by name or number, bytes in
 * standard or URL-safe base64 (padding optional), null as the default value.
 * Rejects: malformed JSON, duplicate keys, unknown fields, wrong types,
 * out-of-range numbers, unknown enum names, bad base64, nesting deeper than
 * PBJSON_MAX_DEPTH, top-level values that are not objects.
 * On success returns true and *out owns a message allocated with alloc
 * (NULL = protobuf-c's default allocator); free it with
 * protobuf_c_message_free_unpacked(*out, alloc).
 * On failure returns false, *out is NULL, err describes the fault and
 * nothing is leaked.
 */
bool pbjson_decode(const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
                   ProtobufCAllocator *alloc, ProtobufCMessage **out, pbjson_error *err)
        __attribute__((warn_unused_result));

/*
 * As pbjson_decode, but fields the descriptor does not know are skipped
 * instead of refused, and an unknown enum name reads as the enum's default
 * (0), as the proto3 JSON mapping prescribes for readers that ignore
 * unknown fields. For clients reading a newer server's responses, which
 * may carry fields added since; the server never decodes requests this way.
 */
bool pbjson_decode_lenient(const ProtobufCMessageDescriptor *desc, const char *json, size_t len,
                           ProtobufCAllocator *alloc, ProtobufCMessage **out, pbjson_error *err)
        __attribute__((warn_unused_result));

/* NULL-terminated list of every top-level fiducia.v1 message (generated). */
extern const ProtobufCMessageDescriptor *const pb_registry[];

#endif

/*
 * output: how the fiducia CLI prints. Human output is "label: value" lines
 * and aligned tables with control characters made harmless; --json output is
 * the server's body on one line; errors go to stderr in one fixed shape.
 */
#ifndef FIDUCIA_OUTPUT_H
#define FIDUCIA_OUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "client.h"
#include "google/protobuf/timestamp.pb-c.h"

#define OUTPUT_TIME_MAX 40 /* bytes of an RFC 3339 time, with NUL */

/* The JSON text body (len bytes) on one line: its raw CR and LF (never
 * inside a JSON string) are dropped, and one '\n' ends it. */
void output_json_line(FILE *out, const char *body, size_t len);

/* ts as RFC 3339 UTC to the second ("2025-01-31T12:00:00Z") into buf; "-"
 * when ts is NULL or outside years 1-9999. Returns buf. */
const char *output_time(char buf[OUTPUT_TIME_MAX], const Google__Protobuf__Timestamp *ts);

/* "label: value\n"; value "" or NULL prints "-". */
void output_field(FILE *out, const char *label, const char *value);

/* s with every control character (and DEL) shown as '?', so that a server's
 * text cannot drive the terminal. */
void output_text(FILE *out, const char *s);

/*
 * The error of a failed call, on stderr: an HTTP error as
 * "fiducia: <status> <code>: <message> (request <id>)", no response as
 * "fiducia: cannot reach <url>: <reason>", anything else as
 * "fiducia: <reason>". Returns the exit code for it (see cli.h).
 */
int output_call_error(const char *url, client_status st, const client_result *res);

#define OUTPUT_NUM_MAX 48 /* bytes of a formatted number, with NUL */

/*
 * v for a reader into buf: six significant digits without an exponent
 * between 1e-4 and 1e15 (1234.5, 0.0125, 12345678), "%.6g" outside,
 * "NaN", "Infinity" or "-Infinity" when not finite. Returns buf.
 */
const char *output_number(char buf[OUTPUT_NUM_MAX], double v);

/* v in the fewest significant digits (15 to 17) that read back as exactly
 * v, for machine-readable output. Returns buf. */
const char *output_number_exact(char buf[OUTPUT_NUM_MAX], double v);

/* s as one CSV field (RFC 4180): in double quotes, inner quotes doubled,
 * when it holds a comma, a quote, CR or LF; as is otherwise. */
void output_csv_field(FILE *out, const char *s);

/* A table of text columns, printed aligned with two spaces between them
 * (widths counted in UTF-8 characters). */
typedef struct output_table output_table;

/* ncols column headings (copied). NULL on out-of-memory. */
output_table *output_table_new(size_t ncols, const char *const *headings)
        __attribute__((warn_unused_result));
/* One row of ncols cells (copied; NULL or "" prints "-"). false on out-of-memory. */
bool output_table_add(output_table *t, const char *const *cells)
        __attribute__((warn_unused_result));
void output_table_print(const output_table *t, FILE *out);
void output_table_free(output_table *t);

#endif

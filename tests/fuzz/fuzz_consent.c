/*
 * libFuzzer harness for consent imports (server/consent_parse.c): the first
 * byte picks the format (JSON record or array, NDJSON, ConsentBatch
 * protobuf) and the subject column's type (STRING or INT64); the rest is the
 * body. Whatever the input: a failure leaves a message and nothing to
 * store; a success has one pseudonym, hash, id and validity per record,
 * insert arrays for every record, and no raw subject identifier left in
 * the decoded records (each is wiped).
 */
#include "../../policy/pdp.c"
#include "../../policy/pdp_compile.c"
#include "../../policy/pdp_decide.c"
#include "../../server/schema.c"
#include "../../server/batch.c"
#include "../../server/consent_parse.c"

static pdp_vocab *fz_vocab;
static schema fz_schema[2];
static uint8_t fz_key[32];

static void fz_init(void)
{
	if (sodium_init() < 0)
		abort();
	FILE *f = fopen(FIDUCIA_SOURCE_DIR "/policy/purposes.json", "rb");
	if (!f)
		abort();
	char *buf = malloc(1 << 20);
	size_t n = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
	fclose(f);
	pdp_error e;
	fz_vocab = pdp_vocab_load(buf, n, &e);
	free(buf);
	if (!fz_vocab)
		abort();
	for (int t = 0; t < 2; t++) {
		Fiducia__V1__Column c[2], *cp[2] = {&c[0], &c[1]};
		fiducia__v1__column__init(&c[0]);
		fiducia__v1__column__init(&c[1]);
		c[0].name = "host_id";
		c[0].type =
		        t ? FIDUCIA__V1__COLUMN__TYPE__INT64 : FIDUCIA__V1__COLUMN__TYPE__STRING;
		c[0].role = FIDUCIA__V1__COLUMN__ROLE__SUBJECT;
		c[1].name = "nights";
		c[1].type = FIDUCIA__V1__COLUMN__TYPE__INT64;
		c[1].role = FIDUCIA__V1__COLUMN__ROLE__MEASURE;
		c[1].max = 365;
		char err[256];
		if (!schema_from_pb(&fz_schema[t], true, 2, cp, err, sizeof err))
			abort();
	}
	memset(fz_key, 7, sizeof fz_key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fz_vocab)
		fz_init();
	if (size < 1)
		return 0;
	consent_import im = {0};
	im.format = data[0] % 3;
	im.vocab = fz_vocab;
	im.intermediary = "fuzz";
	im.intermediary_contact = "";
	im.dataset = "ds-0000000000000000";
	im.holder = "holder";
	im.sch = &fz_schema[(data[0] / 3) & 1];
	im.subject_key = fz_key;
	im.given_at = 1767225600000000LL;
	/* The parser may not read past the body: give it an exact copy. */
	char *body = malloc(size);
	if (!body)
		abort();
	memcpy(body, data + 1, size - 1);
	bool ok = consent_import_parse(&im, body, size - 1);
	if (!ok) {
		if (!im.status || !im.err[0])
			abort();
	} else {
		if (im.status || im.n == 0 || im.n > CONSENT_MAX_RECORDS || !im.pseud || !im.hash ||
		    !im.pv || !im.all_ids)
			abort();
		if (im.nchunks != (im.n + CONSENT_INSERT_CHUNK - 1) / CONSENT_INSERT_CHUNK)
			abort();
		for (size_t i = 0; i < im.nchunks * 7; i++)
			if (!im.sql_arrays[i] || im.sql_arrays[i][0] != '{')
				abort();
		for (size_t k = 0; k < im.n; k++) {
			if (strncmp(im.pv[k].id, "cr-", 3) != 0 || strlen(im.pv[k].id) != 19)
				abort();
			if (im.pv[k].until && im.pv[k].until <= im.pv[k].from)
				abort();
			if (im.recs[k]->subject && im.recs[k]->subject[0])
				abort(); /* a raw identifier survived the parse */
			if (im.recs[k]->n_purposes < 1)
				abort();
		}
	}
	/* Nor on failure: every decoded record's subject is wiped. */
	for (size_t k = 0; k < im.n; k++)
		if (im.recs[k]->subject && im.recs[k]->subject[0])
			abort();
	consent_import_clear(&im);
	free(body);
	return 0;
}

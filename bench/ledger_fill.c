/*
 * bench_ledger_fill: put N ledger entries in ledger_pending (COPY), each a
 * real LedgerEntry with a valid MAC under the deployment's ledger key, so
 * that a running fiduciad's sequencer places them in the tree as it places
 * any entry. For the proof-latency benchmark at a million entries.
 * usage: bench_ledger_fill CONNINFO LEDGER_KEY_FILE N
 */
#include "ledger_seq.h"
#include "fiducia/v1/ledger.pb-c.h"

#include <libpq-fe.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s CONNINFO LEDGER_KEY_FILE N\n", argv[0]);
		return 2;
	}
	long n = atol(argv[3]);
	if (sodium_init() < 0 || n < 1)
		return 2;
	uint8_t seed[crypto_sign_SEEDBYTES], pk[crypto_sign_PUBLICKEYBYTES],
	        sk[crypto_sign_SECRETKEYBYTES];
	FILE *f = fopen(argv[2], "rb");
	if (!f || fread(seed, 1, sizeof seed, f) != sizeof seed)
		return fprintf(stderr, "cannot read the ledger key\n"), 1;
	fclose(f);
	crypto_sign_seed_keypair(pk, sk, seed);
	PGconn *c = PQconnectdb(argv[1]);
	if (PQstatus(c) != CONNECTION_OK)
		return fprintf(stderr, "%s", PQerrorMessage(c)), 1;
	PGresult *r = PQexec(c, "COPY ledger_pending (entry, mac, actor_org, target_org, action) "
	                        "FROM STDIN");
	if (PQresultStatus(r) != PGRES_COPY_IN)
		return fprintf(stderr, "%s", PQerrorMessage(c)), 1;
	PQclear(r);
	struct timeval tv;
	gettimeofday(&tv, NULL);
	int64_t t0 = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
	char *line = malloc(4096);
	for (long i = 0; i < n; i++) {
		char target[32];
		snprintf(target, sizeof target, "fill-%ld", i);
		Fiducia__V1__LedgerEntry e = FIDUCIA__V1__LEDGER_ENTRY__INIT;
		e.time_unix_micros = t0 + i;
		e.actor_org = "operator";
		e.actor_role = "operator";
		e.target_org = target;
		e.action = FIDUCIA__V1__LEDGER_ENTRY__ACTION__ORG_CREATED;
		e.decision = FIDUCIA__V1__LEDGER_ENTRY__DECISION__GRANTED;
		uint8_t buf[512], mac[LEDGER_MAC_BYTES];
		size_t len = protobuf_c_message_pack(&e.base, buf);
		ledger_entry_mac(sk, buf, len, mac);
		char eh[1025], mh[2 * LEDGER_MAC_BYTES + 1];
		sodium_bin2hex(eh, sizeof eh, buf, len);
		sodium_bin2hex(mh, sizeof mh, mac, sizeof mac);
		int l = snprintf(line, 4096, "\\\\x%s\t\\\\x%s\toperator\t%s\tORG_CREATED\n", eh,
		                 mh, target);
		if (PQputCopyData(c, line, l) != 1)
			return fprintf(stderr, "%s", PQerrorMessage(c)), 1;
	}
	free(line);
	if (PQputCopyEnd(c, NULL) != 1)
		return fprintf(stderr, "%s", PQerrorMessage(c)), 1;
	r = PQgetResult(c);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		return fprintf(stderr, "%s", PQerrorMessage(c)), 1;
	PQclear(r);
	PQfinish(c);
	sodium_memzero(seed, sizeof seed);
	sodium_memzero(sk, sizeof sk);
	return 0;
}

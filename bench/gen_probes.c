/*
 * gen_probes: N rows of the vault issue's probe-speeds schema as CSV on
 * stdout, deterministic for a seed. For the deposit benchmark only (the
 * demo's realistic generator is `fiducia demo generate`).
 * usage: bench_gen_probes ROWS [SEED]
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t s;

static uint64_t next(void) /* splitmix64 */
{
	uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s ROWS [SEED]\n", argv[0]);
		return 2;
	}
	long long rows = atoll(argv[1]);
	s = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
	static const char *districts[] = {"Lyon 1er", "Lyon 2e", "Lyon 3e", "Lyon 4e", "Lyon 5e",
	                                  "Lyon 6e",  "Lyon 7e", "Lyon 8e", "Lyon 9e"};
	static char buf[1 << 16];
	setvbuf(stdout, buf, _IOFBF, sizeof buf);
	puts("driver_id,pub_time,district,road_type,speed_kmh,delay_s");
	int64_t t = 1767225600000LL; /* 2026-01-01T00:00:00Z in ms */
	for (long long i = 0; i < rows; i++) {
		uint64_t r = next();
		t += (int64_t)(r % 500);
		unsigned driver = (unsigned)((r >> 9) % 200000);
		unsigned d = (unsigned)((r >> 27) % 9);
		unsigned road = 1 + (unsigned)((r >> 31) % 7);
		double speed = (double)((r >> 34) % 13000) / 100.0;
		unsigned delay = (unsigned)((r >> 48) % 3601);
		printf("drv-%06u,%" PRId64 ",%s,%u,%.2f,%u\n", driver, t, districts[d], road, speed,
		       delay);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

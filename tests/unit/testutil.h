/*
 * A minimal test harness for Fiducia's C unit and integration tests: CHECK
 * records a failure and goes on, TEST_MAIN runs the listed cases and prints
 * the plain "N passed, N failed" closing line. Exit status is non-zero on any
 * failure, which is what ctest reads.
 */
#ifndef FIDUCIA_TESTUTIL_H
#define FIDUCIA_TESTUTIL_H

#include <stdio.h>
#include <string.h>

static int tu_checks_failed;
static int tu_cases_passed, tu_cases_failed;

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
			tu_checks_failed++;                                                        \
		}                                                                                  \
	} while (0)

#define CHECK_STR_EQ(a, b)                                                                         \
	do {                                                                                       \
		const char *tu_a = (a), *tu_b = (b);                                               \
		if (!tu_a || !tu_b || strcmp(tu_a, tu_b) != 0) {                                   \
			fprintf(stderr,                                                            \
			        "%s:%d: CHECK_STR_EQ failed: %s == %s (\"%s\" vs \"%s\")\n",       \
			        __FILE__, __LINE__, #a, #b, tu_a ? tu_a : "(null)",                \
			        tu_b ? tu_b : "(null)");                                           \
			tu_checks_failed++;                                                        \
		}                                                                                  \
	} while (0)

#define CHECK_CONTAINS(hay, needle)                                                                \
	do {                                                                                       \
		const char *tu_h = (hay), *tu_n = (needle);                                        \
		if (!tu_h || !strstr(tu_h, tu_n)) {                                                \
			fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__,       \
			        __LINE__, tu_h ? tu_h : "(null)", tu_n);                           \
			tu_checks_failed++;                                                        \
		}                                                                                  \
	} while (0)

typedef struct tu_case {
	const char *name;
	void (*fn)(void);
} tu_case;

#define TU_CASE(f)                                                                                 \
	{                                                                                          \
#f, f                                                                              \
	}

static inline int tu_run(const tu_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int before = tu_checks_failed;
		cases[i].fn();
		if (tu_checks_failed == before) {
			tu_cases_passed++;
			printf("ok - %s\n", cases[i].name);
		} else {
			tu_cases_failed++;
			printf("FAIL - %s\n", cases[i].name);
		}
	}
	printf("%d passed, %d failed\n", tu_cases_passed, tu_cases_failed);
	return tu_cases_failed ? 1 : 0;
}

#define TEST_MAIN(...)                                                                             \
	int main(void)                                                                             \
	{                                                                                          \
		static const tu_case tu_cases[] = {__VA_ARGS__};                                   \
		return tu_run(tu_cases, sizeof tu_cases / sizeof tu_cases[0]);                     \
	}

#endif

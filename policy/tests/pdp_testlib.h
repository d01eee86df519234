/*
 * Helpers shared by the policy unit tests: reading files from the source tree, writing JSON
 * with single quotes (turned into double quotes before parsing) and building test policies.
 */
#ifndef FIDUCIA_PDP_TESTLIB_H
#define FIDUCIA_PDP_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdp.h"
#include "testutil.h"

/* The whole of FIDUCIA_SOURCE_DIR/rel, NUL-terminated; caller frees. Aborts when missing. */
static inline char *pt_read(const char *rel, size_t *len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", FIDUCIA_SOURCE_DIR, rel);
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		abort();
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
		abort();
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

/* A copy of s with every ' turned into "; caller frees. */
static inline char *pt_dq(const char *s)
{
	char *d = strdup(s);
	if (!d)
		abort();
	for (char *p = d; *p; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

static inline pdp_vocab *pt_vocab(void)
{
	static pdp_vocab *v;
	if (!v) {
		size_t n;
		char *j = pt_read("policy/purposes.json", &n);
		pdp_error err;
		v = pdp_vocab_load(j, n, &err);
		if (!v) {
			fprintf(stderr, "purposes.json: %s: %s\n", err.pointer, err.message);
			abort();
		}
		free(j);
	}
	return v;
}

/* Compiles single-quoted JSON; NULL with *err on failure. */
static inline pdp_policy *pt_compile(pdp_scope scope, const char *sq, pdp_error *err)
{
	char *j = pt_dq(sq);
	pdp_policy *p = pdp_compile(pt_vocab(), scope, j, strlen(j), err);
	free(j);
	return p;
}

/* Compiles policy/examples/<name>.json; aborts on failure. */
static inline pdp_policy *pt_example(pdp_scope scope, const char *name)
{
	char rel[256];
	size_t n;
	pdp_error err;
	snprintf(rel, sizeof rel, "policy/examples/%s.json", name);
	char *j = pt_read(rel, &n);
	pdp_policy *p = pdp_compile(pt_vocab(), scope, j, n, &err);
	if (!p) {
		fprintf(stderr, "%s: %s: %s\n", rel, err.pointer, err.message);
		abort();
	}
	free(j);
	return p;
}

/* Building blocks of single-quoted test policies. */
#define PT_HDR(assigner, target)                                                                   \
	"'uid':'urn:test','profile':'urn:fiducia:odrl-profile:1','assigner':'" assigner            \
	"','target':'" target "'"
#define PT_C(lo, op, ro) "{'leftOperand':'" lo "','operator':'" op "','rightOperand':" ro "}"
#define PT_PERM(cons)    "{'action':'aggregate','constraint':[" cons "]}"
#define PT_PROHIB(cons)  "{'action':'aggregate','constraint':[" cons "]}"
/* A dataset policy for ds1 with the given permission and prohibition arrays' contents. */
#define PT_DS(perms, prohibs)                                                                      \
	"{" PT_HDR("holder", "ds1") ",'permission':[" perms "],'prohibition':[" prohibs "]}"
/* A dataset policy with one permission carrying the given constraints. */
#define PT_DSP(cons) PT_DS(PT_PERM(cons), "")
#define PT_BASE(perms, prohibs)                                                                    \
	"{" PT_HDR("operator", "*") ",'permission':[" perms "],'prohibition':[" prohibs "]}"

#endif

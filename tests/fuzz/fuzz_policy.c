/*
 * libFuzzer harness for the policy compiler (policy/pdp_compile.c): the input is compiled
 * as a baseline and as a dataset policy against the real purpose vocabulary; what compiles
 * then decides a few requests, and every decision must be well formed (a DENY explains
 * itself, a PERMIT carries no reason, reasons stay within their buffers).
 */
#include "../../policy/pdp.c"
#include "../../policy/pdp_compile.c"
#include "../../policy/pdp_decide.c"

static pdp_vocab *fz_vocab;
static pdp_policy *fz_base, *fz_traffic;

static char *fz_read(const char *rel, size_t *len)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", FIDUCIA_SOURCE_DIR, rel);
	FILE *f = fopen(path, "rb");
	if (!f)
		abort();
	char *buf = malloc(1 << 20);
	if (!buf)
		abort();
	*len = fread(buf, 1, (1 << 20) - 1, f);
	fclose(f);
	return buf;
}

static pdp_policy *fz_load_policy(pdp_scope scope, const char *rel)
{
	size_t n;
	pdp_error err;
	char *j = fz_read(rel, &n);
	pdp_policy *p = pdp_compile(fz_vocab, scope, j, n, &err);
	free(j);
	if (!p)
		abort();
	return p;
}

static void fz_init(void)
{
	size_t n;
	pdp_error err;
	char *j = fz_read("policy/purposes.json", &n);
	fz_vocab = pdp_vocab_load(j, n, &err);
	free(j);
	if (!fz_vocab)
		abort();
	fz_base = fz_load_policy(PDP_SCOPE_BASELINE, "policy/examples/baseline.json");
	fz_traffic = fz_load_policy(PDP_SCOPE_DATASET, "policy/examples/traffic-jams.json");
}

static void fz_check(const pdp_decision *d, pdp_effect e)
{
	if (e != d->effect || d->n_reasons > PDP_MAX_REASONS || d->n_matched > PDP_MAX_MATCHED)
		abort();
	if ((d->effect == PDP_DENY) != (d->n_reasons > 0))
		abort();
	for (size_t i = 0; i < d->n_reasons; i++)
		if (memchr(d->reasons[i], '\0', PDP_REASON_LEN) == NULL || d->reasons[i][0] == '\0')
			abort();
	if (d->effect == PDP_DENY && (d->obligations.min_k || d->obligations.has_epsilon_budget))
		abort();
}

static void fz_decide(const pdp_policy *p)
{
	static const char *const purposes[] = {"fiducia:MobilityPlanning", "dpv:Marketing",
	                                       "fiducia:HousingPolicy", "dpv:PublicBenefit"};
	static const pdp_group groups[] = {
	        {"city", PDP_GRAN_NONE}, {"observed_at", PDP_GRAN_DAY}, {"ts", PDP_GRAN_HOUR}};
	static const pdp_measure measures[] = {{PDP_AGG_COUNT, NULL}, {PDP_AGG_SUM, "x"}};
	static const char *const filters[] = {"city", "a"};
	bool baseline = p->scope == PDP_SCOPE_BASELINE;
	pdp_decision d;

	for (size_t i = 0; i < 8; i++) {
		pdp_request q = {
		        .requester_org = i & 1 ? "city-lyon" : "insee",
		        .requester_kind = i & 2 ? PDP_KIND_PUBLIC_AUTHORITY : PDP_KIND_COMMERCIAL,
		        .role = PDP_ROLE_USER,
		        .dataset = baseline ? "traffic-jams" : pdp_policy_target(p),
		        .personal = i & 4,
		        .purpose = purposes[i % 4],
		        .action = PDP_ACTION_AGGREGATE,
		        .measures = measures,
		        .n_measures = 1 + (i & 1),
		        .group_by = groups,
		        .n_group_by = i % 4,
		        .filters = filters,
		        .n_filters = i % 3,
		};
		int64_t now = i & 4 ? 1781524800 : 4102444800;
		pdp_effect e = baseline ? pdp_decide(p, fz_traffic, &q, now, &d)
		                        : pdp_decide(fz_base, p, &q, now, &d);
		fz_check(&d, e);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fz_vocab)
		fz_init();
	for (int s = 0; s < 2; s++) {
		pdp_error err;
		pdp_policy *p = pdp_compile(fz_vocab, (pdp_scope)s, (const char *)data, size, &err);
		if (!p) {
			/* An error always says where and what. */
			if ((err.pointer[0] != '\0' && err.pointer[0] != '/') ||
			    err.message[0] == '\0')
				abort();
			continue;
		}
		fz_decide(p);
		pdp_policy_free(p);
	}
	return 0;
}

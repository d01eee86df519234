/*
 * Unit tests for cli/cmd_demo.c, `fiducia demo generate`: the same seed
 * gives the same bytes and another seed others; every file has its header
 * and row count; every value of jams, probe-speeds and stays lies within
 * its schema in deploy/demo (types and measure bounds) and the
 * generator's own promises (January or 2026, Lyon's nine districts, ids,
 * two decimals); the shapes the demo relies on (rush hours, a small 9e,
 * hosts present every month, ~92% consenting and ~1% withdrawn); usage
 * errors; and files replaced whole.
 */
#include "../../cli/cli.c"
#include "../../cli/client.c"
#include "../../cli/output.c"
#include "../../cli/cmd_demo.c"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"
#include "clirun.h"

#define ROWS 40000

static char out_buf[8192], err_buf[8192];
static char base[64];

/* Runs `fiducia demo` with args (NULL-terminated), its stdout and stderr in
 * out_buf and err_buf; returns its exit status. */
static int run(const char *first, ...)
{
	char *argv[16];
	int argc = 0;
	va_list ap;
	va_start(ap, first);
	for (const char *a = first; a && argc < 15; a = va_arg(ap, const char *))
		argv[argc++] = (char *)a;
	va_end(ap);
	argv[argc] = NULL;
	struct cli_ctx ctx = {.url = "http://127.0.0.1:1", .cmd = &cmd_demo_entry};
	return clirun(&ctx, &cmd_demo_entry, argc, argv, NULL, out_buf, sizeof out_buf, err_buf,
	              sizeof err_buf);
}

/* The whole file, NUL-terminated (caller frees); NULL when unreadable. */
static char *read_all(const char *dir, const char *name, size_t *len)
{
	char path[256];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	rewind(f);
	char *buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	if (buf) {
		buf[n] = '\0';
		if (len)
			*len = (size_t)n;
	}
	return buf;
}

static const char *const files[4] = {"jams.csv", "probe-speeds.csv", "stays.csv", "consents.csv"};

static bool same_file(const char *a, const char *b, const char *name)
{
	size_t la = 0, lb = 0;
	char *x = read_all(a, name, &la), *y = read_all(b, name, &lb);
	bool same = x && y && la == lb && memcmp(x, y, la) == 0;
	free(x);
	free(y);
	return same;
}

/* ---- reading the output back ---------------------------------------------- */

#define MAXF 16

/* Splits the line at *p (RFC 4180: quotes, doubled quotes) into fields copied
 * to buf; advances *p past it. Returns the field count, 0 at the end, -1 on a
 * malformed line. */
static int split(const char **p, char *buf, size_t cap, char *field[MAXF])
{
	const char *s = *p;
	if (!*s)
		return 0;
	size_t n = 0;
	int nf = 0;
	for (;;) {
		if (nf == MAXF)
			return -1;
		field[nf++] = buf + n;
		if (*s == '"') {
			s++;
			for (;; s++) {
				if (!*s)
					return -1;
				if (*s == '"' && s[1] != '"')
					break;
				if (*s == '"')
					s++;
				if (n + 2 >= cap)
					return -1;
				buf[n++] = *s;
			}
			s++;
		} else {
			while (*s && *s != ',' && *s != '\n') {
				if (*s == '"' || n + 2 >= cap)
					return -1;
				buf[n++] = *s++;
			}
		}
		buf[n++] = '\0';
		if (*s == ',') {
			s++;
			continue;
		}
		if (*s != '\n')
			return -1;
		*p = s + 1;
		return nf;
	}
}

static bool parse_int(const char *s, long long *v)
{
	char *end;
	if (!*s)
		return false;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return !errno && !*end;
}

/* A decimal with exactly two digits after the point, as the generator writes. */
static bool parse_2dp(const char *s, double *v)
{
	const char *dot = strchr(s, '.');
	char *end;
	if (!dot || strlen(dot) != 3 || *s == '-')
		return false;
	*v = strtod(s, &end);
	return !*end && isfinite(*v);
}

static int district_index(const char *s)
{
	for (int i = 0; i < NDISTRICTS; i++)
		if (strcmp(s, districts[i]) == 0)
			return i;
	return -1;
}

/* A column of a dataset schema of deploy/demo. */
struct col {
	char name[32], type[16], role[16];
	bool bounded;
	double min, max;
};

/* The columns of deploy/demo/<name>.json; their count, 0 when unreadable. */
static size_t load_schema(const char *name, struct col *cols, size_t cap)
{
	char path[512];
	snprintf(path, sizeof path, "%s/deploy/demo/%s.json", FIDUCIA_SOURCE_DIR, name);
	json_error_t e;
	json_t *doc = json_load_file(path, 0, &e);
	json_t *arr = doc ? json_object_get(doc, "columns") : NULL;
	size_t n = 0;
	for (size_t i = 0; arr && i < json_array_size(arr) && n < cap; i++, n++) {
		json_t *c = json_array_get(arr, i);
		snprintf(cols[n].name, sizeof cols[n].name, "%s",
		         json_string_value(json_object_get(c, "name")));
		snprintf(cols[n].type, sizeof cols[n].type, "%s",
		         json_string_value(json_object_get(c, "type")));
		snprintf(cols[n].role, sizeof cols[n].role, "%s",
		         json_string_value(json_object_get(c, "role")));
		json_t *mn = json_object_get(c, "min"), *mx = json_object_get(c, "max");
		cols[n].bounded = mn && mx;
		cols[n].min = mn ? json_number_value(mn) : 0;
		cols[n].max = mx ? json_number_value(mx) : 0;
	}
	json_decref(doc);
	if (!n)
		fprintf(stderr, "cannot read the schema %s\n", path);
	return n;
}

/* The header line is the schema's column names, in order. */
static void check_header(const char *text, const struct col *cols, size_t ncols)
{
	char want[1024] = "";
	for (size_t i = 0; i < ncols; i++) {
		strcat(want, i ? "," : "");
		strcat(want, cols[i].name);
	}
	strcat(want, "\n");
	CHECK(strncmp(text, want, strlen(want)) == 0);
}

/* Checks one value against its column's type and bounds; counts failures by column. */
static bool value_ok(const struct col *c, const char *v)
{
	long long i;
	double d;
	char *end;
	if (strcmp(c->type, "STRING") == 0)
		return *v != '\0';
	if (strcmp(c->type, "INT64") == 0 || strcmp(c->type, "TIMESTAMP") == 0) {
		if (!parse_int(v, &i))
			return false;
		return !c->bounded || ((double)i >= c->min && (double)i <= c->max);
	}
	if (strcmp(c->type, "FLOAT64") == 0) {
		d = strtod(v, &end);
		if (!*v || *end || !isfinite(d))
			return false;
		return !c->bounded || (d >= c->min && d <= c->max);
	}
	return false;
}

/* Local (Lyon, UTC+1 in January) weekday (0 Monday) and hour of epoch ms. */
static void lyon_winter(long long ms, int *weekday, int *hour)
{
	long long local = ms / 1000 + 3600;
	*weekday = (int)((local / 86400 + 3) % 7);
	*hour = (int)(local % 86400 / 3600);
}

#define JAN_START 1767225600000LL /* 2026-01-01T00:00:00Z */
#define FEB_START 1769904000000LL
#define Y2027     1798761600000LL

/* Traffic: per hour of weekday rush (7-9, 17-19 local) against per hour of
 * night (0-6 local), from the (weekday, hour) counts. */
static double rush_over_night(const long long by[7][24])
{
	double rush = 0, night = 0;
	for (int wd = 0; wd < 5; wd++) {
		rush += (double)(by[wd][7] + by[wd][8] + by[wd][17] + by[wd][18]) / 4;
		for (int h = 0; h < 6; h++)
			night += (double)by[wd][h] / 6;
	}
	return night > 0 ? rush / night : 0;
}

static void check_jams(const char *dir)
{
	struct col cols[MAXF];
	size_t nc = load_schema("jams", cols, MAXF);
	CHECK(nc == 10);
	char *text = read_all(dir, "jams.csv", NULL);
	CHECK(text != NULL);
	if (!text || nc != 10)
		return;
	check_header(text, cols, nc);
	const char *p = strchr(text, '\n') + 1;
	char buf[1024], *f[MAXF];
	long long rows = 0, bad = 0, by_district[NDISTRICTS] = {0}, by_hour[7][24] = {{0}};
	double delay_rush = 0, delay_other = 0;
	long long n_rush = 0, n_other = 0;
	int nf;
	while ((nf = split(&p, buf, sizeof buf, f)) > 0) {
		rows++;
		bool ok = nf == (int)nc;
		for (int i = 0; ok && i < nf; i++)
			ok = value_ok(&cols[i], f[i]);
		long long ms = 0, rt = 0, level = 0, delay = 0, len = 0;
		double speed = 0;
		int d = ok ? district_index(f[3]) : -1;
		ok = ok && d >= 0 && strlen(f[0]) == 36 && f[0][14] == '4' && f[0][8] == '-' &&
		     strchr("89ab", f[0][19]) && parse_int(f[1], &ms) && ms >= JAN_START &&
		     ms < FEB_START && strcmp(f[2], "Lyon") == 0 && parse_int(f[5], &rt) &&
		     (rt == 1 || rt == 2 || rt == 3 || rt == 4 || rt == 6 || rt == 7) &&
		     parse_int(f[6], &level) && level >= 1 && level <= 5 &&
		     parse_2dp(f[7], &speed) && parse_int(f[8], &delay) && parse_int(f[9], &len) &&
		     len >= 50;
		if (!ok) {
			if (bad++ < 3)
				fprintf(stderr, "bad jam on row %lld\n", rows);
			continue;
		}
		by_district[d]++;
		int wd, h;
		lyon_winter(ms, &wd, &h);
		by_hour[wd][h]++;
		bool rush = wd < 5 && (h == 7 || h == 8 || h == 17 || h == 18);
		*(rush ? &delay_rush : &delay_other) += (double)delay;
		(*(rush ? &n_rush : &n_other))++;
	}
	CHECK(nf == 0);
	CHECK(rows == ROWS);
	CHECK(bad == 0);
	for (int d = 0; d < NDISTRICTS; d++)
		CHECK(by_district[d] >= rows * 5 / 100); /* every district at least 5% */
	CHECK(rush_over_night(by_hour) > 5);
	/* Weekends are quieter than weekdays, hour for hour. */
	long long wk = 0, we = 0;
	for (int h = 0; h < 24; h++) {
		for (int wd = 0; wd < 5; wd++)
			wk += by_hour[wd][h];
		we += by_hour[5][h] + by_hour[6][h];
	}
	CHECK((double)we / 2 < (double)wk / 5 * 0.6);
	CHECK(n_rush && n_other &&
	      delay_rush / (double)n_rush > 1.5 * delay_other / (double)n_other);
	free(text);
}

static void check_probes(const char *dir, uint8_t *driver_seen)
{
	struct col cols[MAXF];
	size_t nc = load_schema("probe-speeds", cols, MAXF);
	CHECK(nc == 6);
	char *text = read_all(dir, "probe-speeds.csv", NULL);
	CHECK(text != NULL);
	if (!text || nc != 6)
		return;
	check_header(text, cols, nc);
	const char *p = strchr(text, '\n') + 1;
	char buf[1024], *f[MAXF];
	long long rows = 0, bad = 0, by_district[NDISTRICTS] = {0}, by_hour[7][24] = {{0}};
	long long prev = 0;
	int nf;
	while ((nf = split(&p, buf, sizeof buf, f)) > 0) {
		rows++;
		bool ok = nf == (int)nc;
		for (int i = 0; ok && i < nf; i++)
			ok = value_ok(&cols[i], f[i]);
		long long ms = 0, rt = 0, id = -1;
		double speed;
		int d = ok ? district_index(f[2]) : -1;
		ok = ok && d >= 0 && strncmp(f[0], "drv-", 4) == 0 && strlen(f[0]) == 10 &&
		     parse_int(f[0] + 4, &id) && id >= 0 && id < ROWS / 20 &&
		     parse_int(f[1], &ms) && ms >= JAN_START && ms < FEB_START && ms >= prev &&
		     parse_int(f[3], &rt) && rt >= 1 && rt <= 7 && rt != 5 &&
		     parse_2dp(f[4], &speed);
		if (!ok) {
			if (bad++ < 3)
				fprintf(stderr, "bad probe on row %lld\n", rows);
			continue;
		}
		prev = ms; /* in time order, like bench/gen_probes */
		driver_seen[id] = 1;
		by_district[d]++;
		int wd, h;
		lyon_winter(ms, &wd, &h);
		by_hour[wd][h]++;
	}
	CHECK(nf == 0);
	CHECK(rows == ROWS);
	CHECK(bad == 0);
	for (int d = 0; d < NDISTRICTS; d++)
		CHECK(by_district[d] > 0);
	CHECK(rush_over_night(by_hour) > 5);
	free(text);
}

/* A host's district and listing type, as first seen. */
struct host_seen {
	int8_t district, listing;
	uint16_t months; /* bit m: a stay starts in month m */
};

static void check_stays(const char *dir, struct host_seen *hosts)
{
	struct col cols[MAXF];
	size_t nc = load_schema("stays", cols, MAXF);
	CHECK(nc == 8);
	char *text = read_all(dir, "stays.csv", NULL);
	CHECK(text != NULL);
	if (!text || nc != 8)
		return;
	check_header(text, cols, nc);
	const char *p = strchr(text, '\n') + 1;
	char buf[1024], *f[MAXF];
	long long rows = 0, bad = 0, by_month[12] = {0}, by_weekday[7] = {0}, short_stays = 0,
	          few_guests = 0, listing[3] = {0};
	int nf;
	for (int i = 0; i < ROWS / 10; i++)
		hosts[i].district = hosts[i].listing = -1;
	while ((nf = split(&p, buf, sizeof buf, f)) > 0) {
		rows++;
		bool ok = nf == (int)nc;
		for (int i = 0; ok && i < nf; i++)
			ok = value_ok(&cols[i], f[i]);
		long long id = -1, ms = 0, nights = 0, guests = 0;
		double price = 0;
		int d = ok ? district_index(f[2]) : -1, lt = -1;
		for (int k = 0; ok && k < 3; k++)
			if (strcmp(f[3], listing_names[k]) == 0)
				lt = k;
		ok = ok && d >= 0 && lt >= 0 && strncmp(f[0], "host-", 5) == 0 &&
		     strlen(f[0]) == 11 && parse_int(f[0] + 5, &id) && id >= 0 && id < ROWS / 10 &&
		     strcmp(f[1], "Lyon") == 0 && parse_int(f[4], &ms) && ms >= JAN_START &&
		     ms < Y2027 && parse_int(f[5], &nights) && nights >= 1 && nights <= 14 &&
		     parse_int(f[6], &guests) && guests >= 1 && guests <= 16 &&
		     parse_2dp(f[7], &price) && price >= 30 && price <= 1000;
		if (!ok) {
			if (bad++ < 3)
				fprintf(stderr, "bad stay on row %lld\n", rows);
			continue;
		}
		struct host_seen *h = &hosts[id];
		if (h->district < 0) {
			h->district = (int8_t)d;
			h->listing = (int8_t)lt;
		}
		/* One district and one listing type per host. */
		if (h->district != d || h->listing != lt) {
			if (bad++ < 3)
				fprintf(stderr, "host of row %lld changed district or type\n",
				        rows);
		}
		time_t t = (time_t)(ms / 1000);
		struct tm tm;
		gmtime_r(&t, &tm);
		h->months |= (uint16_t)(1u << tm.tm_mon);
		by_month[tm.tm_mon]++;
		by_weekday[(tm.tm_wday + 6) % 7]++;
		short_stays += nights <= 4;
		few_guests += guests <= 4;
		listing[lt]++;
	}
	CHECK(nf == 0);
	CHECK(rows == ROWS);
	CHECK(bad == 0);

	/* Hosts: the 9e's share small; every district's hosts present every month. */
	long long per_district[NDISTRICTS] = {0}, present[NDISTRICTS][12] = {{0}}, nhosts = 0;
	for (int i = 0; i < ROWS / 10; i++) {
		if (hosts[i].district < 0)
			continue;
		nhosts++;
		per_district[hosts[i].district]++;
		for (int m = 0; m < 12; m++)
			present[hosts[i].district][m] += (hosts[i].months >> m) & 1;
	}
	CHECK(nhosts > ROWS / 10 * 95 / 100);
	for (int d = 0; d < NDISTRICTS; d++)
		CHECK(per_district[d] > 0);
	CHECK((double)per_district[8] / (double)nhosts < 0.04);
	CHECK((double)per_district[3] / (double)nhosts > 0.06); /* 4e and 5e are not small */
	CHECK((double)per_district[4] / (double)nhosts > 0.06);
	double least = 1;
	for (int d = 0; d < NDISTRICTS; d++)
		for (int m = 0; m < 12; m++)
			if (per_district[d] &&
			    (double)present[d][m] / (double)per_district[d] < least)
				least = (double)present[d][m] / (double)per_district[d];
	CHECK(least >= 0.45);

	/* Summer about twice winter; Fridays and Saturdays the busiest check-ins. */
	double summer = (double)(by_month[5] + by_month[6] + by_month[7] + by_month[8]) / 4;
	double winter = (double)(by_month[11] + by_month[0] + by_month[1]) / 3;
	CHECK(summer / winter > 1.5 && summer / winter < 2.5);
	CHECK(by_weekday[4] > by_weekday[1] * 3 / 2 && by_weekday[5] > by_weekday[2] * 3 / 2);
	CHECK(short_stays > rows * 3 / 4);
	CHECK(few_guests > rows * 3 / 4);
	CHECK(listing[0] > listing[1] && listing[1] > listing[2] && listing[2] > 0);
	free(text);
}

static void check_consents(const char *dir, const uint8_t *driver_seen,
                           const struct host_seen *hosts)
{
	char *text = read_all(dir, "consents.csv", NULL);
	CHECK(text != NULL);
	if (!text)
		return;
	CHECK(strncmp(text, "dataset,subject,purposes,form_id,objective,withdrawn\n", 53) == 0);
	const char *p = strchr(text, '\n') + 1;
	char buf[1024], *f[MAXF];
	long long rows = 0, bad = 0, withdrawn = 0, hosts_in = 0, drivers_in = 0, hosts_all = 0,
	          drivers_all = 0;
	static uint8_t once[ROWS / 10 + ROWS / 20];
	memset(once, 0, sizeof once);
	int nf;
	while ((nf = split(&p, buf, sizeof buf, f)) > 0) {
		rows++;
		long long id = -1;
		bool ok = nf == 6 && (strcmp(f[5], "true") == 0 || strcmp(f[5], "false") == 0);
		if (ok && strcmp(f[0], "stays") == 0) {
			ok = strncmp(f[1], "host-", 5) == 0 && parse_int(f[1] + 5, &id) &&
			     id >= 0 && id < ROWS / 10 && hosts[id].district >= 0 && !once[id]++ &&
			     strcmp(f[2], "dpv:PublicPolicyMaking dpv:ProvideOfficialStatistics") ==
			             0 &&
			     strcmp(f[3], "rental-platform-altruism") == 0 &&
			     strcmp(f[4], "Evidence for Lyon's housing policy") == 0;
			hosts_in++;
		} else if (ok && strcmp(f[0], "probe-speeds") == 0) {
			ok = strncmp(f[1], "drv-", 4) == 0 && parse_int(f[1] + 4, &id) && id >= 0 &&
			     id < ROWS / 20 && driver_seen[id] && !once[ROWS / 10 + id]++ &&
			     strcmp(f[2], "dpv:ImproveTransportMobility") == 0 &&
			     strcmp(f[3], "navigation-app-altruism") == 0 &&
			     strcmp(f[4], "Better mobility planning in Lyon") == 0;
			drivers_in++;
		} else {
			ok = false;
		}
		withdrawn += ok && strcmp(f[5], "true") == 0;
		if (!ok && bad++ < 3)
			fprintf(stderr, "bad consent on row %lld\n", rows);
	}
	CHECK(nf == 0);
	CHECK(bad == 0);
	for (int i = 0; i < ROWS / 10; i++)
		hosts_all += hosts[i].district >= 0;
	for (int i = 0; i < ROWS / 20; i++)
		drivers_all += driver_seen[i];
	double h = (double)hosts_in / (double)hosts_all,
	       d = (double)drivers_in / (double)drivers_all;
	CHECK(h > 0.89 && h < 0.95);
	CHECK(d > 0.89 && d < 0.95);
	CHECK((double)withdrawn / (double)rows > 0.004 && (double)withdrawn / (double)rows < 0.02);
	char want[64];
	snprintf(want, sizeof want, "/consents.csv: %lld rows\n", rows);
	CHECK_CONTAINS(out_buf, want);
	free(text);
}

/* ---- the cases ----------------------------------------------------------------- */

static void test_files(void)
{
	char a[128], rows[16];
	snprintf(a, sizeof a, "%s/a/nested", base);
	snprintf(rows, sizeof rows, "%d", ROWS);
	CHECK(run("generate", "--out", a, "--rows", rows, "--seed", "7", NULL) == CLI_EXIT_OK);
	CHECK_STR_EQ(err_buf, "");
	for (int i = 0; i < 3; i++) {
		char want[256];
		snprintf(want, sizeof want, "%s/%s: %d rows\n", a, files[i], ROWS);
		CHECK_CONTAINS(out_buf, want);
	}
	static uint8_t driver_seen[ROWS / 20];
	static struct host_seen hosts[ROWS / 10];
	check_jams(a);
	check_probes(a, driver_seen);
	check_stays(a, hosts);
	check_consents(a, driver_seen, hosts);

	/* Nothing else in the folder: the temporary files were renamed. */
	DIR *dir = opendir(a);
	int entries = 0;
	for (struct dirent *e; dir && (e = readdir(dir));)
		entries += e->d_name[0] != '.' || strlen(e->d_name) > 2;
	if (dir)
		closedir(dir);
	CHECK(entries == 4);
}

static void test_determinism(void)
{
	char a[128], b[128], c[128];
	snprintf(a, sizeof a, "%s/d1", base);
	snprintf(b, sizeof b, "%s/d2", base);
	snprintf(c, sizeof c, "%s/d3", base);
	CHECK(run("generate", "--out", a, "--rows", "5000", NULL) == CLI_EXIT_OK);
	CHECK(run("generate", "--rows=5000", "--seed", "1", "--out", b, NULL) == CLI_EXIT_OK);
	CHECK(run("generate", "--out", c, "--rows", "5000", "--seed", "2", NULL) == CLI_EXIT_OK);
	for (int i = 0; i < 4; i++) {
		CHECK(same_file(a, b, files[i])); /* the default seed is 1 */
		CHECK(!same_file(a, c, files[i]));
	}
	/* Generated again into the same folder: replaced, the same bytes. */
	CHECK(run("generate", "--out", c, "--rows", "5000", NULL) == CLI_EXIT_OK);
	for (int i = 0; i < 4; i++)
		CHECK(same_file(a, c, files[i]));
	/* A different row count is a different data set, of that size. */
	CHECK(run("generate", "--out", c, "--rows", "1000", NULL) == CLI_EXIT_OK);
	CHECK_CONTAINS(out_buf, "/jams.csv: 1000 rows\n");
	CHECK(!same_file(a, c, "jams.csv"));
}

static void test_usage(void)
{
	char a[128], file[128];
	snprintf(a, sizeof a, "%s/u", base);
	CHECK(run("generate", "--rows", "5000", NULL) == CLI_EXIT_USAGE);
	CHECK_CONTAINS(err_buf, "--out DIR is required");
	CHECK(run("generate", "--out", a, "--rows", "999", NULL) == CLI_EXIT_USAGE);
	CHECK_CONTAINS(err_buf, "--rows: a whole number from 1000 to 100000000");
	CHECK(run("generate", "--out", a, "--rows", "100000001", NULL) == CLI_EXIT_USAGE);
	CHECK(run("generate", "--out", a, "--rows", "4e5", NULL) == CLI_EXIT_USAGE);
	CHECK(run("generate", "--out", a, "--rows", "-5000", NULL) == CLI_EXIT_USAGE);
	CHECK(run("generate", "--out", a, "--seed", "-1", NULL) == CLI_EXIT_USAGE);
	CHECK(run("generate", "--out", a, "--seed", "18446744073709551616", NULL) ==
	      CLI_EXIT_USAGE);
	CHECK(run("generate", "--out", a, "extra", NULL) == CLI_EXIT_USAGE);
	CHECK(run("frobnicate", NULL) == CLI_EXIT_USAGE);
	CHECK(access(a, F_OK) != 0); /* nothing made */
	CHECK(run("generate", "--help", NULL) == CLI_EXIT_OK);
	CHECK_CONTAINS(out_buf, "usage: fiducia demo generate --out DIR [--rows N] [--seed S]");

	/* --out naming a file: refused, the file untouched. */
	snprintf(file, sizeof file, "%s/plain", base);
	FILE *f = fopen(file, "w");
	CHECK(f && fputs("keep\n", f) >= 0);
	if (f)
		fclose(f);
	CHECK(run("generate", "--out", file, "--rows", "1000", NULL) == CLI_EXIT_FAIL);
	CHECK_CONTAINS(err_buf, "cannot create the directory");
	char *back = read_all(base, "plain", NULL);
	CHECK_STR_EQ(back, "keep\n");
	free(back);
}

static void test_speed(void)
{
	/* The default size, 3 x 400,000 rows, in a couple of seconds (generous
	 * under sanitizers). */
	char a[128];
	snprintf(a, sizeof a, "%s/big", base);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	CHECK(run("generate", "--out", a, NULL) == CLI_EXIT_OK);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("# 3 x 400000 rows in %.2f s\n", s);
	CHECK(s < 30);
	CHECK_CONTAINS(out_buf, "/stays.csv: 400000 rows\n");
}

static void cleanup(void)
{
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
	CHECK(system(cmd) == 0);
}

static void setup(void)
{
	strcpy(base, "/tmp/fiducia-test-demo-XXXXXX");
	CHECK(mkdtemp(base) != NULL);
}

TEST_MAIN(TU_CASE(setup), TU_CASE(test_files), TU_CASE(test_determinism), TU_CASE(test_usage),
          TU_CASE(test_speed), TU_CASE(cleanup))

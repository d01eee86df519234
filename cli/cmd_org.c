/*
 * fiducia org: the /v1/orgs resource. create, list and disable are the
 * operator's; show works for the operator and for an organisation reading
 * itself. Arguments are checked here first so that mistakes get a precise
 * message without a round trip; the server checks them again.
 */
#include "cli.h"
#include "output.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "fiducia/v1/orgs.pb-c.h"

#define ORG_CONTACT_MAX 256

static const char *kind_name(Fiducia__V1__Org__Kind k, char buf[16])
{
	const ProtobufCEnumValue *v =
	        protobuf_c_enum_descriptor_get_value(&fiducia__v1__org__kind__descriptor, (int)k);
	if (v)
		return v->name;
	snprintf(buf, 16, "%d", (int)k);
	return buf;
}

/* HOLDER, PUBLIC_AUTHORITY or REGULATOR, in any case, '-' for '_'; false otherwise. */
static bool kind_parse(const char *s, Fiducia__V1__Org__Kind *out)
{
	char up[32];
	size_t n = strlen(s);
	if (n >= sizeof up)
		return false;
	for (size_t i = 0; i <= n; i++)
		up[i] = s[i] == '-' ? '_' : (char)toupper((unsigned char)s[i]);
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value_by_name(
	        &fiducia__v1__org__kind__descriptor, up);
	if (!v || (v->value != FIDUCIA__V1__ORG__KIND__HOLDER &&
	           v->value != FIDUCIA__V1__ORG__KIND__PUBLIC_AUTHORITY &&
	           v->value != FIDUCIA__V1__ORG__KIND__REGULATOR))
		return false;
	*out = (Fiducia__V1__Org__Kind)v->value;
	return true;
}

static bool ascii_letter(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void print_org(const Fiducia__V1__Org *o)
{
	char kb[16], t[OUTPUT_TIME_MAX];
	output_field(stdout, "name", o->name);
	output_field(stdout, "kind", kind_name(o->kind, kb));
	output_field(stdout, "country", o->country);
	output_field(stdout, "contact", o->contact);
	output_field(stdout, "state", o->disabled ? "disabled" : "enabled");
	output_field(stdout, "created", output_time(t, o->created_at));
	if (o->disabled)
		output_field(stdout, "disabled", output_time(t, o->disabled_at));
}

/* Calls method on path and prints the Org it returns. */
static int org_call(struct cli_ctx *ctx, const char *method, const char *path,
                    const ProtobufCMessage *req)
{
	client_result res;
	int rc = cli_call(ctx, method, path, req, &fiducia__v1__org__descriptor, &res);
	if (rc == CLI_EXIT_OK && res.msg)
		print_org((const Fiducia__V1__Org *)res.msg);
	client_result_free(&res);
	return rc;
}

static int org_create(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *kind = NULL, *country = NULL, *contact = NULL, *pos[1];
	const struct cli_opt opts[] = {
	        {"--kind", "KIND", &kind, NULL},
	        {"--country", "CC", &country, NULL},
	        {"--contact", "TEXT", &contact, NULL},
	        {NULL, NULL, NULL, NULL},
	};
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, opts, pos, 0, 1, &npos);
	if (rc != CLI_CONTINUE)
		return rc;

	Fiducia__V1__CreateOrgRequest req = FIDUCIA__V1__CREATE_ORG_REQUEST__INIT;
	char cc[3] = "";
	if (npos < 1)
		return cli_usage_error(ctx, "missing the organisation NAME");
	if (!cli_slug_valid(pos[0]))
		return cli_usage_error(ctx,
		                       "organisation name '%s': must be a lowercase slug of "
		                       "1-63 characters [a-z0-9-], not starting or ending "
		                       "with '-'",
		                       pos[0]);
	if (!kind)
		return cli_usage_error(ctx, "missing --kind HOLDER|PUBLIC_AUTHORITY|REGULATOR");
	if (!kind_parse(kind, &req.kind))
		return cli_usage_error(ctx,
		                       "--kind %s: must be HOLDER, PUBLIC_AUTHORITY or "
		                       "REGULATOR",
		                       kind);
	if (country) {
		if (strlen(country) != 2 || !ascii_letter(country[0]) || !ascii_letter(country[1]))
			return cli_usage_error(ctx,
			                       "--country %s: must be an ISO 3166-1 alpha-2 "
			                       "code such as FR",
			                       country);
		cc[0] = (char)toupper((unsigned char)country[0]);
		cc[1] = (char)toupper((unsigned char)country[1]);
		req.country = cc;
	}
	if (contact) {
		size_t n = strlen(contact);
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)contact[i] < 0x20 || contact[i] == 0x7f)
				return cli_usage_error(ctx, "--contact: no control characters");
		if (n > ORG_CONTACT_MAX)
			return cli_usage_error(ctx, "--contact: at most %d characters",
			                       ORG_CONTACT_MAX);
		req.contact = (char *)contact;
	}
	req.name = (char *)pos[0];
	return org_call(ctx, "POST", "/v1/orgs", &req.base);
}

static int org_list(struct cli_ctx *ctx, int argc, char **argv)
{
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, NULL, NULL, 0, 0, &npos);
	if (rc != CLI_CONTINUE)
		return rc;

	client_result res;
	rc = cli_call(ctx, "GET", "/v1/orgs", NULL, &fiducia__v1__list_orgs_response__descriptor,
	              &res);
	if (rc != CLI_EXIT_OK || !res.msg)
		goto out;
	const Fiducia__V1__ListOrgsResponse *l = (const Fiducia__V1__ListOrgsResponse *)res.msg;
	static const char *const head[] = {"NAME", "KIND", "COUNTRY", "STATE", "CREATED"};
	output_table *t = output_table_new(5, head);
	if (!t)
		goto oom;
	for (size_t i = 0; i < l->n_orgs; i++) {
		const Fiducia__V1__Org *o = l->orgs[i];
		char kb[16], created[OUTPUT_TIME_MAX];
		const char *row[] = {o->name, kind_name(o->kind, kb), o->country,
		                     o->disabled ? "disabled" : "enabled",
		                     output_time(created, o->created_at)};
		if (!output_table_add(t, row)) {
			output_table_free(t);
			goto oom;
		}
	}
	output_table_print(t, stdout);
	output_table_free(t);
	goto out;
oom:
	cli_error("out of memory");
	rc = CLI_EXIT_FAIL;
out:
	client_result_free(&res);
	return rc;
}

/* show and disable: one NAME, percent-encoded into the path. */
static int org_by_name(struct cli_ctx *ctx, int argc, char **argv, const char *method,
                       const char *suffix)
{
	const char *pos[1];
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, NULL, pos, 0, 1, &npos);
	if (rc != CLI_CONTINUE)
		return rc;
	if (npos < 1 || !*pos[0])
		return cli_usage_error(ctx, "missing the organisation NAME");
	char *path = client_path("/v1/orgs/", pos[0], suffix);
	if (!path) {
		cli_error("out of memory");
		return CLI_EXIT_FAIL;
	}
	rc = org_call(ctx, method, path, NULL);
	free(path);
	return rc;
}

static int org_show(struct cli_ctx *ctx, int argc, char **argv)
{
	return org_by_name(ctx, argc, argv, "GET", "");
}

static int org_disable(struct cli_ctx *ctx, int argc, char **argv)
{
	return org_by_name(ctx, argc, argv, "POST", "/disable");
}

static const struct cli_subcmd org_subs[] = {
        {"create", "NAME --kind HOLDER|PUBLIC_AUTHORITY|REGULATOR [--country CC] [--contact TEXT]",
         org_create, "register an organisation (operator)"},
        {"list", "", org_list, "list every organisation (operator)"},
        {"show", "NAME", org_show, "show one organisation (operator, or the organisation itself)"},
        {"disable", "NAME", org_disable,
         "disable an organisation: its tokens stop working at once (operator)"},
        {NULL, NULL, NULL, NULL},
};

static int run_org(struct cli_ctx *ctx, int argc, char **argv)
{
	return cli_run_sub(ctx, argc, argv);
}

const struct cli_cmd cmd_org_entry = {"org", "create|list|show|disable", run_org, org_subs, NULL};

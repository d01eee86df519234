/*
 * fiducia whoami: GET /v1/whoami, who the server takes the bearer of the
 * token to be (org, role, issuer) and when the token expires. The quickest
 * check that a URL and a token work together.
 */
#include "cli.h"
#include "output.h"

#include "fiducia/v1/auth.pb-c.h"

static int run_whoami(struct cli_ctx *ctx, int argc, char **argv)
{
	size_t npos;
	int rc = cli_args_parse(ctx, argc, argv, NULL, NULL, 0, 0, &npos);
	if (rc != CLI_CONTINUE)
		return rc;

	client_result res;
	rc = cli_call(ctx, "GET", "/v1/whoami", NULL, &fiducia__v1__who_am_iresponse__descriptor,
	              &res);
	if (rc == CLI_EXIT_OK && res.msg) {
		const Fiducia__V1__WhoAmIResponse *w = (const Fiducia__V1__WhoAmIResponse *)res.msg;
		char exp[OUTPUT_TIME_MAX];
		output_field(stdout, "org", w->org);
		output_field(stdout, "role", w->role);
		output_field(stdout, "issuer", w->issuer);
		output_field(stdout, "expires", output_time(exp, w->expires_at));
	}
	client_result_free(&res);
	return rc;
}

const struct cli_cmd cmd_whoami_entry = {
        .name = "whoami",
        .usage = "",
        .run = run_whoami,
        .help = "show the organisation, role, issuer and expiry the server reads in the token",
};

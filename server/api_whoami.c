/*
 * GET /v1/whoami: the caller's org, role, issuer and token expiry, as
 * authentication understood them. Answered without the database when the
 * token and the org are cached.
 */
#include "api.h"
#include "fiducia/v1/auth.pb-c.h"

static void whoami(http_req *r)
{
	Fiducia__V1__WhoAmIResponse w = FIDUCIA__V1__WHO_AM_IRESPONSE__INIT;
	Google__Protobuf__Timestamp exp = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
	exp.seconds = r->claims.exp;
	w.org = r->claims.org;
	w.role = (char *)auth_role_name(r->claims.role);
	w.issuer = r->claims.issuer;
	w.expires_at = &exp;
	http_reply(r, 200, &w.base);
}

const http_route whoami_routes[] = {
        {"GET", "/v1/whoami", whoami, AUTH_ROLE_ANY, NULL},
        {NULL, NULL, NULL, 0, NULL},
};

/*
 * api: the route tables of every resource, registered by main.c. Each
 * resource lives in its own file and exports one table.
 */
#ifndef FIDUCIA_API_H
#define FIDUCIA_API_H

#include "http.h"

extern const http_route health_routes[];   /* api_health.c */
extern const http_route whoami_routes[];   /* api_whoami.c */
extern const http_route orgs_routes[];     /* orgs.c */
extern const http_route datasets_routes[]; /* datasets.c */
extern const http_route policies_routes[]; /* policies.c */
extern const http_route consent_routes[];  /* consent.c */
extern const http_route reports_routes[];  /* reports.c */
extern const http_route queries_routes[];  /* queries.c */

#endif

/*
 * The fiducia command-line client: the state shared by every command (global
 * flags, the lazily made HTTP client), the command table types, the exit
 * codes, and the helpers every cmd_*.c uses to report errors and call the API.
 * A new command is a new cmd_*.c exporting one `const struct cli_cmd` row.
 */
#ifndef FIDUCIA_CLI_H
#define FIDUCIA_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <protobuf-c/protobuf-c.h>

#include "client.h"

/* Exit codes (documented in `fiducia --help`). */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAIL = 1,        /* the server refused or failed, or a local operation failed */
	CLI_EXIT_USAGE = 2,       /* bad command line: unknown command or option, invalid value */
	CLI_EXIT_UNREACHABLE = 3, /* no HTTP response: connection, TLS or timeout */
	CLI_EXIT_VERIFY = 4,      /* the ledger did not verify: tampering, rollback, fork */
};

/* Returned by cli_args_parse when parsing succeeded and the command goes on. */
#define CLI_CONTINUE (-1)

#define CLI_TOKEN_MAX                                                                              \
	8000 /* characters of a bearer token (the server takes 8192 with "Bearer ")                \
	      */
#define CLI_DEFAULT_URL "http://127.0.0.1:8080"

struct cli_ctx;

/* A subcommand: `fiducia <cmd> <name> <args>`. */
struct cli_subcmd {
	const char *name;
	const char *args; /* synopsis after the name, "" when it takes none */
	int (*run)(struct cli_ctx *ctx, int argc, char **argv);
	const char *help; /* one line */
};

/*
 * A command: one row of the table in main.c. run gets argv after the command
 * name. A command with subcommands lists them in subs (NULL-terminated by a
 * row with a NULL name) and usually runs cli_run_sub; a leaf command has
 * subs == NULL and usage holds its argument synopsis.
 */
struct cli_cmd {
	const char *name;
	const char *usage; /* "create|list|show|disable", or a leaf's arguments */
	int (*run)(struct cli_ctx *ctx, int argc, char **argv);
	const struct cli_subcmd *subs;
	const char *help; /* one line, for a leaf command */
};

/* Every command, in the order `fiducia --help` lists them. */
extern const struct cli_cmd cmd_token_entry;
extern const struct cli_cmd cmd_whoami_entry;
extern const struct cli_cmd cmd_org_entry;
extern const struct cli_cmd cmd_ledger_entry;
extern const struct cli_cmd cmd_dataset_entry;
extern const struct cli_cmd cmd_deposit_entry;
extern const struct cli_cmd cmd_policy_entry;
extern const struct cli_cmd cmd_consent_entry;
extern const struct cli_cmd cmd_query_entry;
extern const struct cli_cmd cmd_budget_entry;
extern const struct cli_cmd cmd_demo_entry;
extern const struct cli_cmd cmd_report_entry;

struct cli_ctx {
	/* Global flags (main.c's option table), borrowed from argv or the environment. */
	const char *url;
	const char *token_file;
	const char *cacert;
	bool json;

	/* What runs, for usage messages. */
	const struct cli_cmd *cmd;
	const struct cli_subcmd *sub;

	/* Made by cli_connect on the first API call; released by cli_ctx_release. */
	char *token; /* wiped before it is freed */
	client *client;
};

/* Frees the client and wipes the token; ctx itself is the caller's. */
void cli_ctx_release(struct cli_ctx *ctx);

/* "fiducia: <message>" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * "fiducia: <message>" and the synopsis of the running (sub)command on stderr;
 * returns CLI_EXIT_USAGE.
 */
int cli_usage_error(const struct cli_ctx *ctx, const char *fmt, ...)
        __attribute__((format(printf, 2, 3))) __attribute__((warn_unused_result));

/* Prints the synopsis and help of the running (sub)command (or of every
 * subcommand of ctx->cmd when no subcommand runs) to out. */
void cli_print_usage(const struct cli_ctx *ctx, FILE *out);

/* text word-wrapped to 100 columns, every line indented by indent spaces. */
void cli_print_wrapped(FILE *out, int indent, const char *text);

/* Runs the subcommand named by argv[0] from ctx->cmd->subs. */
int cli_run_sub(struct cli_ctx *ctx, int argc, char **argv) __attribute__((warn_unused_result));

/* One option of a command: a value option sets *value, a flag (metavar NULL) sets *flag. */
struct cli_opt {
	const char *name; /* "--kind" */
	const char *metavar;
	const char **value;
	bool *flag;
};

/*
 * Parses argv[0..argc) (after the subcommand name) against opts (terminated by
 * a row with a NULL name): "--opt VALUE", "--opt=VALUE", flags, "--" ending
 * the options, and "--help". Positional arguments go to pos[], between
 * min_pos and max_pos of them, their count in *npos. Returns CLI_CONTINUE on
 * success, CLI_EXIT_OK after printing the help for "--help", CLI_EXIT_USAGE
 * after printing what is wrong.
 */
int cli_args_parse(const struct cli_ctx *ctx, int argc, char **argv, const struct cli_opt *opts,
                   const char **pos, size_t min_pos, size_t max_pos, size_t *npos)
        __attribute__((warn_unused_result));

/* true when s is an organisation name: a lowercase slug of 1-63 characters [a-z0-9-],
 * not starting or ending with '-' (the server's orgs_name_valid). */
bool cli_slug_valid(const char *s);

/* cli_call with a raw body of len bytes sent as ctype (a CSV batch, an ODRL
 * document, NDJSON) instead of a message. */
int cli_call_body(struct cli_ctx *ctx, const char *method, const char *path, const char *ctype,
                  const void *body, size_t len, const ProtobufCMessageDescriptor *resp_desc,
                  client_result *res) __attribute__((warn_unused_result));

/* Reads the token and makes ctx->client (once); CLI_EXIT_OK or the exit
 * code after printing why not. Commands that make more clients (for
 * parallel requests) use ctx->token and ctx->url after this. */
int cli_connect(struct cli_ctx *ctx) __attribute__((warn_unused_result));

/*
 * Calls the API: makes the client on first use (reading the token), sends req
 * (NULL for no body) as JSON, and reads the response as resp_desc. On success
 * returns CLI_EXIT_OK; with --json the body has then been printed as is and
 * res->msg is NULL, otherwise res->msg is the decoded response for the
 * caller to print. On failure prints the reason to stderr and returns the exit
 * code. The caller always releases res with client_result_free.
 */
int cli_call(struct cli_ctx *ctx, const char *method, const char *path, const ProtobufCMessage *req,
             const ProtobufCMessageDescriptor *resp_desc, client_result *res)
        __attribute__((warn_unused_result));

#endif

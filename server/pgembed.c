/*
 * Embedded PostgreSQL: initdb / pg_ctl run as child processes (dropping to an
 * unprivileged user when we are root), with their output in
 * DATA_DIR/pg/postgresql.log so that a failure can say why. The cluster
 * listens only on a unix socket in DATA_DIR/pg/run, mode 0700, so trust
 * authentication there admits only its owner (and root).
 */
#include "pgembed.h"
#include "db.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define DEFAULT_BINDIR "/usr/lib/postgresql/15/bin"

static void errf(char *err, size_t errlen, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* Ask pg_config where the server programs are; Debian's default otherwise. */
static char *find_bindir(void)
{
	FILE *p = popen("pg_config --bindir 2>/dev/null", "r");
	char buf[1024] = "";
	if (p) {
		if (!fgets(buf, sizeof buf, p))
			buf[0] = '\0';
		pclose(p);
	}
	buf[strcspn(buf, "\n")] = '\0';
	if (buf[0]) {
		char *initdb = xasprintf("%s/initdb", buf);
		bool ok = initdb && access(initdb, X_OK) == 0;
		free(initdb);
		if (ok)
			return strdup(buf);
	}
	return strdup(DEFAULT_BINDIR);
}

/* In a child: become the cluster's user (when we are root). Everything
 * inside DATA_DIR/pg belongs to that user, so every file operation there
 * runs as it: a symlink planted by that user can then reach nothing the
 * user could not reach anyway. */
static bool become_pg_user(const pgembed *pg)
{
	if (!pg->drop_privs)
		return true;
	return initgroups(pg->user, pg->gid) == 0 && setgid(pg->gid) == 0 && setuid(pg->uid) == 0 &&
	       setuid(0) != 0;
}

static int wait_child(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Run fn(pg, arg) in a child as the cluster's user; its return is the
 * exit status (0 = success). */
static int as_pg(pgembed *pg, int (*fn)(pgembed *, void *), void *arg)
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (!become_pg_user(pg))
			_exit(126);
		umask(077);
		_exit(fn(pg, arg));
	}
	return wait_child(pid);
}

/* Run argv[0] (a path) as the cluster's user with output appended to
 * pg->logfile; returns its exit status (or -1). */
static int run(pgembed *pg, char *const argv[])
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		if (!become_pg_user(pg))
			_exit(126);
		umask(077);
		int fd = open(pg->logfile, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
		int devnull = open("/dev/null", O_RDONLY);
		if (fd < 0 || devnull < 0)
			_exit(125);
		dup2(devnull, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		unsetenv("PGDATA");
		unsetenv("PGHOST");
		unsetenv("PGPORT");
		setenv("LC_ALL", "C", 1);
		execv(argv[0], argv);
		dprintf(STDERR_FILENO, "fiduciad: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	return wait_child(pid);
}

/* The last few lines of the cluster log, for error messages. */
static void log_tail(const pgembed *pg, char *out, size_t outlen)
{
	out[0] = '\0';
	int fd = open(pg->logfile, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		return;
	}
	FILE *f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return;
	}
	char buf[1024];
	long sz;
	if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) > 0) {
		long from = sz > (long)sizeof buf - 1 ? sz - (long)sizeof buf + 1 : 0;
		fseek(f, from, SEEK_SET);
		size_t n = fread(buf, 1, sizeof buf - 1, f);
		buf[n] = '\0';
		char *p = buf;
		/* keep the last 3 lines */
		int nl = 0;
		for (char *q = buf + n; q > buf; q--)
			if (q[-1] == '\n' && q != buf + n && ++nl == 3) {
				p = q;
				break;
			}
		for (char *q = p; *q; q++)
			if (*q == '\n')
				*q = ' ';
		snprintf(out, outlen, "%s", p);
	}
	fclose(f);
}

/* As the cluster's user: the log file and the socket folder. */
static int make_layout(pgembed *pg, void *arg)
{
	if (access(pg->root, R_OK | W_OK | X_OK) != 0)
		return 3;
	int fd = open(pg->logfile, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0600);
	if (fd < 0)
		return 1;
	close(fd);
	if (mkdir(pg->sockdir, 0700) != 0 && errno != EEXIST)
		return 2;
	return 0;
}

/* As the cluster's user: our settings, written at every start so that
 * moving the data folder keeps working. */
static int write_conf(pgembed *pg, void *arg)
{
	char *path = xasprintf("%s/fiducia.conf", pg->datadir);
	FILE *f = path ? fopen(path, "w") : NULL;
	free(path);
	if (!f)
		return 1;
	fprintf(f, "# Written by fiduciad at every start; edits are lost.\n"
	           "listen_addresses = ''\n"
	           "unix_socket_permissions = 0700\n"
	           "unix_socket_directories = '");
	for (const char *p = pg->sockdir; *p; p++) {
		if (*p == '\'')
			fputc('\'', f);
		fputc(*p, f);
	}
	fprintf(f, "'\n");
	return fclose(f) == 0 ? 0 : 1;
}

/* As the cluster's user, once after initdb: include our settings file. */
static int include_conf(pgembed *pg, void *arg)
{
	char *conf = xasprintf("%s/postgresql.conf", pg->datadir);
	FILE *f = conf ? fopen(conf, "a") : NULL;
	free(conf);
	if (!f)
		return 1;
	bool ok = fputs("\ninclude_if_exists = 'fiducia.conf'\n", f) >= 0;
	return fclose(f) == 0 && ok ? 0 : 1;
}

static bool initdb(pgembed *pg, char *err, size_t errlen)
{
	char *exe = xasprintf("%s/initdb", pg->bindir);
	char *argv[] = {exe,  "-D",   pg->datadir,  "-U", "fiducia", "--auth=trust",
	                "-E", "UTF8", "--locale=C", NULL};
	log_info("initdb: creating the embedded PostgreSQL cluster in %s", pg->datadir);
	int rc = exe ? run(pg, argv) : -1;
	free(exe);
	if (rc != 0) {
		char tail[512];
		log_tail(pg, tail, sizeof tail);
		errf(err, errlen, "initdb failed (exit %d): %s", rc, tail);
		return false;
	}
	if (as_pg(pg, include_conf, NULL) != 0) {
		errf(err, errlen, "cannot extend %s/postgresql.conf", pg->datadir);
		return false;
	}
	return true;
}

static bool pg_ctl(pgembed *pg, const char *verb, char *err, size_t errlen)
{
	char *exe = xasprintf("%s/pg_ctl", pg->bindir);
	int rc;
	if (!strcmp(verb, "status")) {
		char *argv[] = {exe, "status", "-s", "-D", pg->datadir, NULL};
		rc = run(pg, argv);
	} else if (!strcmp(verb, "start")) {
		char *argv[] = {exe,  "start",     "-w", "-t",        "60", "-s",
		                "-D", pg->datadir, "-l", pg->logfile, NULL};
		rc = run(pg, argv);
	} else {
		char *argv[] = {exe,  "stop", "-w", "-t",        "60", "-s",
		                "-m", "fast", "-D", pg->datadir, NULL};
		rc = run(pg, argv);
	}
	free(exe);
	if (rc != 0 && err) {
		char tail[512];
		log_tail(pg, tail, sizeof tail);
		errf(err, errlen, "pg_ctl %s failed (exit %d): %s", verb, rc, tail);
	}
	return rc == 0;
}

/* Connect to the maintenance database and create "fiducia" when absent. */
static bool create_database(pgembed *pg, char *err, size_t errlen)
{
	const char *keys[] = {"host", "dbname", "user", NULL};
	const char *vals[] = {pg->sockdir, "postgres", "fiducia", NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 0);
	bool ok = false;
	db_log_notices(c);
	if (PQstatus(c) != CONNECTION_OK) {
		errf(err, errlen, "cannot connect to the embedded cluster: %s", PQerrorMessage(c));
		goto out;
	}
	PGresult *r = PQexec(c, "SELECT 1 FROM pg_database WHERE datname = 'fiducia'");
	bool exists = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
	PQclear(r);
	if (!exists) {
		r = PQexec(c, "CREATE DATABASE fiducia");
		if (PQresultStatus(r) != PGRES_COMMAND_OK) {
			errf(err, errlen, "CREATE DATABASE fiducia: %s", PQresultErrorMessage(r));
			PQclear(r);
			goto out;
		}
		PQclear(r);
	}
	ok = true;
out:
	PQfinish(c);
	return ok;
}

bool pgembed_start(pgembed *pg, const char *data_dir, const char *bindir, const char *os_user,
                   char **conninfo_out, char *err, size_t errlen)
{
	memset(pg, 0, sizeof *pg);
	*conninfo_out = NULL;
	char *abs = realpath(data_dir, NULL);
	if (!abs) {
		errf(err, errlen, "data folder %s: %s", data_dir, strerror(errno));
		return false;
	}
	pg->root = xasprintf("%s/pg", abs);
	pg->datadir = xasprintf("%s/pg/data", abs);
	pg->sockdir = xasprintf("%s/pg/run", abs);
	pg->logfile = xasprintf("%s/pg/postgresql.log", abs);
	free(abs);
	pg->bindir = bindir && *bindir ? strdup(bindir) : find_bindir();
	if (!pg->root || !pg->datadir || !pg->sockdir || !pg->logfile || !pg->bindir) {
		errf(err, errlen, "out of memory");
		goto fail;
	}
	if (strlen(pg->sockdir) + sizeof "/.s.PGSQL.5432" >
	    sizeof(((struct sockaddr_un *)0)->sun_path)) {
		errf(err, errlen,
		     "data folder path is too long for a unix socket (%zu bytes): use a shorter "
		     "--data-dir",
		     strlen(pg->sockdir));
		goto fail;
	}
	char *initdb_exe = xasprintf("%s/initdb", pg->bindir);
	bool have = initdb_exe && access(initdb_exe, X_OK) == 0;
	free(initdb_exe);
	if (!have) {
		errf(err, errlen,
		     "PostgreSQL server programs not found in %s (install postgresql-15, or set "
		     "pg_bindir)",
		     pg->bindir);
		goto fail;
	}
	if (geteuid() == 0) {
		struct passwd *pw = getpwnam(os_user);
		if (!pw) {
			errf(err, errlen,
			     "running as root: the embedded cluster needs the unprivileged user "
			     "\"%s\" (option pg_os_user), which does not exist",
			     os_user);
			goto fail;
		}
		if (pw->pw_uid == 0) {
			errf(err, errlen,
			     "option pg_os_user: \"%s\" is root; PostgreSQL refuses it", os_user);
			goto fail;
		}
		pg->drop_privs = true;
		pg->uid = pw->pw_uid;
		pg->gid = pw->pw_gid;
		pg->user = strdup(os_user);
		if (!pg->user)
			goto fail;
	}
	/* DATA_DIR/pg: made by us (DATA_DIR is ours), then given to the
	 * cluster's user without following links. */
	if (mkdir(pg->root, 0700) != 0 && errno != EEXIST) {
		errf(err, errlen, "cannot create %s: %s", pg->root, strerror(errno));
		goto fail;
	}
	if (pg->drop_privs) {
		int dfd = open(pg->root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		bool ok = dfd >= 0 && fchown(dfd, pg->uid, pg->gid) == 0;
		if (dfd >= 0)
			close(dfd);
		if (!ok) {
			errf(err, errlen, "cannot give %s to %s: %s", pg->root, pg->user,
			     strerror(errno));
			goto fail;
		}
	}
	int rc = as_pg(pg, make_layout, NULL);
	if (rc == 3 || rc == 126) {
		errf(err, errlen,
		     "user %s cannot reach %s: make the folders above it traversable "
		     "(chmod o+x) or choose another --data-dir",
		     pg->user ? pg->user : "(self)", pg->root);
		goto fail;
	} else if (rc != 0) {
		errf(err, errlen, "cannot prepare %s (log file or socket folder)", pg->root);
		goto fail;
	}

	char *pgver = xasprintf("%s/PG_VERSION", pg->datadir);
	bool exists = pgver && access(pgver, F_OK) == 0;
	free(pgver);
	if (!exists && !initdb(pg, err, errlen))
		goto fail;
	if (as_pg(pg, write_conf, NULL) != 0) {
		errf(err, errlen, "cannot write %s/fiducia.conf", pg->datadir);
		goto fail;
	}
	if (pg_ctl(pg, "status", NULL, 0)) {
		log_warn("embedded PostgreSQL in %s was already running; adopting it", pg->datadir);
	} else if (!pg_ctl(pg, "start", err, errlen)) {
		goto fail;
	}
	pg->running = true;
	log_info("embedded PostgreSQL running on unix socket in %s", pg->sockdir);
	if (!create_database(pg, err, errlen))
		goto fail;
	/* Quote the socket path for conninfo: '...' with \ and ' escaped. */
	size_t n = strlen(pg->sockdir);
	char *q = malloc(2 * n + 64);
	if (!q)
		goto fail;
	char *w = q + sprintf(q, "host='");
	for (const char *s = pg->sockdir; *s; s++) {
		if (*s == '\'' || *s == '\\')
			*w++ = '\\';
		*w++ = *s;
	}
	strcpy(w, "' dbname=fiducia user=fiducia");
	*conninfo_out = q;
	return true;
fail:
	pgembed_stop(pg);
	return false;
}

void pgembed_stop(pgembed *pg)
{
	if (pg->running) {
		char err[512];
		if (!pg_ctl(pg, "stop", err, sizeof err))
			log_error("stopping embedded PostgreSQL: %s", err);
		else
			log_info("embedded PostgreSQL stopped");
		pg->running = false;
	}
	free(pg->root);
	free(pg->datadir);
	free(pg->sockdir);
	free(pg->logfile);
	free(pg->bindir);
	free(pg->user);
	memset(pg, 0, sizeof *pg);
}

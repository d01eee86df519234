/*
 * A throw-away evhttp server for the CLI's unit tests: forked, bound to a
 * free port of 127.0.0.1 (told back through a pipe), answering every
 * request with the test's handler until killed.
 */
#ifndef FIDUCIA_FAKESERVER_H
#define FIDUCIA_FAKESERVER_H

#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* Fork the server; returns its pid and sets *port. Exits the test on failure. */
static pid_t fake_server_start(void (*handle)(struct evhttp_request *, void *), int *port)
{
	int p[2];
	if (pipe(p) != 0)
		exit(1);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		struct event_base *base = event_base_new();
		struct evhttp *http = evhttp_new(base);
		struct evhttp_bound_socket *s =
		        evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
		int bound = 0;
		if (s) {
			struct sockaddr_in sin;
			socklen_t sl = sizeof sin;
			getsockname(evhttp_bound_socket_get_fd(s), (struct sockaddr *)&sin, &sl);
			bound = ntohs(sin.sin_port);
		}
		if (write(p[1], &bound, sizeof bound) != sizeof bound || !bound)
			_exit(1);
		evhttp_set_allowed_methods(http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
		                                         EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE);
		evhttp_set_gencb(http, handle, NULL);
		event_base_dispatch(base);
		_exit(0);
	}
	close(p[1]);
	if (pid < 0 || read(p[0], port, sizeof *port) != sizeof *port || !*port) {
		fprintf(stderr, "cannot start the test server\n");
		exit(1);
	}
	close(p[0]);
	return pid;
}

static void fake_server_stop(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
		*pid = 0;
	}
}

#endif

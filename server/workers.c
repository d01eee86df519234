#include "workers.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

struct job {
	struct job *next;
	void (*work)(void *);
	void (*done)(void *);
	void *arg;
};

struct workers {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *head, *tail;   /* to run */
	struct job *fhead, *ftail; /* finished, for the loop */
	struct event *finished_ev;
	bool stop;
	int n;
	size_t pending;
	pthread_t *threads;
};

static void push(struct job **head, struct job **tail, struct job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static void *run(void *arg)
{
	workers *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->head && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->stop)
			break;
		struct job *j = w->head;
		w->head = j->next;
		if (!w->head)
			w->tail = NULL;
		pthread_mutex_unlock(&w->mu);
		j->work(j->arg);
		pthread_mutex_lock(&w->mu);
		push(&w->fhead, &w->ftail, j);
		event_active(w->finished_ev, EV_READ, 0);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void finished(evutil_socket_t fd, short what, void *arg)
{
	workers *w = arg;
	pthread_mutex_lock(&w->mu);
	struct job *j = w->fhead;
	w->fhead = w->ftail = NULL;
	pthread_mutex_unlock(&w->mu);
	while (j) {
		struct job *next = j->next;
		pthread_mutex_lock(&w->mu);
		w->pending--;
		pthread_mutex_unlock(&w->mu);
		j->done(j->arg);
		free(j);
		j = next;
	}
}

workers *workers_new(struct event_base *base, int n)
{
	if (n <= 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		n = c > 0 ? (int)c : 1;
	}
	workers *w = calloc(1, sizeof *w);
	if (!w)
		return NULL;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	w->finished_ev = event_new(base, -1, 0, finished, w);
	w->threads = calloc((size_t)n, sizeof *w->threads);
	if (!w->finished_ev || !w->threads) {
		workers_free(w);
		return NULL;
	}
	for (int i = 0; i < n; i++) {
		if (pthread_create(&w->threads[i], NULL, run, w) != 0) {
			workers_free(w);
			return NULL;
		}
		w->n++;
	}
	return w;
}

void workers_free(workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (int i = 0; i < w->n; i++)
		pthread_join(w->threads[i], NULL);
	for (struct job *j = w->head, *next; j; j = next) {
		next = j->next;
		free(j);
	}
	for (struct job *j = w->fhead, *next; j; j = next) {
		next = j->next;
		free(j);
	}
	if (w->finished_ev)
		event_free(w->finished_ev);
	free(w->threads);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

void workers_submit(workers *w, void (*work)(void *), void (*done)(void *), void *arg)
{
	struct job *j = malloc(sizeof *j);
	if (!j)
		abort();
	j->work = work;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&w->mu);
	push(&w->head, &w->tail, j);
	w->pending++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

size_t workers_pending(const workers *w)
{
	return w->pending;
}

int workers_count(const workers *w)
{
	return w->n;
}

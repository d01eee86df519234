/*
 * workers: a fixed pool of threads for CPU-heavy work that must not stall
 * the event loop (parsing and sealing deposits, opening chunks). A job's
 * work() runs on a worker thread and touches only the job's own memory;
 * its done() runs afterwards on the event loop thread.
 */
#ifndef FIDUCIA_WORKERS_H
#define FIDUCIA_WORKERS_H

#include <stddef.h>

struct event_base;
typedef struct workers workers;

/* n threads (0 = one per online CPU). The base must have been created after
 * evthread_use_pthreads(). NULL on failure. */
workers *workers_new(struct event_base *base, int n) __attribute__((warn_unused_result));
/* Stops the threads after their current job; queued jobs are dropped
 * without their done() being called. */
void workers_free(workers *w);

void workers_submit(workers *w, void (*work)(void *), void (*done)(void *), void *arg);

/* Jobs queued or running (for /metrics). */
size_t workers_pending(const workers *w);
int workers_count(const workers *w);

#endif

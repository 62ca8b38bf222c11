/*
 * prepare.c - a fleet's nodes made Docker hosts by a pool of workers
 * (prepare.h).
 */
#include "provision/prepare.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "provision/tunnel.h"
#include "util/str.h"

struct job {
	struct bs_prepared p;
	const struct bs_node_prepare_opts *opts;
	bool done, shown;
};

struct pool {
	const struct bs_fleet *fleet;
	volatile sig_atomic_t *interrupted;
	struct job *jobs;
	size_t n, next;
	pthread_mutex_t lock;
	pthread_cond_t finished;
};

static void run_job(const struct bs_fleet *fleet, struct job *j)
{
	struct bs_prepared *p = &j->p;
	struct bs_node_session s;

	p->rc = bs_node_prepare(&s, fleet, p->node, j->opts, &p->err);
	p->report = s.report;
	p->attempts = s.ssh_attempts;
	p->ms_ssh = s.ms_ssh;
	p->ms_docker = s.ms_docker;
	p->ms_endpoint = s.ms_endpoint;
	if (p->rc == 0) {
		snprintf(p->engine, sizeof(p->engine), "%s", bs_docker_engine_version(s.driver));
		if (s.tunnel != NULL)
			snprintf(p->endpoint, sizeof(p->endpoint), "ssh (%s)",
				 bs_tunnel_mode_name(s.tunnel));
		else
			snprintf(p->endpoint, sizeof(p->endpoint), "%s", s.ep.url);
	}
	bs_node_session_close(&s);
}

static void *worker(void *arg)
{
	struct pool *p = arg;

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&p->lock);
		if (p->next == p->n || *p->interrupted) {
			pthread_mutex_unlock(&p->lock);
			return NULL;
		}
		j = &p->jobs[p->next++];
		pthread_mutex_unlock(&p->lock);
		run_job(p->fleet, j);
		pthread_mutex_lock(&p->lock);
		j->done = true;
		pthread_cond_signal(&p->finished);
		pthread_mutex_unlock(&p->lock);
	}
}

/* The jobs for the nodes opts->only selects; how many. */
static size_t select_jobs(struct pool *p, const struct bs_prepare_opts *o)
{
	const struct bs_fleet *fleet = p->fleet;

	p->jobs = bs_xcalloc(fleet->n_nodes ? fleet->n_nodes : 1, sizeof(*p->jobs));
	for (size_t i = 0; i < fleet->n_nodes; i++) {
		const struct bs_node *n = &fleet->nodes[i];
		struct job *j;

		if (o->only != NULL && strcmp(o->only, n->name) != 0 &&
		    strcmp(o->only, n->group) != 0)
			continue;
		j = &p->jobs[p->n++];
		j->p.node = n;
		j->p.err = (struct bs_err)BS_ERR_INIT;
		j->opts = o->per_node != NULL ? &o->per_node[i] : o->node_opts;
	}
	return p->n;
}

/* On the calling thread: tell of each node as it ends, until every node
 * started has ended and no other will start. Called with p->lock held. */
static void collect(struct pool *p, const struct bs_prepare_opts *o, struct bs_prepare_result *out)
{
	for (;;) {
		bool all_started_done = true;
		struct timespec until;

		for (size_t i = 0; i < p->n; i++) {
			struct job *j = &p->jobs[i];

			if (!j->done || j->shown)
				continue;
			j->shown = true;
			out->finished++;
			out->failed += j->p.rc != 0;
			out->locked = out->locked || j->p.rc == BS_ERR_LOCKED;
			pthread_mutex_unlock(&p->lock);
			if (o->on_done != NULL)
				o->on_done(&j->p, o->payload);
			pthread_mutex_lock(&p->lock);
		}
		for (size_t i = 0; i < p->next; i++)
			all_started_done &= p->jobs[i].done && p->jobs[i].shown;
		/* after an interrupt the workers finish the node they are on */
		if (all_started_done && (p->next == p->n || *p->interrupted))
			return;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 200 * 1000000L;
		if (until.tv_nsec >= 1000000000L) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&p->finished, &p->lock, &until);
	}
}

int bs_prepare_fleet(const struct bs_fleet *fleet, const struct bs_prepare_opts *opts,
		     struct bs_prepare_result *out, struct bs_err *err)
{
	static volatile sig_atomic_t never;
	size_t want = (size_t)(opts->parallel > 0 ? opts->parallel : 8), n_threads = 0;
	pthread_t threads[256];
	struct pool p;

	memset(out, 0, sizeof(*out));
	memset(&p, 0, sizeof(p));
	p.fleet = fleet;
	p.interrupted = opts->interrupted != NULL ? opts->interrupted : &never;
	out->selected = select_jobs(&p, opts);
	if (out->selected == 0) {
		free(p.jobs);
		return bs_err_set(err, BS_ERR_NOT_FOUND, "no node named '%s' in %s",
				  opts->only ? opts->only : "", fleet->file);
	}
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.finished, NULL);
	for (size_t i = 0; i < want && i < p.n && i < 256; i++)
		if (pthread_create(&threads[n_threads], NULL, worker, &p) == 0)
			n_threads++;
	if (n_threads > 0) {
		pthread_mutex_lock(&p.lock);
		collect(&p, opts, out);
		pthread_mutex_unlock(&p.lock);
	}
	for (size_t i = 0; i < n_threads; i++)
		pthread_join(threads[i], NULL);
	pthread_cond_destroy(&p.finished);
	pthread_mutex_destroy(&p.lock);
	free(p.jobs);
	if (n_threads == 0)
		return bs_err_set(err, BS_ERR_IO, "cannot start a worker thread");
	return 0;
}

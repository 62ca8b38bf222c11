/*
 * compute.c - what all compute drivers share: the state names, freeing,
 * and the choice of driver for a recipe. See compute.h.
 */
#include "provision/compute.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

const char *bs_node_state_name(enum bs_node_state s)
{
	static const char *const names[] = {
		[BS_NODE_RUNNING] = "running",	     [BS_NODE_STARTING] = "starting",
		[BS_NODE_PENDING] = "pending",	     [BS_NODE_REBOOTING] = "rebooting",
		[BS_NODE_STOPPING] = "stopping",     [BS_NODE_STOPPED] = "stopped",
		[BS_NODE_TERMINATED] = "terminated", [BS_NODE_ERROR] = "error",
		[BS_NODE_UNKNOWN] = "unknown",
	};

	return (unsigned)s <= BS_NODE_UNKNOWN ? names[s] : "unknown";
}

void bs_machine_free(struct bs_machine *m)
{
	free(m->id);
	free(m->name);
	free(m->project);
	free(m->ssh_host);
	free(m->size);
	free(m->image);
	free(m->region);
	free(m->ssh_key);
	memset(m, 0, sizeof(*m));
}

void bs_catalog_free(struct bs_catalog *c)
{
	for (size_t i = 0; i < c->n_locations; i++) {
		free(c->locations[i].name);
		free(c->locations[i].description);
		free(c->locations[i].country);
	}
	for (size_t i = 0; i < c->n_sizes; i++) {
		free(c->sizes[i].name);
		free(c->sizes[i].arch);
		bs_strv_free(&c->sizes[i].where);
	}
	free(c->locations);
	free(c->sizes);
	memset(c, 0, sizeof(*c));
}

void bs_machine_list_free(struct bs_machine_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		bs_machine_free(&l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/*
 * "FROM<43 base64 characters>" to "TO<the same>", with the two characters
 * that differ between base64 and base64url swapped (a, b for c, d); NULL
 * when text is not of that shape.
 */
static char *key_form(const char *text, const char *from, const char *to, char a, char b, char c,
		      char d)
{
	char *out;

	if (text == NULL || !bs_str_starts_with(text, from) || strlen(text) != strlen(from) + 43)
		return NULL;
	out = bs_xasprintf("%s%s", to, text + strlen(from));
	for (char *p = out + strlen(to); *p; p++) {
		if (*p == a)
			*p = c;
		else if (*p == b)
			*p = d;
		else if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			   (*p >= '0' && *p <= '9'))) {
			free(out);
			return NULL;
		}
	}
	return out;
}

char *bs_compute_key_label(const char *fingerprint)
{
	return key_form(fingerprint, "SHA256:", "SHA256_", '+', '/', '-', '_');
}

char *bs_compute_key_from_label(const char *label)
{
	return key_form(label, "SHA256_", "SHA256:", '-', '_', '+', '/');
}

char *bs_compute_host_key_tag(const struct bs_compute *c, const struct bs_machine *m)
{
	if (c == NULL || !c->creates || m->id == NULL)
		return NULL;
	return bs_xasprintf("bootstrap:%s:%s", c->ops->name, m->id);
}

void bs_compute_where(const struct bs_compute *c, const struct bs_node *node, const char *key,
		      char *out, size_t len)
{
	const struct bs_fleet *r = &c->fleet;

	if (node != NULL)
		snprintf(out, len, "%s:%d:%d: nodes (%s): %s", r->file, node->loc.line,
			 node->loc.col, node->name, key);
	else
		snprintf(out, len, "%s:%d:%d: provider.%s", r->file, r->provider.loc.line,
			 r->provider.loc.col, key);
}

int bs_compute_open(struct bs_compute **out, const struct bs_fleet *fleet,
		    const struct bs_compute_opts *opts, struct bs_err *err)
{
	*out = NULL;
	switch (fleet->provider.type) {
	case BS_PROVIDER_STATIC:
	case BS_PROVIDER_ENGINE: return bs_compute_static_open(out, fleet, opts, err);
	case BS_PROVIDER_LOCAL: return bs_compute_local_open(out, fleet, opts, err);
	case BS_PROVIDER_HETZNER: return bs_compute_hetzner_open(out, fleet, opts, err);
	case BS_PROVIDER_DIGITALOCEAN: return bs_compute_digitalocean_open(out, fleet, opts, err);
	}
	return bs_err_set(err, BS_ERR_INVALID, "%s: unknown provider", fleet->file);
}

static const struct bs_machine *find_machine(const struct bs_machine_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].name, name) == 0)
			return &l->v[i];
	return NULL;
}

static bool selected(const char *only, const struct bs_node *n)
{
	return only == NULL || strcmp(only, n->name) == 0 || strcmp(only, n->group) == 0;
}

int bs_compute_ensure(struct bs_compute *c, const char *only, struct bs_machine_list *out,
		      struct bs_compute_report *report, struct bs_err *err)
{
	const struct bs_fleet *r = &c->fleet;
	struct bs_machine_list have;
	bool checked = false;
	size_t i;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(report, 0, sizeof(*report));
	rc = c->ops->list(c, &have, err);
	if (rc != 0)
		return rc;
	out->v = bs_xcalloc(r->n_nodes ? r->n_nodes : 1, sizeof(*out->v));
	for (i = 0; i < r->n_nodes && rc == 0; i++) {
		const struct bs_node *n = &r->nodes[i];
		const struct bs_machine *m = find_machine(&have, n->name);
		struct bs_machine *slot = &out->v[out->n];

		if (!selected(only, n))
			continue;
		if (m != NULL && m->state != BS_NODE_TERMINATED) {
			slot->id = bs_xstrdup(m->id);
			slot->name = bs_xstrdup(m->name);
			slot->project = m->project ? bs_xstrdup(m->project) : NULL;
			slot->state = m->state;
			slot->ssh_host = m->ssh_host ? bs_xstrdup(m->ssh_host) : NULL;
			slot->ssh_port = m->ssh_port;
			slot->ssh_key = m->ssh_key ? bs_xstrdup(m->ssh_key) : NULL;
			out->n++;
			report->found++;
			if (m->state == BS_NODE_STOPPED && c->ops->start != NULL) {
				rc = c->ops->start(c, slot, err);
				if (rc == 0) {
					slot->started = true;
					report->started++;
				}
			}
			continue;
		}
		if (!c->creates) {
			rc = bs_err_set(err, BS_ERR_NOT_FOUND, "node %s: no such machine", n->name);
			break;
		}
		/* the recipe's sizes, image and location, checked once before
		 * the first machine is ordered (a no-op run asks nothing) */
		if (!checked && c->ops->check != NULL) {
			checked = true;
			rc = c->ops->check(c, err);
			if (rc != 0)
				break;
		}
		rc = c->ops->create(c, n, slot, err);
		if (rc == 0) {
			slot->created = true;
			out->n++;
			report->created++;
		}
	}
	/* every machine is started before any is waited for: they boot together */
	for (i = 0; i < out->n && rc == 0; i++) {
		struct bs_machine *m = &out->v[i];
		bool created = m->created, started = m->started;

		if (m->state == BS_NODE_RUNNING && m->ssh_host != NULL)
			continue;
		/* drivers refill the machine from the provider: what this run
		 * did to it is ours to keep */
		rc = c->ops->wait_running(c, m, err);
		m->created = created;
		m->started = started;
	}
	for (i = 0; i < have.n; i++) {
		bool declared = false;

		for (size_t j = 0; j < r->n_nodes && !declared; j++)
			declared = strcmp(r->nodes[j].name, have.v[i].name) == 0;
		if (!declared)
			report->extra++;
	}
	bs_machine_list_free(&have);
	if (rc != 0)
		bs_machine_list_free(out);
	return rc;
}

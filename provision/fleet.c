/*
 * fleet.c - the names of the provider types (fleet.h).
 */
#include "provision/fleet.h"

const char *const bs_provider_type_names[] = {"local",	      "static", "hetzner",
					      "digitalocean", "engine", NULL};

const char *bs_provider_type_name(enum bs_provider_type type)
{
	return bs_provider_type_names[type];
}

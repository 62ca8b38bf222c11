/*
 * jump.h - nodes behind jump hosts (ssh.jump, nodes[].jump): the node's SSH
 * session is carried through each hop's direct-tcpip channel, as OpenSSH's
 * ProxyJump does, with no ssh binary and no agent forwarding.
 *
 * Each hop is an SSH session of its own, connected with the node's
 * credentials (key, agent, password) and checked against the same
 * known_hosts with the same policy: every hop's host key is pinned. A hop
 * is shared by every node behind it (one connection to the bastion for a
 * whole run), kept while a session dialed through it lives, and closed
 * with the last one. The hop's tunnel (tunnel.h, dialer mode) moves the
 * bytes of every connection through it on its own thread.
 */
#ifndef BS_PROVISION_JUMP_H
#define BS_PROVISION_JUMP_H

#include "provision/ssh.h"
#include "util/str.h"

struct bs_jump_route;

/*
 * The route to a node through hops ("[USER@]HOST[:PORT]", the first hop
 * first, checked by the recipe). Copies what it needs of base (credentials,
 * known_hosts, policy, timeouts, cancel), so base may go before the route.
 * Fill a dialer for the node's bs_ssh_opts with bs_jump_route_dialer; the
 * route lives while a session dialed through it does.
 */
struct bs_jump_route *bs_jump_route_new(const struct bs_ssh_opts *base, const struct bs_strv *hops);
void bs_jump_route_dialer(struct bs_jump_route *r, struct bs_ssh_dialer *out);

/* The caller's reference; sessions dialed through it keep theirs. */
void bs_jump_route_free(struct bs_jump_route *r);

/* "root@bastion:22 > root@inner:22" for messages. */
const char *bs_jump_route_display(const struct bs_jump_route *r);

#endif

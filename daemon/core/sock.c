/*
 * sock.c - Homa sockets and their ports (spec/protocol.md, "Ports and
 * sockets").
 *
 * Each socket has a port unique on the host: a default one >= 0x8000 when
 * opened, or one below 0x8000 taken with bind (which also makes it accept
 * requests).  Shutdown releases the port at once and ends every RPC
 * locally.  The port table is a small hash of chains.
 */
#include <errno.h>
#include <stdlib.h>

#include "homa_int.h"

static unsigned sock_bucket(uint16_t port)
{
	return port % SOCK_BUCKETS;
}

/* The live socket on port, or NULL. */
struct homa_sock *sock_find(const struct homa_engine *e, uint16_t port)
{
	struct homa_sock *s;

	if (port == 0)
		return NULL;
	for (s = e->sock_buckets[sock_bucket(port)]; s != NULL;
	     s = s->hash_next)
		if (s->port == port)
			return s;
	return NULL;
}

static void sock_hash_add(struct homa_engine *e, struct homa_sock *s)
{
	unsigned b = sock_bucket(s->port);

	s->hash_next = e->sock_buckets[b];
	e->sock_buckets[b] = s;
}

static void sock_hash_del(struct homa_engine *e, struct homa_sock *s)
{
	struct homa_sock **pp = &e->sock_buckets[sock_bucket(s->port)];

	while (*pp != NULL) {
		if (*pp == s) {
			*pp = s->hash_next;
			s->hash_next = NULL;
			return;
		}
		pp = &(*pp)->hash_next;
	}
}

/*
 * A new socket with a free default port.  -EMFILE: max_sockets reached;
 * -EADDRINUSE: every default port taken; -ENOMEM.
 */
int sock_open(struct homa_engine *e, void *app, struct homa_sock **out)
{
	struct homa_sock *s;
	uint16_t port = 0;

	if (e->nsocks >= e->params.max_sockets)
		return -EMFILE;
	for (unsigned tries = 0; tries < 0x8000; tries++) {
		uint16_t p = e->next_port;

		e->next_port =
			p == 0xFFFF ? HOMA_MIN_DEFAULT_PORT : (uint16_t)(p + 1);
		if (sock_find(e, p) == NULL) {
			port = p;
			break;
		}
	}
	if (port == 0)
		return -EADDRINUSE;
	s = mem_calloc(&e->alloc, 1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->port = port;
	s->app = app;
	s->pool.partial = -1;
	TAILQ_INIT(&s->rpcs);
	TAILQ_INIT(&s->pool.waiting);
	sock_hash_add(e, s);
	TAILQ_INSERT_TAIL(&e->socks, s, link);
	e->nsocks++;
	*out = s;
	return 0;
}

/*
 * bind(): see engine_sock_bind.  -EINVAL port >= 0x8000; -EADDRINUSE;
 * -ESHUTDOWN.
 */
int sock_bind(struct homa_engine *e, struct homa_sock *s, uint16_t port)
{
	struct homa_sock *owner;

	if (s->shutdown)
		return -ESHUTDOWN;
	if (port == 0)
		return 0;
	if (port >= HOMA_MIN_DEFAULT_PORT)
		return -EINVAL;
	owner = sock_find(e, port);
	if (owner != NULL && owner != s)
		return -EADDRINUSE;
	if (owner == NULL) {
		sock_hash_del(e, s);
		s->port = port;
		sock_hash_add(e, s);
	}
	s->server = true;
	return 0;
}

/* End every RPC of s locally and release its port and pool. */
void sock_shutdown(struct homa_engine *e, struct homa_sock *s, uint64_t now)
{
	struct homa_rpc *rpc;

	if (s->shutdown)
		return;
	s->shutdown = true;
	s->server = false;
	while ((rpc = TAILQ_FIRST(&s->rpcs)) != NULL)
		rpc_end(e, rpc, now);
	sock_hash_del(e, s);
	s->port = 0;
	pool_destroy(&s->pool);
}

/* Free a socket that is shut down. */
void sock_free(struct homa_engine *e, struct homa_sock *s, uint64_t now)
{
	sock_shutdown(e, s, now);
	TAILQ_REMOVE(&e->socks, s, link);
	e->nsocks--;
	mem_free(&e->alloc, s);
}

/* An outgoing message of s no longer counts; report send space if due. */
void sock_wmem_release(struct homa_engine *e, struct homa_sock *s,
		       uint32_t bytes)
{
	s->wmem = s->wmem > bytes ? s->wmem - bytes : 0;
	if (s->wmem_blocked && s->wmem < e->params.wmem_max && !s->shutdown) {
		s->wmem_blocked = false;
		if (e->ops.send_space != NULL)
			e->ops.send_space(e->ops_ctx, s, s->app);
	}
}

/*
 * wait.c - poll, ppoll, select, pselect and epoll on Homa sockets.
 *
 * A Homa socket's descriptor is its connection to homad, so the kernel
 * already wakes a waiter when homad sends something.  Two things make the
 * kernel's answer inexact for the Homa API, and this file corrects both:
 * libhomaclient may hold messages it has already read from the connection
 * (then the descriptor is not readable, yet recvmsg would return at once),
 * and not every datagram from homad is a message (then it is readable,
 * yet recvmsg would wait).  So for a Homa socket the library asks
 * libhomaclient (hp_ready) before sleeping and after every wake-up, waits
 * in the kernel for POLLIN only (any datagram: a message, send space, a
 * release), and reports exactly POLLIN (a message or failure is ready, or
 * the socket is shut down) and POLLOUT (a send would not wait).
 *
 * epoll: registrations of Homa sockets are kept here (struct epreg); the
 * kernel's registration carries the epreg as its data and is level-
 * triggered on EPOLLIN; EPOLLET and EPOLLONESHOT are applied here.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "preload_int.h"

#define HP_EXPORT __attribute__((visibility("default")))
#define EP_STACK  64 /* events read from the kernel per call, at most */

struct epreg {
	int epfd, fd;
	uint32_t events; /* the application's */
	epoll_data_t data;
	uint32_t last; /* EPOLLET: the mask reported last */
	bool disabled; /* EPOLLONESHOT fired */
	struct epreg *next;
};

static pthread_mutex_t ep_lock = PTHREAD_MUTEX_INITIALIZER;
static struct epreg *ep_regs;
static atomic_int ep_count;

static short ev_of(struct psock *ps)
{
	return hp_ready(ps);
}

/* ---- time ------------------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Milliseconds left until end (-1: forever). */
static int left_ms(int64_t end)
{
	int64_t l;

	if (end < 0)
		return -1;
	l = end - now_ms();
	return l < 0 ? 0 : l > 1000000000 ? 1000000000 : (int)l;
}

/* ---- poll ------------------------------------------------------------- */

/*
 * poll with Homa sockets among fds: timeout_ms < 0 forever; sigmask as
 * ppoll's.
 */
static int wait_poll(struct pollfd *fds, nfds_t n, int timeout_ms,
		     const sigset_t *sigmask)
{
	int64_t end = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	short small[16];
	short *saved = n <= 16 ? small : malloc(n * sizeof(short));
	int rc, count;

	if (saved == NULL) {
		errno = ENOMEM;
		return -1;
	}
	for (;;) {
		bool ready = false;
		int left;

		/* Messages the library already holds: no sleeping. */
		for (nfds_t i = 0; i < n; i++) {
			struct psock *ps = hp_get(fds[i].fd);

			if (ps == NULL)
				continue;
			if (hp_ready_held(ps) & (fds[i].events | POLLERR))
				ready = true;
			hp_put(ps);
		}
		left = ready ? 0 : left_ms(end);
		for (nfds_t i = 0; i < n; i++) {
			saved[i] = fds[i].events;
			if (hp_is_homa(fds[i].fd))
				fds[i].events = POLLIN;
		}
		if (sigmask != NULL || left > 0 || left < 0) {
			struct timespec ts = {left / 1000,
					      (long)(left % 1000) * 1000000};

			rc = hp_real.ppoll(fds, n, left < 0 ? NULL : &ts,
					   sigmask);
		} else {
			rc = hp_real.poll(fds, n, 0);
		}
		for (nfds_t i = 0; i < n; i++)
			fds[i].events = saved[i];
		if (rc < 0)
			break;
		count = 0;
		for (nfds_t i = 0; i < n; i++) {
			struct psock *ps = hp_get(fds[i].fd);

			if (ps != NULL) {
				fds[i].revents = (short)(ev_of(ps) &
							 (fds[i].events |
							  POLLERR | POLLHUP));
				hp_put(ps);
			}
			if (fds[i].revents != 0)
				count++;
		}
		rc = count;
		if (count > 0 || left_ms(end) == 0)
			break;
		/* Only homad's bookkeeping arrived: wait again. */
	}
	if (saved != small)
		free(saved);
	return rc;
}

static bool any_homa(const struct pollfd *fds, nfds_t n)
{
	for (nfds_t i = 0; i < n; i++)
		if (hp_is_homa(fds[i].fd))
			return true;
	return false;
}

HP_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	hp_resolve();
	if (!any_homa(fds, n))
		return hp_real.poll(fds, n, timeout);
	return wait_poll(fds, n, timeout, NULL);
}

HP_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts,
		    const sigset_t *sigmask)
{
	int ms;

	hp_resolve();
	if (!any_homa(fds, n))
		return hp_real.ppoll(fds, n, ts, sigmask);
	ms = ts == NULL ? -1
			: (int)(ts->tv_sec * 1000 +
				(ts->tv_nsec + 999999) / 1000000);
	return wait_poll(fds, n, ms, sigmask);
}

/* ---- select ----------------------------------------------------------- */

static int wait_select(int nfds, fd_set *r, fd_set *w, fd_set *e, int ms,
		       const sigset_t *sigmask, bool *homa)
{
	struct pollfd *p;
	nfds_t n = 0;
	int rc;

	*homa = false;
	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
		if (hp_is_homa(fd) &&
		    ((r && FD_ISSET(fd, r)) || (w && FD_ISSET(fd, w))))
			*homa = true;
	if (!*homa)
		return 0;
	p = calloc((size_t)nfds, sizeof(*p));
	if (p == NULL) {
		errno = ENOMEM;
		return -1;
	}
	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++) {
		short ev = 0;

		if (r && FD_ISSET(fd, r))
			ev |= POLLIN;
		if (w && FD_ISSET(fd, w))
			ev |= POLLOUT;
		if (e && FD_ISSET(fd, e))
			ev |= POLLPRI;
		if (ev == 0)
			continue;
		p[n].fd = fd;
		p[n].events = ev;
		n++;
	}
	rc = wait_poll(p, n, ms, sigmask);
	if (rc >= 0) {
		if (r)
			FD_ZERO(r);
		if (w)
			FD_ZERO(w);
		if (e)
			FD_ZERO(e);
		rc = 0;
		for (nfds_t i = 0; i < n; i++) {
			short re = p[i].revents;

			if (r && (re & (POLLIN | POLLHUP | POLLERR)) &&
			    (p[i].events & POLLIN)) {
				FD_SET(p[i].fd, r);
				rc++;
			}
			if (w && (re & (POLLOUT | POLLERR)) &&
			    (p[i].events & POLLOUT)) {
				FD_SET(p[i].fd, w);
				rc++;
			}
			if (e && (re & POLLPRI)) {
				FD_SET(p[i].fd, e);
				rc++;
			}
		}
	}
	free(p);
	return rc;
}

HP_EXPORT int select(int nfds, fd_set *r, fd_set *w, fd_set *e,
		     struct timeval *tv)
{
	bool homa;
	int ms =
		(hp_resolve(), tv == NULL)
			? -1
			: (int)(tv->tv_sec * 1000 + (tv->tv_usec + 999) / 1000);
	int rc = wait_select(nfds, r, w, e, ms, NULL, &homa);

	if (!homa)
		return hp_real.select(nfds, r, w, e, tv);
	return rc;
}

HP_EXPORT int pselect(int nfds, fd_set *r, fd_set *w, fd_set *e,
		      const struct timespec *ts, const sigset_t *sigmask)
{
	bool homa;
	int ms = (hp_resolve(), ts == NULL)
			 ? -1
			 : (int)(ts->tv_sec * 1000 +
				 (ts->tv_nsec + 999999) / 1000000);
	int rc = wait_select(nfds, r, w, e, ms, sigmask, &homa);

	if (!homa)
		return hp_real.pselect(nfds, r, w, e, ts, sigmask);
	return rc;
}

/* ---- epoll ------------------------------------------------------------ */

/* The registration of fd in epfd (ep_lock held), or NULL. */
static struct epreg *ep_find(int epfd, int fd)
{
	for (struct epreg *g = ep_regs; g != NULL; g = g->next)
		if (g->epfd == epfd && g->fd == fd)
			return g;
	return NULL;
}

/* Whether p is a registration of epfd (ep_lock held). */
static struct epreg *ep_lookup(int epfd, void *p)
{
	for (struct epreg *g = ep_regs; g != NULL; g = g->next)
		if (g == p && g->epfd == epfd)
			return g;
	return NULL;
}

void wait_forget_fd(int fd)
{
	struct epreg **p;

	if (atomic_load(&ep_count) == 0)
		return;
	pthread_mutex_lock(&ep_lock);
	p = &ep_regs;
	while (*p != NULL) {
		struct epreg *g = *p;

		if (g->fd == fd || g->epfd == fd) {
			*p = g->next;
			free(g);
			atomic_fetch_sub(&ep_count, 1);
		} else {
			p = &g->next;
		}
	}
	pthread_mutex_unlock(&ep_lock);
}

HP_EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	struct epoll_event kev;
	struct epreg *g;
	int rc;

	hp_resolve();
	if (!hp_is_homa(fd))
		return hp_real.epoll_ctl(epfd, op, fd, ev);
	pthread_mutex_lock(&ep_lock);
	g = ep_find(epfd, fd);
	switch (op) {
	case EPOLL_CTL_ADD:
		if (ev == NULL) {
			errno = EFAULT;
			rc = -1;
			break;
		}
		if (g != NULL) {
			errno = EEXIST;
			rc = -1;
			break;
		}
		g = calloc(1, sizeof(*g));
		if (g == NULL) {
			errno = ENOMEM;
			rc = -1;
			break;
		}
		g->epfd = epfd;
		g->fd = fd;
		g->events = ev->events;
		g->data = ev->data;
		kev.events = EPOLLIN;
		kev.data.ptr = g;
		rc = hp_real.epoll_ctl(epfd, op, fd, &kev);
		if (rc < 0) {
			free(g);
			break;
		}
		g->next = ep_regs;
		ep_regs = g;
		atomic_fetch_add(&ep_count, 1);
		break;
	case EPOLL_CTL_MOD:
		if (g == NULL || ev == NULL) {
			errno = g == NULL ? ENOENT : EFAULT;
			rc = -1;
			break;
		}
		g->events = ev->events;
		g->data = ev->data;
		g->disabled = false;
		g->last = 0;
		rc = 0;
		break;
	case EPOLL_CTL_DEL:
		rc = hp_real.epoll_ctl(epfd, op, fd, ev);
		if (g != NULL) {
			struct epreg **p = &ep_regs;

			while (*p != g)
				p = &(*p)->next;
			*p = g->next;
			free(g);
			atomic_fetch_sub(&ep_count, 1);
			rc = 0;
		}
		break;
	default:
		rc = hp_real.epoll_ctl(epfd, op, fd, ev);
		break;
	}
	pthread_mutex_unlock(&ep_lock);
	return rc;
}

/*
 * What to report for registration g now (ep_lock held): its ready mask,
 * filtered by EPOLLET (only what is new since the last report, unless the
 * kernel saw a new datagram: woke) and EPOLLONESHOT.
 */
static uint32_t ep_report(struct epreg *g, bool woke)
{
	struct psock *ps;
	uint32_t r = 0, want;
	short pe;

	if (g->disabled)
		return 0;
	ps = hp_get(g->fd);
	if (ps == NULL)
		return 0;
	pe = ev_of(ps);
	hp_put(ps);
	if (pe & POLLIN)
		r |= EPOLLIN;
	if (pe & POLLOUT)
		r |= EPOLLOUT;
	if (pe & POLLERR)
		r |= EPOLLERR;
	want = g->events & (EPOLLIN | EPOLLOUT | EPOLLRDNORM | EPOLLWRNORM);
	if (want & EPOLLRDNORM)
		want |= EPOLLIN;
	if (want & EPOLLWRNORM)
		want |= EPOLLOUT;
	r &= want | EPOLLERR;
	if (g->events & EPOLLET) {
		uint32_t fresh = woke ? r : r & ~g->last;

		g->last = r;
		r = fresh;
	}
	if (r != 0 && (g->events & EPOLLONESHOT))
		g->disabled = true;
	return r;
}

static int wait_epoll(int epfd, struct epoll_event *out, int max, int timeout,
		      const sigset_t *sigmask)
{
	int64_t end = timeout < 0 ? -1 : now_ms() + timeout;
	struct epoll_event kev[EP_STACK];
	int n, rc;

	if (max <= 0) {
		errno = EINVAL;
		return -1;
	}
	for (;;) {
		bool pending = false;
		int left, nk;

		pthread_mutex_lock(&ep_lock);
		for (struct epreg *g = ep_regs; g != NULL && !pending;
		     g = g->next) {
			struct psock *ps;

			if (g->epfd != epfd || g->disabled)
				continue;
			ps = hp_get(g->fd);
			if (ps == NULL)
				continue;
			{
				short pe = hp_ready_held(ps);
				uint32_t r = (pe & POLLIN ? EPOLLIN : 0) |
					     (pe & POLLOUT ? EPOLLOUT : 0) |
					     (pe & POLLERR ? EPOLLERR : 0);

				r &= (g->events & (EPOLLIN | EPOLLOUT)) |
				     EPOLLERR;
				if (g->events & EPOLLET)
					r &= ~g->last;
				pending = r != 0;
			}
			hp_put(ps);
		}
		pthread_mutex_unlock(&ep_lock);
		left = pending ? 0 : left_ms(end);
		nk = max < EP_STACK ? max : EP_STACK;
		if (sigmask != NULL)
			rc = hp_real.epoll_pwait(epfd, kev, nk, left, sigmask);
		else
			rc = hp_real.epoll_wait(epfd, kev, nk, left);
		if (rc < 0)
			return rc;
		n = 0;
		pthread_mutex_lock(&ep_lock);
		/* The kernel's events, Homa ones re-evaluated. */
		for (int i = 0; i < rc; i++) {
			struct epreg *g = ep_lookup(epfd, kev[i].data.ptr);

			if (g == NULL) {
				out[n++] = kev[i];
				continue;
			}
			kev[i].events = ep_report(g, true);
			if (kev[i].events == 0)
				continue;
			kev[i].data = g->data;
			out[n++] = kev[i];
			g->last |= 0x80000000u; /* reported in this call */
		}
		/* Homa sockets ready without a new datagram. */
		for (struct epreg *g = ep_regs; g != NULL && n < max;
		     g = g->next) {
			uint32_t r;

			if (g->epfd != epfd)
				continue;
			if (g->last & 0x80000000u) {
				g->last &= ~0x80000000u;
				continue;
			}
			r = ep_report(g, false);
			if (r == 0)
				continue;
			out[n].events = r;
			out[n].data = g->data;
			n++;
		}
		for (struct epreg *g = ep_regs; g != NULL; g = g->next)
			if (g->epfd == epfd)
				g->last &= ~0x80000000u;
		pthread_mutex_unlock(&ep_lock);
		if (n > 0 || left_ms(end) == 0)
			return n;
	}
}

HP_EXPORT int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	hp_resolve();
	if (atomic_load(&ep_count) == 0)
		return hp_real.epoll_wait(epfd, ev, max, timeout);
	return wait_epoll(epfd, ev, max, timeout, NULL);
}

HP_EXPORT int epoll_pwait(int epfd, struct epoll_event *ev, int max,
			  int timeout, const sigset_t *sigmask)
{
	hp_resolve();
	if (atomic_load(&ep_count) == 0)
		return hp_real.epoll_pwait(epfd, ev, max, timeout, sigmask);
	return wait_epoll(epfd, ev, max, timeout, sigmask);
}

/*
 * notify_listen.c - a stand-in for systemd's NOTIFY_SOCKET, for tests.
 *
 *   notify_listen SOCKET_PATH OUTFILE
 *
 * Binds a unix SOCK_DGRAM socket at SOCKET_PATH (removing a stale file
 * first) and appends every datagram received to OUTFILE: its text as-is
 * (sd_notify sends "KEY=value" lines), a newline if it did not end with
 * one, then an empty line.  The file is flushed after each datagram, so a
 * test can wait for e.g. "READY=1" in it.  Runs until SIGTERM or SIGINT;
 * then removes SOCKET_PATH and exits 0.  Exits 1 on any error, 2 on usage.
 */
#include <config.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* sd_notify datagrams are small; anything larger is cut here. */
#define NOTIFY_MAX 65536

static volatile sig_atomic_t notify_stop;

static void notify_on_signal(int sig)
{
	notify_stop = 1;
}

int main(int argc, char **argv)
{
	static char buf[NOTIFY_MAX + 1];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct sigaction act;
	FILE *out;
	int fd;

	if (argc != 3) {
		fprintf(stderr, "usage: notify_listen SOCKET_PATH OUTFILE\n");
		return 2;
	}
	if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "notify_listen: socket path too long\n");
		return 2;
	}
	memcpy(sa.sun_path, argv[1], strlen(argv[1]) + 1);

	/* No SA_RESTART: the signal must interrupt recv. */
	memset(&act, 0, sizeof(act));
	act.sa_handler = notify_on_signal;
	sigemptyset(&act.sa_mask);
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);

	out = fopen(argv[2], "a");
	if (out == NULL) {
		fprintf(stderr, "notify_listen: %s: %s\n", argv[2],
			strerror(errno));
		return 1;
	}
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "notify_listen: socket: %s\n", strerror(errno));
		return 1;
	}
	unlink(argv[1]);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "notify_listen: bind %s: %s\n", argv[1],
			strerror(errno));
		return 1;
	}

	while (!notify_stop) {
		ssize_t n = recv(fd, buf, NOTIFY_MAX, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "notify_listen: recv: %s\n",
				strerror(errno));
			break;
		}
		buf[n] = '\0';
		fwrite(buf, 1, (size_t)n, out);
		if (n == 0 || buf[n - 1] != '\n')
			fputc('\n', out);
		fputc('\n', out);
		if (fflush(out) != 0) {
			fprintf(stderr, "notify_listen: %s: %s\n", argv[2],
				strerror(errno));
			break;
		}
	}
	unlink(argv[1]);
	fclose(out);
	return notify_stop ? 0 : 1;
}

/*
 * addr.c - peer addresses: the application's sockaddrs and the protocol's
 * Addr (4 bytes on AF_INET sockets, 16 on AF_INET6 sockets, where IPv4
 * peers are v4-mapped).
 */
#include <errno.h>
#include <string.h>

#include "client_int.h"

int addr_from_sockaddr(int family, const struct sockaddr *sa, socklen_t len,
		       uint8_t addr[16], uint8_t *addr_len, uint16_t *port)
{
	if (sa == NULL || len < (socklen_t)sizeof(sa_family_t))
		return -EINVAL;
	if (sa->sa_family != family)
		return -EAFNOSUPPORT;
	if (family == AF_INET) {
		struct sockaddr_in in;

		if (len < (socklen_t)sizeof(in))
			return -EINVAL;
		memcpy(&in, sa, sizeof(in));
		memcpy(addr, &in.sin_addr, 4);
		*addr_len = 4;
		*port = ntohs(in.sin_port);
	} else if (family == AF_INET6) {
		struct sockaddr_in6 in6;

		if (len < (socklen_t)sizeof(in6))
			return -EINVAL;
		memcpy(&in6, sa, sizeof(in6));
		memcpy(addr, &in6.sin6_addr, 16);
		*addr_len = 16;
		*port = ntohs(in6.sin6_port);
	} else {
		return -EAFNOSUPPORT;
	}
	if (*port == 0)
		return -EINVAL;
	return 0;
}

static const uint8_t addr_v4mapped[12] = {0, 0, 0, 0, 0,    0,
					  0, 0, 0, 0, 0xff, 0xff};

void addr_to16(uint8_t out[16], const uint8_t *addr, size_t addr_len)
{
	if (addr_len == 4) {
		memcpy(out, addr_v4mapped, 12);
		memcpy(out + 12, addr, 4);
	} else {
		memcpy(out, addr, 16);
	}
}

bool addr_is_ipv4(const uint8_t *addr, size_t addr_len)
{
	return addr_len == 4 || memcmp(addr, addr_v4mapped, 12) == 0;
}

int addr_to_sockaddr(int family, const uint8_t *addr, size_t addr_len,
		     uint16_t port, struct sockaddr_storage *out,
		     socklen_t *out_len)
{
	memset(out, 0, sizeof(*out));
	if (addr_len != 4 && addr_len != 16)
		return -EINVAL;
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)out;

		if (addr_len == 16) {
			if (memcmp(addr, addr_v4mapped, 12) != 0)
				return -EINVAL;
			addr += 12;
		}
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		memcpy(&in->sin_addr, addr, 4);
		*out_len = sizeof(*in);
		return 0;
	}
	if (family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		if (addr_len == 4) {
			memcpy(in6->sin6_addr.s6_addr, addr_v4mapped, 12);
			memcpy(in6->sin6_addr.s6_addr + 12, addr, 4);
		} else {
			memcpy(in6->sin6_addr.s6_addr, addr, 16);
		}
		*out_len = sizeof(*in6);
		return 0;
	}
	return -EINVAL;
}

/*
 * zmem.c - zero-filled tables that cost memory only where they are used.
 *
 * A socket's RPC tables are sized for max_outstanding (16,384 entries by
 * default) but hold a handful of entries in most programs.  Mapped
 * anonymous memory stays unbacked until a page is written, which calloc
 * does not promise: once a process has freed a large block, glibc raises
 * its mmap threshold and serves the next one from the heap, zeroing (and
 * so backing) all of it.  The tables hand out their entries in index
 * order (a never-used tail), so only the pages up to their peak use are
 * ever backed.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

#include "client_int.h"

void *zmem_alloc(size_t n, size_t size)
{
	void *p;

	if (n == 0 || size == 0 || n > SIZE_MAX / size) {
		errno = EINVAL;
		return NULL;
	}
	p = mmap(NULL, n * size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void zmem_free(void *p, size_t n, size_t size)
{
	if (p != NULL)
		munmap(p, n * size);
}

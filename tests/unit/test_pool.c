/*
 * test_pool.c - unit tests of daemon/core/pool.c (receive buffer pools).
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/homa_int.h"

#define BP HOMA_BPAGE_SIZE

static uint8_t region[8 * BP];

static void setup_pool(struct homa_pool *p, uint32_t bpages)
{
	memset(p, 0, sizeof(*p));
	p->partial = -1;
	ck_assert_int_eq(pool_init(p, NULL, region, (size_t)bpages * BP), 0);
}

START_TEST(pool_init__bad_args)
{
	struct homa_pool p;

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(pool_init(&p, NULL, NULL, 4 * BP), -EINVAL);
	ck_assert_int_eq(pool_init(&p, NULL, region, BP - 1), -EINVAL);
	ck_assert_int_eq(pool_init(&p, NULL, region, (5ull << 30)), -EINVAL);
	/* A partial bpage at the end is not used. */
	ck_assert_int_eq(pool_init(&p, NULL, region, 2 * BP + 100), 0);
	ck_assert_uint_eq(p.nbpages, 2);
	ck_assert_uint_eq(pool_avail_bytes(&p), 2 * BP);
	pool_destroy(&p);
	pool_destroy(&p); /* twice is fine */
}
END_TEST

START_TEST(pool_alloc__full_bpages_aligned_then_tail)
{
	struct homa_pool p;
	uint32_t off[HOMA_MAX_BPAGES], n;

	setup_pool(&p, 8);
	ck_assert_int_eq(pool_alloc(&p, 2 * BP + 100, off, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(off[0] % BP, 0);
	ck_assert_uint_eq(off[1] % BP, 0);
	ck_assert_uint_ne(off[0], off[1]);
	ck_assert_uint_eq(p.nfree, 5);
	/* An exact multiple of 64 KiB has no tail piece. */
	ck_assert_int_eq(pool_alloc(&p, BP, off, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(off[0] % BP, 0);
	pool_destroy(&p);
}
END_TEST

START_TEST(pool_alloc__tails_share_partial_bpage)
{
	struct homa_pool p;
	uint32_t a[HOMA_MAX_BPAGES], b[HOMA_MAX_BPAGES], na, nb;

	setup_pool(&p, 4);
	ck_assert_int_eq(pool_alloc(&p, 100, a, &na), 0);
	ck_assert_int_eq(pool_alloc(&p, 1000, b, &nb), 0);
	ck_assert_uint_eq(na, 1);
	ck_assert_uint_eq(nb, 1);
	ck_assert_uint_eq(a[0] / BP, b[0] / BP);
	ck_assert_uint_eq(b[0] - a[0], 128); /* 100 rounded up to 64s */
	ck_assert_uint_eq(p.nfree, 3);
	/* A tail that does not fit opens a new partial bpage. */
	ck_assert_int_eq(pool_alloc(&p, 65000, b, &nb), 0);
	ck_assert_uint_ne(a[0] / BP, b[0] / BP);
	ck_assert_uint_eq(p.nfree, 2);
	pool_destroy(&p);
}
END_TEST

START_TEST(pool_alloc__enomem_is_all_or_nothing)
{
	struct homa_pool p;
	uint32_t off[HOMA_MAX_BPAGES], n;

	setup_pool(&p, 2);
	ck_assert_int_eq(pool_alloc(&p, 2 * BP + 1, off, &n), -ENOMEM);
	ck_assert_uint_eq(p.nfree, 2);
	ck_assert_int_eq(pool_alloc(&p, 0, off, &n), -EINVAL);
	ck_assert_int_eq(pool_alloc(&p, HOMA_MAX_MESSAGE_LENGTH + 1, off, &n),
			 -EINVAL);
	ck_assert_int_eq(pool_alloc(&p, 2 * BP, off, &n), 0);
	ck_assert_int_eq(pool_alloc(&p, 1, off, &n), -ENOMEM);
	pool_destroy(&p);
}
END_TEST

START_TEST(pool_alloc__max_message_uses_16_bpages)
{
	static uint8_t big[16 * BP];
	struct homa_pool p;
	uint32_t off[HOMA_MAX_BPAGES], n;

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(pool_init(&p, NULL, big, sizeof(big)), 0);
	ck_assert_int_eq(pool_alloc(&p, HOMA_MAX_MESSAGE_LENGTH, off, &n), 0);
	ck_assert_uint_eq(n, 16);
	pool_destroy(&p);
}
END_TEST

START_TEST(pool_check_release__rejects_bad_offsets)
{
	struct homa_pool p;
	uint32_t off[HOMA_MAX_BPAGES], n, bad;

	setup_pool(&p, 4);
	ck_assert_int_eq(pool_alloc(&p, 100, off, &n), 0);
	/* Not delivered yet: the engine's, not the application's. */
	ck_assert_int_eq(pool_check_release(&p, off, 1), -EINVAL);
	pool_deliver(&p, off, n);
	ck_assert_int_eq(pool_check_release(&p, off, 1), 0);
	/* Not a chunk start. */
	bad = off[0] + 1;
	ck_assert_int_eq(pool_check_release(&p, &bad, 1), -EINVAL);
	/* Not allocated; out of the region; twice the same user. */
	bad = 3 * BP;
	ck_assert_int_eq(pool_check_release(&p, &bad, 1), -EINVAL);
	bad = 100 * BP;
	ck_assert_int_eq(pool_check_release(&p, &bad, 1), -EINVAL);
	uint32_t twice[2] = {off[0], off[0]};
	ck_assert_int_eq(pool_check_release(&p, twice, 2), -EINVAL);
	pool_release(&p, off, 1);
	ck_assert_int_eq(pool_check_release(&p, off, 1), -EINVAL);
	pool_destroy(&p);
}
END_TEST

/*
 * Bug (found by test_engine_fuzz): a recycle naming a bpage that an
 * incoming message was still being written into was accepted, freeing it
 * under the message: the bpage could go to a second message while the
 * first still wrote into it, and the first one's own free later
 * underflowed the count (the bpage was lost for good).
 */
START_TEST(pool_check_release__refuses_bpages_still_receiving)
{
	struct homa_pool p;
	uint32_t a[HOMA_MAX_BPAGES], b[HOMA_MAX_BPAGES], na, nb;

	setup_pool(&p, 2);
	/* a delivered, b (same partial bpage) still arriving. */
	ck_assert_int_eq(pool_alloc(&p, 100, a, &na), 0);
	ck_assert_int_eq(pool_alloc(&p, BP + 200, b, &nb), 0);
	pool_deliver(&p, a, na);
	/* b's full bpage: not the application's. */
	ck_assert_int_eq(pool_check_release(&p, &b[0], 1), -EINVAL);
	/* The shared bpage: the application holds one chunk, not two. */
	uint32_t two[2] = {a[0], b[1]};
	ck_assert_int_eq(pool_check_release(&p, two, 2), -EINVAL);
	ck_assert_int_eq(pool_check_release(&p, a, 1), 0);
	pool_release(&p, a, 1);
	pool_free(&p, b, nb);
	ck_assert_uint_eq(p.nfree + (p.partial >= 0), 2);
	ck_assert_uint_eq(p.refs[0] + p.refs[1], 0);
	pool_destroy(&p);
}
END_TEST

START_TEST(pool_release__bpage_free_when_last_user_returns)
{
	struct homa_pool p;
	uint32_t a[HOMA_MAX_BPAGES], b[HOMA_MAX_BPAGES], c[HOMA_MAX_BPAGES];
	uint32_t na, nb, nc;

	setup_pool(&p, 2);
	ck_assert_int_eq(pool_alloc(&p, BP + 10, a, &na), 0);
	ck_assert_int_eq(pool_alloc(&p, 20, b, &nb), 0);
	pool_deliver(&p, a, na);
	pool_deliver(&p, b, nb);
	ck_assert_uint_eq(p.nfree, 0);
	pool_release(&p, a, na);
	ck_assert_uint_eq(p.nfree, 1); /* the full bpage */
	pool_release(&p, b, nb);
	/* The partial bpage is empty again: all of it is usable. */
	ck_assert_uint_eq(pool_avail_bytes(&p), 2 * BP);
	ck_assert_int_eq(pool_alloc(&p, 2 * BP, c, &nc), -ENOMEM);
	ck_assert_int_eq(pool_alloc(&p, BP + 65000, c, &nc), 0);
	pool_destroy(&p);
}
END_TEST

START_TEST(pool_write__splits_at_bpage_boundaries)
{
	struct homa_pool p;
	uint32_t off[HOMA_MAX_BPAGES], n;
	uint8_t data[3000];

	setup_pool(&p, 8);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	ck_assert_int_eq(pool_alloc(&p, BP + 2000, off, &n), 0);
	/* 1000 bytes before the end of chunk 0, 2000 in chunk 1. */
	pool_write(&p, off, BP - 1000, data, 3000);
	ck_assert_mem_eq(region + off[0] + BP - 1000, data, 1000);
	ck_assert_mem_eq(region + off[1], data + 1000, 2000);
	pool_destroy(&p);
}
END_TEST

static Suite *pool_suite(void)
{
	Suite *s = suite_create("pool");
	TCase *tc = tcase_create("pool");

	tcase_add_test(tc, pool_init__bad_args);
	tcase_add_test(tc, pool_alloc__full_bpages_aligned_then_tail);
	tcase_add_test(tc, pool_alloc__tails_share_partial_bpage);
	tcase_add_test(tc, pool_alloc__enomem_is_all_or_nothing);
	tcase_add_test(tc, pool_alloc__max_message_uses_16_bpages);
	tcase_add_test(tc, pool_check_release__rejects_bad_offsets);
	tcase_add_test(tc, pool_release__bpage_free_when_last_user_returns);
	tcase_add_test(tc, pool_check_release__refuses_bpages_still_receiving);
	tcase_add_test(tc, pool_write__splits_at_bpage_boundaries);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pool_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * test_fault.c - unit tests of daemon/fault.c: the decisions (rates over
 * 100,000 packets, determinism by seed, exact pass-through at 0), the hold
 * times, the held queue's order and limit, new parameters, and memory.
 */
#include <check.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/fault.h"

#define N_DECISIONS 100000
#define NS_PER_US   1000ull

/* The defaults: everything off. */
static struct fault_params params_off(void)
{
	struct fault_params p;

	fault_params_default(&p);
	return p;
}

static struct homa_addr addr_of(uint8_t last)
{
	struct homa_addr a;

	memset(&a, 0, sizeof(a));
	a.in6.s6_addr[10] = 0xff;
	a.in6.s6_addr[11] = 0xff;
	a.in6.s6_addr[12] = 10;
	a.in6.s6_addr[15] = last;
	return a;
}

/* The probability field of p for dir and kind (0 drop .. 3 delay). */
static double *prob_of(struct fault_params *p, enum fault_dir dir, int kind)
{
	double *rx[] = {&p->rx_drop, &p->rx_dup, &p->rx_reorder, &p->rx_delay};
	double *tx[] = {&p->tx_drop, &p->tx_dup, &p->tx_reorder, &p->tx_delay};

	return dir == FAULT_RX ? rx[kind] : tx[kind];
}

static const enum fault_action kind_action[] = {
	FAULT_DROP,
	FAULT_DUP,
	FAULT_REORDER,
	FAULT_DELAY,
};

START_TEST(fault_params_default__all_off)
{
	struct fault_params p;

	memset(&p, 0xa5, sizeof(p));
	fault_params_default(&p);
	ck_assert_uint_eq(p.seed, 0);
	for (int k = 0; k < 4; k++) {
		ck_assert(*prob_of(&p, FAULT_RX, k) == 0.0);
		ck_assert(*prob_of(&p, FAULT_TX, k) == 0.0);
	}
	ck_assert_uint_eq(p.rx_reorder_us, 100);
	ck_assert_uint_eq(p.tx_reorder_us, 100);
	ck_assert_uint_eq(p.rx_delay_us, 1000);
	ck_assert_uint_eq(p.tx_delay_us, 1000);
	ck_assert_uint_eq(p.max_held, 4096);
	ck_assert(!fault_params_active(&p));
}
END_TEST

/* Any one probability above 0 switches injection on; times alone do not. */
START_TEST(fault_params_active__each_probability)
{
	struct fault_params p = params_off();

	p.rx_delay_us = 5;
	p.seed = 7;
	p.max_held = 1;
	ck_assert(!fault_params_active(&p));
	for (int d = 0; d < 2; d++)
		for (int k = 0; k < 4; k++) {
			p = params_off();
			*prob_of(&p, (enum fault_dir)d, k) = 1e-9;
			ck_assert(fault_params_active(&p));
		}
}
END_TEST

/* All probabilities 0: every packet passes, nothing counted or held. */
START_TEST(fault_decide__zero_is_pass_through)
{
	struct homad_stats m, zero;
	struct fault_params p = params_off();
	struct fault *f;
	uint64_t rel = 12345;
	int others = 0;

	memset(&m, 0, sizeof(m));
	memset(&zero, 0, sizeof(zero));
	f = fault_create(&p, 99, &m);
	ck_assert_ptr_nonnull(f);
	ck_assert(!fault_active(f));
	for (int i = 0; i < N_DECISIONS; i++)
		others += fault_decide(f, i % 2 ? FAULT_TX : FAULT_RX,
				       (uint64_t)i * 1000, &rel) != FAULT_PASS;
	ck_assert_int_eq(others, 0);
	ck_assert_uint_eq(rel, 12345);
	ck_assert_mem_eq(&m, &zero, sizeof(m));
	ck_assert_uint_eq(fault_n_held(f), 0);
	ck_assert_uint_eq(fault_next_deadline(f), UINT64_MAX);
	fault_destroy(f);
}
END_TEST

/*
 * N_DECISIONS packets in direction dir with only fault kind of dir at
 * prob, each followed by one in the other direction.  Returns the hits;
 * *others counts any other action (none expected); *counted is the
 * counter of the kind (drops, dups; 0 for the others, counted at holds).
 */
static unsigned rate_run(enum fault_dir dir, int kind, double prob,
			 uint64_t seed, unsigned *others, uint64_t *counted)
{
	enum fault_dir other = dir == FAULT_RX ? FAULT_TX : FAULT_RX;
	struct fault_params p = params_off();
	struct homad_stats m;
	unsigned hits = 0;
	struct fault *f;
	uint64_t rel;

	memset(&m, 0, sizeof(m));
	p.seed = seed;
	*prob_of(&p, dir, kind) = prob;
	f = fault_create(&p, 0, &m);
	ck_assert_ptr_nonnull(f);
	ck_assert(fault_active(f));
	*others = 0;
	for (int i = 0; i < N_DECISIONS; i++) {
		enum fault_action a = fault_decide(f, dir, 0, &rel);

		if (a == kind_action[kind])
			hits++;
		else if (a != FAULT_PASS)
			(*others)++;
		if (fault_decide(f, other, 0, &rel) != FAULT_PASS)
			(*others)++;
	}
	*counted = kind == 0   ? m.fault_rx_drops + m.fault_tx_drops
		   : kind == 1 ? m.fault_rx_dups + m.fault_tx_dups
			       : m.fault_rx_reorders + m.fault_tx_reorders +
					 m.fault_rx_delays + m.fault_tx_delays;
	fault_destroy(f);
	return hits;
}

/*
 * Each kind of fault alone, in each direction, at 1%, 10% and 50%: the
 * rate over 100,000 packets within 5 standard deviations, and the other
 * direction untouched.
 */
START_TEST(fault_decide__rates)
{
	const double probs[] = {0.01, 0.1, 0.5};

	for (int d = 0; d < 2; d++) {
		for (int k = 0; k < 4; k++) {
			for (size_t pi = 0; pi < 3; pi++) {
				double prob = probs[pi], var, dev;
				unsigned hits, others;
				uint64_t counted;

				hits = rate_run(
					(enum fault_dir)d, k, prob,
					1000 + (uint64_t)(d * 100 + k * 10) +
						pi,
					&others, &counted);
				ck_assert_uint_eq(others, 0);
				/* |hits - mean| < 5 sd, squared. */
				var = N_DECISIONS * prob * (1 - prob);
				dev = hits - N_DECISIONS * prob;
				ck_assert_msg(dev * dev < 25 * var,
					      "dir %d kind %d p %g: %u hits", d,
					      k, prob, hits);
				ck_assert_uint_eq(counted, k < 2 ? hits : 0);
			}
		}
	}
}
END_TEST

/* Probability 1: every packet; the first kind drawn wins. */
START_TEST(fault_decide__probability_one_and_order)
{
	struct homad_stats m;
	struct fault_params p = params_off();
	struct fault *f;
	uint64_t rel;

	memset(&m, 0, sizeof(m));
	p.rx_drop = 1;
	p.rx_dup = 1;
	p.rx_reorder = 1;
	p.rx_delay = 1;
	p.tx_dup = 1;
	p.tx_delay = 1;
	f = fault_create(&p, 5, &m);
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < 1000; i++) {
		ck_assert_int_eq(fault_decide(f, FAULT_RX, 0, &rel),
				 FAULT_DROP);
		ck_assert_int_eq(fault_decide(f, FAULT_TX, 0, &rel), FAULT_DUP);
	}
	ck_assert_uint_eq(m.fault_rx_drops, 1000);
	ck_assert_uint_eq(m.fault_tx_dups, 1000);
	ck_assert_uint_eq(m.fault_rx_dups + m.fault_tx_drops, 0);
	/* Below the winner, the next kinds in order. */
	p.rx_drop = 0;
	p.tx_dup = 0;
	fault_set_params(f, &p, 5);
	ck_assert_int_eq(fault_decide(f, FAULT_RX, 0, &rel), FAULT_DUP);
	ck_assert_int_eq(fault_decide(f, FAULT_TX, 0, &rel), FAULT_DELAY);
	p.rx_dup = 0;
	fault_set_params(f, &p, 5);
	ck_assert_int_eq(fault_decide(f, FAULT_RX, 0, &rel), FAULT_REORDER);
	fault_destroy(f);
}
END_TEST

/* The same seed gives the same decisions; another seed others. */
START_TEST(fault_decide__deterministic_by_seed)
{
	struct homad_stats m1, m2, m3;
	struct fault_params p = params_off();
	struct fault *f1, *f2, *f3;
	int differ = 0;

	memset(&m1, 0, sizeof(m1));
	memset(&m2, 0, sizeof(m2));
	memset(&m3, 0, sizeof(m3));
	p.rx_drop = 0.3;
	p.tx_reorder = 0.3;
	p.seed = 42;
	f1 = fault_create(&p, 111, &m1);
	f2 = fault_create(&p, 222, &m2); /* clock seed unused: seed != 0 */
	p.seed = 43;
	f3 = fault_create(&p, 111, &m3);
	ck_assert(f1 && f2 && f3);
	for (int i = 0; i < 10000; i++) {
		enum fault_dir dir = i % 3 ? FAULT_RX : FAULT_TX;
		uint64_t r1 = 0, r2 = 0, r3 = 0;
		enum fault_action a1 = fault_decide(f1, dir, 1000, &r1);
		enum fault_action a2 = fault_decide(f2, dir, 1000, &r2);
		enum fault_action a3 = fault_decide(f3, dir, 1000, &r3);

		ck_assert_int_eq(a1, a2);
		ck_assert_uint_eq(r1, r2);
		differ += a1 != a3 || r1 != r3;
	}
	ck_assert_int_gt(differ, 1000);
	ck_assert_mem_eq(&m1, &m2, sizeof(m1));
	fault_destroy(f1);
	fault_destroy(f2);
	fault_destroy(f3);
}
END_TEST

/*
 * Hold times: a reorder is uniform in [1 us, reorder_us] (every value
 * seen, mean near the middle); a delay is exactly delay_us.
 */
START_TEST(fault_decide__hold_times)
{
	struct homad_stats m;
	struct fault_params p = params_off();
	const uint64_t now = 5000000000ull;
	bool seen[11] = {false};
	uint64_t rel, sum = 0;
	struct fault *f;

	memset(&m, 0, sizeof(m));
	p.rx_reorder = 1;
	p.rx_reorder_us = 10;
	p.tx_delay = 1;
	p.tx_delay_us = 20000;
	f = fault_create(&p, 3, &m);
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < N_DECISIONS; i++) {
		uint64_t us;

		ck_assert_int_eq(fault_decide(f, FAULT_RX, now, &rel),
				 FAULT_REORDER);
		ck_assert_uint_eq((rel - now) % NS_PER_US, 0);
		us = (rel - now) / NS_PER_US;
		ck_assert_uint_ge(us, 1);
		ck_assert_uint_le(us, 10);
		seen[us] = true;
		sum += us;
		ck_assert_int_eq(fault_decide(f, FAULT_TX, now, &rel),
				 FAULT_DELAY);
		ck_assert_uint_eq(rel, now + 20000 * NS_PER_US);
	}
	for (int us = 1; us <= 10; us++)
		ck_assert_msg(seen[us], "%d us never drawn", us);
	/* Mean 5.5 us. */
	ck_assert_uint_gt(sum, N_DECISIONS * 54 / 10);
	ck_assert_uint_lt(sum, N_DECISIONS * 56 / 10);
	/* Reorders and delays are counted when held, not when decided. */
	ck_assert_uint_eq(m.fault_rx_reorders + m.fault_tx_delays, 0);
	fault_destroy(f);
}
END_TEST

/*
 * Held packets come back when due, earliest first, ties in the order
 * held, with their bytes (header and payload joined), address, priority
 * and direction.
 */
START_TEST(fault_hold__release_order)
{
	static const uint64_t at[] = {500, 100, 300, 100, 200, 300};
	struct homad_stats m;
	struct fault_params p = params_off();
	struct homa_addr a;
	struct fault_pkt pkt;
	struct fault *f;
	uint8_t hdr[4], payload[3];
	const int order[] = {1, 3, 4, 2, 5, 0};

	memset(&m, 0, sizeof(m));
	p.rx_delay = 1; /* active; not used by fault_hold itself */
	f = fault_create(&p, 1, &m);
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < 6; i++) {
		memset(hdr, 'a' + i, sizeof(hdr));
		memset(payload, 'A' + i, sizeof(payload));
		a = addr_of((uint8_t)i);
		ck_assert_int_eq(fault_hold(f, i % 2 ? FAULT_TX : FAULT_RX,
					    i < 3 ? FAULT_DELAY : FAULT_REORDER,
					    &a, (uint8_t)i, hdr, sizeof(hdr),
					    i == 5 ? NULL : payload,
					    i == 5 ? 0 : sizeof(payload),
					    at[i]),
				 0);
	}
	ck_assert_uint_eq(fault_n_held(f), 6);
	/* Counted by the direction and the reason given. */
	ck_assert_uint_eq(m.fault_rx_delays, 2);   /* 0, 2 */
	ck_assert_uint_eq(m.fault_tx_delays, 1);   /* 1 */
	ck_assert_uint_eq(m.fault_tx_reorders, 2); /* 3, 5 */
	ck_assert_uint_eq(m.fault_rx_reorders, 1); /* 4 */
	ck_assert_uint_eq(fault_next_deadline(f), 100);
	ck_assert(!fault_pop_due(f, 99, &pkt));
	for (int k = 0; k < 6; k++) {
		int i = order[k];

		ck_assert_uint_eq(fault_next_deadline(f), at[i]);
		ck_assert(fault_pop_due(f, at[i], &pkt));
		ck_assert_int_eq(pkt.dir, i % 2 ? FAULT_TX : FAULT_RX);
		ck_assert_uint_eq(pkt.prio, i);
		a = addr_of((uint8_t)i);
		ck_assert_mem_eq(&pkt.addr, &a, sizeof(a));
		ck_assert_uint_eq(pkt.len, i == 5 ? 4 : 7);
		for (size_t b = 0; b < pkt.len; b++)
			ck_assert_int_eq(pkt.data[b],
					 b < 4 ? 'a' + i : 'A' + i);
	}
	ck_assert(!fault_pop_due(f, UINT64_MAX, &pkt));
	ck_assert_uint_eq(fault_n_held(f), 0);
	ck_assert_uint_eq(fault_next_deadline(f), UINT64_MAX);
	fault_destroy(f);
}
END_TEST

/*
 * A popped packet's bytes stay valid while other packets are held (the
 * data plane hands a released packet to the engine, which may send).
 */
START_TEST(fault_pop_due__bytes_survive_holds)
{
	struct homad_stats m;
	struct fault_params p = params_off();
	struct homa_addr a = addr_of(1);
	struct fault_pkt pkt;
	uint8_t big[2000];
	struct fault *f;

	memset(&m, 0, sizeof(m));
	f = fault_create(&p, 1, &m);
	ck_assert_ptr_nonnull(f);
	memset(big, 0x5a, sizeof(big));
	ck_assert_int_eq(fault_hold(f, FAULT_RX, FAULT_DELAY, &a, 0, big,
				    sizeof(big), NULL, 0, 10),
			 0);
	ck_assert(fault_pop_due(f, 10, &pkt));
	for (int i = 0; i < 200; i++)
		ck_assert_int_eq(fault_hold(f, FAULT_TX, FAULT_REORDER, &a, 0,
					    "xy", 2, NULL, 0, 20 + i),
				 0);
	for (size_t b = 0; b < pkt.len; b++)
		ck_assert_int_eq(pkt.data[b], 0x5a);
	fault_destroy(f);
}
END_TEST

/* Over max_held, a hold is refused and counted; room again once due. */
START_TEST(fault_hold__limit)
{
	struct homad_stats m;
	struct fault_params p = params_off();
	struct homa_addr a = addr_of(2);
	struct fault_pkt pkt;
	struct fault *f;

	memset(&m, 0, sizeof(m));
	p.max_held = 3;
	f = fault_create(&p, 1, &m);
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(fault_hold(f, FAULT_RX, FAULT_DELAY, &a, 0,
					    "p", 1, NULL, 0, 100 + i),
				 0);
	ck_assert_int_eq(fault_hold(f, FAULT_RX, FAULT_DELAY, &a, 0, "p", 1,
				    NULL, 0, 50),
			 -ENOBUFS);
	ck_assert_int_eq(fault_hold(f, FAULT_TX, FAULT_REORDER, &a, 0, "p", 1,
				    NULL, 0, 50),
			 -ENOBUFS);
	ck_assert_uint_eq(m.fault_held_overflows, 2);
	ck_assert_uint_eq(m.fault_rx_delays, 3);
	ck_assert_uint_eq(m.fault_tx_reorders, 0);
	ck_assert_uint_eq(fault_n_held(f), 3);
	ck_assert_uint_eq(fault_next_deadline(f), 100);
	ck_assert(fault_pop_due(f, 100, &pkt));
	ck_assert_int_eq(fault_hold(f, FAULT_TX, FAULT_REORDER, &a, 0, "p", 1,
				    NULL, 0, 50),
			 0);
	ck_assert_uint_eq(fault_next_deadline(f), 50);
	ck_assert_uint_eq(m.fault_tx_reorders, 1);
	fault_destroy(f);
}
END_TEST

/*
 * New parameters: a smaller max_held loses none of the packets held, only
 * refuses new ones; the same seed goes on, a new one restarts the
 * sequence as a fresh injector would.
 */
START_TEST(fault_set_params__limit_and_seed)
{
	struct homad_stats m, m2;
	struct fault_params p = params_off();
	struct homa_addr a = addr_of(3);
	struct fault_pkt pkt;
	struct fault *f, *fresh;
	uint64_t r1, r2;
	int n = 0;

	memset(&m, 0, sizeof(m));
	memset(&m2, 0, sizeof(m2));
	f = fault_create(&p, 1, &m);
	ck_assert_ptr_nonnull(f);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(fault_hold(f, FAULT_RX, FAULT_DELAY, &a, 0,
					    "q", 1, NULL, 0, 10 + i),
				 0);
	p.max_held = 2;
	fault_set_params(f, &p, 1);
	ck_assert_uint_eq(fault_n_held(f), 5);
	ck_assert_int_eq(
		fault_hold(f, FAULT_RX, FAULT_DELAY, &a, 0, "q", 1, NULL, 0, 1),
		-ENOBUFS);
	while (fault_pop_due(f, 100, &pkt))
		n++;
	ck_assert_int_eq(n, 5);
	ck_assert_int_eq(
		fault_hold(f, FAULT_RX, FAULT_DELAY, &a, 0, "q", 1, NULL, 0, 1),
		0);

	/* Seeds. */
	p.rx_drop = 0.5;
	p.seed = 77;
	fault_set_params(f, &p, 1);
	fresh = fault_create(&p, 1, &m2);
	ck_assert_ptr_nonnull(fresh);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(fault_decide(f, FAULT_RX, 0, &r1),
				 fault_decide(fresh, FAULT_RX, 0, &r2));
	/* Same seed again: no restart, the two go on in step. */
	fault_set_params(f, &p, 1);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(fault_decide(f, FAULT_RX, 0, &r1),
				 fault_decide(fresh, FAULT_RX, 0, &r2));
	p.rx_drop = 0;
	fault_set_params(f, &p, 1);
	ck_assert(!fault_active(f));
	fault_destroy(f);
	fault_destroy(fresh);
}
END_TEST

/*
 * Everything held, popped or not, is freed by fault_destroy: twenty rounds
 * of 1,000 holds (about 2 MB each) leave the heap as the first left it
 * (glibc's per-thread caches keep a few freed chunks counted as in use,
 * so the first round is the baseline, not the start).
 */
static int destroy_round(struct homad_stats *m)
{
	struct fault_params p = params_off();
	struct homa_addr a = addr_of(4);
	struct fault_pkt pkt;
	uint8_t buf[1500];
	struct fault *f = fault_create(&p, 1, m);
	int held = 0, popped = 0;

	memset(buf, 1, sizeof(buf));
	for (int i = 0; f && i < 1000; i++)
		held += fault_hold(f, i % 2 ? FAULT_TX : FAULT_RX, FAULT_DELAY,
				   &a, 0, buf, sizeof(buf), buf, (size_t)i,
				   (uint64_t)(i * 7919 % 1000)) == 0;
	for (int i = 0; f && i < 300; i++)
		popped += fault_pop_due(f, 1000, &pkt);
	fault_destroy(f);
	fault_destroy(NULL);
	return f != NULL && held == 1000 && popped == 300 ? 0 : -1;
}

START_TEST(fault_destroy__frees_everything)
{
	struct homad_stats m;
	size_t first, last;
	int bad = 0;

	/* No ck_assert until the end: Check's own bookkeeping allocates. */
	memset(&m, 0, sizeof(m));
	bad += destroy_round(&m) < 0;
	first = mallinfo2().uordblks;
	for (int r = 1; r < 20; r++)
		bad += destroy_round(&m) < 0;
	last = mallinfo2().uordblks;
	ck_assert_int_eq(bad, 0);
	ck_assert_msg(last <= first + 65536,
		      "heap in use grew from %zu to %zu bytes", first, last);
}
END_TEST

static Suite *fault_suite(void)
{
	Suite *s = suite_create("fault");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, fault_params_default__all_off);
	tcase_add_test(tc, fault_params_active__each_probability);
	tcase_add_test(tc, fault_decide__zero_is_pass_through);
	tcase_add_test(tc, fault_decide__rates);
	tcase_add_test(tc, fault_decide__probability_one_and_order);
	tcase_add_test(tc, fault_decide__deterministic_by_seed);
	tcase_add_test(tc, fault_decide__hold_times);
	tcase_add_test(tc, fault_hold__release_order);
	tcase_add_test(tc, fault_pop_due__bytes_survive_holds);
	tcase_add_test(tc, fault_hold__limit);
	tcase_add_test(tc, fault_set_params__limit_and_seed);
	tcase_add_test(tc, fault_destroy__frees_everything);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(fault_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * fuzz_config.c - libFuzzer target for the configuration parser
 * (daemon/conf.c, over libconfig).
 *
 * Input: the contents of a homa.conf, loaded with config_load_text (the
 * parser config_load hands a file's text to) over a cfg filled with a
 * marker pattern: no file system per input, which cost more than the
 * parsing (tests/fuzz/README.md, Speed).  Checked: the result is 0 or -1;
 * on -1 the message is a non-empty, terminated string inside its buffer
 * (also with a small buffer, which must be truncated, not overrun) and cfg
 * is untouched; on 0 the values the engine relies on are in their
 * documented ranges, and loading the same text again, written to a file
 * and read by config_load, gives the same configuration.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "daemon/conf.h"
#include "fuzz.h"
#include "daemon/log.h"

/* The name config_load_text gives the text. */
#define FC_NAME "fuzz.conf"

static char fc_path[64];

static void fc_check_ok(const struct homa_config *c)
{
	const struct homa_params *p = &c->proto;
	unsigned i;

	FUZZ_CHECK(strcmp(c->path, FC_NAME) == 0);
	FUZZ_CHECK(p->link_mbps >= 1);
	FUZZ_CHECK(p->num_priorities >= 1 &&
		   p->num_priorities <= HOMA_NUM_PRIORITIES);
	FUZZ_CHECK(p->max_sched_prio < HOMA_NUM_PRIORITIES);
	FUZZ_CHECK(p->max_overcommit >= 1 &&
		   p->max_overcommit <= HOMA_MAX_OVERCOMMIT);
	FUZZ_CHECK(p->mtu >= 576 && p->mtu <= 65535);
	FUZZ_CHECK(p->n_rate_rules <= HOMA_MAX_RATE_RULES);
	for (i = 0; i < p->n_rate_rules; i++) {
		FUZZ_CHECK(p->rate_rules[i].prefix_len <= 128);
		FUZZ_CHECK(p->rate_rules[i].mbps > 0);
	}
	FUZZ_CHECK(p->incast_threshold <= p->max_rpcs);
	FUZZ_CHECK(p->incast_unsched_bytes <= p->unsched_bytes);
	FUZZ_CHECK(c->link == HOMA_LINK_IP || c->link == HOMA_LINK_UDP);
	FUZZ_CHECK(c->n_addresses <= HOMA_CONF_MAX_ADDRESSES);
	FUZZ_CHECK(c->n_interfaces <= HOMA_CONF_MAX_INTERFACES);
	for (i = 0; i < c->n_interfaces; i++)
		FUZZ_CHECK(memchr(c->interfaces[i], 0, IF_NAMESIZE) != NULL);
	FUZZ_CHECK(c->n_bind_uids <= HOMA_CONF_MAX_BIND_IDS);
	FUZZ_CHECK(c->n_bind_gids <= HOMA_CONF_MAX_BIND_IDS);
	FUZZ_CHECK(memchr(c->control_socket, 0, sizeof(c->control_socket)));
	FUZZ_CHECK(memchr(c->client_socket, 0, sizeof(c->client_socket)));
	FUZZ_CHECK(memchr(c->user, 0, sizeof(c->user)));
	FUZZ_CHECK(memchr(c->socket_group, 0, sizeof(c->socket_group)));
	FUZZ_CHECK(memchr(c->client_socket_group, 0,
			  sizeof(c->client_socket_group)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct homa_config cfg, cfg2, mark;
	const char *text = (const char *)data;
	char err[512], small[24];
	int fd, rc;

	if (size > 65536)
		return 0;
	if (!fc_path[0]) {
		log_init("fuzz_config", LOG_LEVEL_ERR);
		snprintf(fc_path, sizeof(fc_path), "/tmp/fuzz_config.%d.conf",
			 (int)getpid());
		memset(&mark, 0xa5, sizeof(mark));
	}

	cfg = mark;
	memset(err, 0x5a, sizeof(err));
	rc = config_load_text(&cfg, FC_NAME, text, size, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc < 0) {
		FUZZ_CHECK(memchr(err, 0, sizeof(err)) != NULL);
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(memcmp(&cfg, &mark, sizeof(cfg)) == 0);
		memset(small, 0x5a, sizeof(small));
		FUZZ_CHECK(config_load_text(&cfg2, FC_NAME, text, size, small,
					    sizeof(small) - 8) == -1);
		FUZZ_CHECK(memchr(small, 0, sizeof(small) - 8) != NULL);
		FUZZ_CHECK(small[sizeof(small) - 8] == 0x5a);
		return 0;
	}
	fc_check_ok(&cfg);

	/* The same text as a file, through config_load's reading. */
	fd = open(fc_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(write(fd, data, size) == (ssize_t)size);
	close(fd);
	cfg2 = mark;
	FUZZ_CHECK(config_load(&cfg2, fc_path, err, sizeof(err)) == 0);
	unlink(fc_path);
	FUZZ_CHECK(strcmp(cfg2.path, fc_path) == 0);
	memset(cfg2.path, 0, sizeof(cfg2.path));
	memcpy(cfg2.path, FC_NAME, sizeof(FC_NAME));
	FUZZ_CHECK(memcmp(&cfg, &cfg2, sizeof(cfg)) == 0);
	return 0;
}

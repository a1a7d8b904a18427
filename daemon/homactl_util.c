/*
 * homactl_util.c - the pure parts of homactl (see homactl_util.h).
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "homactl_util.h"

int homactl_match(const char *word, const char *const *names, size_t n)
{
	size_t len = strlen(word);
	int found = HOMACTL_MATCH_NONE;

	if (len == 0)
		return HOMACTL_MATCH_NONE;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(word, names[i]) == 0)
			return (int)i;
		if (strncmp(word, names[i], len) != 0)
			continue;
		found = found == HOMACTL_MATCH_NONE ? (int)i
						    : HOMACTL_MATCH_AMBIGUOUS;
	}
	return found;
}

bool homactl_is_number(const char *arg)
{
	char *end;

	if (arg[0] != '-' ||
	    !((arg[1] >= '0' && arg[1] <= '9') ||
	      (arg[1] == '.' && arg[2] >= '0' && arg[2] <= '9')))
		return false;
	(void)strtod(arg, &end);
	return *end == '\0' || (*end == 'L' && end[1] == '\0');
}

bool homactl_takes_value(const char *arg)
{
	static const char *const longs[] = {
		"--socket", "--timeout", "--interval",
		"--count",  "--port",	 "--peer",
	};

	if (arg[0] != '-' || arg[1] == '\0')
		return false;
	if (arg[1] == '-') {
		for (size_t i = 0; i < sizeof(longs) / sizeof(longs[0]); i++)
			if (strcmp(arg, longs[i]) == 0)
				return true;
		return false;
	}
	/* A cluster: the first letter that takes a value takes the rest of
	 * the cluster, or the next argument if it is the last. */
	for (const char *p = arg + 1; *p != '\0'; p++)
		if (strchr("stic", *p) != NULL)
			return p[1] == '\0';
	return false;
}

void homactl_prom_escape(FILE *f, const char *s, bool label)
{
	for (const char *p = s != NULL ? s : ""; *p != '\0'; p++) {
		if (*p == '\\')
			fputs("\\\\", f);
		else if (*p == '\n')
			fputs("\\n", f);
		else if (*p == '"' && label)
			fputs("\\\"", f);
		else
			fputc(*p, f);
	}
}

bool homactl_prom_name(char *buf, size_t len, const char *name, bool gauge)
{
	const char *suffix = gauge ? "" : "_total";
	const char *p = strstr(name, "_ns");

	while (p != NULL && p[3] != '\0' && p[3] != '_')
		p = strstr(p + 3, "_ns");
	if (p == NULL) {
		snprintf(buf, len, "homad_%s%s", name, suffix);
		return false;
	}
	snprintf(buf, len, "homad_%.*s_seconds%s%s", (int)(p - name), name,
		 p + 3, suffix);
	return true;
}

void homactl_flat_name(char *buf, size_t len, const char *name,
		       const char *label_key, const char *label_value)
{
	if (label_key == NULL || label_key[0] == '\0' || label_value == NULL) {
		snprintf(buf, len, "%s", name);
		return;
	}
	if (strcmp(name, "packets_received") == 0)
		snprintf(buf, len, "packets_rcvd_%s", label_value);
	else if (strcmp(name, "priority_bytes") == 0)
		snprintf(buf, len, "priority%s_bytes", label_value);
	else if (strcmp(name, "priority_packets") == 0)
		snprintf(buf, len, "priority%s_packets", label_value);
	else
		snprintf(buf, len, "%s_%s", name, label_value);
}

enum homactl_http homactl_http_classify(const char *line)
{
	const char *sp1 = strchr(line, ' '), *sp2, *ver;
	size_t mlen, plen;

	if (sp1 == NULL || sp1 == line)
		return HOMACTL_HTTP_BAD_REQUEST;
	sp2 = strchr(sp1 + 1, ' ');
	if (sp2 == NULL || sp2 == sp1 + 1 || strchr(sp2 + 1, ' ') != NULL)
		return HOMACTL_HTTP_BAD_REQUEST;
	ver = sp2 + 1;
	if (strncmp(ver, "HTTP/", 5) != 0 || ver[5] < '0' || ver[5] > '9')
		return HOMACTL_HTTP_BAD_REQUEST;
	if (strcmp(ver, "HTTP/1.0") != 0 && strcmp(ver, "HTTP/1.1") != 0)
		return ver[5] >= '2' ? HOMACTL_HTTP_BAD_VERSION
				     : HOMACTL_HTTP_BAD_REQUEST;
	if (sp1[1] != '/')
		return HOMACTL_HTTP_BAD_REQUEST;
	mlen = (size_t)(sp1 - line);
	plen = strcspn(sp1 + 1, " ?");
	if (!((plen == 1 && sp1[1] == '/') ||
	      (plen == 8 && strncmp(sp1 + 1, "/metrics", 8) == 0)))
		return HOMACTL_HTTP_NOT_FOUND;
	if (mlen == 3 && strncmp(line, "GET", 3) == 0)
		return HOMACTL_HTTP_METRICS;
	if (mlen == 4 && strncmp(line, "HEAD", 4) == 0)
		return HOMACTL_HTTP_HEAD;
	return HOMACTL_HTTP_BAD_METHOD;
}

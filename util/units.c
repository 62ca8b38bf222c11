/*
 * units.c - durations and byte sizes.
 */
#include "util/units.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

static int read_number(const char **p, int64_t *out)
{
	int64_t v = 0;
	int digits = 0;

	while (isdigit((unsigned char)**p)) {
		int digit = **p - '0';

		if (v > (INT64_MAX - digit) / 10)
			return -1;
		v = v * 10 + digit;
		(*p)++;
		digits++;
	}
	*out = v;
	return digits > 0 ? 0 : -1;
}

/* "1m30s", "1.5s", "250ms", "2h"; a bare number is seconds. */
int bs_parse_duration_ms(const char *s, int64_t *out_ms)
{
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
	const char *p = s;
	int64_t total = 0;

	if (*p == '\0')
		return -1;
	while (*p != '\0') {
		int64_t n, frac = 0, frac_scale = 1, mult = 0, part;
		size_t i, best = 0;

		if (read_number(&p, &n) != 0)
			return -1;
		if (*p == '.') {
			p++;
			if (!isdigit((unsigned char)*p))
				return -1;
			while (isdigit((unsigned char)*p)) {
				if (frac_scale < 1000000000) {
					frac = frac * 10 + (*p - '0');
					frac_scale *= 10;
				}
				p++;
			}
		}
		if (*p == '\0') {
			/* a bare number is seconds, only on its own */
			if (total != 0 || p - s != (long)strlen(s) || n > INT64_MAX / 1000)
				return -1;
			*out_ms = n * 1000 + frac * 1000 / frac_scale;
			return 0;
		}
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t len = strlen(units[i].unit);

			if (strncmp(p, units[i].unit, len) == 0 && len > best) {
				best = len;
				mult = units[i].ms;
			}
		}
		if (best == 0)
			return -1;
		p += best;
		if (n > (INT64_MAX - total) / mult - 1)
			return -1;
		part = n * mult + frac * mult / frac_scale;
		total += part;
	}
	*out_ms = total;
	return 0;
}

int bs_parse_bytes(const char *s, int64_t *out_bytes)
{
	static const struct {
		const char *unit;
		int shift;
	} units[] = {
		{"", 0},     {"b", 0},	 {"k", 10},   {"kb", 10},  {"kib", 10},
		{"m", 20},   {"mb", 20}, {"mib", 20}, {"g", 30},   {"gb", 30},
		{"gib", 30}, {"t", 40},	 {"tb", 40},  {"tib", 40},
	};
	const char *p = s;
	char unit[4];
	int64_t n;
	size_t i, len;

	if (read_number(&p, &n) != 0)
		return -1;
	len = strlen(p);
	if (len >= sizeof(unit))
		return -1;
	for (i = 0; i <= len; i++)
		unit[i] = (char)tolower((unsigned char)p[i]);
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(unit, units[i].unit) == 0) {
			if (n > (INT64_MAX >> units[i].shift))
				return -1;
			*out_bytes = n << units[i].shift;
			return 0;
		}
	}
	return -1;
}

void bs_format_duration_ms(int64_t ms, char *buf, unsigned long size)
{
	if (ms % 1000 != 0 || ms == 0)
		snprintf(buf, size, "%lldms", (long long)ms);
	else if (ms % 3600000 == 0)
		snprintf(buf, size, "%lldh", (long long)(ms / 3600000));
	else if (ms % 60000 == 0)
		snprintf(buf, size, "%lldm", (long long)(ms / 60000));
	else
		snprintf(buf, size, "%llds", (long long)(ms / 1000));
}

void bs_format_bytes(int64_t bytes, char *buf, unsigned long size)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)bytes;
	int u = -1;

	if (bytes < 0) {
		snprintf(buf, size, "-");
		return;
	}
	if (bytes < 1024) {
		snprintf(buf, size, "%lldB", (long long)bytes);
		return;
	}
	while (v >= 1024.0 && u < 4) {
		v /= 1024.0;
		u++;
	}
	snprintf(buf, size, v < 10.0 ? "%.2f%s" : v < 100.0 ? "%.1f%s" : "%.0f%s", v, units[u]);
}

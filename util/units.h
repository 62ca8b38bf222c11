/*
 * units.h - parsing of the human units used in recipes and flags:
 * durations ("90s", "1m30s", "250ms", "2h") and byte sizes ("512m", "1g",
 * "64MiB", "1048576").
 */
#ifndef BS_UTIL_UNITS_H
#define BS_UTIL_UNITS_H

#include <stdint.h>

/* Duration to milliseconds. A bare number is seconds. 0 ok, -1 bad syntax. */
int bs_parse_duration_ms(const char *s, int64_t *out_ms);

/* Byte size to bytes. Units b, k/kb/kib, m/mb/mib, g/gb/gib, t (1024-based,
 * as Docker and Compose use). 0 ok, -1 bad syntax or overflow. */
int bs_parse_bytes(const char *s, int64_t *out_bytes);

/* Format milliseconds compactly ("1m30s", "250ms") into buf. */
void bs_format_duration_ms(int64_t ms, char *buf, unsigned long size);

/* Format a byte count in 1024-based units with their real names ("512B",
 * "1.50KiB", "12.3MiB", "640MiB", "2.00GiB"; "-" when negative: unknown). */
void bs_format_bytes(int64_t bytes, char *buf, unsigned long size);

#endif

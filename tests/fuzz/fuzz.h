/*
 * fuzz.h - what the libFuzzer targets in tests/fuzz/ share: the invariant
 * check (a violation aborts, which libFuzzer reports as a crash with its
 * input) and the piece sizes that stream parsers are fed in.
 *
 * Every target is one NAME_fuzz.c with its seeds in corpus/NAME/ (real
 * captures of the source it parses) and, when useful, NAME.dict; run.sh
 * runs them all (`make fuzz`). A target has no network or file system side
 * effects and frees everything before it returns, so that LeakSanitizer
 * sees the parsers' own leaks.
 */
#ifndef BS_TESTS_FUZZ_H
#define BS_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline void fuzz_check(int ok, const char *target, const char *what)
{
	if (!ok) {
		fprintf(stderr, "%s: invariant violated: %s\n", target, what);
		abort();
	}
}

/* The next piece size for a stream fed in pieces: 1..64 bytes, or the
 * rest when *seed says so; *seed (from the input) walks a small LCG, so a
 * crash reproduces with the same splits. */
static inline size_t fuzz_piece(uint32_t *seed, size_t left)
{
	size_t n;

	*seed = *seed * 1103515245u + 12345u;
	n = (*seed >> 16) % 80;
	if (n == 0 || n > 64 || n > left)
		return left;
	return n;
}

#endif

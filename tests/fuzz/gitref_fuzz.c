/*
 * gitref_fuzz.c - libFuzzer target: container/gitref.c's reading of a git
 * ref advertisement (pkt-lines from a git server that may be anyone's).
 * Invariants: no crash or leak; a branch comes only with success, and it
 * is a plain branch name (no blank, no control character, no "..", not
 * starting with '-'), safe to put after a URL's '#'.
 */
#include <string.h>

#include "container/gitref.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bs_err err = BS_ERR_INIT;
	char *branch = NULL;
	int rc = bs_git_parse_advert((const char *)data, size, &branch, &err);

	fuzz_check((rc == 0) == (branch != NULL), "gitref", "a branch without success");
	if (branch != NULL) {
		fuzz_check(branch[0] != '\0' && branch[0] != '-', "gitref",
			   "an empty or option-like branch");
		fuzz_check(strstr(branch, "..") == NULL, "gitref", "a branch with '..'");
		for (const char *p = branch; *p != '\0'; p++)
			fuzz_check((unsigned char)*p > ' ' && *p != 0x7f && *p != '#', "gitref",
				   "a branch with a blank, control character or '#'");
	}
	fuzz_check(strpbrk(err.msg, "\r\n") == NULL, "gitref", "an error message of two lines");
	free(branch);
	return 0;
}

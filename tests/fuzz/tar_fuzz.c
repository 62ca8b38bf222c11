/*
 * tar_fuzz.c - libFuzzer target for the tar reader (container/tar.c,
 * bs_tar_first_entry): the engine's answer to GET /containers/ID/archive
 * (the Caddyfile and certificates read back from a container), pax and
 * GNU extension headers included.
 *
 * Checked: a success points inside the input (a regular file's data and
 * size lie within the bytes that arrived), names are NUL-terminated in
 * their fields, every kind has a name; a failure fills err. Then the
 * writer: the input as the content of a one-file archive (bs_tar_one_file)
 * reads back byte for byte.
 */
#include <string.h>

#include "container/tar.h"
#include "tests/fuzz/fuzz.h"

static void round_trip(const uint8_t *data, size_t size)
{
	struct bs_buf tar = BS_BUF_INIT;
	struct bs_err err = BS_ERR_INIT;
	struct bs_tar_entry e;

	fuzz_check(bs_tar_one_file(&tar, "Caddyfile", data, size, 0644, 1700000000, &err) == 0,
		   "tar", "bs_tar_one_file refused a plain file");
	fuzz_check(bs_tar_first_entry(tar.data, tar.len, &e, &err) == 0, "tar",
		   "our own archive does not read back");
	fuzz_check(e.kind == BS_TAR_FILE && strcmp(e.name, "Caddyfile") == 0 && e.mode == 0644,
		   "tar", "our own archive reads back another entry");
	fuzz_check(e.size == size && (size == 0 || memcmp(e.data, data, size) == 0), "tar",
		   "our own archive reads back other content");
	bs_buf_free(&tar);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bs_err err = BS_ERR_INIT;
	struct bs_tar_entry e;
	int rc;

	rc = bs_tar_first_entry(data, size, &e, &err);
	if (rc == 0) {
		fuzz_check(memchr(e.name, '\0', sizeof(e.name)) != NULL, "tar",
			   "name not terminated");
		fuzz_check(memchr(e.link_name, '\0', sizeof(e.link_name)) != NULL, "tar",
			   "link name not terminated");
		fuzz_check(bs_tar_kind_name(e.kind) != NULL, "tar", "a kind without a name");
		if (e.kind == BS_TAR_FILE) {
			const char *base = (const char *)data;

			fuzz_check(e.data != NULL && e.data >= base && e.data <= base + size &&
					   e.size <= (size_t)(base + size - e.data),
				   "tar", "the file's data lies outside the archive");
		}
	} else {
		fuzz_check(rc == BS_ERR_PROTOCOL && err.msg[0] != '\0', "tar",
			   "a failure that is not BS_ERR_PROTOCOL with a message");
	}
	round_trip(data, size);
	return 0;
}

/* fairway keygen / fairway id — create and show the identity. */
#include <getopt.h>
#include <stdio.h>
#include <sodium.h>

#include "cli.h"
#include "cmd.h"
#include "keys.h"

static int parse_secret_opt(int argc, char **argv, const char **secret)
{
	static const struct option opts[] = {
		{ "secret", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 's')
			return EXIT_USAGE;
		*secret = optarg;
	}
	if (optind != argc) {
		fprintf(stderr, "fairway %s: unexpected argument '%s'\n", argv[0], argv[optind]);
		return EXIT_USAGE;
	}
	return 0;
}

int cmd_keygen(int argc, char **argv)
{
	const char *secret = NULL;
	char def[4096], err[512], id[KEYS_ID_LEN + 1];
	uint8_t seed[32];
	struct keys k;
	int rc = parse_secret_opt(argc, argv, &secret);

	if (rc != 0)
		return rc;
	if (secret == NULL) {
		if (keys_default_path(def, sizeof(def)) != 0)
			return EXIT_USAGE;
		secret = def;
	}
	randombytes_buf(seed, sizeof(seed));
	keys_from_seed(&k, seed);
	sodium_memzero(seed, sizeof(seed));
	rc = keys_save_file(secret, &k, err, sizeof(err));
	keys_id_format(id, k.pk);
	keys_wipe(&k);
	if (rc != 0) {
		fprintf(stderr, "fairway keygen: %s\n", err);
		return EXIT_RUNTIME;
	}
	printf("%s\n", id);
	return EXIT_OK;
}

int cmd_id(int argc, char **argv)
{
	const char *secret = NULL;
	char id[KEYS_ID_LEN + 1];
	struct keys k;
	int rc = parse_secret_opt(argc, argv, &secret);

	if (rc != 0)
		return rc;
	rc = cli_load_identity(secret, &k);
	if (rc != 0)
		return rc;
	keys_id_format(id, k.pk);
	keys_wipe(&k);
	printf("%s\n", id);
	return EXIT_OK;
}

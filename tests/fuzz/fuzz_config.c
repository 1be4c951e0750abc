/*
 * fuzz_config.c - the YAML config loader (src/config): libyaml's parser and sisa's schema
 * checks, from a buffer (sisa_config_parse, what sisa_config_load runs after reading the file).
 *
 * Properties: a config is accepted or refused with SISA_ECONFIG naming the file; an accepted
 * config's canonical form (`sisa config show`) is accepted again and gives the same config
 * (same canonical text, same hash).
 */
#include "fuzz.h"

#include "sisa/config.h"
#include "sisa/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sisa_config cfg, again;
    static char base[600];
    static char dump1[64 << 10], dump2[64 << 10];
    fz_init();
    if (!base[0]) fz_path(base, sizeof base, "");
    int rc = sisa_config_parse(&cfg, (const char *)data, size, "fuzz.yaml", base);
    fz_check(rc, "fuzz.yaml", FZ_NAMES_FILE);
    if (rc < 0) return 0;
    size_t n1 = sisa_config_dump(&cfg, dump1, sizeof dump1);
    if (n1 >= sizeof dump1) fz_fail("canonical config of %zu bytes", n1);
    rc = sisa_config_parse(&again, dump1, n1, "canonical.yaml", base);
    if (rc < 0) fz_fail("the canonical form is refused: %s\n%s", sisa_error_message(), dump1);
    size_t n2 = sisa_config_dump(&again, dump2, sizeof dump2);
    if (n1 != n2 || memcmp(dump1, dump2, n1) != 0)
        fz_fail("the canonical form changed when loaded again:\n%s\n%s", dump1, dump2);
    char h1[65], h2[65];
    sisa_config_hash(&cfg, h1);
    sisa_config_hash(&again, h2);
    if (strcmp(h1, h2) != 0) fz_fail("the config hash changed when loaded again");
    return 0;
}

/*
 * cmd_log.c - `sisa log -c CFG [--json] [--since DATE]`, `sisa log -c CFG --was-deleted ID |
 * --group G`: a store's deletion history, and whether a sample or subject was deleted.
 */
#include "args.h"
#include "commands.h"

#include "sisa/sisa.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* A prefix of YYYY-MM-DDTHH:MM:SSZ (at least the year), as the ledger writes times. */
static int valid_since(const char *s)
{
    static const char form[] = "0000-00-00T00:00:00Z";
    size_t n = strlen(s);
    if (n < 4 || n > sizeof form - 1) return 0;
    for (size_t i = 0; i < n; i++)
        if (form[i] == '0' ? !isdigit((unsigned char)s[i]) : s[i] != form[i]) return 0;
    return 1;
}

int sisa_cmd_log(sisa_job *job, int argc, char **argv)
{
    int err = SISA_OK;
    const char *cfg_path = NULL, *id = NULL, *group = NULL;
    sisa_log_opts o;
    memset(&o, 0, sizeof o);
    sisa_handle *h = NULL;
    const sisa_option options[] = {
        {"config", 'c', SISA_ARG_STRING, &cfg_path, "FILE", "the run's config file", 1},
        {"since", 0, SISA_ARG_STRING, &o.since, "DATE",
         "only requests from then on: a UTC date or time as the ledger writes them "
         "(2026-12-01, 2026-12-01T10:00:00Z)",
         0},
        {"was-deleted", 0, SISA_ARG_STRING, &id, "ID", "was sample ID deleted? (yes or no)", 0},
        {"group", 0, SISA_ARG_STRING, &group, "G", "was data subject G deleted? (yes or no)", 0},
        {"json", 0, SISA_ARG_FLAG, &o.json, NULL, "print one JSON object (docs/json.md)", 0},
    };
    const sisa_command_spec spec = {
        .name = "log",
        .usage = "log -c CONFIG [--since DATE] [--json]\n"
                 "       log -c CONFIG (--was-deleted ID | --group G) [--json]",
        .summary = "The store's deletion requests, or whether a sample or data subject was "
                   "deleted.",
        .description =
            "Lists every deletion request: number, time (UTC), state, rows and data subjects,\n"
            "the shards and stages retrained, the work spent (sample visits) and wall time,\n"
            "the origin of its IDs file, and its certificate's verdict when sisa verify wrote\n"
            "one. Stores and journals from before sisa recorded the work show it as unknown.\n"
            "--was-deleted ID and --group G answer from the ledger's salted hashes: yes, with\n"
            "the request, or no. The answer reveals nothing about other rows. Exit status 0\n"
            "for both answers.",
        .options = options,
        .n_options = (int)(sizeof options / sizeof options[0]),
    };
    int rc = sisa_args_parse(&spec, argc, argv, NULL, NULL);
    if (rc) return rc > 0 ? SISA_OK : rc;
    SISA_CHECK(!(id && group), SISA_EUSAGE,
               "sisa log: ask with --was-deleted or with --group, not both");
    SISA_CHECK(!(o.since && (id || group)), SISA_EUSAGE,
               "sisa log: --since lists requests; it does not go with a question");
    if (id) {
        SISA_CHECK(sisa_text_u64(&o.id, id) == 0, SISA_EUSAGE,
                   "sisa log: --was-deleted '%s' is not a sample ID (a non-negative integer)", id);
        o.has_id = 1;
    }
    if (group) {
        SISA_CHECK(sisa_text_u64(&o.group, group) == 0, SISA_EUSAGE,
                   "sisa log: --group '%s' is not a group key (a non-negative integer)", group);
        o.has_group = 1;
    }
    SISA_CHECK(!o.since || valid_since(o.since), SISA_EUSAGE,
               "sisa log: --since '%s' is not a UTC date or time like 2026-12-01 or "
               "2026-12-01T10:00:00Z",
               o.since);
    o.print = sisa_job_rank(job) == 0 ? stdout : NULL;
    const sisa_open_opts oo = {job, 0, 0};
    SISA_TRY(sisa_open(&h, cfg_path, &oo));
    SISA_TRY(sisa_log(NULL, h, &o));
done:
    sisa_close(h);
    return err;
}

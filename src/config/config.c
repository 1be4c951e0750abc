/*
 * config.c - YAML config loading (being written).
 */
#include "sisa/config.h"

#include <yaml.h>

const char *sisa_config_yaml_version(void)
{
    return yaml_get_version_string();
}

/*
 * json.h - the little JSON the CLI prints (--json outputs): strings escaped per RFC 8259.
 */
#ifndef SISA_CLI_JSON_H
#define SISA_CLI_JSON_H

#include <stdio.h>

/* Write `s` as a JSON string literal, quotes included (sisa_jw_str: bytes that are not UTF-8
 * become U+FFFD). */
void sisa_json_string(FILE *out, const char *s);
/* Write a finite double with enough digits to round-trip; non-finite values as null. */
void sisa_json_number(FILE *out, double v);

#endif

/*
 * err.c — formatting of error records; see err.h for the contract.
 * Owns nothing but the name/text tables generated from ERR_CODE_MAP.
 */
#include "util/err.h"

#include <stdio.h>
#include <string.h>

void err_clear(err_t *err)
{
    if (!err)
        return;
    err->code = 0;
    err->msg[0] = '\0';
}

int err_set(err_t *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

int err_prefix(err_t *err, const char *fmt, ...)
{
    if (!err)
        return ERR_INVAL;
    char prefix[ERR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char joined[2 * ERR_MSG_LEN + 2];
    snprintf(joined, sizeof joined, "%s: %s", prefix, err->msg);
    memcpy(err->msg, joined, ERR_MSG_LEN - 1);   /* truncated to the record's size */
    err->msg[ERR_MSG_LEN - 1] = '\0';
    return err->code;
}

const char *err_name(int code)
{
    switch (code) {
    case ERR_OK: return "ERR_OK";
#define ERR_NAME_CASE(name, value, text) case value: return "ERR_" #name;
    ERR_CODE_MAP(ERR_NAME_CASE)
#undef ERR_NAME_CASE
    default: return "ERR_UNKNOWN";
    }
}

const char *err_text(int code)
{
    switch (code) {
    case ERR_OK: return "success";
#define ERR_TEXT_CASE(name, value, text) case value: return text;
    ERR_CODE_MAP(ERR_TEXT_CASE)
#undef ERR_TEXT_CASE
    default: return "unknown error";
    }
}

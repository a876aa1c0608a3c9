/* Option names: the one table that the Python and Lua modules and the CLI
 * read, so a name means the same everywhere (docs/c-api.md). */
#include "internal.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *name; /* canonical spelling, as wsig_option_name returns it */
    int value;
} option_name;

#define END {NULL, 0}

static const option_name jwt_formats[] = {{"der", WSIG_JWT_DER}, {"raw", WSIG_JWT_RAW}, END};
static const option_name hmac_encodings[] = {{"base64", WSIG_HMAC_BASE64},
                                             {"hex", WSIG_HMAC_HEX}, END};
static const option_name digests[] = {{"sha256", WSIG_DIGEST_SHA256},
                                      {"keccak256", WSIG_DIGEST_KECCAK256},
                                      {"eip191", WSIG_DIGEST_EIP191}, END};
static const option_name message_encodings[] = {{"rsv", WSIG_MESSAGE_RSV},
                                                {"der_hex", WSIG_MESSAGE_DER_HEX},
                                                {"der_base64", WSIG_MESSAGE_DER_BASE64}, END};
static const option_name empty_bodies[] = {{"omit", WSIG_EMPTY_OMIT},
                                           {"separator", WSIG_EMPTY_SEPARATOR}, END};
static const option_name key_kinds[] = {{"P-256", WSIG_KEY_P256}, {"RSA", WSIG_KEY_RSA},
                                        {"secp256k1", WSIG_KEY_SECP256K1}, END};
/* Other spellings accepted on input, never returned. */
static const option_name key_kind_aliases[] = {{"P256", WSIG_KEY_P256}, END};

static const struct {
    const char *what;
    const option_name *names, *aliases;
} options[] = {
    [WSIG_OPTION_JWT_FORMAT] = {"signature_format", jwt_formats, NULL},
    [WSIG_OPTION_HMAC_ENCODING] = {"encoding", hmac_encodings, NULL},
    [WSIG_OPTION_DIGEST] = {"digest", digests, NULL},
    [WSIG_OPTION_MESSAGE_ENCODING] = {"encoding", message_encodings, NULL},
    [WSIG_OPTION_EMPTY_BODY] = {"empty_body", empty_bodies, NULL},
    [WSIG_OPTION_KEY_KIND] = {"key kind", key_kinds, key_kind_aliases},
};

static bool known_option(int option)
{
    return option > 0 && (size_t)option < sizeof options / sizeof options[0] &&
           options[option].names;
}

static const option_name *find(const option_name *list, const char *name)
{
    for (; list && list->name; list++)
        if (wsig__ascii_casecmp(list->name, name) == 0)
            return list;
    return NULL;
}

/* "der or raw", "sha256, keccak256 or eip191" */
static void list_names(char *out, size_t cap, const option_name *names)
{
    size_t n = 0, used = 0;
    while (names[n].name)
        n++;
    out[0] = '\0';
    for (size_t i = 0; i < n && used < cap; i++) {
        const char *glue = i == 0 ? "" : i + 1 == n ? " or " : ", ";
        int w = snprintf(out + used, cap - used, "%s%s", glue, names[i].name);
        used += w > 0 ? (size_t)w : 0;
    }
}

int wsig_option_value(int option, const char *name, int *value, wsig_error *err)
{
    wsig__reset(err);
    if (!known_option(option))
        return wsig__fail(err, WSIG_ERR_ARG, "unknown option %d", option);
    const option_name *hit = find(options[option].names, name);
    if (!hit)
        hit = find(options[option].aliases, name);
    if (!hit) {
        char expected[128];
        list_names(expected, sizeof expected, options[option].names);
        return wsig__fail(err, WSIG_ERR_ARG, "%s must be %s, not '%.64s'", options[option].what,
                          expected, name);
    }
    *value = hit->value;
    return WSIG_OK;
}

const char *wsig_option_name(int option, int value)
{
    if (!known_option(option))
        return NULL;
    for (const option_name *o = options[option].names; o->name; o++)
        if (o->value == value)
            return o->name;
    return NULL;
}
